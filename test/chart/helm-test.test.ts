/**
 * The `helm test` hook: a restricted pod whose script asks the gateway Service for /readyz and
 * an OpenAI-shaped 401 from /v1/models. No kubelet runs here, so its script runs as the pod
 * would run it (node -e) against a real gateway (passes) and a closed port (fails), and the pod
 * itself passes a server-side dry-run.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/devtools/control-plane-process.js';
import { type TestGateway, modelYaml, startTestGateway } from '../support/gateway.js';
import { apiServerWithNamespace, find, kubectlOk, render } from './helm.js';

type TestPod = {
  metadata: { annotations: Record<string, string> };
  spec: { restartPolicy: string; containers: { command: string[]; securityContext: Record<string, unknown> }[] };
};

async function testPod(set: string[] = []): Promise<TestPod> {
  return find(await render({ set }), 'Pod', 'tokenhub-test') as unknown as TestPod;
}

/** Runs the pod's command with its base URL pointed at `base`; resolves with the exit code. */
async function runAgainst(pod: TestPod, base: string): Promise<{ code: number; out: string }> {
  const [node, flag, script] = pod.spec.containers[0]!.command;
  expect([node, flag]).toEqual(['node', '-e']);
  const local = script!.replace(/const base = "[^"]*";/, `const base = ${JSON.stringify(base)};`);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', local], { timeout: 20_000 });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, out: e.stderr ?? '' };
  }
}

describe('helm test', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: modelYaml({ name: 'chat' }) });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is a test hook, deleted when it passes, asking the Service the operator creates', async () => {
    const pod = await testPod(['gateway.service.port=8000']);
    expect(pod.metadata.annotations).toEqual({ 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' });
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.containers[0]!.command[2]).toContain('const base = "http://tokenhub-gateway.tokenhub.svc:8000";');
    expect(pod.spec.containers[0]!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('its script passes against a serving gateway and fails, saying why, when none answers', async () => {
    const pod = await testPod();
    const ok = await runAgainst(pod, gw.url);
    expect(ok).toEqual({ code: 0, out: `gateway ready at ${gw.url}; the API answers\n` });
    const down = await runAgainst(pod, `http://127.0.0.1:${await freePort()}`);
    expect(down.code).toBe(1);
    expect(down.out).toMatch(/gateway unreachable/);
  });

  describe('on a real API server', () => {
    const cp = apiServerWithNamespace();

    it('the pod passes a server-side dry-run', async () => {
      const out = await kubectlOk(cp(), ['apply', '--server-side', '--dry-run=server', '-f', '-'], JSON.stringify(await testPod()));
      expect(out).toMatch(/pod\/tokenhub-test serverside-applied/);
    });
  });
});
