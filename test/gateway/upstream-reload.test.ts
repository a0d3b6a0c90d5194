/**
 * A reload that changes a backend's connection settings (or its baseURL) gets a new pool; the old
 * one is closed once no backend uses it, after the requests in flight on it have finished.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledBackend, GatewayConfig } from '../../src/compile/types.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { UpstreamClient } from '../../src/gateway/upstream/client.js';
import { compileYaml, keyYaml, modelYaml } from '../support/gateway.js';

let mock: MockUpstream;
let client: UpstreamClient;

beforeAll(async () => {
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  client = new UpstreamClient({ env: {} });
});
afterAll(async () => {
  await client.close();
  await mock.close();
});

const configWith = (connection: string): GatewayConfig =>
  compileYaml(modelYaml({ name: 'm', backends: [{ name: 'main', connection }] }) + keyYaml({ name: 'k', clear: 'sk-reload' }), { mockURL: mock.url }).config;

const backendOf = (config: GatewayConfig): CompiledBackend => {
  const backend = config.models.get('m')?.backends[0];
  if (backend === undefined) throw new Error('model m has no backend');
  return backend;
};

async function call(backend: CompiledBackend, stream = false): Promise<string> {
  const res = await client.send({
    backend,
    body: { model: 'mock-model', stream, messages: [{ role: 'user', content: 'hi' }] },
    signal: new AbortController().signal,
  });
  expect(res.statusCode).toBe(200);
  return res.body.text();
}

describe('upstream pools across reloads', () => {
  it('closes the pool of settings no backend uses any more, letting its stream in flight finish', async () => {
    const before = configWith('{maxConnections: 4}');
    const after = configWith('{maxConnections: 8}');
    await call(backendOf(before));
    expect(client.lanes).toBe(1);
    mock.setBehaviour('mock-model', { chunkDelayMs: 50, completionTokens: 10 });
    try {
      // A stream on the old pool, still running when the reload comes.
      const inFlight = call(backendOf(before), true);
      await call(backendOf(after));
      expect(client.lanes).toBe(2);
      await client.retain(after);
      expect(client.lanes).toBe(1);
      expect(await inFlight).toContain('[DONE]');
    } finally {
      mock.setBehaviour('mock-model', undefined);
    }
    // The pool in use keeps serving.
    expect(await call(backendOf(after))).toContain('chat.completion');
    expect(client.lanes).toBe(1);
  });

  it('keeps every pool a backend of the new config uses', async () => {
    const config = configWith('{maxConnections: 8}');
    await call(backendOf(config));
    await client.retain(config);
    expect(client.lanes).toBe(1);
  });

  it('a backend of the old config, still used after the reload closed its pool, gets a new one (never the closed one)', async () => {
    const old = configWith('{maxConnections: 3}');
    const next = configWith('{maxConnections: 5}');
    await call(backendOf(old));
    await client.retain(next);
    // A fallback attempt of a request that began before the reload still holds the old backend.
    expect(await call(backendOf(old))).toContain('chat.completion');
    expect(await call(backendOf(old))).toContain('chat.completion');
    await client.retain(next);
  });
});
