/** The pure status pieces: conditions that keep their transition time, desired status, merge patches. */
import { describe, expect, it } from 'vitest';
import { Reason } from '../../src/compile/reasons.js';
import type { Verdict } from '../../src/compile/types.js';
import type { Condition } from '../../src/schema/common.js';
import { mergeConditions } from '../../src/operator/status/conditions.js';
import { desiredStatus } from '../../src/operator/status/desired.js';
import { statusPatch } from '../../src/operator/status/patch.js';

const T0 = new Date('2026-11-01T10:00:00.123Z');
const T1 = new Date('2026-11-02T10:00:00Z');
const ready = (status: 'True' | 'False', reason: string, message = 'm'): Omit<Condition, 'lastTransitionTime'> => ({
  type: 'Ready',
  status,
  reason,
  message,
  observedGeneration: 1,
});

describe('mergeConditions', () => {
  it('stamps a new condition with now, in whole seconds', () => {
    expect(mergeConditions(undefined, [ready('True', 'Ready')], T0)).toEqual([{ ...ready('True', 'Ready'), lastTransitionTime: '2026-11-01T10:00:00Z' }]);
  });

  it('keeps lastTransitionTime when only the message or generation changes', () => {
    const [old] = mergeConditions(undefined, [ready('True', 'Ready', 'one')], T0);
    const [next] = mergeConditions([old!], [{ ...ready('True', 'Ready', 'two'), observedGeneration: 2 }], T1);
    expect(next).toEqual({ ...ready('True', 'Ready', 'two'), observedGeneration: 2, lastTransitionTime: '2026-11-01T10:00:00Z' });
  });

  it('moves lastTransitionTime when the status or the reason changes', () => {
    const [old] = mergeConditions(undefined, [ready('False', Reason.SecretNotFound)], T0);
    expect(mergeConditions([old!], [ready('False', Reason.SecretKeyNotFound)], T1)[0]?.lastTransitionTime).toBe('2026-11-02T10:00:00Z');
    expect(mergeConditions([old!], [ready('True', Reason.Ready)], T1)[0]?.lastTransitionTime).toBe('2026-11-02T10:00:00Z');
  });

  it('leaves conditions of other types where they are', () => {
    const other: Condition = { type: 'Synced', status: 'True', reason: 'X', message: '', lastTransitionTime: 'then' };
    const merged = mergeConditions([other], [ready('True', 'Ready')], T0);
    expect(merged.map((c) => c.type)).toEqual(['Synced', 'Ready']);
    expect(merged[0]).toBe(other);
  });
});

describe('desiredStatus', () => {
  const verdict = (v: Partial<Verdict> & Pick<Verdict, 'ref'>): Verdict => ({ ready: true, reason: Reason.Ready, message: 'ok', generation: 3, ...v });

  it('carries the printer fields of each kind and the generation it describes', () => {
    const route = desiredStatus({
      verdict: verdict({ ref: { kind: 'ModelRoute', namespace: 'n', name: 'm' }, status: { model: 'm', backends: 2 } }),
      object: { metadata: { name: 'm' } },
      now: T0,
    });
    expect(route).toMatchObject({ ready: 'True', observedGeneration: 3, model: 'm', backends: 2 });
    expect((route['conditions'] as Condition[])[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Ready', observedGeneration: 3 });
  });

  it('names the generated Secret and shows the fingerprint, removing what a rejected key no longer has', () => {
    const key = { metadata: { name: 'team' }, spec: { credential: { generate: {} } } };
    const pending = desiredStatus({
      verdict: verdict({ ref: { kind: 'ApiKey', namespace: 'n', name: 'team' }, ready: false, reason: Reason.CredentialPending }),
      object: key,
      now: T0,
    });
    expect(pending).toMatchObject({ ready: 'False', secretName: 'team-key', keyPrefix: undefined });
    expect('keyPrefix' in pending).toBe(true);
    const named = desiredStatus({
      verdict: verdict({ ref: { kind: 'ApiKey', namespace: 'n', name: 'team' }, status: { keyPrefix: '0123456789ab' } }),
      object: { metadata: { name: 'team' }, spec: { credential: { generate: { secretName: 'custom' } } } },
      now: T0,
    });
    expect(named).toMatchObject({ keyPrefix: '0123456789ab', secretName: 'custom' });
  });
});

describe('statusPatch', () => {
  it('is nothing when the live status already says it (key order and absent fields aside)', () => {
    expect(statusPatch({ b: 1, a: { y: 2, x: 1 } }, { a: { x: 1, y: 2 }, gone: undefined })).toBeUndefined();
  });

  it('touches only the named fields, nulls removed ones, and owns named objects whole', () => {
    const live = { usage: { requests: 1, remainingCost: '5.00', updatedAt: 't' }, conditions: [1], keyPrefix: 'abc' };
    expect(statusPatch(live, { usage: { requests: 2, updatedAt: 't' }, keyPrefix: undefined })).toEqual({
      usage: { requests: 2, remainingCost: null },
      keyPrefix: null,
    });
  });

  it('replaces arrays whole (merge patch semantics)', () => {
    expect(statusPatch({ conditions: [{ a: 1 }, { b: 2 }] }, { conditions: [{ a: 1 }] })).toEqual({ conditions: [{ a: 1 }] });
  });
});
