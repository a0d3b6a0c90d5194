// The mock OpenAI-compatible upstream used by the tests, the benchmark and the demo.
//
// It runs on node:http directly rather than fastify. Measured with autocannon (-c 50, 100k
// requests, server CPU time per request): a non-stream answer costs ~20 µs either way, most of
// it the write syscall, so fastify is not slower for JSON; but hangs, paced and cut streams and
// disconnect accounting all need the raw response, and the routes are few and fixed, so a
// framework would only add a layer to go around.
//
// Surface (base URL `${url}` = http://host:port/v1):
//   POST /v1/chat/completions   OpenAI chat completions, streaming or not (see answer.ts)
//   GET  /v1/models[/:id]       'mock-model' plus every model requested so far
//   PUT  /__mock/behaviour/:model   body: MockBehaviour JSON, or null to clear; '*' = default
//   DELETE /__mock/behaviour[/:model]  all: reset behaviours and stats; one: clear that model
//   GET  /__mock/stats          MockStats JSON
// The /__mock routes never need the API key: they are for tests and benchmarks, not clients.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createH2cServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { AddressInfo, Server } from 'node:net';
import { BehaviourStore, parseBehaviour, type MockBehaviour } from './behaviour.js';
import { authorized, handleChatCompletion, type CompletionContext } from './completions.js';
import { decodePath, invalidRequest, parseJson, readBody, sendError, sendJson } from './http.js';
import { StatsRecorder, type MockStats } from './stats.js';

export type { MockBehaviour } from './behaviour.js';
export type { MockStats, TokenCounts } from './stats.js';

export interface MockUpstream {
  /** The OpenAI base URL, e.g. http://127.0.0.1:PORT/v1. */
  url: string;
  port: number;
  /** Behaviour for one upstream model name, or '*' for the default; undefined clears it. */
  setBehaviour(model: string, b: MockBehaviour | undefined): void;
  /** Behaviours, stats and the list of seen models back to how the mock started. */
  reset(): void;
  /** A snapshot: later requests do not change it. */
  stats(): MockStats;
  /** Stops listening and drops open connections (hung and streaming requests included). */
  close(): Promise<void>;
}

export interface MockUpstreamOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** When set, /v1 routes require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The behaviour of models without one of their own, and what reset() returns to. */
  defaultBehaviour?: MockBehaviour;
  /** One line per request on stderr. */
  logger?: boolean;
  /**
   * Serve cleartext HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1, as in-cluster vLLM,
   * Triton or Envoy upstreams do: same routes and behaviours, many streams per connection.
   */
  h2c?: boolean;
}

export const MOCK_MODEL = 'mock-model';
const BEHAVIOUR_PREFIX = '/__mock/behaviour/';

interface MockState extends CompletionContext {
  reset(): void;
}

function createState(opts: MockUpstreamOptions): MockState {
  let counter = 0;
  const state: MockState = {
    stats: new StatsRecorder(),
    behaviours: new BehaviourStore(opts.defaultBehaviour),
    models: new Set([MOCK_MODEL]),
    apiKey: opts.apiKey,
    nextId: () => ++counter,
    reset() {
      state.behaviours.reset();
      state.stats.reset();
      state.models.clear();
      state.models.add(MOCK_MODEL);
    },
  };
  return state;
}

function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'tokenhub-mock' };
}

function handleModels(state: MockState, req: IncomingMessage, res: ServerResponse, path: string): void {
  if (!authorized(state.apiKey, req)) return sendError(res, 401);
  if (path === '/v1/models') {
    return sendJson(res, 200, { object: 'list', data: [...state.models].map(modelObject) });
  }
  const id = decodePath(path.slice('/v1/models/'.length));
  if (id === undefined || !state.models.has(id)) return sendError(res, 404, { message: `The model '${id ?? path}' does not exist` });
  sendJson(res, 200, modelObject(id));
}

async function putBehaviour(state: MockState, req: IncomingMessage, res: ServerResponse, model: string): Promise<void> {
  const raw = await readBody(req, res);
  if (raw === undefined) return;
  const parsed = raw.trim() === '' ? { ok: true as const, value: null } : parseJson(raw);
  if (!parsed.ok) return invalidRequest(res, 'behaviour body is not JSON');
  const checked = parseBehaviour(parsed.value);
  if ('error' in checked) return invalidRequest(res, checked.error);
  state.behaviours.set(model, checked.behaviour);
  sendJson(res, 200, { model, behaviour: checked.behaviour ?? null });
}

function handleControl(state: MockState, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | void {
  if (path === '/__mock/stats' && req.method === 'GET') return sendJson(res, 200, state.stats.snapshot());
  if (path === '/__mock/behaviour' && req.method === 'DELETE') {
    state.reset();
    return sendJson(res, 200, { reset: true });
  }
  if (path.startsWith(BEHAVIOUR_PREFIX) && path.length > BEHAVIOUR_PREFIX.length) {
    const model = decodePath(path.slice(BEHAVIOUR_PREFIX.length));
    if (model === undefined) return invalidRequest(res, 'malformed model name in the URL');
    if (req.method === 'PUT') return putBehaviour(state, req, res, model);
    if (req.method === 'DELETE') {
      state.behaviours.set(model, undefined);
      return sendJson(res, 200, { model, behaviour: null });
    }
  }
  notFound(req, res);
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  sendError(res, 404, { message: `Invalid URL (${req.method} ${req.url})`, param: null, code: null });
}

function route(state: MockState, req: IncomingMessage, res: ServerResponse): Promise<void> | void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (path === '/v1/chat/completions' && req.method === 'POST') return handleChatCompletion(state, req, res);
  if ((path === '/v1/models' || path.startsWith('/v1/models/')) && req.method === 'GET') {
    return handleModels(state, req, res, path);
  }
  if (path.startsWith('/__mock/')) return handleControl(state, req, res, path);
  notFound(req, res);
}

function logRequests(req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  res.on('close', () => {
    const ms = (performance.now() - started).toFixed(1);
    const how = res.writableFinished ? String(res.statusCode) : `${res.statusCode} (closed early)`;
    process.stderr.write(`mock-upstream ${req.method} ${req.url} ${how} ${ms}ms\n`);
  });
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A listening server and how to drop every open connection (hung and streaming ones too). */
interface Listener {
  readonly server: Server;
  closeAll(): void;
}

function http1Listener(handler: Handler): Listener {
  const server = createServer({ keepAliveTimeout: 65_000 }, handler);
  return { server, closeAll: () => server.closeAllConnections() };
}

function h2cListener(handler: Handler): Listener {
  // node:http2's compatibility API implements every part of IncomingMessage and ServerResponse the
  // handlers use (headers, body events, writeHead/write/end, 'close', 'drain', destroy).
  const server = createH2cServer((req: Http2ServerRequest, res: Http2ServerResponse) =>
    handler(req as unknown as IncomingMessage, res as unknown as ServerResponse),
  );
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return {
    server,
    closeAll: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

export async function startMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const state = createState(opts);
  const handler: Handler = (req, res) => {
    if (opts.logger) logRequests(req, res);
    // A bug here must answer 500, not crash the test run or leave the client waiting.
    Promise.resolve(route(state, req, res)).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, { message: `mock upstream bug: ${String(err)}` });
      else res.destroy();
    });
  };
  const listener = opts.h2c === true ? h2cListener(handler) : http1Listener(handler);
  const server = listener.server;
  server.on('connection', () => state.stats.connection());
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue, as the gateway's (runtime.ts): benchmarks connect thousands at once.
    server.listen(opts.port ?? 0, host, 4096, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // A wildcard address is fine to listen on but not to hand out as a URL.
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/v1`,
    port,
    setBehaviour: (model, b) => state.behaviours.set(model, b),
    reset: () => state.reset(),
    stats: () => state.stats.snapshot(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        listener.closeAll();
      }),
  };
}
