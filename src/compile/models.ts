/** ModelRoutes → compiled models: claim ids and aliases, resolve credentials and fallback chains. */
import { BACKEND_DEFAULTS, DEFAULT_REASONING_ALLOWANCE, ROUTE_DEFAULTS, type ModelRoute, type TokenLimits } from '../schema/model-route.js';
import { parseMicros } from '../billing/money.js';
import { Reason, type ReasonCode } from './reasons.js';
import { CREDENTIAL_LABEL, type SecretMiss, readSecret, verdictOf } from './objects.js';
import type { CompiledBackend, CompiledModel, SecretInput, Verdict } from './types.js';

type Rejection = { reason: ReasonCode; message: string };

export function compileModels(routes: readonly ModelRoute[], secrets: readonly SecretInput[]): { models: Map<string, CompiledModel>; verdicts: Verdict[] } {
  const verdicts: Verdict[] = [];
  const claimed = new Map<string, ModelRoute>();
  const candidates = new Map<ModelRoute, Omit<CompiledModel, 'fallbackChain'>>();
  for (const route of routes) {
    const rejection = claimNames(route, claimed) ?? undefined;
    const built = rejection === undefined ? buildModel(route, secrets) : rejection;
    if ('reason' in built) verdicts.push(reject(route, built));
    else candidates.set(route, built);
  }
  const { chains, rejected } = resolveFallbacks(candidates);
  const models = new Map<string, CompiledModel>();
  for (const [route, model] of candidates) {
    const failure = rejected.get(route);
    if (failure !== undefined) {
      verdicts.push(reject(route, failure));
      continue;
    }
    const compiled: CompiledModel = { ...model, fallbackChain: chains.get(route) ?? [] };
    for (const name of [model.id, ...model.aliases]) models.set(name, compiled);
    verdicts.push(
      verdictOf(route, {
        ready: true,
        reason: Reason.Ready,
        message: `serving ${model.id} through ${model.backends.length} backend(s)`,
        status: { model: model.id, backends: model.backends.length },
      }),
    );
  }
  return { models, verdicts };
}

function reject(route: ModelRoute, r: Rejection): Verdict {
  return verdictOf(route, { ready: false, reason: r.reason, message: r.message, status: { model: route.spec.model } });
}

/** Model ids and aliases are global across namespaces: the first (oldest) claimant keeps a name. */
function claimNames(route: ModelRoute, claimed: Map<string, ModelRoute>): Rejection | undefined {
  const names = [route.spec.model, ...(route.spec.aliases ?? [])];
  for (const name of names) {
    const owner = claimed.get(name);
    if (owner !== undefined) {
      const where = `${owner.metadata.namespace}/${owner.metadata.name}`;
      return { reason: Reason.ModelConflict, message: `model name "${name}" is already served by ModelRoute ${where}` };
    }
  }
  for (const name of names) claimed.set(name, route);
  return undefined;
}

function buildModel(route: ModelRoute, secrets: readonly SecretInput[]): Omit<CompiledModel, 'fallbackChain'> | Rejection {
  const spec = route.spec;
  const namespace = route.metadata.namespace ?? 'default';
  const backends: CompiledBackend[] = [];
  for (const b of spec.backends) {
    let apiKey: string | undefined;
    if (b.credentialSecretRef !== undefined) {
      const found = readSecret(secrets, { namespace, ...b.credentialSecretRef });
      if ('missing' in found) return secretRejection(found.missing, namespace, b.credentialSecretRef);
      apiKey = found.value;
    }
    backends.push({
      name: b.name,
      baseURL: b.baseURL.replace(/\/+$/, ''),
      upstreamModel: b.upstreamModel ?? spec.model,
      ...(apiKey === undefined ? {} : { apiKey }),
      weight: b.weight ?? BACKEND_DEFAULTS.weight,
      priority: b.priority ?? BACKEND_DEFAULTS.priority,
      timeoutMs: (b.timeoutSeconds ?? BACKEND_DEFAULTS.timeoutSeconds) * 1000,
      connection: {
        maxConnections: b.connection?.maxConnections ?? BACKEND_DEFAULTS.maxConnections,
        idleTimeoutMs: (b.connection?.idleTimeoutSeconds ?? BACKEND_DEFAULTS.idleTimeoutSeconds) * 1000,
        queueTimeoutMs: b.connection?.queueTimeoutMs ?? BACKEND_DEFAULTS.queueTimeoutMs,
        protocol: b.connection?.protocol ?? BACKEND_DEFAULTS.protocol,
      },
    });
  }
  backends.sort((a, b) => a.priority - b.priority);
  return {
    id: spec.model,
    route: { kind: 'ModelRoute', namespace, name: route.metadata.name },
    aliases: [...(spec.aliases ?? [])],
    provider: spec.provider ?? ROUTE_DEFAULTS.provider,
    lifecycle: spec.lifecycle ?? ROUTE_DEFAULTS.lifecycle,
    capabilities: new Set(spec.capabilities),
    limits: {
      ...spec.limits,
      defaultMaxOutput: spec.limits.defaultMaxOutput ?? Math.min(4096, spec.limits.maxOutput),
      reasoningAllowance: spec.capabilities.includes('thinking') ? reasoningAllowanceOf(spec.limits) : 0,
      maxChoices: spec.limits.maxChoices ?? ROUTE_DEFAULTS.maxChoices,
    },
    providerParameters: new Set(spec.providerParameters ?? []),
    failover: { retryOn: new Set(spec.failover?.retryOn ?? ROUTE_DEFAULTS.retryOn), maxAttempts: spec.failover?.maxAttempts ?? ROUTE_DEFAULTS.maxAttempts },
    rateLimits: { ...spec.rateLimits },
    pricing: {
      currency: spec.pricing?.currency ?? ROUTE_DEFAULTS.currency,
      input: spec.pricing === undefined ? 0 : parseMicros(spec.pricing.inputPerMillion),
      output: spec.pricing === undefined ? 0 : parseMicros(spec.pricing.outputPerMillion),
      cachedInput: parseMicros(spec.pricing?.cachedInputPerMillion ?? spec.pricing?.inputPerMillion ?? '0'),
    },
    backends,
  };
}

export function secretRejection(missing: SecretMiss, namespace: string, ref: { name: string; key: string }): Rejection {
  const consent = `${CREDENTIAL_LABEL}: "true"`;
  if (missing === 'secret') {
    const message = `Secret ${namespace}/${ref.name} not found (TokenHub reads only Secrets labelled ${consent})`;
    return { reason: Reason.SecretNotFound, message };
  }
  if (missing === 'consent') {
    const message = `Secret ${namespace}/${ref.name} is not labelled ${consent}: label it to let TokenHub read it`;
    return { reason: Reason.SecretNotLabelled, message };
  }
  return { reason: Reason.SecretKeyNotFound, message: `Secret ${namespace}/${ref.name} has no key "${ref.key}"` };
}

/**
 * Resolves each route's default chain transitively (A → B's chain → …), without repeats.
 * A name that does not resolve rejects the route, and so, in turn, every route that falls back
 * to a rejected one; a chain that leads back to its own model is a loop.
 */
function resolveFallbacks(candidates: Map<ModelRoute, Omit<CompiledModel, 'fallbackChain'>>): {
  chains: Map<ModelRoute, string[]>;
  rejected: Map<ModelRoute, Rejection>;
} {
  const rejected = new Map<ModelRoute, Rejection>();
  const all = nameIndex(candidates, rejected);
  for (const route of candidates.keys()) {
    const chain = walkChain(route, all);
    if (chain.includes(route.spec.model)) {
      const message = `fallback chain loops back to ${route.spec.model}: ${[route.spec.model, ...chain].join(' → ')}`;
      rejected.set(route, { reason: Reason.FallbackLoop, message });
    }
  }
  for (let changed = true; changed;) {
    changed = false;
    const byName = nameIndex(candidates, rejected);
    for (const route of candidates.keys()) {
      if (rejected.has(route)) continue;
      const missing = (route.spec.fallbackModels ?? []).find((name) => !byName.has(name));
      if (missing === undefined) continue;
      const message = `fallback model "${missing}" is not served by any ready ModelRoute`;
      rejected.set(route, { reason: Reason.FallbackNotFound, message });
      changed = true;
    }
  }
  const byName = nameIndex(candidates, rejected);
  const chains = new Map<ModelRoute, string[]>();
  for (const route of candidates.keys()) if (!rejected.has(route)) chains.set(route, walkChain(route, byName));
  return { chains, rejected };
}

function nameIndex(candidates: Map<ModelRoute, Omit<CompiledModel, 'fallbackChain'>>, rejected: Map<ModelRoute, Rejection>): Map<string, ModelRoute> {
  const index = new Map<string, ModelRoute>();
  for (const [route, model] of candidates) {
    if (rejected.has(route)) continue;
    for (const name of [model.id, ...model.aliases]) index.set(name, route);
  }
  return index;
}

/** Depth-first, in declared order; stops at the first revisit so loops terminate. */
function walkChain(start: ModelRoute, byName: Map<string, ModelRoute>): string[] {
  const chain: string[] = [];
  const visit = (route: ModelRoute): void => {
    for (const name of route.spec.fallbackModels ?? []) {
      const next = byName.get(name);
      if (next === undefined) continue;
      const id = next.spec.model;
      if (chain.includes(id)) continue;
      chain.push(id);
      if (next !== start) visit(next);
    }
  };
  visit(start);
  return chain;
}

/** The route's reasoning allowance, else the default within the model's largest chain of thought. */
function reasoningAllowanceOf(limits: TokenLimits): number {
  return limits.reasoningAllowance ?? Math.min(DEFAULT_REASONING_ALLOWANCE, limits.maxReasoning ?? limits.maxOutput);
}
