/**
 * Serving one chat request: for each candidate model in order (requested, body fallbacks, route
 * chain), check that the request fits, reserve the key's limits, try the model's backends, and
 * reconcile the reservation with what was really used. This is where a request gets
 * rate-limited, falls back, and gets billed.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { CompiledBackend, CompiledKey, CompiledModel } from '../../compile/types.js';
import { costNanos } from '../../billing/money.js';
import { planChecks } from '../../limits/plan.js';
import type { AdmitRequest, LimitStore, RateState, Settlement, UsageRecord } from '../../limits/store.js';
import { secondsUntilReset } from '../../limits/periods.js';
import { ApiError, Errors } from '../errors.js';
import type { ChatRequest } from '../request/chat-request.js';
import type { UpstreamLimit } from '../request/chat-request.js';
import { fitModel } from '../request/fit.js';
import { BackendHealth, orderBackends } from '../routing/backend-health.js';
import type { UpstreamClient } from '../upstream/client.js';
import { type AttemptInput, runAttempt } from './attempt.js';
import { sendApiError } from '../reply-error.js';
import { rateLimitHeaders, retryAfterHeaders } from './rate-headers.js';
import { type Bill, billOf, inputOnly } from './billing.js';
import type { AttemptCharge, AttemptObserver, AttemptOutcome, ServeResult } from '../events.js';
import { SHADOW_HEADER, type ShadowOutcome, checkShadow, dropShadow, settleShadow } from './shadow.js';

export interface ProxyDeps {
  readonly store: LimitStore;
  readonly upstream: UpstreamClient;
  readonly health: BackendHealth;
  readonly clock: () => number;
  readonly random: () => number;
  readonly log: FastifyBaseLogger;
}

export interface ServeInput {
  readonly requestId: string;
  readonly chat: ChatRequest;
  readonly key: CompiledKey;
  readonly candidates: readonly CompiledModel[];
  readonly inputTokens: number;
  readonly reply: FastifyReply;
  readonly upstreamHeaders: Record<string, string>;
  /** Watches each upstream attempt (client spans, trace context); optional. */
  readonly observer?: AttemptObserver;
  /** Told of each failed attempt that was sent and charged (the served one is in the result). */
  readonly onCharge?: (c: AttemptCharge) => void;
  /** A stream whose client stopped reading this long is cut (0: never; see stream-relay.ts). */
  readonly streamIdleMs: number;
}

const NO_SHADOW: ShadowOutcome = {};

type Failure = { readonly error: ApiError; readonly class: 'fit' | 'limited' | 'upstream' };

/** A candidate model that fits the request, with the backends to try in one go. */
interface Step {
  readonly model: CompiledModel;
  /** Position among the candidates: 0 is the requested model. */
  readonly index: number;
  /** The output bound sent upstream: max_tokens, or max_completion_tokens covering a thinking model's reasoning. */
  readonly upstreamLimit: UpstreamLimit;
  /** The reservation's output part: n × upstreamLimit. */
  readonly maxOutput: number;
  readonly backends: readonly CompiledBackend[];
}

/**
 * Each upstream attempt reserves on its own and is settled on its own: one that was sent keeps
 * its request (RPM) and is charged (billing.ts); one that never left is refunded in full. The
 * requested model's route caps the attempts (backends and fallback models together) and each
 * failed model's route says which failures move on.
 */
export async function serveChat(input: ServeInput, deps: ProxyDeps): Promise<ServeResult> {
  const failures: Failure[] = [];
  const fitting: Omit<Step, 'backends'>[] = [];
  for (let index = 0; index < input.candidates.length; index++) {
    const model = input.candidates[index] as CompiledModel;
    const fit = fitModel(input.chat, model, input.inputTokens);
    if (fit.ok) fitting.push({ model, index, upstreamLimit: fit.upstreamLimit, maxOutput: fit.maxOutput });
    else failures.push({ error: fit.error, class: 'fit' });
  }
  const budget = input.candidates[0]?.failover.maxAttempts ?? 1;
  let attempts = 0;
  // The store settles each reservation id once; the client's x-request-id may repeat, this may not.
  const serveId = nextServeId();
  plan: for (const step of attemptPlan(fitting, deps)) {
    for (const backend of step.backends) {
      if (attempts >= budget) break plan;
      const reservation = await reserve(input, deps, { step, reservationId: `${serveId}#${attempts}` });
      if ('error' in reservation) {
        failures.push({ error: reservation.error, class: 'limited' });
        continue plan;
      }
      attempts++;
      const shadow = reservation.shadow;
      const outcome = await runAttempt(attemptInput(input, { step, backend, shadow, rates: reservation.rates, upstream: deps.upstream }));
      if (outcome.kind !== 'retryable') {
        // A body we could not serialise never reached the backend: its health is not in question.
        if (outcome.sent && deps.health.anyFailed) deps.health.succeeded(BackendHealth.keyOf(step.model, backend));
        return finish({ input, deps, step, outcome, admit: reservation.admit, shadow, attempts, fallbacks: step.index });
      }
      deps.health.failed(BackendHealth.keyOf(step.model, backend), deps.clock());
      failures.push({ error: outcome.error, class: 'upstream' });
      const bill = outcome.sent && outcome.failure !== 'overloaded' ? inputOnly(input.inputTokens, step.model) : undefined;
      await settle(deps, { input, step, admit: reservation.admit, shadow, sent: outcome.sent, ...(bill ? { bill } : {}) });
      if (bill !== undefined)
        input.onCharge?.({ model: step.model.id, inputTokens: bill.inputTokens, outputTokens: bill.outputTokens, costNanos: bill.costNanos });
      if (!step.model.failover.retryOn.has(outcome.failure)) break plan;
    }
  }
  throw finalError(failures, input.candidates.length);
}

/**
 * Ids unique across processes and restarts: a random id per process, then a count (a UUID per
 * request was a visible share of its cost; the Redis store remembers settled ids for a day).
 */
const PROCESS_ID = randomUUID();
let served = 0;
const nextServeId = (): string => `${PROCESS_ID}.${(served++).toString(36)}`;

/** One attempt's input, built field by field (a spread of the serve input cost more than the rest of this loop). */
function attemptInput(
  input: ServeInput,
  a: { step: Omit<Step, 'backends'>; backend: CompiledBackend; shadow: ShadowOutcome; rates: readonly RateState[]; upstream: UpstreamClient },
): AttemptInput {
  const headers = rateLimitHeaders(a.rates);
  headers['x-request-id'] = input.requestId;
  headers['x-tokenhub-model'] = a.step.model.id;
  if (a.shadow.limited !== undefined) headers[SHADOW_HEADER] = a.shadow.limited;
  return {
    chat: input.chat,
    model: a.step.model,
    backend: a.backend,
    upstreamLimit: a.step.upstreamLimit,
    reply: input.reply,
    headers,
    upstream: a.upstream,
    upstreamHeaders: input.upstreamHeaders,
    streamIdleMs: input.streamIdleMs,
    ...(input.observer === undefined ? {} : { observer: input.observer }),
  };
}

/**
 * Healthy backends of every candidate first, in candidate order; backends cooling down after a
 * failure only after all of them, so a primary that just failed costs its fallbacks no time.
 */
function attemptPlan(fitting: readonly Omit<Step, 'backends'>[], deps: ProxyDeps): Step[] {
  const now = deps.clock();
  const first: Step[] = [];
  let last: Step[] | undefined;
  for (const f of fitting) {
    const { healthy, cooling } = orderBackends({ model: f.model, health: deps.health, now, random: deps.random });
    if (healthy.length > 0) first.push(withBackends(f, healthy));
    if (cooling.length > 0) (last ??= []).push(withBackends(f, cooling));
  }
  if (last !== undefined) first.push(...last);
  return first;
}

/** Field by field: a spread of the step cost more than building it. */
function withBackends(f: Omit<Step, 'backends'>, backends: readonly CompiledBackend[]): Step {
  return { model: f.model, index: f.index, upstreamLimit: f.upstreamLimit, maxOutput: f.maxOutput, backends };
}

/** Plans and reserves the counters for one model; a key-wide denial ends the request at once. */
async function reserve(
  input: ServeInput,
  deps: ProxyDeps,
  opts: { step: Omit<Step, 'backends'>; reservationId: string },
): Promise<{ admit: AdmitRequest; rates: readonly RateState[]; shadow: ShadowOutcome } | { error: ApiError }> {
  const { model, maxOutput } = opts.step;
  const now = deps.clock();
  const estimateCost = costNanos(input.inputTokens, model.pricing.input) + costNanos(maxOutput, model.pricing.output);
  const estimate = { inputTokens: input.inputTokens, maxOutputTokens: maxOutput, costNanos: estimateCost };
  const plan = planChecks({ key: input.key, model, estimate, now });
  const admit: AdmitRequest = { requestId: opts.reservationId, keyId: input.key.id, rates: plan.rates, budgets: plan.budgets };
  // Beside the enforced admit, not after it: one round trip for both (shadow.ts). Most keys have
  // no Shadow QuotaPolicy: no call and no promise for them.
  const shadow = input.key.shadow === undefined ? undefined : checkShadow(deps, { key: input.key, model, estimate, reservationId: opts.reservationId, now });
  let result: Awaited<ReturnType<LimitStore['admit']>>;
  try {
    result = await deps.store.admit(admit, now);
  } catch (err) {
    if (shadow !== undefined) dropShadow(deps, { shadow, now });
    throw err;
  }
  if (result.allowed) return { admit, rates: result.rates, shadow: shadow === undefined ? NO_SHADOW : await shadow };
  if (shadow !== undefined) dropShadow(deps, { shadow, now });
  const d = result.denial;
  const headers = rateLimitHeaders(result.rates, d.kind === 'rate' ? d.check : undefined);
  if (d.kind === 'budget') {
    const reset = secondsUntilReset(d.check.period, new Date(now));
    const what = d.check.unit === 'cost' ? 'spend' : 'token';
    const err = Errors.insufficientQuota(
      `You exceeded this key's ${d.check.period === 'total' ? 'credit' : `${d.check.period}ly ${what} budget`}; it ${d.check.period === 'total' ? 'needs a recharge' : 'resets at the start of the next period (UTC)'}.`,
    ).withHeaders({ ...headers, 'x-should-retry': 'false', ...(reset === undefined ? {} : { 'retry-after': String(reset) }) });
    throw err;
  }
  const err = rateError(d.check, d.retryAfterMs, model.id).withHeaders({
    ...headers,
    ...(Number.isFinite(d.retryAfterMs) ? retryAfterHeaders(d.retryAfterMs) : { 'x-should-retry': 'false' }),
  });
  if (d.check.scope === 'key') throw err;
  return { error: err };
}

function rateError(check: { unit: string; scope: string; limit: number; cost: number }, retryAfterMs: number, model: string): ApiError {
  const per = check.scope === 'model' ? `model \`${model}\` (all keys)` : check.scope === 'key-model' ? `this key on \`${model}\`` : 'this key';
  const unit = check.unit === 'requests' ? 'requests per min (RPM)' : 'tokens per min (TPM)';
  const message = Number.isFinite(retryAfterMs)
    ? `Rate limit reached for ${per} on ${unit}: Limit ${check.limit}, Requested ${check.cost}. Please try again in ${Math.ceil(retryAfterMs / 1000)}s.`
    : `Request too large for ${per} on ${unit}: Limit ${check.limit}, Requested ${check.cost}. Lower max_tokens or the input.`;
  return check.unit === 'requests' ? Errors.rateLimited(message) : Errors.tokensLimited(message);
}

async function finish(opts: {
  input: ServeInput;
  deps: ProxyDeps;
  step: Omit<Step, 'backends'>;
  outcome: Exclude<AttemptOutcome, { kind: 'retryable' }>;
  admit: AdmitRequest;
  shadow: ShadowOutcome;
  attempts: number;
  fallbacks: number;
}): Promise<ServeResult> {
  const { input, deps, step, outcome, admit, shadow } = opts;
  const model = step.model;
  // The result is filled in by assignment, not spreads (this runs on every request).
  const result: Mutable<ServeResult> = { status: outcome.status, servedModel: model.id, attempts: opts.attempts, fallbacks: opts.fallbacks };
  if (shadow.limited !== undefined) result.shadowLimited = shadow.limited;
  if (outcome.kind === 'rejected') {
    // Refused outright (an upstream 4xx, or a body we could not send): no tokens; a sent one keeps its request.
    void settle(deps, { input, step, admit, shadow, sent: outcome.sent });
    await sendApiError(input.reply, outcome.error, input.requestId);
    return result;
  }
  if (!outcome.sent) {
    void settle(deps, { input, step, admit, shadow, sent: false });
    result.clientGone = true;
    return result;
  }
  const bill = billOf({
    usage: outcome.usage,
    producedChunks: outcome.producedChunks,
    outputEstimate: outcome.outputEstimate,
    assumeReservedOutput: outcome.answerLost,
    inputEstimate: input.inputTokens,
    reservedOutput: step.maxOutput,
    choices: input.chat.choices,
    model,
  });
  if (bill.clamped !== undefined) deps.log.warn({ model: model.id, fields: bill.clamped }, 'upstream usage out of range; clamped');
  void settle(deps, { input, step, admit, shadow, sent: true, bill });
  const usage: Mutable<NonNullable<ServeResult['usage']>> = { inputTokens: bill.inputTokens, outputTokens: bill.outputTokens, costNanos: bill.costNanos };
  if (bill.estimated) usage.estimated = true;
  result.usage = usage;
  const reservedTokens = reservedTokensOf(admit);
  if (reservedTokens !== undefined) result.reservedTokens = reservedTokens;
  result.cut = outcome.cut;
  result.clientGone = outcome.clientGone;
  if (outcome.firstChunkAt !== undefined) {
    result.firstChunkAt = outcome.firstChunkAt;
    result.chunkGapsMs = outcome.chunkGapsMs ?? [];
  }
  return result;
}

/** A result or record filled in field by field (a spread per optional field cost an object each). */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function reservedTokensOf(admit: AdmitRequest): number | undefined {
  for (const r of admit.rates) if (r.unit === 'tokens') return r.cost;
  return undefined;
}

/**
 * Settles one attempt's reservation. Not sent: everything refunded. Sent: the request counters
 * keep it, tokens and cost are what was billed (nothing for an outright refusal). Never rejects.
 * A request's last settlement is not awaited (nothing the client gets depends on it; the Redis
 * store batches it, and flushes what it holds on close); a failed attempt's is, so its refund
 * lands before the next attempt reserves.
 */
async function settle(
  deps: ProxyDeps,
  s: { input: ServeInput; step: Omit<Step, 'backends'>; admit: AdmitRequest; shadow: ShadowOutcome; sent: boolean; bill?: Bill },
): Promise<void> {
  const { input, bill } = s;
  const actual = bill === undefined ? { tokens: 0, costNanos: 0 } : { tokens: bill.inputTokens + bill.outputTokens, costNanos: bill.costNanos };
  // Built by assignment, not spreads: every request settles at least once.
  const settlement: Mutable<Settlement> = { reservation: s.admit, actual };
  if (!s.sent) settlement.failedAttempt = true;
  if (bill !== undefined) {
    const usage: Mutable<UsageRecord> = {
      requestId: input.requestId,
      keyId: input.key.id,
      model: s.step.model.id,
      inputTokens: bill.inputTokens,
      outputTokens: bill.outputTokens,
      costNanos: bill.costNanos,
      at: deps.clock(),
    };
    if (bill.estimated) usage.estimated = true;
    settlement.usage = usage;
  }
  const settled = deps.store.settle(settlement, deps.clock()).catch((err: unknown) => {
    // A resilient store journals what it cannot write; a failure here is logged, never thrown at the client.
    deps.log.error({ err: { message: (err as Error).message }, reservation: s.admit.requestId }, 'usage settlement failed');
  });
  if (s.shadow.admit === undefined) await settled;
  else await Promise.all([settled, settleShadow(deps, { shadow: s.shadow, actual, ...(s.sent ? {} : { failedAttempt: true }), now: deps.clock() })]);
}

/** After every candidate failed: upstream trouble beats limits, which beat a misfit. */
function finalError(failures: readonly Failure[], candidates: number): ApiError {
  const last = (cls: Failure['class']): ApiError | undefined => [...failures].reverse().find((f) => f.class === cls)?.error;
  const upstream = last('upstream');
  if (upstream !== undefined) return candidates > 1 ? withNote(upstream, 'after trying every fallback model') : upstream;
  const limited = failures.find((f) => f.class === 'limited')?.error;
  if (limited !== undefined) return limited;
  return failures[0]?.error ?? Errors.internal();
}

function withNote(e: ApiError, note: string): ApiError {
  return new ApiError(e.status, e.type, e.code, `${e.message} (${note})`, e.param, e.headers);
}
