/**
 * The compile worker's hand-over to the serving thread (issue #13): many small event-loop turns,
 * the next config built off to the side and swapped in whole. What a request must never see is a
 * config with some keys from before a change and some from after it; what a burst of changes
 * must end with is the newest one.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCompiler } from '../../src/compile/compile.js';
import type { CompileInput, GatewayConfig } from '../../src/compile/types.js';
import { CompileWorker } from '../../src/gateway/config/compile-worker.js';
import { ConfigHolder } from '../../src/gateway/config/config-holder.js';
import { FileConfigSource } from '../../src/gateway/config/file-source.js';
import { hashKey } from '../../src/keys/hash.js';
import { apiKey, catalog } from '../compile/random-keys.js';
import { modelYaml } from '../support/gateway.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const KEYS = 4_000;
const inline = createCompiler();
const keys = (from: number, to: number, policies: string[]) =>
  Array.from({ length: to - from }, (_, i) => apiKey({ namespace: 'team-a', policies, disabled: false }, from + i));
const hashes = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => hashKey(`th-random-${from + i}`));
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let worker: CompileWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

/**
 * What one request sees of the changed keys: 'before' when all of them have the old policies,
 * 'after' when all have the new ones, 'mixed' otherwise (the failure this file guards against).
 */
function view(config: GatewayConfig, changed: readonly string[]): 'before' | 'after' | 'mixed' {
  let base = 0;
  let wide = 0;
  for (const h of changed) {
    const p = config.keys.get(h)?.policies;
    if (p?.length === 1 && p[0] === 'base') base++;
    else if (p?.length === 1 && p[0] === 'wide') wide++;
  }
  if (base === changed.length && config.keys.size === KEYS) return 'before';
  if (wide === changed.length && config.keys.size === KEYS) return 'after';
  return 'mixed';
}

/** Reads the holder once per event-loop turn, as a request arriving in that turn would, until `done`. */
function watchRequests(holder: ConfigHolder, changed: readonly string[]): { seen: string[]; stop: () => Promise<void> } {
  const seen: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const config = holder.current();
      if (config !== undefined) seen.push(view(config, changed));
      await turn();
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe('hand-over of a recompile', () => {
  it('runs over many turns, and a request in any of them sees the whole old or the whole new config', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const first: CompileInput = { objects: [...models, ...keys(0, KEYS, ['base'])], secrets: [] };
    const holder = new ConfigHolder();
    holder.swap((await worker.compileCluster(first, NOW)).config);
    const before = holder.current() as GatewayConfig;
    // Half the keys change (new objects, as an informer makes): 2,000 keys cross back, 10 messages
    // at least, spread over the 256 shards.
    const changed = hashes(0, KEYS / 2);
    const second: CompileInput = { objects: [...models, ...keys(0, KEYS / 2, ['wide']), ...keys(KEYS / 2, KEYS, ['base'])], secrets: [] };
    const requests = watchRequests(holder, changed);
    const result = await worker.compileCluster(second, NOW);
    const turnsDuringHandover = requests.seen.length;
    holder.swap(result.config);
    await turn();
    await requests.stop();
    // Sliced: the serving thread turned many times while the change crossed.
    expect(turnsDuringHandover).toBeGreaterThan(10);
    // Consistent: every request saw one whole config, the old one until the swap, then the new.
    expect(requests.seen.filter((v) => v === 'mixed')).toEqual([]);
    expect(requests.seen.slice(0, turnsDuringHandover).every((v) => v === 'before')).toBe(true);
    expect(requests.seen.at(-1)).toBe('after');
    // Built off to the side: the config that served meanwhile was never written to.
    expect(view(before, changed)).toBe('before');
    expect(result.config.revision).toBe(inline(second, { now: NOW }).config.revision);
  }, 60_000);

  it('a change that arrives during a hand-over ends with the newest config', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const first: CompileInput = { objects: [...models, ...keys(0, KEYS, ['base'])], secrets: [] };
    const holder = new ConfigHolder();
    holder.swap((await worker.compileCluster(first, NOW)).config);
    const second: CompileInput = { objects: [...models, ...keys(0, KEYS, ['wide'])], secrets: [] };
    const third: CompileInput = { objects: [...models, ...keys(0, KEYS - 1, ['wide'])], secrets: [] };
    // Swapped in the order they finish, as the sources do.
    const applied: string[] = [];
    const apply = (p: Promise<{ config: GatewayConfig }>) =>
      p.then(({ config }) => {
        holder.swap(config);
        applied.push(config.revision);
      });
    const a = apply(worker.compileCluster(second, NOW));
    for (let i = 0; i < 5; i++) await turn(); // the second's hand-over is under way
    const b = apply(worker.compileCluster(third, NOW));
    await Promise.all([a, b]);
    const want = inline(third, { now: NOW }).config;
    expect(applied).toEqual([inline(second, { now: NOW }).config.revision, want.revision]);
    expect(holder.current()?.revision).toBe(want.revision);
    expect(holder.current()?.keys.size).toBe(KEYS - 1);
  }, 60_000);
});

describe('hand-over through the file source', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a file written while a reload is handed over is in force at the end', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-handover-'));
    const keyDoc = (i: number): string =>
      `---\n${JSON.stringify({ apiVersion: 'tokenhub.io/v1alpha1', kind: 'ApiKey', metadata: { name: `k-${i}` }, spec: { credential: { hash: hashKey(`th-key-${i}`) }, allowedModels: ['m'] } })}\n`;
    await writeFile(join(dir, 'model.yaml'), modelYaml({ name: 'm', baseURL: 'http://127.0.0.1:9' }));
    await writeFile(join(dir, 'keys.yaml'), Array.from({ length: 2_000 }, (_, i) => keyDoc(i)).join(''));
    const holder = new ConfigHolder();
    const silent = { error: () => undefined, warn: () => undefined, info: () => undefined } as unknown as ConstructorParameters<
      typeof FileConfigSource
    >[0]['log'];
    const source = new FileConfigSource({ paths: [dir], holder, compiler: createCompiler(), log: silent, pollMs: 60_000 });
    try {
      await source.start();
      // A big change, then, while it is being compiled and handed over, one more key.
      await writeFile(join(dir, 'more.yaml'), Array.from({ length: 2_000 }, (_, i) => keyDoc(2_000 + i)).join(''));
      const big = source.reload();
      for (let i = 0; i < 5; i++) await turn();
      await writeFile(join(dir, '.last.tmp'), keyDoc(9_999));
      await rename(join(dir, '.last.tmp'), join(dir, 'last.yaml'));
      const last = source.reload(); // what the watcher does on the rename
      await Promise.all([big, last]);
      expect(holder.current()?.keys.size).toBe(4_001);
      expect(holder.current()?.keys.has(hashKey('th-key-9999'))).toBe(true);
    } finally {
      source.stop();
    }
  }, 60_000);
});
