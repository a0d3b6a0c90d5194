/** loadManifests with a parse cache: what the compile worker re-reads on every file change. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ParseCache, loadManifests } from '../../src/manifests/load.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const key = (name: string): string => `apiVersion: tokenhub.io/v1alpha1\nkind: ApiKey\nmetadata: {name: ${name}}\nspec: {credential: {generate: {}}}\n`;

describe('loadManifests with a cache', () => {
  it('re-parses only a changed file, and forgets files that are gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'th-load-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'a.yaml'), key('a'));
    writeFileSync(join(dir, 'b.yaml'), key('b'));
    const cache: ParseCache = new Map();
    const first = await loadManifests([dir], cache);
    expect(first.docs.map((d) => (d.object as { metadata: { name: string } }).metadata.name)).toEqual(['a', 'b']);
    expect([...cache.keys()].sort()).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);

    writeFileSync(join(dir, 'b.yaml'), key('b2'));
    const second = await loadManifests([dir], cache);
    // a.yaml kept its parse (the very same document object); b.yaml was parsed again.
    expect(second.docs[0]).toBe(first.docs[0]);
    expect((second.docs[1]?.object as { metadata: { name: string } }).metadata.name).toBe('b2');

    rmSync(join(dir, 'a.yaml'));
    const third = await loadManifests([dir], cache);
    expect(third.docs).toHaveLength(1);
    expect([...cache.keys()]).toEqual([join(dir, 'b.yaml')]);
    // Without a cache: the same documents, parsed afresh.
    expect((await loadManifests([dir])).docs.map((d) => d.object)).toEqual(third.docs.map((d) => d.object));
  });
});
