/** `tokenhub gateway --kubernetes`: config from the cluster's ModelRoutes, ApiKeys and QuotaPolicies. */
import { createCompiler } from '../compile/compile.js';
import { KubeClient } from '../kube/client.js';
import { parse, runCommand } from '../cli/args.js';
import { buildGateway } from './app.js';
import { ConfigHolder } from './config/config-holder.js';
import { KubeConfigSource } from './config/kube-source.js';
import { storeEnv, storeStateLogger } from './command.js';
import { closeOnSignals, metricsPortOf, processLoggerOptions } from './server.js';
import { GatewayTelemetry } from '../telemetry/index.js';
import { drainMsOf, installDrain, type Drain } from './drain.js';

const USAGE = 'tokenhub gateway --kubernetes [--namespace NS[,NS...]] [--port N] [--host H] [--redis URL] [--kubeconfig PATH] [--metrics-port N]';

export async function kubernetesGateway(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values } = parse(args, {
      kubernetes: { type: 'boolean' },
      namespace: { type: 'string', short: 'n', multiple: true },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      kubeconfig: { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
    });
    const namespaces = namespacesOf(values.namespace ?? [], process.env['TOKENHUB_NAMESPACES']);
    const client = await KubeClient.load(values.kubeconfig ?? process.env['KUBECONFIG']);
    const { createStore } = await import('../limits/create-store.js');
    const redisUrl = values.redis ?? process.env['TOKENHUB_REDIS_URL'];
    // The fleet's Redis failure mode and size come from the environment the operator sets.
    const storeLog = storeStateLogger();
    const store = await createStore({ ...(redisUrl ? { redisUrl } : {}), ...storeEnv(), onStateChange: storeLog.onStateChange });
    const holder = new ConfigHolder();
    const drainMs = drainMsOf(process.env['TOKENHUB_DRAIN_SECONDS']);
    let drain: Drain | undefined;
    let source: KubeConfigSource | undefined;
    let log: { warn(o: object, m: string): void } | undefined;
    const metricsPort = metricsPortOf(values['metrics-port']);
    const telemetry = await GatewayTelemetry.start({ log: { warn: (o, m) => log?.warn(o, m) }, ...(metricsPort === undefined ? {} : { metricsPort }) });
    telemetry.watchConfig(holder);
    const app = buildGateway({
      holder, store: telemetry.timeStore(store), logger: processLoggerOptions({ level: values['log-level'] ?? 'info' }),
      ready: () => source?.ready === true && drain?.draining() !== true, observer: telemetry.observer(holder),
    });
    log = app.log;
    drain = installDrain(app);
    storeLog.bind(app.log);
    source = new KubeConfigSource({ client, namespaces, holder, compiler: createCompiler(), log: app.log, ...watchSecondsOf(process.env['TOKENHUB_WATCH_SECONDS']) });
    source.start();
    const url = await app.listen({ host: values.host ?? '0.0.0.0', port: Number(values.port ?? process.env['PORT'] ?? 8080) });
    app.log.info({ url, namespaces: namespaces.length === 0 ? 'all' : namespaces, store: store.name, telemetry: telemetry.describe() }, 'gateway listening (cluster mode)');
    closeOnSignals(async () => {
      await drain?.start(drainMs);
      source?.stop();
      await app.close();
      await store.flush?.();
      await store.close();
      await client.close();
      await telemetry.shutdown();
    }, app.log);
    await new Promise<never>(() => {});
    return 0;
  });
}

export function namespacesOf(flags: readonly string[], env: string | undefined): string[] {
  const all = [...flags, ...(flags.length === 0 && env ? [env] : [])].flatMap((s) => s.split(','));
  return [...new Set(all.map((s) => s.trim()).filter((s) => s !== ''))];
}

/**
 * TOKENHUB_WATCH_SECONDS: how long each watch runs before it is renewed from its resourceVersion
 * (default 60). Shorter renewals find a compacted history (410 Gone → relist) sooner.
 */
export function watchSecondsOf(env: string | undefined): { watchSeconds?: number } {
  const n = Number(env);
  return env !== undefined && Number.isInteger(n) && n > 0 ? { watchSeconds: n } : {};
}
