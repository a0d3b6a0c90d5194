/**
 * `npm start`: the gateway on 127.0.0.1:8080 (PORT overrides) serving the examples/ catalog,
 * every backend pointed at an embedded mock upstream, limits in memory. Nothing to install.
 */
import { fileURLToPath } from 'node:url';
import { startMockUpstream } from '../mock-upstream/server.js';
import { parse, runCommand } from '../cli/args.js';
import { closeOnSignals, metricsPortOf, portOf } from '../cli/process.js';
import { startGateway } from './server.js';

const USAGE = 'tokenhub demo [--port N] [--host H] [--metrics-port N]';
/** From dist/src/gateway/demo.js (or src/gateway/demo.ts) up to the package root. */
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
export const DEMO_KEY = 'th-demo-key-for-local-use-only';

/** Points every ModelRoute backend at the mock upstream (the examples name an in-cluster one). */
export function pointBackendsAt(baseURL: string): (objects: unknown[]) => unknown[] {
  return (objects) =>
    objects.map((o) => {
      const obj = o as { kind?: string; spec?: { backends?: { baseURL: string; credentialSecretRef?: unknown }[] } };
      if (obj.kind !== 'ModelRoute' || obj.spec?.backends === undefined) return o;
      const backends = obj.spec.backends.map(({ credentialSecretRef: _drop, ...b }) => ({ ...b, baseURL }));
      return { ...obj, spec: { ...obj.spec, backends } };
    });
}

export async function demoCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values } = parse(args, { port: { type: 'string', short: 'p' }, host: { type: 'string' }, 'metrics-port': { type: 'string' } });
    const metricsPort = metricsPortOf(values['metrics-port']);
    const mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
    const port = portOf('port', values.port ?? process.env['PORT'], 8080);
    const gw = await startGateway({
      configPaths: [EXAMPLES],
      host: values.host ?? '127.0.0.1',
      port,
      transform: pointBackendsAt(mock.url),
      logger: { level: 'info' },
      telemetry: metricsPort === undefined ? {} : { metricsPort },
    });
    const base = `${gw.url.replace('127.0.0.1', 'localhost')}/api/v1`;
    process.stdout.write(
      `\nTokenHub demo: ${gw.holder.current()?.modelIds.length ?? 0} models, mock upstream at ${mock.url}\n` +
        `  base_url: ${base}\n  api_key:  ${DEMO_KEY}\n` +
        (gw.telemetry.metricsUrl === undefined ? '' : `  metrics:  ${gw.telemetry.metricsUrl}\n`) +
        '\n' +
        `  curl ${base}/chat/completions -H 'Authorization: Bearer ${DEMO_KEY}' -H 'Content-Type: application/json' \\\n` +
        `    -d '{"model":"doubao-seed-2-0-lite-260215","messages":[{"role":"user","content":"Hello"}]}'\n\n`,
    );
    closeOnSignals(async () => {
      await gw.close();
      await mock.close();
    }, gw.app.log);
    await new Promise<never>(() => {});
    return 0;
  });
}
