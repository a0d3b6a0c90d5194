/** ApiKeys → compiled keys: resolve the credential to a hash, allowed models, policies and limits. */
import type { ApiKey } from '../schema/api-key.js';
import type { QuotaPolicy } from '../schema/quota-policy.js';
import { hashKey, keyFingerprint } from '../keys/hash.js';
import { PatternIndex } from './globs.js';
import { Reason, type ReasonCode } from './reasons.js';
import { CREDENTIAL_LABEL, readSecret, verdictOf } from './objects.js';
import { secretRejection } from './models.js';
import { type PolicyIndex, effectiveLimits } from './policies.js';
import type { CompiledKey, CompiledModel, SecretInput, Verdict } from './types.js';

type Rejection = { reason: ReasonCode; message: string };

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
  for (const apiKey of apiKeys) {
    const result = compileKey(apiKey, { ...ctx, patterns });
    if ('reason' in result) {
      verdicts.push(verdictOf(apiKey, { ready: false, ...result }));
      continue;
    }
    const { key, policies, previous } = result;
    const owner = [key.hash, ...(previous ? [previous.hash] : [])].map((h) => keys.get(h)).find((k) => k !== undefined);
    if (owner !== undefined) {
      const message = `the same key is already used by ApiKey ${owner.id}`;
      verdicts.push(verdictOf(apiKey, { ready: false, reason: Reason.KeyConflict, message }));
      continue;
    }
    keys.set(key.hash, key);
    if (previous !== undefined)
      keys.set(previous.hash, { ...key, hash: previous.hash, fingerprint: keyFingerprint(previous.hash), credentialNotAfter: previous.notAfter });
    for (const p of policies) policyUse.set(p, (policyUse.get(p) ?? 0) + 1);
    const rotation =
      previous === undefined ? {} : { previousKeyPrefix: keyFingerprint(previous.hash), rotationDeadline: new Date(previous.notAfter).toISOString() };
    verdicts.push(verdictOf(apiKey, { ...stateOf(key, ctx.now), status: { keyPrefix: key.fingerprint, ...rotation } }));
  }
  return { keys, verdicts, policyUse };
}

/** Disabled and expired keys stay in the config (so the 401 can say why) but are not Ready. */
function stateOf(key: CompiledKey, now: Date): { ready: boolean; reason: ReasonCode; message: string } {
  if (key.disabled) return { ready: false, reason: Reason.KeyDisabled, message: 'key is disabled' };
  if (key.expiresAt !== undefined && key.expiresAt <= now.getTime()) {
    return { ready: false, reason: Reason.KeyExpired, message: `key expired at ${new Date(key.expiresAt).toISOString()}` };
  }
  const models = key.allowedModels.size;
  const policies = key.policies.length === 0 ? 'no quota policy (unlimited)' : `policies ${key.policies.join(', ')}`;
  return { ready: true, reason: Reason.Ready, message: `${models} model(s) allowed; ${policies}` };
}

type Previous = { hash: string; notAfter: number };

function compileKey(
  apiKey: ApiKey,
  ctx: KeyContext & { patterns: PatternIndex<CompiledModel> },
): { key: CompiledKey; policies: QuotaPolicy[]; previous?: Previous } | Rejection {
  const namespace = apiKey.metadata.namespace ?? 'default';
  const hash = resolveHash(apiKey, namespace, ctx.secrets);
  if (typeof hash !== 'string') return hash;
  const own = resolvePolicies(apiKey, namespace, ctx.policies);
  if (!Array.isArray(own)) return own;
  const policies = [...own, ...(ctx.ceilings ?? []).filter((c) => !own.includes(c))];
  const published = (m: CompiledModel): boolean => ctx.publishedTo?.get(m.id)?.has(namespace) ?? true;
  const allowed = allowedModels(apiKey, ctx.patterns).filter(published);
  if (allowed.length === 0) {
    const patterns = (apiKey.spec.allowedModels ?? ['*']).join(', ');
    return { reason: Reason.NoAllowedModels, message: `allowedModels (${patterns}) match no ready ModelRoute published to namespace ${namespace}` };
  }
  const expiresAt = apiKey.spec.expiresAt === undefined ? undefined : Date.parse(apiKey.spec.expiresAt);
  const shadow = policies.filter((p) => p.spec.mode === 'Shadow');
  const key: CompiledKey = {
    id: `${namespace}/${apiKey.metadata.name}`,
    ref: { kind: 'ApiKey', namespace, name: apiKey.metadata.name },
    hash,
    fingerprint: hash.startsWith('serviceaccount:') ? `sa:${apiKey.spec.credential.serviceAccount?.name ?? ''}` : keyFingerprint(hash),
    ...(apiKey.spec.owner === undefined ? {} : { owner: apiKey.spec.owner }),
    ...(apiKey.spec.displayName === undefined ? {} : { displayName: apiKey.spec.displayName }),
    allowedModels: new Set(allowed.map((m) => m.id)),
    disabled: apiKey.spec.disabled === true,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    policies: policies.map((p) => (own.includes(p) ? p.metadata.name : `${p.metadata.namespace ?? 'default'}/${p.metadata.name} (ceiling)`)),
    limits: effectiveLimits(
      policies.filter((p) => p.spec.mode !== 'Shadow'),
      allowed,
      ctx.patterns,
    ),
    ...(shadow.length === 0 ? {} : { shadow: { policies: shadow.map((p) => p.metadata.name), limits: effectiveLimits(shadow, allowed, ctx.patterns) } }),
  };
  const previous = previousCredential(apiKey, namespace, ctx);
  return { key, policies, ...(previous === undefined || previous.hash === hash ? {} : { previous }) };
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

function allowedModels(apiKey: ApiKey, index: PatternIndex<CompiledModel>): CompiledModel[] {
  const selected = new Set<CompiledModel>();
  for (const pattern of apiKey.spec.allowedModels ?? ['*']) for (const m of index.select(pattern)) selected.add(m);
  return [...selected].sort((a, b) => (a.id < b.id ? -1 : 1));
}

function resolvePolicies(apiKey: ApiKey, namespace: string, index: PolicyIndex): QuotaPolicy[] | Rejection {
  const names = apiKey.spec.quotaPolicies ?? [];
  if (names.length === 0) {
    if (index.ambiguousDefaults.has(namespace)) {
      return { reason: Reason.PolicyNotFound, message: 'the key names no QuotaPolicy and the namespace default is ambiguous' };
    }
    const fallback = index.defaults.get(namespace);
    return fallback === undefined ? [] : [fallback];
  }
  const found: QuotaPolicy[] = [];
  for (const name of names) {
    const policy = index.byName.get(`${namespace}/${name}`);
    if (policy === undefined) {
      return { reason: Reason.PolicyNotFound, message: `QuotaPolicy ${namespace}/${name} not found or not ready` };
    }
    found.push(policy);
  }
  return found;
}
