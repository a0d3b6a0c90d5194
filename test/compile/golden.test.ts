/**
 * Golden tests for compile(): testdata/<case>.in.yaml → testdata/<case>.out.yaml.
 * Regenerate with UPDATE_GOLDEN=1 npx vitest run test/compile, then review the YAML diff.
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { createCompiler } from '../../src/compile/compile.js';
import { Reason } from '../../src/compile/reasons.js';
import type { CompileResult } from '../../src/compile/types.js';
import { compileInputOf } from '../../src/manifests/check.js';

const DIR = join(import.meta.dirname, 'testdata');
const NOW = new Date('2026-06-01T00:00:00Z');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const compiler = createCompiler();

/** A readable rendering of what compile returned: verdicts first, then the config. */
function render(result: CompileResult): unknown {
  const { config, verdicts } = result;
  const models = config.modelIds.map((id) => {
    const m = config.models.get(id);
    if (m === undefined) throw new Error(`model ${id} missing from the index`);
    return {
      id,
      aliases: m.aliases,
      capabilities: [...m.capabilities].sort(),
      limits: m.limits,
      rateLimits: m.rateLimits,
      pricing: m.pricing,
      backends: m.backends.map((b) => ({ ...b, ...(b.apiKey === undefined ? {} : { apiKey: '<redacted>' }) })),
      fallbackChain: m.fallbackChain,
      providerParameters: [...m.providerParameters].sort(),
      failover: { retryOn: [...m.failover.retryOn].sort(), maxAttempts: m.failover.maxAttempts },
    };
  });
  const keys = [...config.keys.values()]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((k) => ({
      id: k.id,
      fingerprint: k.fingerprint,
      disabled: k.disabled,
      ...(k.expiresAt === undefined ? {} : { expiresAt: new Date(k.expiresAt).toISOString() }),
      allowedModels: [...k.allowedModels].sort(),
      policies: k.policies,
      // A copy per key: keys with the same policies and models share one limits object, which YAML
      // would otherwise print as an anchor and aliases.
      limits: structuredClone({ key: k.limits.key, perModel: Object.fromEntries(k.limits.perModel), budgets: k.limits.budgets }),
    }));
  return { verdicts, config: { models, aliases: [...config.models.keys()].filter((n) => !config.modelIds.includes(n)).sort(), keys } };
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.in.yaml'))
  .map((f) => f.replace(/\.in\.yaml$/, ''));

describe('compile golden files', () => {
  it.each(cases)('%s', (name) => {
    const text = readFileSync(join(DIR, `${name}.in.yaml`), 'utf8');
    const objects = parseAllDocuments(text)
      .map((d) => d.toJS() as unknown)
      .filter((o) => o !== null);
    // A case may name the platform namespaces in a `# platformNamespaces: a, b` line.
    const platform = /^# platformNamespaces: (.+)$/m
      .exec(text)?.[1]
      ?.split(',')
      .map((n) => n.trim());
    const caseCompiler = platform === undefined ? compiler : createCompiler(undefined, { platformNamespaces: platform });
    const result = caseCompiler(compileInputOf(objects, 'default'), { now: NOW });
    const actual = stringify(render(result), { lineWidth: 0, sortMapEntries: false });
    const outPath = join(DIR, `${name}.out.yaml`);
    if (UPDATE) writeFileSync(outPath, actual);
    // A new case without its expected output fails: run with UPDATE_GOLDEN=1 and review the YAML.
    expect(existsSync(outPath), `${name}.out.yaml is missing`).toBe(true);
    expect(actual).toBe(readFileSync(outPath, 'utf8'));
  });

  it('covers every reason in the vocabulary', () => {
    const seen = new Set<string>();
    for (const name of cases) {
      const out = readFileSync(join(DIR, `${name}.out.yaml`), 'utf8');
      for (const m of out.matchAll(/reason: (\w+)/g)) seen.add(m[1] ?? '');
    }
    expect([...Object.values(Reason)].filter((r) => !seen.has(r))).toEqual([]);
  });

  it('gives the same revision and verdicts whatever the input order', () => {
    const text = readFileSync(join(DIR, 'catalog.in.yaml'), 'utf8');
    const objects = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    const a = compiler(compileInputOf(objects, 'default'), { now: NOW });
    const b = compiler(compileInputOf([...objects].reverse(), 'default'), { now: NOW });
    expect(b.config.revision).toBe(a.config.revision);
    expect(b.verdicts).toEqual(a.verdicts);
  });
});
