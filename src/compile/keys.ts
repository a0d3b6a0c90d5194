/** ApiKeys → compiled keys: resolve the credential to a hash, allowed models, policies and limits. */
import type { ApiKey } from '../schema/api-key.js';
import type { QuotaPolicy } from '../schema/quota-policy.js';
import { hashKey, keyFingerprint } from '../keys/hash.js';
import { PatternIndex } from './globs.js';
import { Reason, type ReasonCode } from './reasons.js';
import { type KeyPlan, KeyPlans, type Rejection, isRejection } from './key-plans.js';
import { CREDENTIAL_LABEL, readSecret, verdictOf } from './objects.js';
import { secretRejection } from './models.js';
import type { PolicyIndex } from './policies.js';
import type { CompiledKey, CompiledModel, SecretInput, Verdict } from './types.js';

export interface KeyContext {
  readonly models: ReadonlyMap<string, CompiledModel>;
  readonly policies: PolicyIndex;
  readonly secrets: readonly SecretInput[];
  readonly now: Date;
  /** Platform ceiling policies: added to every key's own (strictest wins). */
  readonly ceilings?: readonly QuotaPolicy[];
  /** Model id → the namespaces it is published to; absent: every namespace. */
  readonly publishedTo?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Built once per compile from `models`; compileKeys makes one when absent. */
  readonly patterns?: PatternIndex<CompiledModel>;
}

/** The Secret key the operator writes a generated API key under. */
export const GENERATED_SECRET_KEY = 'api-key';
/** After a rotation: the old key and until when it is accepted (RFC 3339), in the same Secret. */
export const PREVIOUS_SECRET_KEY = 'previous-api-key';
export const PREVIOUS_NOT_AFTER_KEY = 'previous-not-after';

/**
 * Where a ServiceAccount-bound key sits in the config's key map. Never a `sha256:` hash, so no
 * Bearer key can match it: only a verified ServiceAccount token leads here (gateway/auth.ts).
 */
export function serviceAccountKeyId(namespace: string, name: string): string {
  return `serviceaccount:${namespace}/${name}`;
}

export function generatedSecretName(key: ApiKey): string {
  return key.spec.credential.generate?.secretName ?? `${key.metadata.name}-key`;
}

export function compileKeys(
  apiKeys: readonly ApiKey[],
  ctx: KeyContext,
): { keys: Map<string, CompiledKey>; verdicts: Verdict[]; policyUse: Map<QuotaPolicy, number> } {
  const keys = new Map<string, CompiledKey>();
  const verdicts: Verdict[] = [];
  const policyUse = new Map<QuotaPolicy, number>();
  const patterns = ctx.patterns ?? new PatternIndex([...new Set(ctx.models.values())]);
  const plans = new KeyPlans({ ...ctx, patterns });
  for (const apiKey of apiKeys) {
    const result = compileKey(apiKey, { ctx, plans });
    if ('reason' in result) {
      verdicts.push(verdictOf(apiKey, { ready: false, ...result }));
      continue;
    }
    const { key, plan, previous } = result;
    const owner = keys.get(key.hash) ?? (previous === undefined ? undefined : keys.get(previous.hash));
    if (owner !== undefined) {
      const message = `the same key is already used by ApiKey ${owner.id}`;
      verdicts.push(verdictOf(apiKey, { ready: false, reason: Reason.KeyConflict, message }));
      continue;
    }
    keys.set(key.hash, key);
    if (previous !== undefined)
      keys.set(previous.hash, { ...key, hash: previous.hash, fingerprint: keyFingerprint(previous.hash), credentialNotAfter: previous.notAfter });
    for (const p of plan.policies) policyUse.set(p, (policyUse.get(p) ?? 0) + 1);
    const status =
      previous === undefined
        ? { keyPrefix: key.fingerprint }
        : { keyPrefix: key.fingerprint, previousKeyPrefix: keyFingerprint(previous.hash), rotationDeadline: new Date(previous.notAfter).toISOString() };
    const { ready, reason, message } = stateOf(key, { now: ctx.now, plan });
    verdicts.push(verdictOf(apiKey, { ready, reason, message, status }));
  }
  return { keys, verdicts, policyUse };
}

/** Disabled and expired keys stay in the config (so the 401 can say why) but are not Ready. */
function stateOf(key: CompiledKey, at: { now: Date; plan: KeyPlan }): { ready: boolean; reason: ReasonCode; message: string } {
  if (key.disabled) return { ready: false, reason: Reason.KeyDisabled, message: 'key is disabled' };
  if (key.expiresAt !== undefined && key.expiresAt <= at.now.getTime()) {
    return { ready: false, reason: Reason.KeyExpired, message: `key expired at ${new Date(key.expiresAt).toISOString()}` };
  }
  return { ready: true, reason: Reason.Ready, message: at.plan.readyMessage };
}

type Previous = { hash: string; notAfter: number };

/** One key: its own credential and dates, the rest from the plan it shares with keys like it. */
function compileKey(apiKey: ApiKey, with_: { ctx: KeyContext; plans: KeyPlans }): { key: CompiledKey; plan: KeyPlan; previous?: Previous } | Rejection {
  const { ctx, plans } = with_;
  const namespace = apiKey.metadata.namespace ?? 'default';
  const hash = resolveHash(apiKey, namespace, ctx.secrets);
  if (typeof hash !== 'string') return hash;
  const plan = plans.of(apiKey, namespace);
  if (isRejection(plan)) return plan;
  const spec = apiKey.spec;
  const expiresAt = spec.expiresAt === undefined ? undefined : Date.parse(spec.expiresAt);
  const key: CompiledKey = {
    id: `${namespace}/${apiKey.metadata.name}`,
    ref: { kind: 'ApiKey', namespace, name: apiKey.metadata.name },
    hash,
    fingerprint: hash.startsWith('serviceaccount:') ? `sa:${spec.credential.serviceAccount?.name ?? ''}` : keyFingerprint(hash),
    ...(spec.owner === undefined ? {} : { owner: spec.owner }),
    ...(spec.displayName === undefined ? {} : { displayName: spec.displayName }),
    allowedModels: plan.allowedModels,
    disabled: spec.disabled === true,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    // A copy: renderings of the config (YAML in tests and the CLI) would show a shared array as an alias.
    policies: [...plan.names],
    limits: plan.limits,
    ...(plan.shadow === undefined ? {} : { shadow: plan.shadow }),
  };
  const previous = previousCredential(apiKey, namespace, ctx);
  return { key, plan, ...(previous === undefined || previous.hash === hash ? {} : { previous }) };
}

/**
 * The credential of a rotation window, while it lasts: spec.previousCredential, or for a
 * generated key the old value the operator kept in the Secret. One that cannot be read (its
 * Secret gone) or whose window has ended is simply not accepted: the new key keeps working.
 */
function previousCredential(apiKey: ApiKey, namespace: string, ctx: KeyContext): Previous | undefined {
  const spec = apiKey.spec.previousCredential;
  let hash: string | undefined;
  let notAfter: number;
  if (spec !== undefined) {
    notAfter = Date.parse(spec.notAfter);
    if (spec.hash !== undefined) hash = spec.hash;
    else if (spec.secretRef !== undefined) {
      const found = readSecret(ctx.secrets, { namespace, ...spec.secretRef });
      hash = 'missing' in found ? undefined : hashKey(found.value);
    }
  } else if (apiKey.spec.credential.generate !== undefined) {
    const name = generatedSecretName(apiKey);
    const old = readSecret(ctx.secrets, { namespace, name, key: PREVIOUS_SECRET_KEY });
    const until = readSecret(ctx.secrets, { namespace, name, key: PREVIOUS_NOT_AFTER_KEY });
    if ('missing' in old || 'missing' in until) return undefined;
    hash = hashKey(old.value);
    notAfter = Date.parse(until.value);
  } else {
    return undefined;
  }
  if (hash === undefined || !(notAfter > ctx.now.getTime())) return undefined;
  return { hash, notAfter };
}

function resolveHash(apiKey: ApiKey, namespace: string, secrets: readonly SecretInput[]): string | Rejection {
  const cred = apiKey.spec.credential;
  if (cred.hash !== undefined) return cred.hash;
  if (cred.serviceAccount !== undefined) return serviceAccountKeyId(namespace, cred.serviceAccount.name);
  if (cred.secretRef !== undefined) {
    const found = readSecret(secrets, { namespace, ...cred.secretRef });
    return 'missing' in found ? secretRejection(found.missing, namespace, cred.secretRef) : hashKey(found.value);
  }
  const name = generatedSecretName(apiKey);
  const found = readSecret(secrets, { namespace, name, key: GENERATED_SECRET_KEY });
  if ('missing' in found && found.missing === 'consent') return secretRejection('consent', namespace, { name, key: GENERATED_SECRET_KEY });
  if ('missing' in found) {
    // An existing Secret of that name without the credential label is neither read nor replaced.
    const message = `waiting for the operator to generate Secret ${namespace}/${name} (labelled ${CREDENTIAL_LABEL}: "true")`;
    return { reason: Reason.CredentialPending, message };
  }
  return hashKey(found.value);
}
