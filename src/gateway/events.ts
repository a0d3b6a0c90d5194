/**
 * What the gateway tells its observers, as plain types: a chat request's event, a served result,
 * one attempt's outcome, and the hooks telemetry implements (src/telemetry). A leaf: it imports
 * only types of leaves, so routes, proxy and telemetry all depend on it and never on each other.
 * With no observer given the hooks do nothing; the request path has no OpenTelemetry import.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledBackend, CompiledModel } from '../compile/types.js';
import type { ApiError } from './errors.js';
import type { Usage } from './proxy/sse.js';
import type { FailureKind } from '../schema/model-route.js';

/** What a chat request came to: its key, model, result or error, and timings. */
export interface ChatEvent {
  readonly requestId: string;
  readonly keyId?: string;
  readonly requestedModel?: string;
  readonly stream: boolean;
  readonly result?: ServeResult;
  readonly error?: ApiError;
  /** Failed attempts that were sent upstream and charged (besides `result.usage`). */
  readonly charged?: readonly AttemptCharge[];
  readonly durationMs: number;
  /** performance.now() when the request arrived (stream timings in `result` are on the same clock). */
  readonly startedAt: number;
  /** Milliseconds spent waiting for a free upstream connection, all attempts together (none: no attempt). */
  readonly upstreamWaitMs?: number;
}

/** What a failed but sent attempt was charged, for the access log and metrics. */
export interface AttemptCharge {
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costNanos: number;
}

/** What happened, for the access log, metrics and traces. */
export interface ServeResult {
  readonly status: number;
  readonly servedModel?: string;
  readonly attempts: number;
  readonly fallbacks: number;
  /** What was billed; `estimated` when the upstream sent no usage. */
  readonly usage?: { inputTokens: number; outputTokens: number; costNanos: number; estimated?: boolean };
  readonly reservedTokens?: number;
  readonly cut?: boolean;
  readonly clientGone?: boolean;
  /** Streams: performance.now() of the first produced chunk, and the gaps between chunks (ms). */
  readonly firstChunkAt?: number;
  readonly chunkGapsMs?: readonly number[];
  /** What a Shadow QuotaPolicy would have refused (e.g. `key:rpm`); enforced nothing. */
  readonly shadowLimited?: string;
}

export type AttemptOutcome =
  /** The client got its answer (or a started stream), or left after the request was sent (499). */
  | {
      readonly kind: 'served';
      readonly sent: boolean;
      readonly usage?: Usage;
      readonly producedChunks: number;
      readonly status: number;
      readonly cut: boolean;
      readonly clientGone: boolean;
      /** Output tokens estimated from the text of a non-stream answer (for one without usage). */
      readonly outputEstimate?: number;
      /** The client left a non-stream call and its answer could not be read: bill the reserved output. */
      readonly answerLost?: boolean;
      /** Streams: performance.now() of the first produced chunk, and the gaps between chunks (ms). */
      readonly firstChunkAt?: number;
      readonly chunkGapsMs?: readonly number[];
    }
  /** Nothing reached the client; the route's failover decides whether the next backend or model is tried. */
  | { readonly kind: 'retryable'; readonly error: ApiError; readonly failure: FailureKind; readonly sent: boolean }
  /** The request itself was refused (an upstream 4xx other than 429, or a body we cannot send): pass it on. */
  | { readonly kind: 'rejected'; readonly status: number; readonly error: ApiError; readonly sent: boolean };

/** One upstream attempt being watched. */
export interface AttemptWatch {
  /** Headers to add to this attempt's upstream request (W3C `traceparent`, `tracestate`). */
  readonly headers: Readonly<Record<string, string>>;
  /** The attempt's outcome; undefined when it threw. */
  end(outcome: AttemptOutcome | undefined): void;
}

export interface AttemptObserver {
  start(attempt: { readonly model: CompiledModel; readonly backend: CompiledBackend; readonly stream: boolean }): AttemptWatch;
}

/** One chat request being watched, from its arrival to its ChatEvent. */
export interface ChatWatch {
  readonly attempts: AttemptObserver;
  end(event: ChatEvent): void;
}

export interface GatewayObserver {
  watchChat(req: { readonly requestId: string; readonly method: string; readonly url: string; readonly headers: IncomingHttpHeaders }): ChatWatch;
}
