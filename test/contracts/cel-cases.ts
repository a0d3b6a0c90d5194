/**
 * Every CEL rule in the CRDs, each with objects it must accept and objects it must reject. The
 * same cases run offline (cel-offline.test.ts, through `tokenhub validate`'s validator) and
 * against a real API server (cel-admission.test.ts), so the two cannot drift apart. A new rule
 * without cases here fails `every rule has cases`.
 */
import { KINDS, type KindName } from '../../src/schema/kinds.js';

export const NAMESPACE = 'cel';
const HASH = `sha256:${'a'.repeat(64)}`;

type Spec = Record<string, unknown>;

export interface CelCase {
  readonly kind: KindName;
  /** The rule's CEL text, exactly as in src/schema (and so in the CRD). */
  readonly rule: string;
  readonly name: string;
  readonly spec: Spec;
  readonly accepted: boolean;
}

const baseSpec: Record<KindName, Spec> = {
  ModelRoute: {
    model: 'm',
    capabilities: ['text'],
    limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200 },
    backends: [{ name: 'primary', baseURL: 'http://127.0.0.1:9/v1' }],
  },
  ApiKey: { owner: 'team', credential: { hash: HASH } },
  QuotaPolicy: { rateLimits: { rpm: 10 } },
};

const limits = (extra: Spec): Spec => ({ ...baseSpec.ModelRoute, limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200, ...extra } });

const CREDENTIAL = '(has(self.generate) ? 1 : 0) + (has(self.secretRef) ? 1 : 0) + (has(self.hash) ? 1 : 0) + (has(self.serviceAccount) ? 1 : 0) == 1';
const PREVIOUS = '(has(self.secretRef) ? 1 : 0) + (has(self.hash) ? 1 : 0) == 1';
const ALLOWANCE = '!has(self.reasoningAllowance) || self.reasoningAllowance <= (has(self.maxReasoning) ? self.maxReasoning : self.maxOutput)';
const NOT_AFTER = '2030-01-01T00:00:00Z';
const H2C = "!has(self.connection) || !has(self.connection.protocol) || self.connection.protocol != 'h2c' || self.baseURL.startsWith('http://')";
const backendWith = (baseURL: string, connection?: Spec): Spec => ({
  ...baseSpec.ModelRoute,
  backends: [{ name: 'primary', baseURL, ...(connection === undefined ? {} : { connection }) }],
});

/** [kind, rule, case name, spec, accepted] */
const table: [KindName, string, string, Spec, boolean][] = [
  ['ModelRoute', '!has(self.defaultMaxOutput) || self.defaultMaxOutput <= self.maxOutput', 'default-absent', limits({}), true],
  ['ModelRoute', '!has(self.defaultMaxOutput) || self.defaultMaxOutput <= self.maxOutput', 'default-equal', limits({ defaultMaxOutput: 200 }), true],
  ['ModelRoute', '!has(self.defaultMaxOutput) || self.defaultMaxOutput <= self.maxOutput', 'default-above', limits({ defaultMaxOutput: 201 }), false],
  ['ModelRoute', 'self.maxInput <= self.contextWindow', 'input-equal', limits({ maxInput: 1000 }), true],
  ['ModelRoute', 'self.maxInput <= self.contextWindow', 'input-above', limits({ maxInput: 1001 }), false],
  ['ModelRoute', 'self.maxOutput <= self.contextWindow', 'output-equal', limits({ maxOutput: 1000 }), true],
  ['ModelRoute', 'self.maxOutput <= self.contextWindow', 'output-above', limits({ maxOutput: 1001 }), false],
  ['ModelRoute', '!has(self.maxReasoning) || self.maxReasoning <= self.maxOutput', 'reasoning-equal', limits({ maxReasoning: 200 }), true],
  ['ModelRoute', '!has(self.maxReasoning) || self.maxReasoning <= self.maxOutput', 'reasoning-above', limits({ maxReasoning: 201 }), false],
  ['ModelRoute', '!has(self.aliases) || !self.aliases.exists(a, a == self.model)', 'alias-other', { ...baseSpec.ModelRoute, aliases: ['m-alias'] }, true],
  ['ModelRoute', '!has(self.aliases) || !self.aliases.exists(a, a == self.model)', 'alias-self', { ...baseSpec.ModelRoute, aliases: ['x', 'm'] }, false],
  [
    'ModelRoute',
    '!has(self.fallbackModels) || !self.fallbackModels.exists(m, m == self.model)',
    'fallback-other',
    { ...baseSpec.ModelRoute, fallbackModels: ['n'] },
    true,
  ],
  [
    'ModelRoute',
    '!has(self.fallbackModels) || !self.fallbackModels.exists(m, m == self.model)',
    'fallback-self',
    { ...baseSpec.ModelRoute, fallbackModels: ['m'] },
    false,
  ],
  ['ModelRoute', ALLOWANCE, 'allowance-under-reasoning', limits({ maxReasoning: 100, reasoningAllowance: 100 }), true],
  ['ModelRoute', ALLOWANCE, 'allowance-above-reasoning', limits({ maxReasoning: 100, reasoningAllowance: 101 }), false],
  ['ModelRoute', ALLOWANCE, 'allowance-above-output', limits({ reasoningAllowance: 201 }), false],
  ['ModelRoute', H2C, 'h2c-on-http', backendWith('http://vllm.ml:8000/v1', { protocol: 'h2c' }), true],
  ['ModelRoute', H2C, 'http1-on-https', backendWith('https://api.example.com/v1', { protocol: 'http1' }), true],
  ['ModelRoute', H2C, 'no-connection-on-https', backendWith('https://api.example.com/v1'), true],
  ['ModelRoute', H2C, 'h2c-on-https', backendWith('https://api.example.com/v1', { protocol: 'h2c' }), false],
  ['ApiKey', CREDENTIAL, 'service-account-only', { owner: 'team', credential: { serviceAccount: { name: 'app' } } }, true],
  ['ApiKey', CREDENTIAL, 'hash-and-service-account', { owner: 'team', credential: { hash: HASH, serviceAccount: { name: 'app' } } }, false],
  ['ApiKey', PREVIOUS, 'previous-hash', { ...baseSpec.ApiKey, previousCredential: { hash: `sha256:${'b'.repeat(64)}`, notAfter: NOT_AFTER } }, true],
  [
    'ApiKey',
    PREVIOUS,
    'previous-both',
    { ...baseSpec.ApiKey, previousCredential: { hash: `sha256:${'b'.repeat(64)}`, secretRef: { name: 's', key: 'k' }, notAfter: NOT_AFTER } },
    false,
  ],
  ['ApiKey', CREDENTIAL, 'hash-only', baseSpec.ApiKey, true],
  ['ApiKey', CREDENTIAL, 'generate-only', { owner: 'team', credential: { generate: {} } }, true],
  ['ApiKey', CREDENTIAL, 'none', { owner: 'team', credential: {} }, false],
  ['ApiKey', CREDENTIAL, 'hash-and-secret', { owner: 'team', credential: { hash: HASH, secretRef: { name: 's', key: 'k' } } }, false],
  ['QuotaPolicy', 'has(self.rpm) || has(self.tpm)', 'model-rpm', { modelRateLimits: [{ model: 'm', rpm: 5 }] }, true],
  ['QuotaPolicy', 'has(self.rpm) || has(self.tpm)', 'model-neither', { modelRateLimits: [{ model: 'm', tpm: 5 }, { model: 'n' }] }, false],
];

export const CEL_CASES: readonly CelCase[] = table.map(([kind, rule, name, spec, accepted]) => ({ kind, rule, name, spec, accepted }));

/** Every rule the kinds declare, as `Kind: rule`. */
export function declaredRules(): string[] {
  return Object.values(KINDS).flatMap((info) => info.ruleSites.flatMap((site) => site.rules.map((r) => `${info.kind}: ${r.rule}`)));
}

/** The rule's message, which both sides must report for a rejected case. */
export function messageOf(c: CelCase): string {
  const rule = Object.values(KINDS[c.kind].ruleSites)
    .flatMap((s) => s.rules)
    .find((r) => r.rule === c.rule);
  if (rule === undefined) throw new Error(`no ${c.kind} rule ${c.rule}`);
  return rule.message;
}

export function objectOf(c: CelCase): Record<string, unknown> {
  return { apiVersion: 'tokenhub.io/v1alpha1', kind: c.kind, metadata: { name: `cel-${c.name}`, namespace: NAMESPACE }, spec: c.spec };
}
