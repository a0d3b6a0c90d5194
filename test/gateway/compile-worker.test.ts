/**
 * The compile worker's hand-overs (issue #13): after the first, only the cluster objects the
 * worker does not hold go in and only the keys that changed come back. Whatever crossed, the
 * result must be the config an inline compile of the same input gives.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCompiler, keyText } from '../../src/compile/compile.js';
import type { CompileInput, GatewayConfig } from '../../src/compile/types.js';
import { CompileWorker } from '../../src/gateway/config/compile-worker.js';
import { loadManifests } from '../../src/manifests/load.js';
import { checkDocuments } from '../../src/manifests/check.js';
import { apiKey, catalog } from '../compile/random-keys.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const inline = createCompiler();
const texts = (c: GatewayConfig) => new Map([...c.keys].map(([h, k]) => [h, keyText(k)]));
const keys = (from: number, to: number, policies = ['base']) =>
  Array.from({ length: to - from }, (_, i) => apiKey({ namespace: 'team-a', policies, disabled: false }, from + i));
const hashOf = (o: Record<string, unknown>) => (o['spec'] as { credential: { hash: string } }).credential.hash;

function expectSameAsInline(got: GatewayConfig, input: CompileInput): void {
  const want = inline(input, { now: NOW }).config;
  expect(got.revision).toBe(want.revision);
  expect(texts(got)).toEqual(texts(want));
  expect(Object.isFrozen(got)).toBe(true);
  for (const k of got.keys.values()) expect(Object.isFrozen(k)).toBe(true);
}

/** Nice value of a thread, from its /proc stat line (field 19; the name in parentheses may hold spaces). */
const niceOf = (statPath: string): number => Number(readFileSync(statPath, 'utf8').split(')').pop()?.trim().split(' ')[16]);
const threadNices = (): number[] =>
  readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      return [niceOf(`/proc/self/task/${tid}/stat`)];
    } catch {
      return []; // a thread that ended while we looked
    }
  });

let worker: CompileWorker | undefined;
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

describe('compile worker, scheduling', () => {
  it('compiles in a thread at nice 10 while the serving thread keeps its priority (Linux)', async () => {
    const own = niceOf('/proc/thread-self/stat');
    const before = threadNices().filter((n) => n === 10).length;
    worker = new CompileWorker();
    await worker.compileCluster({ objects: [...catalog(), ...keys(0, 3)], secrets: [] }, NOW);
    expect(threadNices().filter((n) => n === 10).length).toBeGreaterThan(before);
    expect(niceOf('/proc/thread-self/stat')).toBe(own);
  });
});

describe('compile worker, cluster objects', () => {
  it('after a change holds the same config as an inline compile, and unchanged keys keep their objects', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const first: CompileInput = { objects: [...models, ...keys(0, 600)], secrets: [] };
    const a = await worker.compileCluster(first, NOW);
    expectSameAsInline(a.config, first);
    // One key gone (0), one changed (1: a new object, as an informer makes), one new (600).
    const changed = keys(1, 2, ['wide'])[0] as Record<string, unknown>;
    const second: CompileInput = { objects: [...models, changed, ...first.objects.slice(models.length + 2), ...keys(600, 601)], secrets: [] };
    const b = await worker.compileCluster(second, NOW);
    expectSameAsInline(b.config, second);
    expect(b.config.keys.size).toBe(600);
    const untouched = hashOf(first.objects[models.length + 5] as Record<string, unknown>);
    expect(b.config.keys.get(untouched)).toBe(a.config.keys.get(untouched));
    expect(b.config.keys.get(hashOf(changed))?.policies).toEqual(['wide']);
    // The same input again: nothing crosses, the same config.
    const c = await worker.compileCluster(second, NOW);
    expect(c.config.revision).toBe(b.config.revision);
    expect(c.config.keys.get(untouched)).toBe(a.config.keys.get(untouched));
  }, 60_000);

  it('sends an object again that comes back after a compile without it', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const all = [...models, ...keys(0, 20)];
    const without = all.filter((_, i) => i !== models.length + 3);
    await worker.compileCluster({ objects: all, secrets: [] }, NOW);
    const b = await worker.compileCluster({ objects: without, secrets: [] }, NOW);
    expect(b.config.keys.size).toBe(19);
    const c = await worker.compileCluster({ objects: all, secrets: [] }, NOW);
    expectSameAsInline(c.config, { objects: all, secrets: [] });
    expect(c.config.keys.size).toBe(20);
  }, 60_000);

  it('starts over in full after a hand-over that failed halfway (an object that cannot cross)', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const first: CompileInput = { objects: [...models, ...keys(0, 500)], secrets: [] };
    await worker.compileCluster(first, NOW);
    // New objects, a chunk of them sent, then one the structured clone refuses. The keys sent are
    // other versions of those that follow: had the worker kept them, they would be compiled too.
    const broken = [...models, ...keys(500, 800, ['wide']), { kind: 'ApiKey', spec: { f: () => 1 } }];
    await expect(worker.compileCluster({ objects: broken, secrets: [] }, NOW)).rejects.toThrow();
    const third: CompileInput = { objects: [...models, ...keys(500, 800)], secrets: [] };
    const c = await worker.compileCluster(third, NOW);
    expectSameAsInline(c.config, third);
    expect(c.config.keys.size).toBe(300);
  }, 60_000);

  it('starts over in full with a new worker thread (the old one and what it held are gone)', async () => {
    worker = new CompileWorker();
    const models = catalog();
    const first: CompileInput = { objects: [...models, ...keys(0, 50)], secrets: [] };
    await worker.compileCluster(first, NOW);
    await worker.close(); // the next compile starts a new thread, which holds nothing
    const second: CompileInput = { objects: [...first.objects.slice(0, -1), ...keys(50, 52)], secrets: [] };
    const b = await worker.compileCluster(second, NOW);
    expectSameAsInline(b.config, second);
    expect(b.config.keys.size).toBe(51);
  }, 60_000);
});

describe('compile worker, manifest files', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('after a file changes holds the same config as loading and compiling the files inline', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-worker-'));
    const yaml = (docs: Record<string, unknown>[]) => docs.map((d) => `---\n${JSON.stringify(d)}\n`).join('');
    await writeFile(join(dir, 'catalog.yaml'), yaml(catalog()));
    await writeFile(join(dir, 'keys.yaml'), yaml(keys(0, 300)));
    await writeFile(join(dir, 'more.yaml'), yaml(keys(300, 310)));
    worker = new CompileWorker();
    const inlineFiles = async (): Promise<GatewayConfig> => {
      const { docs, problems } = await loadManifests([dir as string]);
      return checkDocuments(docs, problems, { now: NOW, compiler: inline }).compiled.config;
    };
    const a = await worker.compileFiles([dir], NOW);
    expect(texts(a.config)).toEqual(texts(await inlineFiles()));
    await writeFile(join(dir, 'more.yaml'), yaml([...keys(301, 310, ['wide']), ...keys(310, 312)]));
    const b = await worker.compileFiles([dir], NOW);
    const want = await inlineFiles();
    expect(b.config.revision).toBe(want.revision);
    expect(texts(b.config)).toEqual(texts(want));
    expect(b.config.keys.size).toBe(311);
    const untouched = hashOf(keys(5, 6)[0] as Record<string, unknown>);
    expect(b.config.keys.get(untouched)).toBe(a.config.keys.get(untouched));
  }, 60_000);
});
