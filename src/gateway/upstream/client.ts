/**
 * Calls to upstream OpenAI-compatible APIs over undici: one Agent (connection pools per origin,
 * keep-alive), per-backend timeouts, the backend's credential, abort from the client side.
 */
import { Agent, type Dispatcher, errors as undiciErrors } from 'undici';
import type { CompiledBackend } from '../../compile/types.js';
import type { ChatBody } from '../request/chat-request.js';

export type UpstreamFailureKind = 'connect' | 'timeout' | 'aborted';

/** A call that got no HTTP answer; `kind` decides the status a client finally sees. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  /**
   * Whether the request may have reached the upstream: false only for failures to connect
   * (refused, unresolvable, unreachable, connect timeout); billing charges the rest.
   */
  constructor(readonly kind: UpstreamFailureKind, message: string, readonly sent = true) {
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

export class UpstreamClient {
  private readonly agent: Agent;
  private readonly targets = new Map<string, Target>();

  constructor(opts: { connections?: number } = {}) {
    this.agent = new Agent({ connections: opts.connections ?? 256, keepAliveTimeout: 30_000, pipelining: 1 });
  }

  async send(opts: {
    backend: CompiledBackend;
    /** Serialised by the caller, which answers a body that cannot be serialised itself (a 400). */
    body: ChatBody | string;
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
        body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
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
const NOT_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
