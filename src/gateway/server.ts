/**
 * A running gateway process: config source, limiter store, HTTP server, graceful shutdown.
 * Used by `tokenhub gateway`, the demo and tests that run the gateway as users do.
 */
import type { FastifyInstance } from 'fastify';
import { createCompiler } from '../compile/compile.js';
import type { LimitStore } from '../limits/store.js';
import { MemoryLimitStore } from '../limits/memory-store.js';
import { buildGateway } from './app.js';
import { ConfigHolder } from './config/config-holder.js';
import { FileConfigSource } from './config/file-source.js';

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly holder: ConfigHolder;
  readonly store: LimitStore;
  readonly source: { stop(): void; reload?(): Promise<unknown> };
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
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const holder = new ConfigHolder();
  const store: LimitStore & { flush?(): Promise<void> } = opts.store ?? new MemoryLimitStore();
  const app = buildGateway({ holder, store, logger: loggerOptions(opts.logger) });
  const source = new FileConfigSource({
    paths: opts.configPaths,
    holder,
    compiler: createCompiler(),
    log: app.log,
    ...(opts.transform ? { transform: opts.transform } : {}),
    ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
  });
  await source.start();
  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  const close = async (): Promise<void> => {
    source.stop();
    await app.close();
    await store.flush?.();
    await store.close();
  };
  return { app, url: address, holder, store, source, close };
}

/** pino via fastify; the authorization header and bodies are never part of a log line. */
export function loggerOptions(logger: StartOptions['logger']): boolean | Record<string, unknown> {
  if (logger === false) return false;
  const level = typeof logger === 'object' ? logger.level : 'info';
  return { level, redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' } };
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
