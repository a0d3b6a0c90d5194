import { describe, expect, it } from 'vitest';
import { compareIdentity, identityKey, identityOf, objectKeyOf } from '../../src/compile/identity.js';

describe('object identity', () => {
  it('keys kind/namespace/name, defaulting the namespace', () => {
    expect(identityKey({ kind: 'ApiKey', namespace: 'ns', name: 'k' })).toBe('ApiKey/ns/k');
    expect(objectKeyOf({ kind: 'ModelRoute', metadata: { name: 'm' } }, 'tokenhub')).toBe('ModelRoute/tokenhub/m');
    expect(identityOf({ kind: 'ModelRoute', metadata: { name: 'm', namespace: 'a' } }, 'tokenhub')).toEqual({ kind: 'ModelRoute', namespace: 'a', name: 'm' });
  });

  it('has no identity without a kind or a name, whatever the input', () => {
    for (const bad of [null, undefined, 'x', 1, [], {}, { kind: 'ApiKey' }, { metadata: { name: 'n' } }, { kind: 1, metadata: { name: 'n' } }]) {
      expect(objectKeyOf(bad, 'ns')).toBeUndefined();
    }
  });

  it('orders by kind, then namespace, then name', () => {
    const ids = [
      { kind: 'QuotaPolicy', namespace: 'a', name: 'a' },
      { kind: 'ApiKey', namespace: 'b', name: 'a' },
      { kind: 'ApiKey', namespace: 'a', name: 'z' },
    ];
    expect([...ids].sort(compareIdentity).map(identityKey)).toEqual(['ApiKey/a/z', 'ApiKey/b/a', 'QuotaPolicy/a/a']);
  });
});
