/**
 * One last good config for the whole fleet: the operator records the version still in force in
 * status.lastGood, and a gateway started after the object turned invalid holds back to it, so
 * it serves exactly what its elders serve. Real API server, the operator in-process and two
 * `tokenhub gateway --kubernetes` processes, each under exactly the chart's RBAC rules.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { eventually, keyYaml, modelYaml } from '../support/gateway.js';
import { type GatewayProcess, ensureBuilt, startGatewayProcess } from '../support/gateway-process.js';
import { applyYaml, bindRules } from '../support/kube.js';
import { outcome } from '../support/traffic.js';
import { FLEET_NS, type Obj, type TestOperator, getJson, prepareCluster, runOperator, waitFor } from '../operator/support.js';

const NS = FLEET_NS;
const RULES = new URL('../../charts/tokenhub/files/rbac/gateway.yaml', import.meta.url).pathname;
const KEY = 'th-shared-last-good-key';

let mock: MockUpstream;
let cp: ControlPlane;
let op: TestOperator;
let dir: string;
let gatewayKubeconfig: string;
const gateways: GatewayProcess[] = [];

const chat = (gw: GatewayProcess, model: string) => () =>
  new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0, timeout: 10_000 }).chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 8,
  });
const models = async (gw: GatewayProcess): Promise<string[]> =>
  ((await (await fetch(`${gw.baseURL}/models`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { data: { id: string }[] }).data
    .map((m) => m.id)
    .sort();
const apply = (yaml: string): Promise<string> => applyYaml(cp, NS, yaml.replaceAll('${MOCK}', mock.url));

async function startGateway(name: string): Promise<GatewayProcess> {
  const gw = await startGatewayProcess({ args: ['--kubernetes', '--namespace', NS, '--kubeconfig', gatewayKubeconfig], logFile: join(dir, `${name}.log`) });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-last-good-'));
  [mock, cp] = await Promise.all([startMockUpstream({ host: '127.0.0.1', port: 0 }), startControlPlane()]);
  op = await runOperator(await prepareCluster(cp), { leaderElection: false });
  gatewayKubeconfig = await bindRules({ cp, namespace: NS, serviceAccount: 'gateway', rulesFile: RULES, clusterWide: true });
  await apply(modelYaml({ name: 'chat' }) + modelYaml({ name: 'slow' }) + keyYaml({ name: 'k', clear: KEY }));
}, 120_000);

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await op?.stop();
  await Promise.all([cp?.stop(), mock?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a last good config every gateway shares', () => {
  it('a gateway started after a route turned invalid serves it exactly as the gateway started before', async () => {
    const elder = await startGateway('elder');
    await eventually(async () => (await outcome(chat(elder, 'slow'))) === 'ok', 10_000);
    // The API server accepts this change; compile rejects it (a fallback to a missing model).
    await apply(modelYaml({ name: 'slow', fallback: ['no-such-model'] }));
    const slow = await waitFor(
      async () => {
        const o = await getJson<Obj>(cp, ['modelroute', 'slow', '-n', NS]);
        return o.status?.['lastGood'] !== undefined && o;
      },
      { what: 'status.lastGood on slow' },
    );
    expect(slow.metadata.generation).toBe(2);
    expect(slow.status?.['lastGood']).toMatchObject({ generation: 1, spec: { model: 'slow' } });
    expect((slow.status?.['lastGood'] as { spec: Record<string, unknown> }).spec).not.toHaveProperty('fallbackModels');
    expect(slow.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'FallbackNotFound' });

    const younger = await startGateway('younger');
    expect(await outcome(chat(younger, 'slow'))).toBe('ok');
    expect(await outcome(chat(elder, 'slow'))).toBe('ok');
    expect(await models(younger)).toEqual(await models(elder));
    expect(await models(younger)).toEqual(['chat', 'slow']);
  });

  it('fixing the object removes the record and both gateways take the new version', async () => {
    await apply(modelYaml({ name: 'slow', fallback: ['chat'] }));
    await waitFor(
      async () => {
        const o = await getJson<Obj>(cp, ['modelroute', 'slow', '-n', NS]);
        return o.status?.['lastGood'] === undefined && o.status?.ready === 'True';
      },
      { what: 'slow Ready without a record' },
    );
    // A third pod, started now, agrees as well.
    const third = await startGateway('third');
    for (const gw of gateways) expect(await models(gw)).toEqual(['chat', 'slow']);
    expect(await outcome(chat(third, 'slow'))).toBe('ok');
  });
});
