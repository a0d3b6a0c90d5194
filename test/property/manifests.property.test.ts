/**
 * Property: no manifest, however malformed or hostile, crashes compile (validation included) or
 * keeps it busy for more than a second (issue #11). Manifests are drawn near the real shapes
 * (valid kinds, plausible fields, hostile patterns) and far from them (anything at all).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCompiler } from '../../src/compile/compile.js';
import { compileInputOf } from '../../src/manifests/check.js';

const compiler = createCompiler(undefined, { platformNamespaces: ['platform'] });
const NOW = new Date('2026-06-01T00:00:00Z');

const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const namespace = fc.constantFrom('platform', 'team-a', 'team-b', undefined);
/** Patterns: ids, globs, star storms, and anything. */
const pattern = fc.oneof(
  fc.stringMatching(/^[a-z0-9*?][a-z0-9.*?-]{0,30}$/),
  fc.integer({ min: 0, max: 60 }).map((n) => `${'*'.repeat(n)}X`),
  fc.integer({ min: 1, max: 20 }).map((n) => '*a'.repeat(n)),
  fc.string({ maxLength: 140 }),
);
const modelId = fc.oneof(fc.constantFrom('m-1', 'm-2', 'm-3', 'alias-1'), fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), fc.string());
const junk = fc.anything({ maxDepth: 2 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: junk });
const int = fc.oneof(fc.integer({ min: -5, max: 300_000 }), fc.constant(2 ** 53), fc.double());

const meta = fc.record(
  { name: maybe(name), namespace, creationTimestamp: fc.constantFrom('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', undefined) },
  { requiredKeys: ['name'] },
);
const secretRef = fc.record({ name: maybe(name), key: maybe(fc.constantFrom('token', 'api-key')) });

const modelRoute = fc.record({
  apiVersion: fc.constant('tokenhub.io/v1alpha1'),
  kind: fc.constant('ModelRoute'),
  metadata: meta,
  spec: maybe(
    fc.record(
      {
        model: modelId,
        aliases: maybe(fc.array(modelId, { maxLength: 3 })),
        capabilities: maybe(fc.array(fc.constantFrom('text', 'tools', 'thinking', 'multimodal', 'bogus'), { maxLength: 4 })),
        limits: maybe(
          fc.record(
            { contextWindow: int, maxInput: int, maxOutput: int, defaultMaxOutput: int, maxReasoning: int, reasoningAllowance: int },
            { requiredKeys: [] },
          ),
        ),
        backends: maybe(
          fc.array(
            fc.record(
              {
                name: maybe(name),
                baseURL: maybe(fc.constantFrom('http://127.0.0.1:9/v1', 'https://x.example/v1', 'not a url')),
                credentialSecretRef: maybe(secretRef),
                weight: int,
                priority: int,
                timeoutSeconds: int,
              },
              { requiredKeys: ['name', 'baseURL'] },
            ),
            { maxLength: 3 },
          ),
        ),
        fallbackModels: maybe(fc.array(modelId, { maxLength: 4 })),
        publishTo: maybe(fc.array(fc.constantFrom('team-a', 'team-b', 'platform', 'BAD'), { maxLength: 3 })),
        pricing: maybe(fc.record({ inputPerMillion: fc.constantFrom('0.5', '1', 'x', '99999999999.999999'), outputPerMillion: fc.constantFrom('2', '-1') })),
      },
      { requiredKeys: [] },
    ),
  ),
});

const apiKey = fc.record({
  apiVersion: fc.constant('tokenhub.io/v1alpha1'),
  kind: fc.constant('ApiKey'),
  metadata: meta,
  spec: maybe(
    fc.record(
      {
        credential: maybe(
          fc.oneof(
            fc.record({ hash: fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`) }),
            fc.record({ secretRef }),
            fc.record({ generate: fc.constant({}) }),
            junk,
          ),
        ),
        allowedModels: maybe(fc.array(pattern, { maxLength: 8 })),
        quotaPolicies: maybe(fc.array(name, { maxLength: 3 })),
        disabled: maybe(fc.boolean()),
        expiresAt: maybe(fc.constantFrom('2020-01-01T00:00:00Z', '2030-01-01T00:00:00Z', 'tomorrow')),
      },
      { requiredKeys: [] },
    ),
  ),
});

const quotaPolicy = fc.record({
  apiVersion: fc.constant('tokenhub.io/v1alpha1'),
  kind: fc.constant('QuotaPolicy'),
  metadata: meta,
  spec: maybe(
    fc.record(
      {
        default: maybe(fc.boolean()),
        ceiling: maybe(fc.boolean()),
        rateLimits: maybe(fc.record({ rpm: int, tpm: int }, { requiredKeys: [] })),
        modelRateLimits: maybe(fc.array(fc.record({ model: pattern, rpm: int, tpm: int }, { requiredKeys: ['model'] }), { maxLength: 6 })),
        budgets: maybe(fc.record({ tokens: fc.record({ day: int }), cost: fc.record({ month: fc.constantFrom('1.5', 'x') }) }, { requiredKeys: [] })),
      },
      { requiredKeys: [] },
    ),
  ),
});

const secret = fc.record({
  apiVersion: fc.constant('v1'),
  kind: fc.constant('Secret'),
  metadata: fc.record(
    {
      name: maybe(name),
      namespace,
      labels: maybe(fc.record({ 'tokenhub.io/credential': fc.constantFrom('true', 'false') }, { requiredKeys: [] })),
    },
    { requiredKeys: ['name'] },
  ),
  stringData: maybe(fc.dictionary(fc.constantFrom('token', 'api-key', 'other'), fc.string({ maxLength: 40 }))),
});

const manifest = fc.oneof(
  { weight: 3, arbitrary: modelRoute },
  { weight: 3, arbitrary: apiKey },
  { weight: 2, arbitrary: quotaPolicy },
  { weight: 1, arbitrary: secret },
  { weight: 1, arbitrary: junk },
);

describe('compile on random manifests', () => {
  it('never throws, and answers each object within a second', () => {
    fc.assert(
      fc.property(fc.array(manifest, { maxLength: 25 }), (objects) => {
        const started = performance.now();
        // JSON round trip: what YAML or the API server can actually deliver (no undefined, no -0).
        const docs = JSON.parse(JSON.stringify(objects)) as unknown[];
        const result = compiler(compileInputOf(docs, 'default'), { now: NOW });
        expect(performance.now() - started).toBeLessThan(1000);
        const ours = docs.filter(
          (d) =>
            typeof d === 'object' &&
            d !== null &&
            !Array.isArray(d) &&
            ['ModelRoute', 'ApiKey', 'QuotaPolicy'].includes((d as { kind?: unknown }).kind as string),
        );
        // One verdict per object of the three kinds, whatever state it is in.
        expect(result.verdicts).toHaveLength(ours.length);
        // Only a platform namespace serves models.
        for (const m of result.config.models.values()) expect(m.route.namespace).toBe('platform');
      }),
      { numRuns: 300 },
    );
  });

  // Random routes are rarely valid, so the check above seldom meets a served model: here a valid
  // route in a random namespace is served exactly when that namespace is a platform one.
  it('serves a valid ModelRoute only from a platform namespace', () => {
    fc.assert(
      fc.property(fc.constantFrom('platform', 'team-a', 'default', 'kube-system'), fc.constantFrom('m', 'doubao-seed-2-0-pro-260215'), (namespace, model) => {
        const route = {
          apiVersion: 'tokenhub.io/v1alpha1',
          kind: 'ModelRoute',
          metadata: { name: 'r', namespace },
          spec: {
            model,
            capabilities: ['text'],
            limits: { contextWindow: 1000, maxInput: 800, maxOutput: 200 },
            backends: [{ name: 'primary', baseURL: 'http://127.0.0.1:9/v1' }],
          },
        };
        const result = compiler(compileInputOf([route], 'default'), { now: NOW });
        expect(result.config.models.has(model)).toBe(namespace === 'platform');
      }),
      { numRuns: 40 },
    );
  });
});
