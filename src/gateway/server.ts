/**
 * `startGateway`: the gateway runtime (./runtime.ts) on manifest files, the entry point tests and
 * the demo use.
 */
import type { TelemetryOptions } from '../telemetry/index.js';
import { fileSource } from './config/source.js';
import type { LoggerSetting } from './logging.js';
import { type GatewayStore, type RunningGateway, startRuntime } from './runtime.js';

export type { RunningGateway } from './runtime.js';

export interface StartOptions {
  readonly configPaths: readonly string[];
  readonly host?: string;
  readonly port?: number;
  readonly store?: GatewayStore;
  readonly logger?: LoggerSetting;
  readonly transform?: (objects: unknown[]) => unknown[];
  readonly pollMs?: number;
  /** Metrics and traces (OTEL_* variables, Prometheus port); see src/telemetry and docs/observability.md. */
  readonly telemetry?: TelemetryOptions;
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const { configPaths, transform, pollMs, ...runtime } = opts;
  const source = fileSource({ paths: configPaths, ...(transform ? { transform } : {}), ...(pollMs === undefined ? {} : { pollMs }) });
  return startRuntime({ ...runtime, source });
}
