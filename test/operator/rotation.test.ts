/** Which generated-key Secrets to rotate or clean up (pure): each annotation value acted on once. */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/kube/client.js';
import { generatedSecret } from '../../src/operator/keys/secret-generator.js';
import { graceMs, secretPatches } from '../../src/operator/keys/rotation.js';

const NOW = new Date('2026-11-28T12:00:00Z');
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const apiKey = (annotations: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'tokenhub.io/v1alpha1',
  kind: 'ApiKey',
  metadata: { name: 'team', namespace: 'ns', uid: 'u1', annotations },
  spec: { credential: { generate: {} } },
});
const secret = (data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'team-key', namespace: 'ns', resourceVersion: '42' },
  data,
});
const patches = (key: KubeObject, s: KubeObject, now = NOW) => secretPatches({ apiKeys: [key], secrets: [s], now, newKey: () => 'th-new' });

describe('secretPatches', () => {
  it('rotates once per annotation value: new key, old key kept with its deadline, the value recorded', () => {
    const key = apiKey({ 'tokenhub.io/rotate': '2026-11-28', 'tokenhub.io/rotation-grace': '2h' });
    expect(patches(key, secret({ 'api-key': b64('th-old') }))).toEqual([
      {
        namespace: 'ns',
        name: 'team-key',
        apiKey: 'team',
        kind: 'rotate',
        patch: {
          metadata: { resourceVersion: '42' },
          data: {
            'api-key': b64('th-new'),
            'previous-api-key': b64('th-old'),
            'previous-not-after': b64('2026-11-28T14:00:00.000Z'),
            rotation: b64('2026-11-28'),
          },
        },
      },
    ]);
    const rotated = secret({
      'api-key': b64('th-new'),
      'previous-api-key': b64('th-old'),
      'previous-not-after': b64('2026-11-28T14:00:00.000Z'),
      rotation: b64('2026-11-28'),
    });
    expect(patches(key, rotated)).toEqual([]);
    // After the deadline the old key is removed; a new value rotates again.
    expect(patches(key, rotated, new Date('2026-11-28T14:00:00Z'))[0]).toMatchObject({
      kind: 'expire',
      patch: { data: { 'previous-api-key': null, 'previous-not-after': null } },
    });
    expect(patches(apiKey({ 'tokenhub.io/rotate': 'again' }), rotated)[0]?.kind).toBe('rotate');
  });

  it('does nothing without the annotation, for keys not generated, or before the Secret exists', () => {
    expect(patches(apiKey(), secret({ 'api-key': b64('th-old') }))).toEqual([]);
    const hashed = { ...apiKey({ 'tokenhub.io/rotate': 'x' }), spec: { credential: { hash: 'sha256:' + '0'.repeat(64) } } };
    expect(patches(hashed, secret({ 'api-key': b64('th-old') }))).toEqual([]);
    expect(secretPatches({ apiKeys: [apiKey({ 'tokenhub.io/rotate': 'x' })], secrets: [], now: NOW, newKey: () => 'k' })).toEqual([]);
  });

  it('a key created with the annotation already set is not rotated right away', () => {
    const key = apiKey({ 'tokenhub.io/rotate': 'v1' });
    expect(patches(key, generatedSecret(key, 'team-key'))).toEqual([]);
  });

  it('reads the grace period, defaulting to 24h for anything it cannot read', () => {
    expect([graceMs('90s'), graceMs('15m'), graceMs('2h'), graceMs('7d'), graceMs('30')]).toEqual([90_000, 900_000, 7_200_000, 604_800_000, 30_000]);
    expect([graceMs(undefined), graceMs('-1h'), graceMs('1w'), graceMs('1e9')]).toEqual(Array(4).fill(86_400_000));
  });
});
