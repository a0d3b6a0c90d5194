/**
 * Watches that break: an etcd compaction behind the watch's resourceVersion (410 Gone, with the
 * API server's watch cache off so the 410 really reaches us) and an API-server restart. The
 * operator must relist and keep seeing changes in both cases.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { FLEET_NS, type Obj, type TestOperator, applyExamples, getJson, kubectl, prepareCluster, readyOf, runOperator, waitFor } from './support.js';

describe('watch recovery', () => {
  let cp: ControlPlane;
  let op: TestOperator;
  const logs: string[] = [];

  /** Edits a QuotaPolicy and waits for the operator to report on the new generation. */
  async function editAndObserve(rpm: number): Promise<void> {
    await kubectl(cp, ['-n', FLEET_NS, 'patch', 'quotapolicy', 'paid-tier', '--type=merge', '-p', JSON.stringify({ spec: { rateLimits: { rpm } } })]);
    await waitFor(
      async () => {
        const p = await getJson<Obj>(cp, ['quotapolicy', 'paid-tier', '-n', FLEET_NS]);
        return p.status?.observedGeneration === p.metadata.generation && readyOf(p).status === 'True';
      },
      { what: `the edit to rpm ${rpm} observed`, timeoutMs: 30_000 },
    );
  }

  beforeAll(async () => {
    cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
    const kubeconfig = await prepareCluster(cp);
    await kubectl(cp, ['-n', FLEET_NS, 'create', 'secret', 'generic', 'ci-bot-credentials', '--from-literal=api-key=th-ci-bot-test-key']);
    await kubectl(cp, ['-n', FLEET_NS, 'label', 'secret', 'ci-bot-credentials', 'tokenhub.io/credential=true']);
    await applyExamples(cp);
    const stream = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        logs.push(chunk.toString());
        done();
      },
    });
    // Short server-side watch timeouts: each watch is renewed from its last resourceVersion soon.
    op = await runOperator(kubeconfig, { watchSeconds: 2, logger: { level: 'info', stream } });
    await waitFor(
      async () => {
        const all = (await getJson<{ items: Obj[] }>(cp, ['modelroutes,apikeys,quotapolicies', '-n', FLEET_NS])).items;
        return all.every((o) => readyOf(o).status === 'True');
      },
      { what: 'examples Ready' },
    );
  }, 120_000);

  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('relists after 410 Gone from a compacted resourceVersion and still sees changes', async () => {
    // Move etcd's revision past what the operator's watches last saw, then compact it away.
    for (let i = 0; i < 3; i++) await kubectl(cp, ['-n', 'default', 'create', 'configmap', `filler-${i}`]);
    await cp.compactEtcd();
    await waitFor(() => logs.some((l) => l.includes('410 Gone')), { what: 'a 410 and a relist', timeoutMs: 15_000 });
    await editAndObserve(2900);
  });

  it('keeps seeing changes after an API-server restart', async () => {
    await cp.restartApiServer();
    await editAndObserve(2800);
    expect(op.isLeader()).toBe(true);
    expect(op.ready()).toBe(true);
  });
});
