/**
 * `kubectl explain` against a real kube-apiserver with the generated CRDs (crds/): the field
 * descriptions reach users through the API server's published OpenAPI, not only the YAML.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { kubectlOk } from '../support/kube.js';
import { waitFor } from '../support/poll.js';

const ROOT = join(import.meta.dirname, '../..');

describe('kubectl explain on the TokenHub CRDs', () => {
  let cp: ControlPlane;

  /** The explain text with line wrapping undone; waits for the API server to publish the schema. */
  const explain = (field: string): Promise<string> =>
    waitFor(
      async () => {
        const res = await cp.kubectl(['explain', field]);
        return res.code === 0 ? res.stdout.replace(/\s+/g, ' ') : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: `kubectl explain ${field}` },
    );

  beforeAll(async () => {
    cp = await startControlPlane();
    await kubectlOk(cp, ['apply', '-f', join(ROOT, 'crds')]);
    await kubectlOk(cp, ['wait', '--for=condition=Established', '--timeout=30s', 'crd', '--all']);
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  });

  it('says apikey.spec.credential takes exactly one of its four sources', async () => {
    const text = await explain('apikey.spec.credential');
    expect(text).toContain('exactly one of generate, secretRef, hash or serviceAccount');
  });

  it('gives units and defaults on nested fields (modelroute.spec.backends.timeoutSeconds)', async () => {
    const text = await explain('modelroute.spec.backends.timeoutSeconds');
    expect(text).toContain('default 120');
  });
});
