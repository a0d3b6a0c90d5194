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

/** What a chat request came to: its key, model, result or error, and timings. */
export interface ChatEvent {
  readonly requestId: string;
  readonly keyId?: string;
  readonly requestedModel?: string;
  readonly stream: boolean;
  readonly result?: ServeResult;
  readonly error?: ApiError;
  readonly durationMs: number;
  /** performance.now() when the request arrived (stream timings in `result` are on the same clock). */
  readonly startedAt: number;
}

export interface ServeResult {
  readonly status: number;
  readonly servedModel?: string;
  readonly attempts: number;
  readonly fallbacks: number;
  readonly usage?: { inputTokens: number; outputTokens: number; costNanos: number };
  readonly reservedTokens?: number;
  readonly cut?: boolean;
  readonly clientGone?: boolean;
  /** Streams: performance.now() of the first produced chunk, and the gaps between chunks (ms). */
  readonly firstChunkAt?: number;
  readonly chunkGapsMs?: readonly number[];
}

export type AttemptOutcome =
  /** The client got its answer (or a started stream). */
  | {
      readonly kind: 'served'; readonly usage?: Usage; readonly producedChunks: number; readonly status: number; readonly cut: boolean; readonly clientGone: boolean;
      /** Streams: performance.now() of the first produced chunk, and the gaps between chunks (ms). */
      readonly firstChunkAt?: number; readonly chunkGapsMs?: readonly number[];
    }
  /** Nothing reached the client and another backend or model may do better. */
  | { readonly kind: 'retryable'; readonly error: ApiError }
  /** The upstream rejected the request itself (a 4xx other than 429): pass it on, no fallback. */
  | { readonly kind: 'rejected'; readonly status: number; readonly error: ApiError };

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

const NO_ATTEMPT: AttemptWatch = { headers: {}, end: () => {} };
export const NOOP_CHAT_WATCH: ChatWatch = { attempts: { start: () => NO_ATTEMPT }, end: () => {} };
export const NOOP_OBSERVER: GatewayObserver = { watchChat: () => NOOP_CHAT_WATCH };
