/**
 * A gateway as a process (`tokenhub gateway`, both modes): the limiter store from --redis and the
 * environment the operator sets, the runtime, one "listening" line, a graceful stop on signals.
 */
import { closeOnSignals } from '../cli/process.js';
import type { ConfigSourceFactory } from './config/source.js';
import { type RuntimeOptions, startRuntime } from './runtime.js';
import { storeEnv, storeStateLogger } from './store-env.js';

export interface GatewayProcessOptions {
  readonly source: ConfigSourceFactory;
  readonly host: string;
  readonly port: number;
  readonly redisUrl: string | undefined;
  readonly logLevel: string;
  readonly metricsPort: number | undefined;
  /** The "listening" line: its message and extra fields (the namespaces watched). */
  readonly listening: { readonly message: string; readonly fields?: Record<string, unknown> };
  readonly tenancy?: RuntimeOptions['tenancy'];
  readonly serviceAccountTokens?: RuntimeOptions['serviceAccountTokens'];
  readonly drainMs?: number;
}

/** Starts the gateway and never resolves: the process ends on SIGTERM/SIGINT. */
export async function runGatewayProcess(opts: GatewayProcessOptions): Promise<never> {
  // Loaded here, not at import: ioredis only for a process that runs a gateway.
  const { createStore } = await import('../limits/create-store.js');
  const storeLog = storeStateLogger();
  const store = createStore({ ...(opts.redisUrl ? { redisUrl: opts.redisUrl } : {}), ...storeEnv(), onStateChange: storeLog.onStateChange });
  const gw = await startRuntime({
    source: opts.source,
    host: opts.host,
    port: opts.port,
    store,
    logger: { level: opts.logLevel },
    telemetry: opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort },
    storeDegraded: storeLog.degraded,
    ...(opts.tenancy ? { tenancy: opts.tenancy } : {}),
    ...(opts.serviceAccountTokens ? { serviceAccountTokens: opts.serviceAccountTokens } : {}),
    ...(opts.drainMs === undefined ? {} : { drainMs: opts.drainMs }),
  });
  storeLog.bind(gw.app.log);
  gw.app.log.info({ url: gw.url, ...opts.listening.fields, store: store.name, telemetry: gw.telemetry.describe() }, opts.listening.message);
  closeOnSignals(() => gw.close(), gw.app.log);
  return new Promise<never>(() => {});
}
