/**
 * The gateway's metrics, recorded from each finished request's ChatEvent (and each upstream
 * attempt's outcome). Label values are bounded: model names only when the config knows them,
 * keys by id (`namespace/name`), outcomes and error codes from fixed lists.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { CompiledBackend, CompiledModel, GatewayConfig } from '../compile/types.js';
import type { AttemptOutcome, ChatEvent } from '../gateway/events.js';
import { BUCKETS, GEN_AI, METRICS, OTHER, OTHER_VALUE, TOKENHUB } from './names.js';
import { errorTypeOf, outcomeOf } from './outcome.js';

export class GatewayMetrics {
  private readonly tokenUsage: Histogram;
  private readonly duration: Histogram;
  private readonly firstChunk: Histogram;
  private readonly perChunk: Histogram;
  private readonly requests: Counter;
  private readonly fallbacks: Counter;
  private readonly attempts: Counter;
  private readonly tokens: Counter;
  private readonly cost: Counter;
  private readonly drift: Histogram;
  private readonly estimated: Counter;
  private readonly upstreamWait: Histogram;
  private readonly shadowLimited: Counter;

  constructor(meter: Meter) {
    const hist = (name: string, unit: string, description: string, buckets: readonly number[]): Histogram =>
      meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: [...buckets] } });
    this.tokenUsage = hist(METRICS.tokenUsage, '{token}', 'Number of input and output tokens used.', BUCKETS.tokens);
    this.duration = hist(METRICS.operationDuration, 's', 'GenAI operation duration.', BUCKETS.duration);
    this.firstChunk = hist(METRICS.timeToFirstChunk, 's', 'Time to the first output chunk of a stream.', BUCKETS.duration);
    this.perChunk = hist(METRICS.timePerOutputChunk, 's', 'Time per output chunk after the first one.', BUCKETS.perChunk);
    this.requests = meter.createCounter(METRICS.requests, { unit: '{request}', description: 'Chat requests by outcome.' });
    this.fallbacks = meter.createCounter(METRICS.fallbacks, { unit: '{fallback}', description: 'Fallback models that answered instead of the requested one.' });
    this.attempts = meter.createCounter(METRICS.attempts, { unit: '{attempt}', description: 'Upstream attempts by model, backend and outcome.' });
    this.tokens = meter.createCounter(METRICS.tokens, { unit: '{token}', description: 'Billed tokens by key and served model.' });
    this.cost = meter.createCounter(METRICS.cost, { unit: '{currency}', description: 'Billed cost by key and served model, in the pricing currency.' });
    this.estimated = meter.createCounter(METRICS.usageEstimated, {
      unit: '{request}',
      description: 'Billed attempts whose upstream sent no usage (billed from the gateway estimate).',
    });
    this.upstreamWait = hist(METRICS.upstreamWait, 's', 'Time a request waited for a free upstream connection (all attempts).', BUCKETS.connectionWait);
    this.shadowLimited = meter.createCounter(METRICS.shadowLimited, {
      unit: '{request}',
      description: 'Requests a Shadow QuotaPolicy would have refused (served all the same).',
    });
    this.drift = hist(METRICS.drift, '{token}', 'Reserved minus billed tokens per request (absolute; direction in an attribute).', BUCKETS.tokens);
  }

  /** Everything about one finished chat request. Never throws into the request path. */
  record(e: ChatEvent, config: GatewayConfig | undefined): void {
    const served = e.result?.servedModel === undefined ? undefined : config?.models.get(e.result.servedModel);
    const requested = e.requestedModel === undefined ? undefined : config?.models.get(e.requestedModel);
    const key = e.keyId === undefined ? {} : { [TOKENHUB.keyId]: e.keyId };
    const requestModel = e.requestedModel === undefined ? {} : { [GEN_AI.requestModel]: requested === undefined ? OTHER_VALUE : e.requestedModel };
    const responseModel = served === undefined ? {} : { [GEN_AI.responseModel]: served.id };
    const errorType = errorTypeOf(e);
    const error = errorType === undefined ? {} : { [OTHER.errorType]: errorType };
    this.requests.add(1, { [TOKENHUB.outcome]: outcomeOf(e), ...key, ...requestModel, ...responseModel, ...error });
    this.recordCharged(e, config, key);
    if (e.upstreamWaitMs !== undefined) this.upstreamWait.record(e.upstreamWaitMs / 1000, { ...requestModel, ...error });
    if (e.result?.shadowLimited !== undefined) this.shadowLimited.add(1, { ...key, [TOKENHUB.shadowLimit]: e.result.shadowLimited });
    const provider = served ?? requested;
    // GenAI metrics describe operations on a model: a request that never named a known one has none.
    if (provider === undefined || e.keyId === undefined) return;
    const genAi: Attributes = { [GEN_AI.operationName]: 'chat', [GEN_AI.providerName]: provider.provider, ...requestModel, ...responseModel };
    this.duration.record(e.durationMs / 1000, { ...genAi, ...error });
    this.recordStream(e, genAi);
    if (served === undefined || e.result === undefined) return;
    this.recordUsage(e, served, genAi, key);
    if (e.result.fallbacks > 0) this.fallbacks.add(1, { ...requestModel, ...responseModel });
  }

  private recordStream(e: ChatEvent, genAi: Attributes): void {
    const r = e.result;
    if (!e.stream || r?.firstChunkAt === undefined) return;
    this.firstChunk.record((r.firstChunkAt - e.startedAt) / 1000, genAi);
    for (const gap of r.chunkGapsMs ?? []) this.perChunk.record(gap / 1000, genAi);
  }

  private recordUsage(e: ChatEvent, served: CompiledModel, genAi: Attributes, key: Attributes): void {
    const usage = e.result?.usage;
    if (usage === undefined) return;
    this.tokenUsage.record(usage.inputTokens, { ...genAi, [GEN_AI.tokenType]: 'input' });
    this.tokenUsage.record(usage.outputTokens, { ...genAi, [GEN_AI.tokenType]: 'output' });
    const byKey = { ...key, [GEN_AI.responseModel]: served.id };
    this.tokens.add(usage.inputTokens, { ...byKey, [GEN_AI.tokenType]: 'input' });
    this.tokens.add(usage.outputTokens, { ...byKey, [GEN_AI.tokenType]: 'output' });
    this.cost.add(usage.costNanos / 1e9, { ...byKey, [TOKENHUB.currency]: served.pricing.currency });
    if (usage.estimated === true) this.estimated.add(1, byKey);
    const reserved = e.result?.reservedTokens;
    if (reserved === undefined) return;
    const drift = reserved - usage.inputTokens - usage.outputTokens;
    this.drift.record(Math.abs(drift), { [GEN_AI.responseModel]: served.id, [TOKENHUB.driftDirection]: drift >= 0 ? 'over' : 'under' });
  }

  /** Failed attempts that were sent are billed too: the same counters as the served one. */
  private recordCharged(e: ChatEvent, config: GatewayConfig | undefined, key: Attributes): void {
    for (const c of e.charged ?? []) {
      const model = config?.models.get(c.model);
      if (model === undefined || e.keyId === undefined) continue;
      const byKey = { ...key, [GEN_AI.responseModel]: model.id };
      this.tokens.add(c.inputTokens, { ...byKey, [GEN_AI.tokenType]: 'input' });
      this.tokens.add(c.outputTokens, { ...byKey, [GEN_AI.tokenType]: 'output' });
      this.cost.add(c.costNanos / 1e9, { ...byKey, [TOKENHUB.currency]: model.pricing.currency });
    }
  }

  /** One upstream attempt (a retry on another backend or a fallback model is another one). */
  attempt(model: CompiledModel, backend: CompiledBackend, outcome: AttemptOutcome | undefined): void {
    this.attempts.add(1, {
      [GEN_AI.providerName]: model.provider,
      [TOKENHUB.model]: model.id,
      [TOKENHUB.backend]: backend.name,
      [TOKENHUB.attemptOutcome]: attemptOutcomeOf(outcome),
    });
  }
}

/** served | retryable (the gateway moved on) | rejected (an upstream 4xx passed on) | cancelled | error. */
export function attemptOutcomeOf(outcome: AttemptOutcome | undefined): string {
  if (outcome === undefined) return 'error';
  if (outcome.kind === 'served') return outcome.status === 499 ? 'cancelled' : 'served';
  return outcome.kind;
}
