/**
 * compile(): every TokenHub object (plus the Secrets they reference) in, one immutable gateway
 * config and one verdict per object out. Pure: no clock (`now` is passed), no network, no files.
 * The operator, the gateway and the CLI all call this same function.
 */
import { createHash } from 'node:crypto';
import { ResourceValidator } from '../schema/validate.js';
import { identityKey } from './identity.js';
import { admit } from './objects.js';
import { compileModels } from './models.js';
import { indexPolicies } from './policies.js';
import { compileKeys } from './keys.js';
import { type Tenancy, fencePolicies, fenceRoutes, publications } from './tenancy.js';
import type { CompileInput, CompileOptions, CompileResult, CompiledKey, CompiledModel, EffectiveLimits, GatewayConfig, Verdict } from './types.js';

export interface Compiler {
  (input: CompileInput, options: CompileOptions): CompileResult;
}

/**
 * Builds a compile function around one set of compiled validators (ajv compilation is costly)
 * and the platform's tenancy settings (which namespaces publish models and set ceilings).
 */
export function createCompiler(validator = new ResourceValidator(), tenancy: Tenancy = {}): Compiler {
  return (input, options) => {
    const ns = options.defaultNamespace ?? 'default';
    const admitted = admit(input.objects, validator, ns);
    const routes = fenceRoutes(admitted.routes, tenancy);
    const fenced = fencePolicies(admitted.policies, tenancy);
    const models = compileModels(routes.served, input.secrets);
    const policies = indexPolicies(fenced.accepted);
    const keys = compileKeys(admitted.keys, {
      models: models.models,
      policies: policies.index,
      secrets: input.secrets,
      now: options.now,
      ceilings: fenced.ceilings,
      publishedTo: publications(routes.served),
    });
    const verdicts: Verdict[] = [
      ...admitted.verdicts,
      ...routes.verdicts,
      ...fenced.verdicts,
      ...models.verdicts,
      ...policies.verdicts((p) => keys.policyUse.get(p) ?? 0),
      ...keys.verdicts,
    ];
    return { config: freezeConfig(models.models, keys.keys), verdicts: sortByRef(verdicts) };
  };
}

/** Sorted by kind/namespace/name; each sort key built once, not twice per comparison (100k keys). */
function sortByRef(verdicts: readonly Verdict[]): Verdict[] {
  const keyed = verdicts.map((v) => ({ k: identityKey(v.ref), v }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((e) => e.v);
}

function freezeConfig(models: Map<string, CompiledModel>, keys: Map<string, CompiledKey>): GatewayConfig {
  const modelIds = [...new Set([...models.values()].map((m) => m.id))].sort();
  const config: GatewayConfig = { revision: revisionOf(models, keys, modelIds), models, modelIds, keys };
  for (const m of models.values()) deepFreeze(m);
  for (const k of keys.values()) deepFreeze(k);
  return Object.freeze(config);
}

/** Freezes a compiled value and everything in it (a config that crossed a thread arrives unfrozen). */
export function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  // Sets and Maps stay mutable through their methods; compile never hands out writers to them.
  for (const v of Object.values(value)) deepFreeze(v);
}

/**
 * A content hash: equal inputs give equal revisions, so a no-op reload is recognisable. Keys go
 * in the map's order, which compile makes deterministic (by age, then namespace/name), not
 * sorted again; the text keys share (their plan's limits and allowed models) goes in once, each
 * key naming it by number: at 100k keys the sort and the repeated text were a fifth of compile.
 */
function revisionOf(models: Map<string, CompiledModel>, keys: Map<string, CompiledKey>, ids: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of ids) hash.update(JSON.stringify(models.get(id), replacer));
  const shared = new Map<string, number>();
  // The keys' texts go to the hash in batches: one update per key was a call into C++ per key.
  let batch = '';
  for (const key of keys.values()) {
    const text = sharedText(key.limits, key.allowedModels);
    let n = shared.get(text);
    if (n === undefined) shared.set(text, (n = shared.size));
    batch += `${ownText(key)}#${n}\n`;
    if (batch.length > 65_536) {
      hash.update(batch);
      batch = '';
    }
  }
  hash.update(batch);
  for (const text of shared.keys()) hash.update(`${text}\n`);
  return hash.digest('hex').slice(0, 16);
}

const replacer = (_k: string, v: unknown): unknown => (v instanceof Set ? [...v].sort() : v instanceof Map ? [...v.entries()].sort() : v);

/**
 * JSON.stringify([rest, plain, allowed, perModel]) of a key, where rest is the key without its
 * allowedModels and limits, plain its limits without perModel, and the collections sorted arrays.
 * JSON.stringify with a replacer leaves V8's fast path (15% of a 100k-key compile), so the Sets
 * and Maps are spelled out beside the key; and keys share their limits and allowedModels (one
 * per key plan), so the text of those is made once per compile, not per key.
 * Equal texts, equal keys: the compile worker sends on only the keys whose text changed.
 */
export function keyText(key: CompiledKey | undefined): string {
  if (key === undefined) return '';
  return `[${ownText(key)},${sharedText(key.limits, key.allowedModels)}]`;
}

/** The key without its allowedModels and limits (`rest` of keyText). */
function ownText(key: CompiledKey): string {
  const { allowedModels: _models, limits: _limits, ...rest } = key;
  // A Shadow part holds limits with a Map inside: without the replacer it read `{}`, and a change
  // to a Shadow policy's per-model limits left the revision (so the reload) as it was.
  return rest.shadow !== undefined || hasCollections(rest) ? JSON.stringify(rest, replacer) : JSON.stringify(rest);
}

/** Whether any field is a Set or a Map (a loop, not Object.values: this runs once per key). */
function hasCollections(o: object): boolean {
  for (const k in o) {
    const v: unknown = (o as Record<string, unknown>)[k];
    if (v instanceof Set || v instanceof Map) return true;
  }
  return false;
}

/** `plain,allowed,perModel` of keyText, by limits and allowedModels objects (shared between keys). */
const sharedTexts = new WeakMap<EffectiveLimits, WeakMap<ReadonlySet<string>, string>>();

function sharedText(limits: EffectiveLimits, allowedModels: ReadonlySet<string>): string {
  let byModels = sharedTexts.get(limits);
  if (byModels === undefined) sharedTexts.set(limits, (byModels = new WeakMap()));
  let text = byModels.get(allowedModels);
  if (text === undefined) {
    const { perModel, ...plain } = limits;
    const plainText = hasCollections(plain) ? JSON.stringify(plain, replacer) : JSON.stringify(plain);
    text = `${plainText},${JSON.stringify([...allowedModels].sort())},${JSON.stringify([...perModel.entries()].sort())}`;
    byModels.set(allowedModels, text);
  }
  return text;
}

/** The default compiler, for callers that compile once (CLI). Long-lived callers keep their own. */
export function compile(input: CompileInput, options: CompileOptions & { tenancy?: Tenancy }): CompileResult {
  return createCompiler(undefined, options.tenancy ?? {})(input, options);
}
