/** Which models may serve a request, in which order; 404 and 403 for the requested one. Pure. */
import { describe, expect, it } from 'vitest';
import type { CompiledKey } from '../../src/compile/types.js';
import type { ApiError } from '../../src/gateway/errors.js';
import { candidatesFor } from '../../src/gateway/routing/candidates.js';
import { hashKey } from '../../src/keys/hash.js';
import { compileYaml, keyYaml, modelYaml } from '../support/gateway.js';

const { config } = compileYaml(
  [
    modelYaml({ name: 'primary', fallback: ['chain-1'] }),
    modelYaml({ name: 'chain-1', fallback: ['chain-2'] }),
    modelYaml({ name: 'chain-2' }),
    modelYaml({ name: 'body-1' }),
    modelYaml({ name: 'secret' }),
    modelYaml({ name: 'aliased' }).replace('  model: aliased\n', '  model: aliased\n  aliases: [nick]\n'),
    keyYaml({ name: 'all', clear: 'th-cand-all' }),
    keyYaml({ name: 'some', clear: 'th-cand-some', allowed: ['primary', 'chain-2', 'body-1', 'aliased'] }),
  ].join(''),
  { mockURL: 'http://127.0.0.1:9/v1' },
);
const key = (clear: string): CompiledKey => config.keys.get(hashKey(clear)) as CompiledKey;
const ids = (opts: { key: string; model: string; fallbackModels?: string[] }) =>
  candidatesFor({ config, key: key(opts.key), model: opts.model, fallbackModels: opts.fallbackModels ?? [] }).models.map((m) => m.id);

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected an error');
}

describe('candidatesFor', () => {
  it("orders the requested model, the body's fallback_models, then the route's chain (transitively)", () => {
    expect(ids({ key: 'th-cand-all', model: 'primary', fallbackModels: ['body-1'] })).toEqual(['primary', 'body-1', 'chain-1', 'chain-2']);
  });

  it('lists each model once, whichever way it is named', () => {
    expect(ids({ key: 'th-cand-all', model: 'primary', fallbackModels: ['chain-2', 'primary', 'nick', 'aliased'] })).toEqual([
      'primary',
      'chain-2',
      'aliased',
      'chain-1',
    ]);
  });

  it('resolves an alias as the requested model', () => {
    expect(ids({ key: 'th-cand-some', model: 'nick' })).toEqual(['aliased']);
  });

  it('skips fallbacks that are unknown or that the key may not use, and says why', () => {
    const c = candidatesFor({ config, key: key('th-cand-some'), model: 'primary', fallbackModels: ['nope', 'secret', 'body-1'] });
    expect(c.models.map((m) => m.id)).toEqual(['primary', 'body-1', 'chain-2']);
    expect(c.skipped).toEqual([
      { name: 'nope', why: 'unknown' },
      { name: 'secret', why: 'not-allowed' },
      { name: 'chain-1', why: 'not-allowed' },
    ]);
  });

  it('404 model_not_found for an unknown requested model', () => {
    const e = errorOf(() => ids({ key: 'th-cand-all', model: 'missing' }));
    expect([e.status, e.code, e.param]).toEqual([404, 'model_not_found', 'model']);
  });

  it('403 model_not_allowed for a requested model the key may not use', () => {
    const e = errorOf(() => ids({ key: 'th-cand-some', model: 'secret' }));
    expect([e.status, e.code, e.type]).toEqual([403, 'model_not_allowed', 'permission_error']);
  });
});
