/** `tokenhub gateway --config PATH... [--port N] [--host H] [--redis URL]`, or `--kubernetes` (./kubernetes-mode.ts). */
import { UsageError, parse, runCommand } from '../cli/args.js';
import { metricsPortOf, portOf } from '../cli/process.js';
import { fileSource } from './config/source.js';
import { runGatewayProcess } from './process.js';
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
    return runGatewayProcess({
      source: fileSource({ paths }),
      port: portOf('port', values.port ?? process.env['PORT'], 8080),
      host: values.host ?? '0.0.0.0',
      redisUrl: redisUrlFromEnv(values.redis),
      logLevel: values['log-level'] ?? 'info',
      metricsPort: metricsPortOf(values['metrics-port']),
      listening: { message: 'gateway listening' },
    });
  });
}
