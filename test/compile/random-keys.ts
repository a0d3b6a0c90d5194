/**
 * Random control-plane inputs for the property tests of compile's shared key plans and of the
 * key diff: a few models (one with an alias), policies in two namespaces (a default, a Shadow one,
 * one with per-model limits by glob), and ApiKeys naming random policies (some missing) and
 * model patterns (some matching nothing), each with its own credential.
 */
import fc from 'fast-check';
import { hashKey } from '../../src/keys/hash.js';

const V = 'tokenhub.io/v1alpha1';
export const NAMESPACES = ['team-a', 'team-b'] as const;

function route(name: string, aliases: string[] = []): Record<string, unknown> {
  return {
    apiVersion: V,
    kind: 'ModelRoute',
    metadata: { name, namespace: 'team-a' },
    spec: {
      model: name,
      ...(aliases.length === 0 ? {} : { aliases }),
      capabilities: ['text'],
      limits: { contextWindow: 8192, maxInput: 8192, maxOutput: 1024 },
      backends: [{ name: 'main', baseURL: 'http://127.0.0.1:9', timeoutSeconds: 10 }],
    },
  };
}

function policy(name: string, namespace: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: V, kind: 'QuotaPolicy', metadata: { name, namespace }, spec };
}

/** Models and policies every generated key compiles against. */
export function catalog(): Record<string, unknown>[] {
  const out = [route('m-alpha-1', ['alpha']), route('m-alpha-2'), route('m-beta-1'), route('x-gamma')];
  for (const ns of NAMESPACES) {
    out.push(
      policy('base', ns, { default: true, rateLimits: { rpm: ns === 'team-a' ? 60 : 30, tpm: 100_000 }, modelRateLimits: [{ model: 'm-alpha-*', rpm: 10 }] }),
      policy('wide', ns, { rateLimits: { rpm: 600 }, budgets: { tokens: { day: 1_000_000 }, cost: { month: '12.50' } }, concurrency: { maxInFlight: 4 } }),
      policy('watch', ns, { mode: 'Shadow', rateLimits: { rpm: 5 }, modelRateLimits: [{ model: '*-1', tpm: 500 }] }),
    );
  }
  return out;
}

const POLICY_NAMES = ['base', 'wide', 'watch', 'missing'];
const PATTERNS = ['m-alpha-1', 'alpha', 'm-alpha-*', 'm-*-1', '*', 'x-?amma', 'nothing-*'];

export interface KeySpec {
  readonly namespace: string;
  readonly policies?: string[];
  readonly allowed?: string[];
  readonly disabled: boolean;
}

export const keySpec: fc.Arbitrary<KeySpec> = fc.record(
  {
    namespace: fc.constantFrom(...NAMESPACES),
    policies: fc.uniqueArray(fc.constantFrom(...POLICY_NAMES), { maxLength: 3 }),
    allowed: fc.uniqueArray(fc.constantFrom(...PATTERNS), { maxLength: 3 }),
    disabled: fc.boolean(),
  },
  { requiredKeys: ['namespace', 'disabled'] },
);

/** ApiKey `i` of a list: name and credential from `i`, so they never collide. */
export function apiKey(spec: KeySpec, i: number): Record<string, unknown> {
  return {
    apiVersion: V,
    kind: 'ApiKey',
    metadata: { name: `key-${i}`, namespace: spec.namespace },
    spec: {
      credential: { hash: hashKey(`th-random-${i}`) },
      ...(spec.policies === undefined ? {} : { quotaPolicies: spec.policies }),
      ...(spec.allowed === undefined ? {} : { allowedModels: spec.allowed }),
      ...(spec.disabled ? { disabled: true } : {}),
    },
  };
}
