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
}

export function accessLogLine(e: ChatEvent): AccessLogLine {
  const r = e.result;
  const error = errorTypeOf(e);
  return {
    requestId: e.requestId,
    ...(e.keyId === undefined ? {} : { key: e.keyId }),
    // The asked-for model is echoed only as a bounded, printable token (it is client input).
    ...(e.requestedModel === undefined ? {} : { model: safeModel(e.requestedModel) }),
    ...(r?.servedModel === undefined ? {} : { servedModel: r.servedModel }),
    status: statusOf(e),
    outcome: outcomeOf(e),
    ...(error === undefined ? {} : { error }),
    inputTokens: r?.usage?.inputTokens ?? 0,
    outputTokens: r?.usage?.outputTokens ?? 0,
    cost: formatNanos(r?.usage?.costNanos ?? 0),
    latencyMs: Math.round(e.durationMs * 1000) / 1000,
    attempts: r?.attempts ?? 0,
    fallbacks: r?.fallbacks ?? 0,
    stream: e.stream,
    ...(r?.cut === true ? { cut: true } : {}),
  };
}

const MODEL_TOKEN = /^[A-Za-z0-9._:/@-]{1,128}$/;

function safeModel(model: string): string {
  return MODEL_TOKEN.test(model) ? model : '_invalid';
}
