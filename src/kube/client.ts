/**
 * A small Kubernetes REST client: requests, status patches and watches over undici, with the
 * credentials of a kubeconfig or the in-cluster service account as @kubernetes/client-node
 * loads them (tokens, client certs, exec plugins, impersonation). We talk REST ourselves because
 * watches need control the generated client does not give: server timeouts, bookmarks, an
 * inactivity deadline and a clean abort (see FIELD-NOTES on client-node watch pitfalls).
 */
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'undici';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
    deletionTimestamp?: string;
  };
  [field: string]: unknown;
}

export interface KubeList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** An API answer that was not 2xx: status, the API's reason (NotFound, Conflict, Gone…) and message. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOpts {
  readonly body?: unknown;
  readonly contentType?: string;
  /** Accept header (default application/json; the JWKS endpoint serves only application/jwk-set+json). */
  readonly accept?: string;
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export class KubeClient {
  private constructor(
    private readonly kc: KubeConfig,
    private readonly server: string,
    private readonly agent: Agent,
  ) {}

  /** From KUBECONFIG (or ~/.kube/config), else the in-cluster service account. */
  static async load(kubeconfigPath?: string): Promise<KubeClient> {
    const kc = new KubeConfig();
    if (kubeconfigPath !== undefined) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error('no current cluster in the kubeconfig');
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const agent = new Agent({
      connect: {
        ...(opts.ca === undefined ? {} : { ca: opts.ca as string }),
        ...(opts.cert === undefined ? {} : { cert: opts.cert as string }),
        ...(opts.key === undefined ? {} : { key: opts.key as string }),
        rejectUnauthorized: opts.rejectUnauthorized !== false,
      },
      keepAliveTimeout: 30_000,
    });
    return new KubeClient(kc, cluster.server.replace(/\/+$/, ''), agent);
  }

  async request<T>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.body.text();
    if (res.statusCode >= 300) throw apiError(res.statusCode, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * One watch call: resolves when the server closes the stream (its timeoutSeconds), rejects on
   * errors, a 410 (as KubeApiError status 410) or `inactivityMs` without a byte.
   */
  async watch(
    path: string,
    opts: { query: RequestOpts['query']; signal: AbortSignal; inactivityMs: number; onEvent: (type: WatchEventType, obj: KubeObject) => void },
  ): Promise<void> {
    const local = new AbortController();
    const abortAll = (): void => local.abort();
    opts.signal.addEventListener('abort', abortAll, { once: true });
    let timer = setTimeout(abortAll, opts.inactivityMs);
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(abortAll, opts.inactivityMs);
    };
    try {
      const res = await this.send('GET', path, { query: { ...opts.query, watch: true }, signal: local.signal });
      if (res.statusCode >= 300) throw apiError(res.statusCode, await res.body.text());
      let buffer = '';
      // One decoder for the whole stream: a multi-byte character can straddle two chunks.
      const decoder = new TextDecoder('utf-8');
      for await (const chunk of res.body) {
        touch();
        buffer += decoder.decode(chunk as Buffer, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line !== '') dispatch(line, opts.onEvent);
        }
      }
    } finally {
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', abortAll);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async send(method: string, path: string, opts: RequestOpts) {
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json' };
    const https: RequestOptions = { headers: {} };
    // Per request: exec plugins and token files refresh their credentials here.
    await this.kc.applyToHTTPSOptions(https);
    for (const [k, v] of Object.entries(https.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return this.agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: method,
      headers,
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      headersTimeout: opts.timeoutMs ?? 15_000,
      bodyTimeout: opts.query?.['watch'] === true ? 0 : (opts.timeoutMs ?? 15_000),
    });
  }
}

function dispatch(line: string, onEvent: (type: WatchEventType, obj: KubeObject) => void): void {
  const event = JSON.parse(line) as { type: WatchEventType; object: KubeObject & { code?: number; reason?: string; message?: string } };
  if (event.type === 'ERROR') {
    const o = event.object;
    throw new KubeApiError(o.code ?? 500, o.reason ?? 'Error', o.message ?? 'watch error');
  }
  onEvent(event.type, event.object);
}

function apiError(status: number, text: string): KubeApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(status, s.reason ?? String(status), s.message ?? text);
  } catch {
    return new KubeApiError(status, String(status), text.slice(0, 300));
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.status === 409;
