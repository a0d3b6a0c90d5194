/**
 * Calls to upstream OpenAI-compatible APIs over undici: one Agent (connection pools per origin,
 * keep-alive), per-backend timeouts, the backend's credential, abort from the client side.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, errors as undiciErrors } from 'undici';
import type { CompiledBackend } from '../../compile/types.js';
import type { ChatBody } from '../request/chat-request.js';

export type UpstreamFailureKind = 'connect' | 'timeout' | 'aborted';

/** A call that got no HTTP answer; `kind` decides the status a client finally sees. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(readonly kind: UpstreamFailureKind, message: string) {
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

/** HTTP(S)_PROXY and NO_PROXY, upper case first (the chart's gateway.proxy sets both cases). */
export function proxySettings(env: NodeJS.ProcessEnv): { httpProxy?: string; httpsProxy?: string; noProxy?: string } | undefined {
  const read = (name: string): string | undefined => env[name] || env[name.toLowerCase()] || undefined;
  const httpProxy = read('HTTP_PROXY');
  const httpsProxy = read('HTTPS_PROXY');
  if (httpProxy === undefined && httpsProxy === undefined) return undefined;
  const noProxy = read('NO_PROXY');
  return { ...(httpProxy === undefined ? {} : { httpProxy }), ...(httpsProxy === undefined ? {} : { httpsProxy }), ...(noProxy === undefined ? {} : { noProxy }) };
}

export class UpstreamClient {
  private readonly agent: Dispatcher;
  private readonly targets = new Map<string, Target>();

  /** `env` (default process.env) decides whether upstream calls go through an egress proxy. */
  constructor(opts: { connections?: number; env?: NodeJS.ProcessEnv } = {}) {
    const pool = { connections: opts.connections ?? 256, keepAliveTimeout: 30_000, pipelining: 1 };
    const proxy = proxySettings(opts.env ?? process.env);
    this.agent = proxy === undefined ? new Agent(pool) : new EnvHttpProxyAgent({ ...pool, ...proxy });
  }

  async send(opts: {
    backend: CompiledBackend;
    body: ChatBody;
    signal: AbortSignal;
    headers?: Record<string, string>;
  }): Promise<UpstreamResponse> {
    const { backend } = opts;
    const target = this.targetOf(backend.baseURL);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...opts.headers };
    if (backend.apiKey !== undefined) headers['authorization'] = `Bearer ${backend.apiKey}`;
    try {
      const res = await this.agent.request({
        origin: target.origin,
        path: target.path,
        method: 'POST',
        headers,
        body: JSON.stringify(opts.body),
        signal: opts.signal,
        headersTimeout: backend.timeoutMs,
        bodyTimeout: backend.timeoutMs,
      });
      return { statusCode: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw classify(err);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private targetOf(baseURL: string): Target {
    let t = this.targets.get(baseURL);
    if (t === undefined) {
      const url = new URL(`${baseURL}/chat/completions`);
      t = { origin: url.origin, path: url.pathname + url.search };
      this.targets.set(baseURL, t);
    }
    return t;
  }
}

/** undici's errors → our three kinds; the message names no secret (undici's never does). */
export function classify(err: unknown): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return new UpstreamFailure('timeout', 'the upstream did not answer in time');
  }
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError)) {
    return new UpstreamFailure('aborted', 'the request was aborted');
  }
  const code = (err as { code?: unknown }).code;
  return new UpstreamFailure('connect', `could not reach the upstream${typeof code === 'string' ? ` (${code})` : ''}`);
}
