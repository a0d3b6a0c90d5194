/**
 * Issue #17: HTTP/2 to upstreams that offer it (ALPN over TLS), many streams multiplexed on one
 * connection, and HTTP/1.1 to those that do not, through the gateway's upstream client.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledBackend, CompiledModel } from '../../src/compile/types.js';
import { generatePki } from '../../src/devtools/control-plane-pki.js';
import { UpstreamClient } from '../../src/gateway/upstream/client.js';
import { compileYaml, modelYaml } from '../support/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenhub-h2-'));
let ca: string;
let h2: Http2SecureServer;
let h1: HttpsServer;
const seen: string[] = [];
let sessions = 0;

function answer(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  seen.push(req.httpVersion);
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // A short stream, slow enough that concurrent ones overlap.
    setTimeout(() => res.end('data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'), 100);
  });
}

const portOf = (s: { address(): unknown }) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  const pki = await generatePki(dir);
  ca = readFileSync(pki.caCert, 'utf8');
  const tls = { key: readFileSync(pki.servingKey), cert: readFileSync(pki.servingCert) };
  h2 = createSecureServer({ ...tls, allowHTTP1: true }, answer);
  h2.on('session', () => sessions++);
  h1 = createHttpsServer(tls, answer);
  await Promise.all([new Promise<void>((r) => h2.listen(0, '127.0.0.1', r)), new Promise<void>((r) => h1.listen(0, '127.0.0.1', r))]);
});
afterAll(async () => {
  await new Promise((r) => h2.close(r));
  await new Promise((r) => h1.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function backendFor(port: number, connection = '{}'): CompiledBackend {
  const yaml = modelYaml({ name: 'm', backends: [{ name: 'b', baseURL: `https://127.0.0.1:${port}/v1`, connection }] });
  const model = compileYaml(yaml, { mockURL: 'unused' }).config.models.get('m') as CompiledModel;
  return model.backends[0] as CompiledBackend;
}

async function call(client: UpstreamClient, backend: CompiledBackend): Promise<string> {
  const res = await client.send({ backend, body: { model: 'm', messages: [] }, signal: new AbortController().signal });
  expect(res.statusCode).toBe(200);
  return res.body.text();
}

describe('upstream protocol', () => {
  it('speaks HTTP/2 to an upstream that offers it, many streams on one connection', async () => {
    const client = new UpstreamClient({ tls: { ca } });
    seen.length = 0;
    sessions = 0;
    try {
      // The first call learns (by ALPN) that the upstream speaks HTTP/2; the next ones, overlapping
      // (each lasts 100 ms, one starts every 10 ms), share its connection. (undici's Pool opens a
      // connection per request dispatched in one same tick: requests really arrive spread out.)
      await call(client, backendFor(portOf(h2)));
      const bodies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => new Promise((r) => setTimeout(r, 10 * i)).then(() => call(client, backendFor(portOf(h2))))),
      );
      expect(bodies.every((b) => b.includes('[DONE]'))).toBe(true);
      expect(seen).toEqual(Array(9).fill('2.0'));
      expect(sessions).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('falls back to HTTP/1.1 for an upstream without HTTP/2, and when protocol is http1', async () => {
    const client = new UpstreamClient({ tls: { ca } });
    seen.length = 0;
    try {
      expect(await call(client, backendFor(portOf(h1)))).toContain('[DONE]');
      expect(await call(client, backendFor(portOf(h2), '{protocol: http1}'))).toContain('[DONE]');
      expect(seen).toEqual(['1.1', '1.1']);
    } finally {
      await client.close();
    }
  });
});
