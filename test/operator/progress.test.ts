/** Reconciling/Stalled per verdict, and the Event a status transition produces (pure). */
import { describe, expect, it } from 'vitest';
import { Reason } from '../../src/compile/reasons.js';
import type { Condition } from '../../src/schema/common.js';
import { mergeConditions } from '../../src/operator/status/conditions.js';
import { transitionEvent } from '../../src/operator/status/events.js';
import { progressConditions, progressOf } from '../../src/operator/status/progress.js';
import { runHealthScript } from '../support/argocd-health.js';
import { kstatusOf } from '../support/kstatus.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const T0 = new Date('2026-11-01T10:00:00Z');
const ref = { kind: 'ApiKey', namespace: 'n', name: 'k' };
const LUA = readFileSync(join(import.meta.dirname, '../../examples/gitops/argocd/health.lua'), 'utf8');

describe('progressOf', () => {
  it('classifies every reason: ready, the operator still working, intended, or stalled', () => {
    const all = Object.values(Reason);
    const by = Object.fromEntries(all.map((r) => [r, progressOf({ ready: r === Reason.Ready, reason: r })]));
    expect(by).toEqual({
      ...Object.fromEntries(all.map((r) => [r, 'stalled'])),
      Ready: 'ready',
      CredentialPending: 'reconciling',
      KeyDisabled: 'off',
    });
  });

  it('a pending generated key reads InProgress (kstatus) and Progressing (Argo CD)', () => {
    const verdict = { ref, ready: false, reason: Reason.CredentialPending, message: 'waiting', generation: 1 };
    const conditions = mergeConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: verdict.reason, message: verdict.message, observedGeneration: 1 }, ...progressConditions(verdict)],
      T0,
    );
    const obj = { metadata: { generation: 1 }, status: { observedGeneration: 1, conditions } };
    expect(kstatusOf(obj)).toEqual({ status: 'InProgress', reason: 'CredentialPending' });
    expect(runHealthScript(LUA, obj)).toEqual({ status: 'Progressing', message: 'CredentialPending: waiting' });
  });

  it('the Argo CD script survives odd input: no status, nulls, quotes and newlines in messages', () => {
    expect(runHealthScript(LUA, { metadata: {} }).status).toBe('Progressing');
    expect(runHealthScript(LUA, { metadata: { generation: 1 }, status: null }).status).toBe('Progressing');
    const odd = 'a "quoted"\nline \\ with \u0000 nul';
    const obj = {
      metadata: { generation: 1 },
      status: { observedGeneration: 1, conditions: [{ type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: odd }] },
    };
    expect(runHealthScript(LUA, obj)).toEqual({ status: 'Degraded', message: `InvalidSpec: ${odd}` });
  });
});

describe('transitionEvent', () => {
  const c = (type: string, status: string, reason: string): Condition => ({
    type,
    status: status as Condition['status'],
    reason,
    message: '',
    lastTransitionTime: 't',
  });

  it('is nothing when no condition changed status or reason', () => {
    expect(transitionEvent([c('Ready', 'True', 'Ready')], [{ ...c('Ready', 'True', 'Ready'), message: 'new text' }])).toBeUndefined();
  });

  it('is a Warning naming the moved conditions when the object stalls, Normal otherwise', () => {
    const before = [c('Ready', 'True', 'Ready'), c('Reconciling', 'False', 'Reconciled'), c('Stalled', 'False', 'Reconciled')];
    const after = [{ ...c('Ready', 'False', 'InvalidSpec'), message: 'bad' }, c('Reconciling', 'False', 'Reconciled'), c('Stalled', 'True', 'InvalidSpec')];
    expect(transitionEvent(before, after)).toEqual({
      type: 'Warning',
      reason: 'InvalidSpec',
      note: 'Ready=False (InvalidSpec), Stalled=True (InvalidSpec): bad',
    });
    expect(transitionEvent(after, before)?.type).toBe('Normal');
  });

  it('keeps the note within the 1 kB the API server allows', () => {
    const after = [{ ...c('Ready', 'False', 'InvalidSpec'), message: 'x'.repeat(5000) }];
    expect(transitionEvent(undefined, after)?.note).toHaveLength(1024);
  });
});
