/**
 * The CEL rules' cases against a real kube-apiserver with the generated CRDs (crds/): the API
 * server must accept and reject exactly what the offline validator does (cel-offline.test.ts),
 * with the rule's own message. Server-side dry run: nothing is stored.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { kubectlOk } from '../support/kube.js';
import { CEL_CASES, NAMESPACE, messageOf, objectOf } from './cel-cases.js';

const ROOT = join(import.meta.dirname, '../..');

describe('CEL rules on the API server', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane();
    await kubectlOk(cp, ['apply', '-f', join(ROOT, 'crds')]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
    await kubectlOk(cp, ['create', 'namespace', NAMESPACE]);
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it.each(CEL_CASES.map((c) => [`${c.kind} ${c.name}`, c] as const))('%s', async (_name, c) => {
    const res = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(objectOf(c)) });
    if (c.accepted) {
      expect([res.code, res.stderr.trim()]).toEqual([0, '']);
    } else {
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(messageOf(c));
      // Rejected by the rule, not by the structural schema.
      expect(res.stderr).not.toMatch(/Unsupported value|Required value|must be of type/);
    }
  });
});
