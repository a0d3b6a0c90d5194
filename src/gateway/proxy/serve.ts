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
import type { AdmitRequest, LimitStore, RateState } from '../../limits/store.js';
import { secondsUntilReset } from '../../limits/periods.js';
import { ApiError, Errors } from '../errors.js';
import type { ChatRequest } from '../request/chat-request.js';
import { fitModel } from '../request/fit.js';
import { BackendHealth, orderBackends } from '../routing/backend-health.js';
import type { UpstreamClient } from '../upstream/client.js';
import { runAttempt } from './attempt.js';
import { sendApiError } from '../reply-error.js';
import { rateLimitHeaders, retryAfterHeaders } from './rate-headers.js';
import type { Usage } from './sse.js';
import type { AttemptObserver, AttemptOutcome, ServeResult } from '../events.js';

export type { ServeResult } from '../events.js';

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
}

/** What happened, for the access log, metrics and traces. */

type Failure = { readonly error: ApiError; readonly class: 'fit' | 'limited' | 'upstream' };

/** A candidate model that fits the request, with the backends to try in one go. */
interface Step {
  readonly model: CompiledModel;
  /** Position among the candidates: 0 is the requested model. */
  readonly index: number;
  readonly maxTokens: number;
  readonly backends: readonly CompiledBackend[];
}

export async function serveChat(input: ServeInput, deps: ProxyDeps): Promise<ServeResult> {
  const failures: Failure[] = [];
  const fitting: Omit<Step, 'backends'>[] = [];
  for (const [index, model] of input.candidates.entries()) {
    const fit = fitModel(input.chat, model, input.inputTokens);
    if (fit.ok) fitting.push({ model, index, maxTokens: fit.maxTokens });
    else failures.push({ error: fit.error, class: 'fit' });
  }
  let attempts = 0;
  // The store settles each reservation id once; the client's x-request-id may repeat, this may not.
  const serveId = randomUUID();
  for (const [attempt, { model, index, maxTokens, backends }] of attemptPlan(fitting, deps).entries()) {
    const reservation = await reserve(input, deps, { model, maxTokens, reservationId: `${serveId}#${attempt}` });
    if ('error' in reservation) {
      failures.push({ error: reservation.error, class: 'limited' });
      continue;
    }
    const headers = { ...rateLimitHeaders(reservation.rates), 'x-request-id': input.requestId, 'x-tokenhub-model': model.id };
    for (const backend of backends) {
      attempts++;
      const outcome = await runAttempt({ ...input, model, backend, maxTokens, headers, upstream: deps.upstream });
      const healthKey = BackendHealth.keyOf(model, backend);
      if (outcome.kind === 'retryable') {
        deps.health.failed(healthKey, deps.clock());
        failures.push({ error: outcome.error, class: 'upstream' });
        continue;
      }
      deps.health.succeeded(healthKey);
      return finish({ input, deps, model, outcome, admit: reservation.admit, attempts, fallbacks: index });
    }
    await settleQuietly(deps, { reservation: reservation.admit, actual: { tokens: 0, costNanos: 0 }, failedAttempt: true });
  }
  throw finalError(failures, input.candidates.length);
}

/**
 * Healthy backends of every candidate first, in candidate order; backends cooling down after a
 * failure only after all of them, so a primary that just failed costs its fallbacks no time.
 */
function attemptPlan(fitting: readonly Omit<Step, 'backends'>[], deps: ProxyDeps): Step[] {
  const now = deps.clock();
  const first: Step[] = [];
  const last: Step[] = [];
  for (const f of fitting) {
    const { healthy, cooling } = orderBackends({ model: f.model, health: deps.health, now, random: deps.random });
    if (healthy.length > 0) first.push({ ...f, backends: healthy });
    if (cooling.length > 0) last.push({ ...f, backends: cooling });
  }
  return [...first, ...last];
}

/** Plans and reserves the counters for one model; a key-wide denial ends the request at once. */
async function reserve(
  input: ServeInput,
  deps: ProxyDeps,
  opts: { model: CompiledModel; maxTokens: number; reservationId: string },
): Promise<{ admit: AdmitRequest; rates: readonly RateState[] } | { error: ApiError }> {
  const { model, maxTokens } = opts;
  const now = deps.clock();
  const estimateCost = costNanos(input.inputTokens, model.pricing.input) + costNanos(maxTokens, model.pricing.output);
  const plan = planChecks({ key: input.key, model, estimate: { inputTokens: input.inputTokens, maxOutputTokens: maxTokens, costNanos: estimateCost }, now: new Date(now) });
  const admit: AdmitRequest = { requestId: opts.reservationId, keyId: input.key.id, ...plan };
  const result = await deps.store.admit(admit, now);
  if (result.allowed) return { admit, rates: result.rates };
  const d = result.denial;
  const headers = rateLimitHeaders(result.rates, d.kind === 'rate' ? d.check : undefined);
  if (d.kind === 'budget') {
    const reset = secondsUntilReset(d.check.period, new Date(now));
    const what = d.check.unit === 'cost' ? 'spend' : 'token';
    const err = Errors.insufficientQuota(`You exceeded this key's ${d.check.period === 'total' ? 'credit' : `${d.check.period}ly ${what} budget`}; it ${d.check.period === 'total' ? 'needs a recharge' : 'resets at the start of the next period (UTC)'}.`)
      .withHeaders({ ...headers, 'x-should-retry': 'false', ...(reset === undefined ? {} : { 'retry-after': String(reset) }) });
    throw err;
  }
  const err = rateError(d.check, d.retryAfterMs, model.id).withHeaders({ ...headers, ...(Number.isFinite(d.retryAfterMs) ? retryAfterHeaders(d.retryAfterMs) : { 'x-should-retry': 'false' }) });
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
  model: CompiledModel;
  outcome: Exclude<AttemptOutcome, { kind: 'retryable' }>;
  admit: AdmitRequest;
  attempts: number;
  fallbacks: number;
}): Promise<ServeResult> {
  const { input, deps, model, outcome, admit } = opts;
  if (outcome.kind === 'rejected') {
    await settleQuietly(deps, { reservation: admit, actual: { tokens: 0, costNanos: 0 } });
    await sendApiError(input.reply, outcome.error, input.requestId);
    return { status: outcome.status, servedModel: model.id, attempts: opts.attempts, fallbacks: opts.fallbacks };
  }
  const usage = billedUsage(outcome.usage, outcome.producedChunks, input.inputTokens, model);
  const tokens = usage.inputTokens + usage.outputTokens;
  await settleQuietly(deps, {
    reservation: admit,
    actual: { tokens, costNanos: usage.costNanos },
    usage: { requestId: input.requestId, keyId: input.key.id, model: model.id, ...usage, at: deps.clock() },
  });
  const reservedTokens = admit.rates.find((r) => r.unit === 'tokens')?.cost;
  return {
    status: outcome.status, servedModel: model.id, attempts: opts.attempts, fallbacks: opts.fallbacks, usage,
    ...(reservedTokens === undefined ? {} : { reservedTokens }), cut: outcome.cut, clientGone: outcome.clientGone,
    ...(outcome.firstChunkAt === undefined ? {} : { firstChunkAt: outcome.firstChunkAt, chunkGapsMs: outcome.chunkGapsMs ?? [] }),
  };
}

/**
 * The usage to bill: the upstream's own numbers when it sent them; for a stream cut or abandoned
 * before its usage chunk, the prompt estimate and one token per produced chunk.
 */
export function billedUsage(usage: Usage | undefined, producedChunks: number, inputEstimate: number, model: CompiledModel) {
  const inputTokens = usage?.promptTokens ?? (producedChunks > 0 ? inputEstimate : 0);
  const outputTokens = usage?.completionTokens ?? producedChunks;
  const cached = usage?.cachedTokens ?? 0;
  const cost =
    costNanos(inputTokens - cached, model.pricing.input) + costNanos(cached, model.pricing.cachedInput) + costNanos(outputTokens, model.pricing.output);
  return { inputTokens, outputTokens, costNanos: cost };
}

async function settleQuietly(deps: ProxyDeps, s: Parameters<LimitStore['settle']>[0]): Promise<void> {
  try {
    await deps.store.settle(s, deps.clock());
  } catch (err) {
    // A resilient store journals what it cannot write; a failure here is logged, never thrown at the client.
    deps.log.error({ err: { message: (err as Error).message }, reservation: s.reservation.requestId }, 'usage settlement failed');
  }
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
