/**
 * A reload started by the file watcher or the poller, which nobody awaits, that fails (a file
 * gone between listing and reading, a compile that throws) is logged and the last good config
 * keeps serving; before, it was an unhandled rejection, which ends a Node process.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createCompiler } from '../../src/compile/compile.js';
import { ConfigHolder } from '../../src/gateway/config/config-holder.js';
import { FileConfigSource } from '../../src/gateway/config/file-source.js';
import { modelYaml } from '../support/gateway.js';

let source: FileConfigSource | undefined;
afterEach(() => source?.stop());

it('a watched reload that throws logs an error and keeps the last good config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-reload-fail-'));
  await writeFile(join(dir, 'model.yaml'), modelYaml({ name: 'm', baseURL: 'http://127.0.0.1:9' }));
  const errors: string[] = [];
  const log = { error: (_o: unknown, msg: string) => errors.push(msg), warn: () => undefined, info: () => undefined };
  const holder = new ConfigHolder();
  let loads = 0;
  // The first load passes, every later one throws inside the reload.
  const transform = (objects: unknown[]): unknown[] => {
    if (++loads > 1) throw new Error('compile blew up');
    return objects;
  };
  const opts = { paths: [dir], holder, compiler: createCompiler(), transform, pollMs: 20 };
  source = new FileConfigSource({ ...opts, log: log as unknown as ConstructorParameters<typeof FileConfigSource>[0]['log'] });
  await source.start();
  const served = holder.current();
  expect(served?.modelIds).toEqual(['m']);
  await writeFile(join(dir, 'model.yaml'), modelYaml({ name: 'm2', baseURL: 'http://127.0.0.1:9' }));
  await expect.poll(() => errors, { timeout: 5_000, interval: 20 }).toContain('config reload failed; the last good config keeps serving');
  expect(holder.current()).toBe(served);
});
