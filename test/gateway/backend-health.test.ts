/** Backend cooldown after failures, and the order backends are tried in. Pure. */
import { describe, expect, it } from 'vitest';
import type { CompiledBackend, CompiledModel } from '../../src/compile/types.js';
import { BackendHealth, orderBackends } from '../../src/gateway/routing/backend-health.js';
import { compileYaml, modelYaml } from '../support/gateway.js';

const base = compileYaml(modelYaml({ name: 'm' }), { mockURL: 'http://127.0.0.1:9/v1' }).config.models.get('m') as CompiledModel;
const backend = (name: string, priority: number, weight: number): CompiledBackend => ({
  name,
  baseURL: `http://127.0.0.1:9/${name}`,
  upstreamModel: 'm',
  weight,
  priority,
  timeoutMs: 1000,
  connection: (base.backends[0] as CompiledBackend).connection,
});
const modelWith = (...backends: CompiledBackend[]): CompiledModel => ({ ...base, backends });
const names = (bs: readonly CompiledBackend[]) => bs.map((b) => b.name);
/** A fixed sequence of "random" numbers. */
const draws =
  (...xs: number[]) =>
  () =>
    xs.shift() ?? 0;

describe('BackendHealth', () => {
  const T = 1_000_000;

  it('cools a failed backend for 2 s, then lets it be tried again', () => {
    const h = new BackendHealth();
    h.failed('b', T);
    expect(h.isCooling('b', T + 1999)).toBe(true);
    expect(h.isCooling('b', T + 2000)).toBe(false);
  });

  it('doubles the cooldown with each consecutive failure, up to 30 s', () => {
    const h = new BackendHealth();
    const cooldowns: number[] = [];
    for (let i = 0; i < 6; i++) {
      h.failed('b', T);
      let ms = 0;
      while (h.isCooling('b', T + ms)) ms += 500;
      cooldowns.push(ms);
    }
    expect(cooldowns).toEqual([2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('a success forgets the failures', () => {
    const h = new BackendHealth();
    h.failed('b', T);
    h.failed('b', T);
    h.succeeded('b');
    expect(h.isCooling('b', T)).toBe(false);
    h.failed('b', T);
    expect(h.isCooling('b', T + 2000)).toBe(false);
  });

  it('keys backends by model, name and URL', () => {
    const m = modelWith(backend('a', 0, 1));
    expect(BackendHealth.keyOf(m, backend('a', 0, 1))).not.toBe(BackendHealth.keyOf({ ...m, id: 'other' }, backend('a', 0, 1)));
  });
});

describe('orderBackends', () => {
  const health = new BackendHealth();

  it('tries lower priorities first', () => {
    const m = modelWith(backend('p2', 2, 100), backend('p0', 0, 100), backend('p1', 1, 100));
    expect(names(orderBackends({ model: m, health, now: 0, random: draws(0, 0, 0) }).healthy)).toEqual(['p0', 'p1', 'p2']);
  });

  it('splits one priority by weight: the draw picks in proportion to the weights', () => {
    const m = modelWith(backend('light', 0, 10), backend('heavy', 0, 90));
    // total 100: a draw below 0.1 lands on `light`, above on `heavy`
    expect(names(orderBackends({ model: m, health, now: 0, random: draws(0.05) }).healthy)).toEqual(['light', 'heavy']);
    expect(names(orderBackends({ model: m, health, now: 0, random: draws(0.5) }).healthy)).toEqual(['heavy', 'light']);
  });

  it('puts a zero-weight backend after the weighted ones of its priority', () => {
    const m = modelWith(backend('spare', 0, 0), backend('main', 0, 100));
    expect(names(orderBackends({ model: m, health, now: 0, random: draws(0, 0) }).healthy)).toEqual(['main', 'spare']);
  });

  it('sets cooling backends apart, in their own priority order', () => {
    const h = new BackendHealth();
    const m = modelWith(backend('a', 0, 100), backend('b', 1, 100), backend('c', 2, 100));
    h.failed(BackendHealth.keyOf(m, backend('c', 2, 100)), 0);
    h.failed(BackendHealth.keyOf(m, backend('a', 0, 100)), 0);
    const order = orderBackends({ model: m, health: h, now: 1000, random: draws() });
    expect(names(order.healthy)).toEqual(['b']);
    expect(names(order.cooling)).toEqual(['a', 'c']);
    expect(names(orderBackends({ model: m, health: h, now: 2000, random: draws() }).healthy)).toEqual(['a', 'b', 'c']);
  });
});
