/**
 * The baseline for the gateway: the least a Node proxy can do. node:http in front, one undici
 * Agent with keep-alive behind (the same client the gateway uses), POST /v1/chat/completions
 * forwarded with the request body and the response body streamed through untouched: no JSON
 * parsing, no auth, no limits, no routing.
 *
 *   node dist/bench/bare-proxy.js --port N --upstream http://127.0.0.1:M
 *
 * GET /healthz answers 200 (readiness for the benchmark). Stops on SIGTERM/SIGINT.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';

const CHAT_PATH = '/v1/chat/completions';
/** Hop-by-hop headers (RFC 9110 §7.6.1) a proxy must not forward. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

export interface BareProxy {
  readonly url: string;
  close(): Promise<void>;
}

export async function startBareProxy(opts: { upstream: string; port: number; host?: string }): Promise<BareProxy> {
  const upstream = new URL(opts.upstream);
  const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000, pipelining: 1 });

  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': req.headers['content-type'] ?? 'application/json' };
    const auth = req.headers['authorization'];
    if (auth !== undefined) headers['authorization'] = auth;
    // With the length known, undici sends the body as is rather than chunked, as the gateway does.
    const length = req.headers['content-length'];
    if (length !== undefined) headers['content-length'] = length;
    const up = await agent.request({ origin: upstream.origin, path: CHAT_PATH, method: 'POST', headers, body: req });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(up.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    res.writeHead(up.statusCode, out);
    // pipe(), not stream.pipeline(): pipeline aborts an AbortController of its own when it ends,
    // and the DOMException that builds (stack trace included) costs more than the rest of the
    // proxy's JavaScript per request.
    res.once('close', () => {
      if (!res.writableFinished) up.body.destroy();
    });
    up.body.once('error', () => res.destroy());
    up.body.pipe(res);
  };

  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (req.method !== 'POST' || req.url !== CHAT_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    forward(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, upstream: { type: 'string' } } });
  if (values.upstream === undefined) throw new Error('usage: bare-proxy --port N --upstream http://host:port');
  const proxy = await startBareProxy({ upstream: values.upstream, port: Number(values.port ?? 0), ...(values.host ? { host: values.host } : {}) });
  process.stdout.write(`bare proxy listening on ${proxy.url} -> ${values.upstream}\n`);
  const stop = (): void => {
    proxy.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

// Run as a process (the benchmark's layout); importing the module only gets startBareProxy.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bare-proxy: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
