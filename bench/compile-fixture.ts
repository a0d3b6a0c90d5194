/**
 * The control-plane workload of issue #13: the shipped examples (models, policies, keys) plus N
 * generated ApiKeys in the examples' namespace, each naming the two example policies, a third of
 * them with a glob in allowedModels. Used by `npm run bench:compile` and by the kube tests.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../src/manifests/load.js';
import { compileInputOf } from '../src/manifests/check.js';
import type { CompileInput } from '../src/compile/types.js';

/** The repository root: the nearest folder above this file with an examples/ folder (bench/ or dist/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'examples')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const EXAMPLES_NAMESPACE = 'tokenhub';

/** Objects of the examples (models, policies, keys), and the Secrets among them. */
export async function exampleObjects(): Promise<unknown[]> {
  const root = repoRoot();
  const { docs } = await loadManifests(['models', 'policies', 'keys'].map((d) => join(root, 'examples', d)));
  return docs.map((d) => d.object);
}

/** ApiKey i of the generated ones: stable name and hash, so two builds compile to the same revision. */
export function generatedKey(i: number, namespace = EXAMPLES_NAMESPACE): Record<string, unknown> {
  const hash = `sha256:${createHash('sha256').update(`bench-key-${i}`).digest('hex')}`;
  const allowedModels = i % 3 === 0 ? ['doubao-seed-2-0-*', 'doubao-seed-1-?-*'] : ['doubao-seed-1-8-251228', 'doubao-seed-2-0-lite-260215'];
  return {
    apiVersion: 'tokenhub.io/v1alpha1',
    kind: 'ApiKey',
    metadata: { name: `bench-key-${i}`, namespace, generation: 1, resourceVersion: String(1000 + i) },
    spec: { owner: 'bench', credential: { hash }, allowedModels, quotaPolicies: ['free-tier', 'paid-tier'] },
  };
}

export async function scaleInput(keys: number): Promise<CompileInput> {
  const objects = await exampleObjects();
  for (let i = 0; i < keys; i++) objects.push(generatedKey(i));
  return compileInputOf(objects, 'default');
}
