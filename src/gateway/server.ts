/**
 * A running gateway process: config source, limiter store, HTTP server, graceful shutdown.
 * Used by `tokenhub gateway`, the demo and tests that run the gateway as users do.
 */
import { pino } from 'pino';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { createCompiler } from '../compile/compile.js';
import type { LimitStore } from '../limits/store.js';
import { MemoryLimitStore } from '../limits/memory-store.js';
import { buildGateway } from './app.js';
import { ConfigHolder } from './config/config-holder.js';
import { FileConfigSource } from './config/file-source.js';
import { GatewayTelemetry, type TelemetryOptions } from '../telemetry/index.js';
import { UsageError } from '../cli/args.js';

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly holder: ConfigHolder;
  readonly store: LimitStore;
  readonly source: { stop(): void; reload?(): Promise<unknown> };
  readonly telemetry: GatewayTelemetry;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly configPaths: readonly string[];
  readonly host?: string;
  readonly port?: number;
  readonly store?: LimitStore & { flush?(): Promise<void> };
  readonly logger?: boolean | { level: string };
  readonly transform?: (objects: unknown[]) => unknown[];
  readonly pollMs?: number;
  /** Metrics and traces (OTEL_* variables, Prometheus port); see src/telemetry and docs/observability.md. */
  readonly telemetry?: TelemetryOptions;
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const holder = new ConfigHolder();
  const store: LimitStore & { flush?(): Promise<void> } = opts.store ?? new MemoryLimitStore();
  let log: FastifyBaseLogger | undefined;
  const telemetry = await GatewayTelemetry.start({ log: { warn: (o, m) => log?.warn(o, m) }, ...opts.telemetry });
  telemetry.watchConfig(holder);
  const app = buildGateway({ holder, store: telemetry.timeStore(store), logger: processLoggerOptions(opts.logger), observer: telemetry.observer(holder) });
  log = app.log;
  const source = new FileConfigSource({
    paths: opts.configPaths,
    holder,
    compiler: createCompiler(),
    log: app.log,
    ...(opts.transform ? { transform: opts.transform } : {}),
    ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
  });
  let address: string;
  try {
    await source.start();
    address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  } catch (err) {
    source.stop();
    await app.close();
    await telemetry.shutdown();
    throw err;
  }
  const close = async (): Promise<void> => {
    source.stop();
    await app.close();
    await store.flush?.();
    await store.close();
    await telemetry.shutdown();
  };
  return { app, url: address, holder, store, source, telemetry, close };
}

/**
 * What pino blanks in a log object (at its top, one level down, and in req.headers): credentials,
 * and bodies (which hold prompts). Nothing in the gateway logs these; this is a net under that rule.
 */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'req.body',
  'headers.authorization', 'headers["x-api-key"]', 'headers.cookie', 'authorization', 'apiKey', 'body',
  '*.authorization', '*.apiKey', '*.body',
] as const;

/**
 * For a gateway process: the same options, writing to stdout in batches (4 KiB, or every 250 ms)
 * instead of one write(2) per line. The access log is a line per request, and a synchronous
 * write per line was a visible share of the gateway's CPU (bench/README). What is buffered is
 * written out when the process exits.
 */
export function processLoggerOptions(logger: StartOptions['logger']): boolean | Record<string, unknown> {
  const options = loggerOptions(logger);
  if (options === false) return false;
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
  process.once('exit', () => {
    try {
      stream.flushSync();
    } catch {
      // Nothing buffered, or stdout already closed: nothing more can be written anyway.
    }
  });
  return { ...(options === true ? {} : options), stream };
}

/** pino via fastify; the authorization header and bodies are never part of a log line. */
export function loggerOptions(logger: StartOptions['logger']): boolean | Record<string, unknown> {
  if (logger === false) return false;
  const level = typeof logger === 'object' ? logger.level : 'info';
  return { level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } };
}

/** `--metrics-port N`: the Prometheus scrape endpoint (TOKENHUB_METRICS_PORT when absent). */
export function metricsPortOf(flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  const port = Number(flag);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid --metrics-port ${flag}`);
  return port;
}

/** SIGTERM/SIGINT: stop accepting, let requests and streams in flight finish, flush usage, exit. */
export function closeOnSignals(close: () => Promise<void>, log: { info(msg: string): void }): void {
  let closing = false;
  const onSignal = (signal: string): void => {
    if (closing) return;
    closing = true;
    log.info(`${signal}: shutting down gracefully`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
