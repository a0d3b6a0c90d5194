/** `tokenhub gateway --kubernetes`: config from the cluster's ModelRoutes, ApiKeys and QuotaPolicies. */
import { parse, runCommand } from '../cli/args.js';
import { metricsPortOf, namespacesOf, portOf } from '../cli/process.js';
import { KubeClient } from '../kube/client.js';
import { redisUrlFromEnv } from '../limits/redis-connect.js';
import { clusterSource } from './config/source.js';
import { runGatewayProcess } from './process.js';
import { JwksTokenVerifier } from './service-account-tokens.js';
import { drainMsOf } from './drain.js';

const USAGE =
  'tokenhub gateway --kubernetes [--namespace NS[,NS...]] [--platform-namespace NS[,NS...]] [--port N] [--host H] [--redis URL] [--kubeconfig PATH] [--metrics-port N]';

export async function kubernetesGateway(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values } = parse(args, {
      kubernetes: { type: 'boolean' },
      namespace: { type: 'string', short: 'n', multiple: true },
      'platform-namespace': { type: 'string', multiple: true },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      kubeconfig: { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
    });
    const namespaces = namespacesOf(values.namespace ?? [], process.env['TOKENHUB_NAMESPACES']);
    // Flags first: a bad port is a usage error before any connection is made.
    const port = portOf('port', values.port ?? process.env['PORT'], 8080);
    const metricsPort = metricsPortOf(values['metrics-port']);
    const client = await KubeClient.load(values.kubeconfig ?? process.env['KUBECONFIG']);
    // ServiceAccount tokens as Bearers: the API server's signing keys, loaded before serving.
    const tokens = new JwksTokenVerifier({
      fetchJson: (path) => client.request('GET', path, { accept: 'application/json, application/jwk-set+json' }),
    });
    return runGatewayProcess({
      source: clusterSource({ client, namespaces, ...watchSecondsOf(process.env['TOKENHUB_WATCH_SECONDS']) }),
      port,
      host: values.host ?? '0.0.0.0',
      redisUrl: redisUrlFromEnv(values.redis),
      logLevel: values['log-level'] ?? 'info',
      metricsPort,
      listening: { message: 'gateway listening (cluster mode)', fields: { namespaces: namespaces.length === 0 ? 'all' : namespaces } },
      tenancy: { platformNamespaces: namespacesOf(values['platform-namespace'] ?? [], process.env['TOKENHUB_PLATFORM_NAMESPACES']) },
      serviceAccountTokens: tokens,
      // In a pod: keep serving, not ready, with `Connection: close`, while endpoints catch up.
      drainMs: drainMsOf(process.env['TOKENHUB_DRAIN_SECONDS']),
    });
  });
}

/**
 * TOKENHUB_WATCH_SECONDS: how long each watch runs before it is renewed from its resourceVersion
 * (default 60). Shorter renewals find a compacted history (410 Gone → relist) sooner.
 */
export function watchSecondsOf(env: string | undefined): { watchSeconds?: number } {
  const n = Number(env);
  return env !== undefined && Number.isInteger(n) && n > 0 ? { watchSeconds: n } : {};
}
