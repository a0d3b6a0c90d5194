/**
 * Leader election on a real API server: of two operators exactly one holds the Lease and writes;
 * the other takes over when the leader stops (released Lease) or dies (expired Lease); a
 * restarted operator converges to the same statuses without rewriting them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerProcess, freePort } from '../../src/devtools/control-plane-process.js';
import { KubeClient } from '../../src/kube/client.js';
import { LeaderElector } from '../../src/operator/leader/lease.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import {
  FAST_LEASE,
  FLEET_NS,
  type Obj,
  ROOT,
  type TestOperator,
  applyExamples,
  ensureBuilt,
  getJson,
  kubectl,
  prepareCluster,
  readyOf,
  runOperator,
  waitFor,
} from './support.js';

interface Lease extends Obj {
  spec: { holderIdentity?: string; leaseTransitions?: number };
}

describe('leader election', () => {
  let cp: ControlPlane;
  let kubeconfig: string;
  const running: TestOperator[] = [];
  const start = async (identity: string): Promise<TestOperator> => {
    const op = await runOperator(kubeconfig, { leaderElection: { identity, timings: FAST_LEASE } });
    running.push(op);
    return op;
  };
  const lease = (name = 'tokenhub-operator'): Promise<Lease> => getJson<Lease>(cp, ['lease', name, '-n', FLEET_NS]);
  const statuses = async (): Promise<Map<string, Obj>> =>
    new Map((await getJson<{ items: Obj[] }>(cp, ['modelroutes,apikeys,quotapolicies', '-n', FLEET_NS])).items.map((o) => [o.metadata.name, o]));

  beforeAll(async () => {
    cp = await startControlPlane();
    kubeconfig = await prepareCluster(cp);
    await kubectl(cp, ['-n', FLEET_NS, 'create', 'secret', 'generic', 'ci-bot-credentials', '--from-literal=api-key=th-ci-bot-test-key']);
    await kubectl(cp, ['-n', FLEET_NS, 'label', 'secret', 'ci-bot-credentials', 'tokenhub.io/credential=true']);
    await applyExamples(cp);
  }, 120_000);

  afterAll(async () => {
    for (const op of running) await op.stop();
    await cp?.stop();
  });

  it('lets exactly one of two operators hold the Lease and write', async () => {
    const [a, b] = await Promise.all([start('op-a'), start('op-b')]);
    await waitFor(async () => [...(await statuses()).values()].every((o) => readyOf(o).status === 'True'), { what: 'all Ready' });
    const leaders = [a, b].filter((o) => o.isLeader());
    expect(leaders).toHaveLength(1);
    const [leader, standby] = leaders[0] === a ? [a, b] : [b, a];
    expect((await lease()).spec.holderIdentity).toBe(leader === a ? 'op-a' : 'op-b');
    expect(leader.metrics.statusWrites).toBeGreaterThan(0);
    expect(leader.metrics.secretsCreated).toBe(1);
    expect(standby.metrics.statusWrites + standby.metrics.secretsCreated + standby.metrics.fleetWrites).toBe(0);
    // The standby keeps warm caches and compiles too, so a failover starts from the same state.
    expect(standby.ready()).toBe(true);
    expect(standby.metrics.objectsByCondition).toEqual(leader.metrics.objectsByCondition);
  });

  it('hands over to the standby soon after the leader stops, and the new leader writes', async () => {
    const leader = running.find((o) => o.isLeader())!;
    const standby = running.find((o) => o !== leader && !o.isLeader())!;
    const stoppedAt = Date.now();
    await leader.stop();
    running.splice(running.indexOf(leader), 1);
    await waitFor(() => standby.isLeader(), { what: 'the standby to lead', timeoutMs: FAST_LEASE.leaseDurationMs * 3 });
    const handover = Date.now() - stoppedAt;
    console.log(`released Lease → standby leading: ${handover} ms (lease ${FAST_LEASE.leaseDurationMs} ms, renew ${FAST_LEASE.renewIntervalMs} ms)`);
    expect(handover).toBeLessThan(FAST_LEASE.leaseDurationMs);
    await kubectl(cp, ['-n', FLEET_NS, 'patch', 'quotapolicy', 'free-tier', '--type=merge', '-p', '{"spec":{"rateLimits":{"rpm":61}}}']);
    await waitFor(
      async () => {
        const p = (await statuses()).get('free-tier')!;
        return p.status?.observedGeneration === p.metadata.generation;
      },
      { what: 'the new leader to write' },
    );
    expect(standby.metrics.statusWrites).toBeGreaterThan(0);
  });

  it('takes over an expired Lease whose holder died without releasing it', async () => {
    const client = await KubeClient.load(kubeconfig);
    const events: string[] = [];
    const elector = (identity: string): LeaderElector =>
      new LeaderElector({
        client,
        namespace: FLEET_NS,
        name: 'crash-test',
        identity,
        timings: FAST_LEASE,
        log: { info: () => {}, warn: () => {} },
        onStartedLeading: () => events.push(`${identity} started`),
        onStoppedLeading: () => events.push(`${identity} stopped`),
      });
    const dead = elector('dead');
    dead.start();
    await waitFor(() => dead.isLeader, { what: 'the first to lead' });
    const heir = elector('heir');
    heir.start();
    // A crash: the renewals stop and nobody clears the holder.
    await dead.stop({ release: false });
    const diedAt = Date.now();
    await waitFor(() => heir.isLeader, { what: 'the heir to lead', timeoutMs: FAST_LEASE.leaseDurationMs * 4 });
    const waited = Date.now() - diedAt;
    console.log(`expired Lease → heir leading: ${waited} ms`);
    expect(waited).toBeGreaterThan(FAST_LEASE.leaseDurationMs - 2 * FAST_LEASE.renewIntervalMs);
    expect((await lease('crash-test')).spec).toMatchObject({ holderIdentity: 'heir', leaseTransitions: 1 });
    expect(events).toEqual(['dead started', 'dead stopped', 'heir started']);
    await heir.stop();
    expect((await lease('crash-test')).spec.holderIdentity).toBe('');
    await client.close();
  });

  it('converges to the same statuses after a restart, rewriting only what changed meanwhile', async () => {
    for (const op of running.splice(0)) await op.stop();
    const before = await statuses();
    await kubectl(cp, ['-n', FLEET_NS, 'patch', 'quotapolicy', 'paid-tier', '--type=merge', '-p', '{"spec":{"rateLimits":{"rpm":2999}}}']);
    const op = await start('op-c');
    await waitFor(() => op.isLeader(), { what: 'op-c to lead at once (the Lease was released)', timeoutMs: 2_000 });
    const after = await waitFor(
      async () => {
        const s = await statuses();
        const p = s.get('paid-tier')!;
        return p.status?.observedGeneration === p.metadata.generation && s;
      },
      { what: 'paid-tier observed' },
    );
    for (const [name, o] of before) {
      const now = after.get(name)!;
      if (name === 'paid-tier') {
        expect(now.status?.conditions?.[0]?.lastTransitionTime).toBe(o.status?.conditions?.[0]?.lastTransitionTime);
        continue;
      }
      expect(now.status, name).toEqual(o.status);
      expect(now.metadata.resourceVersion, name).toBe(o.metadata.resourceVersion);
    }
    expect(op.metrics.statusWrites).toBe(1);
  });

  it('runs as `tokenhub operator`: ready on its health port, and SIGTERM releases the Lease', async () => {
    ensureBuilt();
    const port = await freePort();
    const proc = new ServerProcess({
      name: 'tokenhub operator',
      binary: process.execPath,
      args: [
        join(ROOT, 'bin/tokenhub.js'),
        'operator',
        '--kubeconfig',
        kubeconfig,
        '--health-port',
        String(port),
        '--identity',
        'cli-op',
        '--lease-name',
        'cli-lease',
        '--log-level',
        'warn',
      ],
      logFile: join(cp.dir, 'operator-cli.log'),
      env: { ...process.env, POD_NAMESPACE: FLEET_NS },
    });
    proc.start();
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { what: `/readyz (log: ${proc.tail(5)})` });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      await waitFor(async () => (await lease('cli-lease')).spec.holderIdentity === 'cli-op', { what: 'the CLI operator to lead' });
    } finally {
      await proc.stop();
    }
    expect(proc.exited).toBe('exited with code 0');
    expect((await lease('cli-lease')).spec.holderIdentity).toBe('');
  });
});
