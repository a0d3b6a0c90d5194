/**
 * The one access/usage log line per chat request, built from its ChatEvent. It names the key by
 * its id (`namespace/name`), never its secret, and carries no prompt, answer or header.
 */
import { formatNanos } from '../billing/money.js';
import type { AttemptCharge, ChatEvent } from '../gateway/events.js';
import { errorTypeOf, outcomeOf, statusOf } from './outcome.js';

export interface AccessLogLine {
  readonly requestId: string;
  readonly key?: string | undefined;
  readonly model?: string | undefined;
  readonly servedModel?: string | undefined;
  readonly status: number;
  readonly outcome: string;
  readonly error?: string | undefined;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Decimal string in the served model's pricing currency. */
  readonly cost: string;
  readonly latencyMs: number;
  readonly attempts: number;
  readonly fallbacks: number;
  readonly stream: boolean;
  readonly cut?: boolean | undefined;
  /** Time spent waiting for a free upstream connection (ms), when the request reached an upstream. */
  readonly upstreamWaitMs?: number | undefined;
  /** A Shadow QuotaPolicy would have refused this request (e.g. `key:rpm`); it was served. */
  readonly shadowLimited?: string | undefined;
}

export function accessLogLine(e: ChatEvent): AccessLogLine {
  const r = e.result;
  const error = errorTypeOf(e);
  // What the request cost in all: the served attempt and any failed ones that were sent.
  let inputTokens = r?.usage?.inputTokens ?? 0;
  let outputTokens = r?.usage?.outputTokens ?? 0;
  let costNanos = r?.usage?.costNanos ?? 0;
  for (const c of e.charged ?? NONE) {
    inputTokens += c.inputTokens;
    outputTokens += c.outputTokens;
    costNanos += c.costNanos;
  }
  // One literal in a fixed order; pino leaves out the fields that are undefined (no spreads per line).
  return {
    requestId: e.requestId,
    key: e.keyId,
    // The asked-for model is echoed only as a bounded, printable token (it is client input).
    model: e.requestedModel === undefined ? undefined : safeModel(e.requestedModel),
    servedModel: r?.servedModel,
    status: statusOf(e),
    outcome: outcomeOf(e),
    error,
    inputTokens,
    outputTokens,
    cost: formatNanos(costNanos),
    latencyMs: Math.round(e.durationMs * 1000) / 1000,
    attempts: r?.attempts ?? 0,
    fallbacks: r?.fallbacks ?? 0,
    stream: e.stream,
    cut: r?.cut === true ? true : undefined,
    upstreamWaitMs: e.upstreamWaitMs === undefined ? undefined : Math.round(e.upstreamWaitMs * 1000) / 1000,
    shadowLimited: r?.shadowLimited,
  };
}

const NONE: readonly AttemptCharge[] = [];

/**
 * The line's fields as JSON members (`,"requestId":"…",…`), in the order of AccessLogLine, the
 * undefined ones left out: byte for byte what pino writes for the object (its test checks
 * this), without pino's per-field work, which was most of a line's cost (see gateway/logging.ts).
 * Every string here is ASCII (ids and models are checked tokens, the rest is ours).
 */
export function accessLogMembers(l: AccessLogLine): string {
  let s = `,"requestId":${JSON.stringify(l.requestId)}`;
  if (l.key !== undefined) s += `,"key":${JSON.stringify(l.key)}`;
  if (l.model !== undefined) s += `,"model":${JSON.stringify(l.model)}`;
  if (l.servedModel !== undefined) s += `,"servedModel":${JSON.stringify(l.servedModel)}`;
  s += `,"status":${num(l.status)},"outcome":${JSON.stringify(l.outcome)}`;
  if (l.error !== undefined) s += `,"error":${JSON.stringify(l.error)}`;
  s += `,"inputTokens":${num(l.inputTokens)},"outputTokens":${num(l.outputTokens)},"cost":${JSON.stringify(l.cost)}`;
  s += `,"latencyMs":${millis(l.latencyMs)},"attempts":${num(l.attempts)},"fallbacks":${num(l.fallbacks)},"stream":${l.stream}`;
  if (l.cut !== undefined) s += `,"cut":${l.cut}`;
  if (l.upstreamWaitMs !== undefined) s += `,"upstreamWaitMs":${millis(l.upstreamWaitMs)}`;
  if (l.shadowLimited !== undefined) s += `,"shadowLimited":${JSON.stringify(l.shadowLimited)}`;
  return s;
}

/** A number as pino writes it: non-finite ones as null. */
const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/**
 * A number with at most three decimals (accessLogLine rounds the times so), written as String()
 * writes it but from its integer thousandths: String() of a fraction runs the general
 * shortest-digits conversion, a visible share of the line's cost. Anything else: num().
 */
function millis(n: number): string {
  const thousandths = Math.round(n * 1000);
  if (!(thousandths >= 0 && thousandths < 1e15) || thousandths / 1000 !== n) return num(n);
  const whole = Math.floor(thousandths / 1000);
  let frac = thousandths % 1000;
  if (frac === 0) return String(whole);
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  return `${whole}.${String(frac).padStart(digits, '0')}`;
}

const MODEL_TOKEN = /^[A-Za-z0-9._:/@-]{1,128}$/;

function safeModel(model: string): string {
  return MODEL_TOKEN.test(model) ? model : '_invalid';
}
