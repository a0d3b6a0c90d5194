/**
 * One gateway runtime for every mode: a config source (files or the cluster, ./config/source.ts),
 * the limiter store, telemetry, the HTTP app; started in that order, and on a failed start or a
 * close everything already started is stopped again. `tokenhub gateway` (both modes), the demo
 * and tests all run this.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { createCompiler } from '../compile/compile.js';
import { MemoryLimitStore } from '../limits/memory-store.js';
import type { LimitStore } from '../limits/store.js';
import { GatewayTelemetry, type TelemetryOptions } from '../telemetry/index.js';
import { buildGateway } from './app.js';
import { type Drain, installDrain } from './drain.js';
import { ConfigHolder } from './config/config-holder.js';
import type { ConfigSource, ConfigSourceFactory } from './config/source.js';
import type { Tenancy } from '../compile/tenancy.js';
import type { TokenVerifier } from './auth.js';
import { type LoggerSetting, processLoggerOptions } from './logging.js';

/**
 * Connections accepted by the kernel but not yet by the gateway (capped by net.core.somaxconn,
 * 4096 on current kernels). Node's 511 overflowed when thousands of clients connected at once
 * (10,000 streams in 2 s): dropped handshakes came back after 1, 3, 7… 63 s of SYN retries.
 */
const LISTEN_BACKLOG = 4096;

export type GatewayStore = LimitStore & { flush?(): Promise<void> };

export interface RuntimeOptions {
  readonly source: ConfigSourceFactory;
  readonly host?: string;
  readonly port?: number;
  readonly store?: GatewayStore;
  readonly logger?: LoggerSetting;
  /** Metrics and traces (OTEL_* variables, Prometheus port); see src/telemetry and docs/observability.md. */
  readonly telemetry?: TelemetryOptions;
  /** Which namespaces may publish ModelRoutes (compile/tenancy.ts); none: every namespace. */
  readonly tenancy?: Tenancy;
  /** ServiceAccount tokens as Bearers (cluster mode): started before listening, stopped on close. */
  readonly serviceAccountTokens?: TokenVerifier & { start(log: FastifyBaseLogger): Promise<void>; stop(): void };
  /** The limiter store is degraded (Redis lost): read by the tokenhub.limiter.degraded gauge. */
  readonly storeDegraded?: () => boolean;
  /** On close, first drain this long (./drain.ts): not ready, `Connection: close`, still serving. */
  readonly drainMs?: number;
}

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly holder: ConfigHolder;
  readonly store: LimitStore;
  readonly source: Pick<ConfigSource, 'stop' | 'reload' | 'ready'>;
  readonly telemetry: GatewayTelemetry;
  close(): Promise<void>;
}

export async function startRuntime(opts: RuntimeOptions): Promise<RunningGateway> {
  const holder = new ConfigHolder();
  const store: GatewayStore = opts.store ?? new MemoryLimitStore();
  let log: FastifyBaseLogger | undefined;
  const telemetry = await GatewayTelemetry.start({ log: { warn: (o, m) => log?.warn(o, m) }, ...opts.telemetry });
  telemetry.watchConfig(holder);
  if (opts.storeDegraded) telemetry.watchStoreState(opts.storeDegraded);
  const tokens = opts.serviceAccountTokens;
  let source: ConfigSource | undefined;
  let drain: Drain | undefined;
  const app = buildGateway({
    ...(tokens ? { serviceAccountTokens: tokens } : {}),
    holder,
    store: telemetry.timeStore(store),
    logger: processLoggerOptions(opts.logger),
    observer: telemetry.observer(holder),
    ready: () => source?.ready() === true && drain?.draining() !== true,
  });
  log = app.log;
  // Only where a drain is asked for (cluster mode): otherwise no hook on every request.
  if ((opts.drainMs ?? 0) > 0) drain = installDrain(app);
  const started: ConfigSource = (source = opts.source({
    holder,
    compiler: createCompiler(undefined, opts.tenancy ?? {}),
    tenancy: opts.tenancy ?? {},
    log: app.log,
  }));
  const stopAllBut = async (withStore: boolean): Promise<void> => {
    started.stop();
    tokens?.stop();
    await app.close();
    if (withStore) {
      await store.flush?.();
      await store.close();
    }
    await started.close();
    await telemetry.shutdown();
  };
  const close = async (): Promise<void> => {
    if ((opts.drainMs ?? 0) > 0) await drain?.start(opts.drainMs ?? 0);
    await stopAllBut(true);
  };
  let url: string;
  try {
    await tokens?.start(app.log);
    await started.start();
    url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080, backlog: LISTEN_BACKLOG });
  } catch (err) {
    // Nothing is serving: stop what started. A store the caller gave stays the caller's to close.
    await stopAllBut(opts.store === undefined).catch(() => undefined);
    throw err;
  }
  return { app, url, holder, store, source: started, telemetry, close };
}
