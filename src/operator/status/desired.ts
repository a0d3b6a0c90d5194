/**
 * What an object's status should say, from its compile verdict: the Ready condition, the
 * generation it describes and the printer-column fields. Pure: the live status goes in only so
 * that lastTransitionTime survives an unchanged condition.
 */
import type { LastGoodRecord } from '../../compile/last-good.js';
import type { Verdict } from '../../compile/types.js';
import { generatedSecretName } from '../../compile/keys.js';
import type { ApiKey } from '../../schema/api-key.js';
import type { Condition } from '../../schema/common.js';
import { mergeConditions } from './conditions.js';
import { progressConditions } from './progress.js';

/** Status fields the reconciler owns. An `undefined` value means "remove the field". */
export type StatusFields = Readonly<Record<string, unknown>>;

export const READY = 'Ready';

export interface DesiredStatusInput {
  readonly verdict: Verdict;
  /** The object as the informer last saw it (spec for the secret name, status for the times). */
  readonly object: { readonly metadata: { readonly name: string }; readonly spec?: unknown; readonly status?: unknown };
  readonly now: Date;
  /** The version still in force while this one is rejected; undefined removes the record. */
  readonly lastGood?: LastGoodRecord | undefined;
}

export function desiredStatus(input: DesiredStatusInput): StatusFields {
  const { verdict, now } = input;
  const current = (input.object.status ?? {}) as { conditions?: Condition[] };
  const status = verdict.ready ? 'True' : 'False';
  const conditions = mergeConditions(
    current.conditions,
    [
      {
        type: READY,
        status,
        reason: verdict.reason,
        message: verdict.message,
        ...(verdict.generation === undefined ? {} : { observedGeneration: verdict.generation }),
      },
      ...progressConditions(verdict),
    ],
    now,
  );
  return {
    conditions,
    observedGeneration: verdict.generation,
    ready: status,
    lastGood: input.lastGood,
    ...printerFields(verdict, input.object),
  };
}

/** Per kind; fields a verdict does not carry are removed, so status says what is in force now. */
function printerFields(verdict: Verdict, object: DesiredStatusInput['object']): StatusFields {
  const s = verdict.status ?? {};
  switch (verdict.ref.kind) {
    case 'ModelRoute':
      return { model: s.model, backends: s.backends };
    case 'ApiKey':
      // The fingerprint of the hash: never the clear key, never the whole hash.
      return { keyPrefix: s.keyPrefix, previousKeyPrefix: s.previousKeyPrefix, rotationDeadline: s.rotationDeadline, secretName: generatedSecretOf(object) };
    case 'QuotaPolicy':
      return { keys: s.keys };
    default:
      return {};
  }
}

/** The Secret the operator generates for this key, or undefined when the key is not generated. */
function generatedSecretOf(object: DesiredStatusInput['object']): string | undefined {
  const credential = (object.spec as Partial<ApiKey['spec']> | undefined)?.credential;
  if (typeof credential !== 'object' || credential === null || credential.generate === undefined) return undefined;
  return generatedSecretName({ metadata: { name: object.metadata.name }, spec: { credential } } as ApiKey);
}
