/**
 * Calls to upstream OpenAI-compatible APIs over undici: one Pool per backend origin and
 * connection settings (HTTP/2 when the upstream offers it or speaks h2c, keep-alive), a gate in front of each
 * that makes the wait for a connection visible and bounded, per-backend timeouts, the backend's
 * credential, abort from the client side.
 */
import { Client, type Dispatcher, EnvHttpProxyAgent, Pool, errors as undiciErrors } from 'undici';
import type { CompiledBackend, GatewayConfig } from '../../compile/types.js';
import type { ChatBody } from '../request/chat-request.js';
import type { AbortSource } from './call-abort.js';
import { ConnectionGate } from './connection-gate.js';
import { H2cPool, UpstreamNotRead } from './h2c-pool.js';
import { internalField } from './undici-internals.js';

/** `saturated`: no connection to the backend came free within its queue timeout. */
export type UpstreamFailureKind = 'connect' | 'timeout' | 'aborted' | 'saturated';

/** A call that got no HTTP answer; `kind` decides the status a client finally sees. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  /**
   * Whether the request may have reached the upstream: false only for failures to connect
   * (refused, unresolvable, unreachable, connect timeout); billing charges the rest.
   */
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly sent = true,
  ) {
    super(message);
  }
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Dispatcher.ResponseData['body'];
}

interface Target {
  readonly origin: string;
  readonly path: string;
}

/** One backend origin with one set of connection settings: its pool and the gate in front of it. */
interface Lane {
  /** A Pool for the origin (an H2cPool for h2c); through an egress proxy, a proxy agent with the same settings. */
  readonly pool: Pick<Dispatcher, 'request' | 'close'>;
  readonly gate: ConnectionGate;
}

interface Shared {
  readonly targets: Map<string, Target>;
  readonly lanes: Map<string, Lane>;
  /** Each compiled backend's lane and its id, once found: its id is otherwise a string built per call. */
  readonly laneOfBackend: WeakMap<CompiledBackend, { readonly id: string; readonly lane: Lane }>;
  /** TLS options for every upstream connection (e.g. a private CA's certificate). */
  readonly tls?: { readonly ca?: string | Buffer };
  /** HTTP(S)_PROXY / NO_PROXY from the environment; none: straight to the upstream. */
  readonly proxy?: ProxySettings;
}

type ProxySettings = { httpProxy?: string; httpsProxy?: string; noProxy?: string };

/** HTTP(S)_PROXY and NO_PROXY, upper case first (the chart's gateway.proxy sets both cases). */
export function proxySettings(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const read = (name: string): string | undefined => env[name] || env[name.toLowerCase()] || undefined;
  const httpProxy = read('HTTP_PROXY');
  const httpsProxy = read('HTTPS_PROXY');
  if (httpProxy === undefined && httpsProxy === undefined) return undefined;
  const noProxy = read('NO_PROXY');
  return {
    ...(httpProxy === undefined ? {} : { httpProxy }),
    ...(httpsProxy === undefined ? {} : { httpsProxy }),
    ...(noProxy === undefined ? {} : { noProxy }),
  };
}

export class UpstreamClient {
  private readonly shared: Shared;
  private readonly onWait: ((waitedMs: number) => void) | undefined;

  /** `env` (default process.env) decides whether upstream calls go through an egress proxy. */
  constructor(opts: { shared?: Shared; onWait?: (waitedMs: number) => void; tls?: Shared['tls']; env?: NodeJS.ProcessEnv } = {}) {
    this.shared = opts.shared ?? UpstreamClient.newShared(opts);
    this.onWait = opts.onWait;
  }

  /** Pools, targets and settings; read from the environment once, not per request (withWaitListener). */
  private static newShared(opts: { tls?: Shared['tls']; env?: NodeJS.ProcessEnv }): Shared {
    const proxy = proxySettings(opts.env ?? process.env);
    return { targets: new Map(), lanes: new Map(), laneOfBackend: new WeakMap(), ...(opts.tls ? { tls: opts.tls } : {}), ...(proxy ? { proxy } : {}) };
  }

  /** The same pools, telling `onWait` how long each call waited for a connection (one request's total). */
  withWaitListener(onWait: (waitedMs: number) => void): UpstreamClient {
    return new UpstreamClient({ shared: this.shared, onWait });
  }

  async send(opts: {
    backend: CompiledBackend;
    /** Serialised by the caller, which answers a body that cannot be serialised itself (a 400). */
    body: ChatBody | string;
    /** None: the call is never aborted (a non-stream call is read to its end to be billed). */
    signal?: AbortSource;
    headers?: Record<string, string>;
  }): Promise<UpstreamResponse> {
    const { backend } = opts;
    const target = this.targetOf(backend.baseURL);
    const lane = this.laneOf(target.origin, backend);
    const slot = await lane.gate.acquire(
      opts.signal === undefined ? { timeoutMs: backend.connection.queueTimeoutMs } : { timeoutMs: backend.connection.queueTimeoutMs, signal: opts.signal },
    );
    this.onWait?.(slot.waitedMs);
    if (!slot.acquired) {
      if (slot.reason === 'aborted') throw new UpstreamFailure('aborted', 'the request was aborted');
      throw new UpstreamFailure('saturated', `no upstream connection came free within ${backend.connection.queueTimeoutMs} ms`);
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...opts.headers };
    if (backend.apiKey !== undefined) headers['authorization'] = `Bearer ${backend.apiKey}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await lane.pool.request({
        origin: target.origin,
        path: target.path,
        method: 'POST',
        // undici keeps a non-idempotent request off an HTTP/2 connection with others in flight (no
        // multiplexing); HTTP/1.1 connections carry one request at a time anyway (pipelining 1).
        idempotent: true,
        headers,
        body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
        // An AbortSignal or a CallAbort: undici takes anything with aborted and add/removeEventListener (call-abort.ts).
        signal: opts.signal ?? null,
        headersTimeout: backend.timeoutMs,
        bodyTimeout: backend.timeoutMs,
      });
    } catch (err) {
      lane.gate.release();
      throw classify(err);
    }
    // The connection is busy until the body is read to its end, aborted or failed: all end in 'close'.
    res.body.once('close', () => lane.gate.release());
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  async close(): Promise<void> {
    await Promise.all([...this.shared.lanes.values()].map((l) => l.pool.close()));
  }

  /** Open lanes (origin × connection settings), for tests and metrics. */
  get lanes(): number {
    return this.shared.lanes.size;
  }

  /**
   * After a reload: closes the lanes no backend of `config` uses (a changed baseURL or connection
   * setting made a new one; the old would hold its sockets for good). undici's close lets the
   * requests in flight on them finish.
   */
  retain(config: GatewayConfig): Promise<void> {
    const used = new Set<string>();
    const baseURLs = new Set<string>();
    for (const model of config.models.values()) {
      for (const backend of model.backends) {
        baseURLs.add(backend.baseURL);
        used.add(laneId(this.targetOf(backend.baseURL).origin, backend));
      }
    }
    for (const baseURL of this.shared.targets.keys()) if (!baseURLs.has(baseURL)) this.shared.targets.delete(baseURL);
    const closing: Promise<void>[] = [];
    for (const [id, lane] of this.shared.lanes) {
      if (used.has(id)) continue;
      this.shared.lanes.delete(id);
      closing.push(lane.pool.close().catch(() => undefined));
    }
    return Promise.all(closing).then(() => undefined);
  }

  private targetOf(baseURL: string): Target {
    let t = this.shared.targets.get(baseURL);
    if (t === undefined) {
      const url = new URL(`${baseURL}/chat/completions`);
      t = { origin: url.origin, path: url.pathname + url.search };
      this.shared.targets.set(baseURL, t);
    }
    return t;
  }

  private laneOf(origin: string, backend: CompiledBackend): Lane {
    // A remembered lane counts only while it is still open (retain() closes and drops lanes).
    const known = this.shared.laneOfBackend.get(backend);
    if (known !== undefined && this.shared.lanes.get(known.id) === known.lane) return known.lane;
    const c = backend.connection;
    const id = laneId(origin, backend);
    let lane = this.shared.lanes.get(id);
    if (lane === undefined) {
      lane = { pool: this.poolFor(origin, c), gate: new ConnectionGate(c.maxConnections) };
      this.shared.lanes.set(id, lane);
    }
    this.shared.laneOfBackend.set(backend, { id, lane });
    return lane;
  }

  private poolFor(origin: string, c: CompiledBackend['connection']): Lane['pool'] {
    const tls = this.shared.tls?.ca === undefined ? {} : { connect: { ca: this.shared.tls.ca } };
    const proxy = this.shared.proxy;
    // Through a proxy the tunnel is HTTP/1.1; the gate still bounds and times the wait.
    if (proxy !== undefined) return new EnvHttpProxyAgent({ connections: c.maxConnections, keepAliveTimeout: c.idleTimeoutMs, ...tls, ...proxy });
    // The schema allows h2c on http:// only; an https:// origin here negotiates as auto does.
    if (c.protocol === 'h2c' && origin.startsWith('http:')) {
      return new H2cPool(origin, { streamsPerConnection: H2_STREAMS, keepAliveTimeout: c.idleTimeoutMs });
    }
    return new Pool(origin, {
      connections: c.maxConnections,
      keepAliveTimeout: c.idleTimeoutMs,
      allowH2: c.protocol === 'auto',
      ...tls,
      factory: (o, options) => multiplexWhenH2(new Client(o, options)),
    });
  }
}

function laneId(origin: string, backend: CompiledBackend): string {
  const c = backend.connection;
  return `${origin} ${c.maxConnections} ${c.idleTimeoutMs} ${c.protocol}`;
}

/** Streams per HTTP/2 connection (undici's maxConcurrentStreams default; a server's SETTINGS may lower it). */
const H2_STREAMS = 100;

/**
 * undici sends one request at a time per connection (pipelining 1, right for HTTP/1.1: no
 * head-of-line blocking behind a long stream). On a connection that negotiated HTTP/2 it may send
 * many; back to one if it reconnects.
 */
function multiplexWhenH2(client: Client): Client {
  client.on('connect', () => {
    if (httpVersionOf(client) === 'h2') client.pipelining = H2_STREAMS;
  });
  client.on('disconnect', () => {
    client.pipelining = 1;
  });
  return client;
}

/** undici does not expose the negotiated protocol; its connection context sits under a symbol. */
function httpVersionOf(client: Client): string | undefined {
  const context = internalField(client, 'http context') as { version?: unknown } | undefined;
  return typeof context?.version === 'string' ? context.version : undefined;
}

/** undici's errors → our three kinds; the message names no secret (undici's never does). */
export function classify(err: unknown): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (err instanceof UpstreamNotRead) return new UpstreamFailure('connect', err.message, false);
  if (err instanceof undiciErrors.ConnectTimeoutError) return new UpstreamFailure('timeout', 'the upstream did not accept the connection in time', false);
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new UpstreamFailure('timeout', 'the upstream did not answer in time');
  }
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError)) {
    return new UpstreamFailure('aborted', 'the request was aborted');
  }
  const code = (err as { code?: unknown }).code;
  const sent = !(typeof code === 'string' && NOT_CONNECTED.has(code));
  return new UpstreamFailure('connect', `could not reach the upstream${typeof code === 'string' ? ` (${code})` : ''}`, sent);
}

/** Error codes that mean no connection was made, so nothing of the request was sent. */
const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
