/**
 * Hot reload from manifest files (FileConfigSource) under load: new keys, changed policies and
 * disabled keys take effect within seconds, no request of a concurrent load loop fails, a
 * stream in flight completes; an invalid change is logged and changes nothing.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import type { FastifyInstance } from 'fastify';
import { createCompiler } from '../../src/compile/compile.js';
import { buildGateway } from '../../src/gateway/app.js';
import { ConfigHolder } from '../../src/gateway/config/config-holder.js';
import { FileConfigSource } from '../../src/gateway/config/file-source.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { eventually, keyYaml, modelYaml, policyYaml, postChat } from '../support/gateway.js';

const KEYS = { load: 'th-reload-load', victim: 'th-reload-victim', limited: 'th-reload-limited', fresh: 'th-reload-fresh', old: 'th-reload-old' };
const PROMPT = 'reload-prompt-text-91c2';

interface FileGateway {
  readonly dir: string;
  readonly baseURL: string;
  readonly holder: ConfigHolder;
  readonly source: FileConfigSource;
  readonly logLines: string[];
  write(name: string, yaml: string): Promise<void>;
  close(): Promise<void>;
}

let mock: MockUpstream;

/** A gateway on a temporary directory of manifests, logging (pino JSON) into `logLines`. */
async function startFileGateway(files: Record<string, string>): Promise<FileGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-reload-'));
  // Written under a dot name (which the loader skips), then renamed: a reload never sees half a file.
  const write = async (name: string, yaml: string): Promise<void> => {
    await writeFile(join(dir, `.${name}.tmp`), yaml.replaceAll('${MOCK}', mock.url));
    await rename(join(dir, `.${name}.tmp`), join(dir, name));
  };
  for (const [name, yaml] of Object.entries(files)) await write(name, yaml);
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const holder = new ConfigHolder();
  const app: FastifyInstance = buildGateway({ holder, store: new MemoryLimitStore(), logger: { level: 'info', stream } });
  const source = new FileConfigSource({ paths: [dir], holder, compiler: createCompiler(), log: app.log, pollMs: 100, debounceMs: 50 });
  try {
    await source.start();
  } catch (err) {
    await app.close();
    throw err;
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    dir,
    baseURL: `${url}/api/v1`,
    holder,
    source,
    logLines,
    write,
    close: async () => {
      source.stop();
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const ask = (model = 'm') => ({ model, messages: [{ role: 'user', content: PROMPT }] });

beforeAll(async () => {
  mock = await startMockUpstream();
  mock.setBehaviour('streamer', { chunkDelayMs: 80, completionTokens: 20 });
});
afterAll(async () => mock?.close());

describe('hot reload from files', () => {
  let gw: FileGateway;
  beforeAll(async () => {
    gw = await startFileGateway({
      'models.yaml': modelYaml({ name: 'm' }) + modelYaml({ name: 'streamer' }),
      'policy.yaml': policyYaml('pol', '{rateLimits: {rpm: 1000}}'),
      'key-load.yaml': keyYaml({ name: 'load', clear: KEYS.load }),
      'key-victim.yaml': keyYaml({ name: 'victim', clear: KEYS.victim }),
      'key-limited.yaml': keyYaml({ name: 'limited', clear: KEYS.limited, policies: ['pol'] }),
    });
  });
  afterAll(async () => gw?.close());

  it('applies a new key, a changed policy and a disabled key under load, failing no request and no stream', async () => {
    const statuses: number[] = [];
    const deadline = Date.now() + 2000;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline) statuses.push((await postChat(gw.baseURL, { key: KEYS.load, body: ask() })).status);
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));

    // a slow stream of the key that is about to be disabled
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEYS.victim, maxRetries: 0 });
    const streamed = (async () => {
      const stream = await client.chat.completions.create({ ...ask('streamer'), stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      return { text, endedAt: performance.now() };
    })();
    for (let i = 0; i < 3; i++) expect((await postChat(gw.baseURL, { key: KEYS.limited, body: ask() })).status).toBe(200);
    expect((await postChat(gw.baseURL, { key: KEYS.fresh, body: ask() })).status).toBe(401);

    // (a) a new ApiKey file: the key works within 2 s
    const added = performance.now();
    await gw.write('key-fresh.yaml', keyYaml({ name: 'fresh', clear: KEYS.fresh }));
    await eventually(async () => (await postChat(gw.baseURL, { key: KEYS.fresh, body: ask() })).status === 200, 2000);
    expect(performance.now() - added).toBeLessThan(2000);

    // (b) the policy drops to 1 rpm: enforced
    await gw.write('policy.yaml', policyYaml('pol', '{rateLimits: {rpm: 1}}'));
    await eventually(async () => (await postChat(gw.baseURL, { key: KEYS.limited, body: ask() })).status === 429, 2000);

    // (c) the victim key is disabled: 401, while its stream goes on
    await gw.write('key-victim.yaml', keyYaml({ name: 'victim', clear: KEYS.victim, disabled: true }));
    await eventually(async () => {
      const res = await postChat(gw.baseURL, { key: KEYS.victim, body: ask() });
      return res.status === 401 && (res.json as { error: { code: string } }).error.code === 'api_key_disabled';
    }, 2000);
    const disabledAt = performance.now();

    const { text, endedAt } = await streamed;
    expect(text).toMatch(new RegExp(`^Echo: ${PROMPT}`));
    expect(endedAt).toBeGreaterThan(disabledAt);
    await load;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(gw.holder.reloads).toBe(4);
  });

  it.each([
    ['bad YAML', 'broken.yaml', 'kind: ApiKey\nmetadata: {name: [unclosed\n'],
    ['a ModelRoute with maxInput above contextWindow', 'bad-model.yaml', modelYaml({ name: 'too-big', contextWindow: 1000, maxInput: 2000, maxOutput: 100 })],
  ])('an invalid change (%s) is logged and changes nothing', async (_what, name, yaml) => {
    const revision = gw.holder.current()?.revision;
    const reloads = gw.holder.reloads;
    const logged = gw.logLines.length;
    await gw.write(name, yaml);
    const result = await gw.source.reload();
    expect(result.applied).toBe(false);
    expect(result.errors.length).toBeGreaterThan(0);
    expect(gw.holder.current()?.revision).toBe(revision);
    expect(gw.holder.reloads).toBe(reloads);
    const rejected = gw.logLines
      .slice(logged)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['level'] === 50);
    expect(rejected.length).toBeGreaterThan(0);
    expect(String(rejected[0]?.['msg'])).toMatch(/rejected.*last good config/);
    expect(String(rejected[0]?.['problem'])).toContain(name);
    // the old config keeps serving
    expect((await postChat(gw.baseURL, { key: KEYS.load, body: ask() })).status).toBe(200);
    await rm(join(gw.dir, name));
    await gw.source.reload();
  });

  it('logs no key and no prompt text', () => {
    const all = gw.logLines.join('');
    expect(all).toContain('config loaded');
    for (const k of Object.values(KEYS)) expect(all).not.toContain(k);
    expect(all).not.toContain(PROMPT);
  });
});

describe('expired keys in the manifests', () => {
  it('a manifest set with an expired key still loads; that key gets 401 api_key_expired (the whole config was refused)', async () => {
    const gw = await startFileGateway({
      'all.yaml':
        modelYaml({ name: 'm' }) + keyYaml({ name: 'load', clear: KEYS.load }) + keyYaml({ name: 'old', clear: KEYS.old, expiresAt: '2020-01-01T00:00:00Z' }),
    });
    try {
      expect((await postChat(gw.baseURL, { key: KEYS.load, body: ask() })).status).toBe(200);
      const expired = await postChat(gw.baseURL, { key: KEYS.old, body: ask() });
      expect(expired.status).toBe(401);
      expect((expired.json as { error: { code: string } }).error.code).toBe('api_key_expired');
      // and a later change still applies
      await gw.write('fresh.yaml', keyYaml({ name: 'fresh', clear: KEYS.fresh }));
      expect((await gw.source.reload()).errors).toEqual([]);
      expect((await postChat(gw.baseURL, { key: KEYS.fresh, body: ask() })).status).toBe(200);
    } finally {
      await gw.close();
    }
  });
});
