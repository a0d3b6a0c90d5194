/**
 * The one access/usage log line per chat request, built from its ChatEvent. It names the key by
 * its id (`namespace/name`), never its secret, and carries no prompt, answer or header.
 */
import { formatNanos } from '../billing/money.js';
import type { ChatEvent } from '../gateway/events.js';
import { errorTypeOf, outcomeOf, statusOf } from './outcome.js';

export interface AccessLogLine {
  readonly requestId: string;
  readonly key?: string;
  readonly model?: string;
  readonly servedModel?: string;
  readonly status: number;
  readonly outcome: string;
  readonly error?: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Decimal string in the served model's pricing currency. */
  readonly cost: string;
  readonly latencyMs: number;
  readonly attempts: number;
  readonly fallbacks: number;
  readonly stream: boolean;
  readonly cut?: boolean;
  /** Time spent waiting for a free upstream connection (ms), when the request reached an upstream. */
  readonly upstreamWaitMs?: number;
  /** A Shadow QuotaPolicy would have refused this request (e.g. `key:rpm`); it was served. */
  readonly shadowLimited?: string;
}

export function accessLogLine(e: ChatEvent): AccessLogLine {
  const r = e.result;
  const error = errorTypeOf(e);
  // What the request cost in all: the served attempt and any failed ones that were sent.
  const sum = (f: 'inputTokens' | 'outputTokens' | 'costNanos'): number => (r?.usage?.[f] ?? 0) + (e.charged ?? []).reduce((a, c) => a + c[f], 0);
  return {
    requestId: e.requestId,
    ...(e.keyId === undefined ? {} : { key: e.keyId }),
    // The asked-for model is echoed only as a bounded, printable token (it is client input).
    ...(e.requestedModel === undefined ? {} : { model: safeModel(e.requestedModel) }),
    ...(r?.servedModel === undefined ? {} : { servedModel: r.servedModel }),
    status: statusOf(e),
    outcome: outcomeOf(e),
    ...(error === undefined ? {} : { error }),
    inputTokens: sum('inputTokens'),
    outputTokens: sum('outputTokens'),
    cost: formatNanos(sum('costNanos')),
    latencyMs: Math.round(e.durationMs * 1000) / 1000,
    attempts: r?.attempts ?? 0,
    fallbacks: r?.fallbacks ?? 0,
    stream: e.stream,
    ...(r?.cut === true ? { cut: true } : {}),
    ...(e.upstreamWaitMs === undefined ? {} : { upstreamWaitMs: Math.round(e.upstreamWaitMs * 1000) / 1000 }),
    ...(r?.shadowLimited === undefined ? {} : { shadowLimited: r.shadowLimited }),
  };
}

const MODEL_TOKEN = /^[A-Za-z0-9._:/@-]{1,128}$/;

function safeModel(model: string): string {
  return MODEL_TOKEN.test(model) ? model : '_invalid';
}
