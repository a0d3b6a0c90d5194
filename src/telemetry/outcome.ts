/**
 * What became of a chat request, in a few bounded words shared by the access log, the metrics
 * and the spans. Pure: a ChatEvent in, labels out.
 */
import type { ChatEvent } from '../gateway/events.js';

export type Outcome =
  /** The client got an answer (a stream cut by the upstream included: it was served and billed). */
  | 'served'
  /** 429 rate_limit_exceeded: an RPM or TPM limit. */
  | 'limited'
  /** 429 insufficient_quota: a token or cost budget is spent. */
  | 'quota_exceeded'
  /** The request was refused: bad key, bad request, model not allowed, or an upstream 4xx passed on. */
  | 'rejected'
  /** Every candidate model and backend failed (502/503/504). */
  | 'upstream_error'
  /** The client went away before the answer ended (what was produced is still billed). */
  | 'cancelled'
  /** The gateway itself failed (limiter unavailable, no config, internal error). */
  | 'error';

export const OUTCOMES: readonly Outcome[] = ['served', 'limited', 'quota_exceeded', 'rejected', 'upstream_error', 'cancelled', 'error'];

const UPSTREAM_CODES = new Set(['upstream_error', 'upstream_unavailable', 'upstream_timeout']);

export function outcomeOf(e: ChatEvent): Outcome {
  const r = e.result;
  if (r !== undefined) {
    if (r.status === 499 || r.clientGone === true) return 'cancelled';
    return r.status < 400 ? 'served' : 'rejected';
  }
  const err = e.error;
  if (err === undefined) return 'error';
  if (err.code === 'insufficient_quota') return 'quota_exceeded';
  if (err.code === 'rate_limit_exceeded') return 'limited';
  if (err.code !== null && UPSTREAM_CODES.has(err.code)) return 'upstream_error';
  return err.status < 500 ? 'rejected' : 'error';
}

/** The HTTP status the client saw (499: it went away first). */
export function statusOf(e: ChatEvent): number {
  return e.result?.status ?? e.error?.status ?? 500;
}

/** `error.type` per OpenTelemetry: the OpenAI error code, or the status; undefined when served. */
export function errorTypeOf(e: ChatEvent): string | undefined {
  if (e.error !== undefined) return e.error.code ?? String(e.error.status);
  if (e.result === undefined) return 'internal_error';
  if (e.result.status >= 400) return String(e.result.status);
  return e.result.cut === true ? 'upstream_stream_cut' : undefined;
}
