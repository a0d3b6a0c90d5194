/**
 * Metric, attribute and span names. The GenAI ones follow the OpenTelemetry GenAI semantic
 * conventions (status: development); they are defined here rather than imported because the
 * GenAI constants of @opentelemetry/semantic-conventions are deprecated. docs/observability.md
 * is the table of all of them, with their attributes and cardinality.
 */

export const GEN_AI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  tokenType: 'gen_ai.token.type',
  usageInputTokens: 'gen_ai.usage.input_tokens',
  usageOutputTokens: 'gen_ai.usage.output_tokens',
  requestMaxTokens: 'gen_ai.request.max_tokens',
} as const;

export const OTHER = {
  errorType: 'error.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  httpRoute: 'http.route',
  urlPath: 'url.path',
} as const;

export const TOKENHUB = {
  keyId: 'tokenhub.key.id',
  requestId: 'tokenhub.request.id',
  outcome: 'tokenhub.outcome',
  attempts: 'tokenhub.attempts',
  fallbacks: 'tokenhub.fallbacks',
  cost: 'tokenhub.cost',
  currency: 'tokenhub.currency',
  model: 'tokenhub.model',
  backend: 'tokenhub.backend',
  attempt: 'tokenhub.attempt',
  attemptOutcome: 'tokenhub.attempt.outcome',
  driftDirection: 'tokenhub.reservation.direction',
  limiterOperation: 'tokenhub.limiter.operation',
  limiterStore: 'tokenhub.limiter.store',
  stream: 'tokenhub.stream',
  shadowLimit: 'tokenhub.shadow.limit',
} as const;

export const METRICS = {
  tokenUsage: 'gen_ai.client.token.usage',
  operationDuration: 'gen_ai.client.operation.duration',
  timeToFirstChunk: 'gen_ai.client.operation.time_to_first_chunk',
  timePerOutputChunk: 'gen_ai.client.operation.time_per_output_chunk',
  requests: 'tokenhub.requests',
  fallbacks: 'tokenhub.fallbacks',
  attempts: 'tokenhub.upstream.attempts',
  tokens: 'tokenhub.tokens',
  cost: 'tokenhub.cost',
  drift: 'tokenhub.reservation.drift',
  usageEstimated: 'tokenhub.usage.estimated',
  shadowLimited: 'tokenhub.shadow.limited',
  limiterDuration: 'tokenhub.limiter.operation.duration',
  configRevision: 'tokenhub.config.revision',
  configLastReload: 'tokenhub.config.last_reload',
  configReloads: 'tokenhub.config.reloads',
  upstreamWait: 'tokenhub.upstream.connection.wait',
  limiterDegraded: 'tokenhub.limiter.degraded',
} as const;

/** A model name that is not in the config (client input): never a label value of its own. */
export const OTHER_VALUE = '_OTHER';

/** Bucket boundaries the GenAI conventions advise. */
export const BUCKETS = {
  tokens: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
  duration: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
  perChunk: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5],
  connectionWait: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  limiter: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
} as const;
