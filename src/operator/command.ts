/** `tokenhub operator`: reconcile TokenHub objects, own the gateway fleet, write usage back. */
import { hostname } from 'node:os';
import { UsageError, parse, runCommand } from '../cli/args.js';
import { KubeClient } from '../kube/client.js';
import { closeOnSignals, namespacesOf } from '../cli/process.js';
import { startOperator } from './operator.js';
import { startOperatorTelemetry } from '../telemetry/operator-metrics.js';
import { redisUrlFromEnv } from '../limits/redis-connect.js';

const USAGE = [
  'tokenhub operator [--namespace NS[,NS...]] [--platform-namespace NS[,NS...]] [--fleet-namespace NS] [--fleet-config NAME] [--kubeconfig PATH]',
  '  [--health-port N] [--leader-elect=true|false] [--lease-name NAME] [--identity ID] [--redis URL]',
  '  [--usage-interval-seconds N] [--log-level L]',
].join('\n');

function intFlag(name: string, value: string | undefined, range: { fallback: number; min: number }): number {
  const { fallback, min } = range;
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

function boolFlag(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${name} must be true or false, got "${value}"`);
}

export async function operatorCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values } = parse(args, {
      namespace: { type: 'string', short: 'n', multiple: true },
      'platform-namespace': { type: 'string', multiple: true },
      'fleet-namespace': { type: 'string' },
      'fleet-config': { type: 'string' },
      kubeconfig: { type: 'string' },
      'health-port': { type: 'string' },
      'leader-elect': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      redis: { type: 'string' },
      'usage-interval-seconds': { type: 'string' },
      'log-level': { type: 'string' },
    });
    const healthPort = intFlag('health-port', values['health-port'], { fallback: 8081, min: 0 });
    const usageSeconds = intFlag('usage-interval-seconds', values['usage-interval-seconds'], { fallback: 30, min: 1 });
    const leaderElect = boolFlag('leader-elect', values['leader-elect'], true);
    // Without --kubeconfig, client-node's default: KUBECONFIG (which may list several files), ~/.kube/config, in-cluster.
    const client = await KubeClient.load(values.kubeconfig);
    const redisUrl = redisUrlFromEnv(values.redis);
    // Redis itself, not the gateway's resilient store: its fail-open fallback would answer with
    // this process's empty local counters, and the operator would write zeros into status.
    const { RedisLimitStore } = await import('../limits/redis-store.js');
    const store = redisUrl ? new RedisLimitStore({ url: redisUrl }) : undefined;
    const op = await startOperator({
      client,
      namespaces: namespacesOf(values.namespace ?? [], process.env['TOKENHUB_NAMESPACES']),
      platformNamespaces: namespacesOf(values['platform-namespace'] ?? [], process.env['TOKENHUB_PLATFORM_NAMESPACES']),
      fleetNamespace: values['fleet-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'tokenhub',
      fleetConfigName: values['fleet-config'] ?? 'tokenhub-gateway',
      health: { port: healthPort },
      leaderElection: leaderElect && {
        leaseName: values['lease-name'] ?? 'tokenhub-operator',
        // In a pod the chart sets POD_NAME: the Lease then names the pod that holds it.
        identity: values.identity ?? process.env['POD_NAME'] ?? `${hostname()}-${process.pid}`,
      },
      ...(store === undefined ? {} : { store }),
      usageIntervalMs: usageSeconds * 1000,
      logger: { level: values['log-level'] ?? 'info' },
    });
    // Reconcile metrics: OTEL_* variables and TOKENHUB_METRICS_PORT, as for the gateway (docs/observability.md).
    const telemetry = await startOperatorTelemetry(op.metrics, { log: op.log });
    op.log.info({ health: op.healthUrl, usage: store === undefined ? 'off (no --redis)' : 'on', metrics: telemetry.metricsUrl }, 'operator started');
    closeOnSignals(async () => {
      await op.stop();
      await store?.close();
      await client.close();
      await telemetry.shutdown();
    }, op.log);
    await new Promise<never>(() => {});
    return 0;
  });
}
