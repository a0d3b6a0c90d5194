/** `tokenhub gateway --config PATH... [--port N] [--host H] [--redis URL]` */
import { UsageError, parse, runCommand } from '../cli/args.js';
import { closeOnSignals, metricsPortOf, startGateway } from './server.js';
import { redisUrlFromEnv } from '../limits/redis-connect.js';

const USAGE =
  'tokenhub gateway --config PATH [--config PATH...] [--port N] [--host H] [--redis URL] [--log-level L] [--metrics-port N]\n' +
  '       tokenhub gateway --kubernetes [--namespace NS] ... (config from the cluster; see gateway --kubernetes --help)';

export async function gatewayCommand(args: string[]): Promise<number> {
  // Cluster mode has options of its own (--namespace, --kubeconfig): hand over before parsing.
  if (args.includes('--kubernetes')) {
    const { kubernetesGateway } = await import('./kubernetes-mode.js');
    return kubernetesGateway(args);
  }
  return runCommand(USAGE, async () => {
    const { values } = parse(args, {
      config: { type: 'string', short: 'c', multiple: true },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
    });
    const paths = values.config ?? [];
    if (paths.length === 0) throw new UsageError('give the config with --config PATH (files or directories of manifests)');
    const port = Number(values.port ?? process.env['PORT'] ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port ${values.port}`);
    const { createStore } = await import('../limits/create-store.js');
    const redisUrl = redisUrlFromEnv(values.redis);
    const storeLog = storeStateLogger();
    const store = await createStore({ ...(redisUrl ? { redisUrl } : {}), ...storeEnv(), onStateChange: storeLog.onStateChange });
    const metricsPort = metricsPortOf(values['metrics-port']);
    const telemetry = metricsPort === undefined ? {} : { metricsPort };
    const gw = await startGateway({ configPaths: paths, port, host: values.host ?? '0.0.0.0', store, logger: { level: values['log-level'] ?? 'info' }, telemetry });
    storeLog.bind(gw.app.log);
    gw.app.log.info({ url: gw.url, store: store.name, telemetry: gw.telemetry.describe() }, 'gateway listening');
    closeOnSignals(gw.close, gw.app.log);
    await new Promise<never>(() => {});
    return 0;
  });
}

type StateLog = { error(o: object, m: string): void; info(o: object, m: string): void };

/**
 * Logs the fleet store's state changes on a logger that exists only once the app is built
 * (the store is made first): `bind` it then. A lost Redis is an error line, its return info.
 */
export function storeStateLogger(): { onStateChange: (state: 'redis' | 'degraded', reason: string) => void; bind: (log: StateLog) => void; degraded: () => boolean } {
  let log: StateLog | undefined;
  let degraded = false;
  return {
    // Read by the tokenhub.limiter.degraded gauge (the chart's TokenHubRedisDegraded alert).
    degraded: () => degraded,
    onStateChange: (state, reason) => {
      degraded = state === 'degraded';
      if (state === 'degraded') log?.error({ store: 'redis', reason }, 'Redis unreachable: limiting per pod and journaling usage until it is back');
      else log?.info({ store: 'redis', reason }, 'Redis reachable again: fleet-wide limits restored, replaying the usage journal');
    },
    bind: (l) => {
      log = l;
    },
  };
}

/** Fault mode and fleet size for the Redis store, from the environment (set by the operator). */
export function storeEnv(): { mode?: 'fail-open' | 'fail-closed'; replicas?: number } {
  const mode = process.env['TOKENHUB_REDIS_FAILURE_MODE'];
  const replicas = Number(process.env['TOKENHUB_REPLICAS'] ?? '');
  return {
    ...(mode === 'fail-open' || mode === 'fail-closed' ? { mode } : {}),
    ...(Number.isInteger(replicas) && replicas > 0 ? { replicas } : {}),
  };
}
