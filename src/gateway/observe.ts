/**
 * Hooks through which telemetry watches the gateway (src/telemetry implements them). The gateway
 * only calls them; with none given they do nothing. Keeping them as plain interfaces keeps the
 * request path free of any OpenTelemetry import.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledBackend, CompiledModel } from '../compile/types.js';
import type { AttemptOutcome } from './proxy/attempt.js';
import type { ChatEvent } from './routes/chat-completions.js';

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
