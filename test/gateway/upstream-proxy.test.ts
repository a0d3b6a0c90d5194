/**
 * gateway.proxy in the chart sets HTTP(S)_PROXY / NO_PROXY on the gateway pods: upstream calls
 * then go through the egress proxy (a real forward proxy here, CONNECT and absolute-form alike),
 * and a host NO_PROXY names goes direct.
 */
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { UpstreamClient, proxySettings } from '../../src/gateway/upstream/client.js';
import type { CompiledBackend } from '../../src/compile/types.js';

let mock: MockUpstream;
let proxy: Server;
let proxyURL: string;
const seen: string[] = [];

beforeAll(async () => {
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  proxy = createServer((req, res) => {
    // Absolute-form request: forward it.
    seen.push(`${req.method} ${req.url}`);
    const up = request(req.url ?? '', { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  proxy.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const up = connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyURL = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await mock?.close();
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
});

const backend = (): CompiledBackend => ({
  name: 'main',
  baseURL: mock.url,
  upstreamModel: 'mock-model',
  weight: 1,
  priority: 0,
  timeoutMs: 5_000,
  connection: { maxConnections: 16, idleTimeoutMs: 60_000, queueTimeoutMs: 2_000, protocol: 'http1' },
});

async function call(env: NodeJS.ProcessEnv): Promise<number> {
  const client = new UpstreamClient({ env });
  try {
    const res = await client.send({
      backend: backend(),
      body: { model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 },
      signal: AbortSignal.timeout(5_000),
    });
    await res.body.text();
    return res.statusCode;
  } finally {
    await client.close();
  }
}

describe('upstream calls through an egress proxy', () => {
  it('reads the proxy settings, upper case first, and none without a proxy', () => {
    expect(proxySettings({})).toBeUndefined();
    expect(proxySettings({ NO_PROXY: 'x' })).toBeUndefined();
    expect(proxySettings({ HTTP_PROXY: 'http://a', http_proxy: 'http://b', no_proxy: '.svc' })).toEqual({ httpProxy: 'http://a', noProxy: '.svc' });
    expect(proxySettings({ https_proxy: 'http://c', HTTP_PROXY: '' })).toEqual({ httpsProxy: 'http://c' });
  });

  it('goes through HTTP_PROXY', async () => {
    seen.length = 0;
    expect(await call({ HTTP_PROXY: proxyURL })).toBe(200);
    const port = new URL(mock.url).port;
    expect(seen.length).toBe(1);
    expect(seen[0]).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it('goes direct to a host NO_PROXY names, and without a proxy', async () => {
    seen.length = 0;
    expect(await call({ HTTP_PROXY: proxyURL, NO_PROXY: '127.0.0.1' })).toBe(200);
    expect(await call({})).toBe(200);
    expect(seen).toEqual([]);
  });
});
