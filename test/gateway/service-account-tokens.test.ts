/** The JWKS verifier's own bookkeeping, without an API server (the real one: test/kube/service-account-auth.test.ts). */
import { describe, expect, it } from 'vitest';
import { JwksTokenVerifier } from '../../src/gateway/service-account-tokens.js';

describe('JwksTokenVerifier.start', () => {
  it('logs a failed first load on the logger it is started with (the gateway’s, made before the load)', async () => {
    const warnings: string[] = [];
    const verifier = new JwksTokenVerifier({ fetchJson: () => Promise.reject(new Error('connect ECONNREFUSED')) });
    try {
      await verifier.start({ warn: (o, m) => warnings.push(`${m} ${JSON.stringify(o)}`) });
      expect(verifier.loads).toBe(1);
      expect(warnings).toEqual([expect.stringContaining('ServiceAccount token keys could not be loaded')]);
      expect(warnings[0]).toContain('ECONNREFUSED');
      expect(verifier.verify('a.b.c', Date.now())).toEqual({ ok: false, reason: 'unknown-key' });
    } finally {
      verifier.stop();
    }
  });
});
