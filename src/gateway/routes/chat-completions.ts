/** POST /chat/completions: authorise, parse, pick candidate models, serve (proxy/serve.ts). */
import type { FastifyInstance } from 'fastify';
import { type ApiError, Errors, knownApiError } from '../errors.js';
import { sendApiError } from '../reply-error.js';
import { parseChatRequest } from '../request/chat-request.js';
import { estimateInputTokens } from '../request/estimate.js';
import { candidatesFor } from '../routing/candidates.js';
import { type ProxyDeps, type ServeInput, serveChat } from '../proxy/serve.js';
import type { RouteContext } from './context.js';
import type { AttemptCharge, ChatEvent, ChatWatch, GatewayObserver, ServeResult } from '../events.js';
import type { CompiledKey } from '../../compile/types.js';
import type { InFlightCounter } from '../../limits/in-flight.js';
import { retryAfterHeaders } from '../proxy/rate-headers.js';

export type { ChatEvent } from '../events.js';

export interface ChatRouteDeps extends ProxyDeps {
  readonly onChat: (e: ChatEvent) => void;
  readonly observer?: GatewayObserver;
  /** Requests in flight per key (QuotaPolicy concurrency.maxInFlight); none: not limited. */
  readonly inFlight?: InFlightCounter;
  /** A stream whose client stopped reading this long is cut (0: never). */
  readonly streamIdleMs?: number;
}

export function registerChatRoute(app: FastifyInstance, ctx: RouteContext, deps: ChatRouteDeps): void {
  app.post('/chat/completions', async (req, reply) => {
    const started = performance.now();
    const requestId = req.id;
    // Telemetry off (no exporter): no watch at all, not even a no-op one.
    const watch = deps.observer?.watchChat({ requestId, method: req.method, url: req.url, headers: req.headers });
    const tally = new ChatTally(requestId, started);
    const upstream = deps.upstream.withWaitListener(tally.addWait);
    let release: (() => void) | undefined;
    try {
      const { config, key } = ctx.authorize(req);
      tally.keyId = key.id;
      release = takeInFlightSlot(deps.inFlight, key);
      const chat = parseChatRequest(req.body, req.tokenhubRawBody ?? undefined);
      tally.requestedModel = chat.model;
      tally.stream = chat.stream;
      const { models } = candidatesFor({ config, key, model: chat.model, fallbackModels: chat.fallbackModels });
      // A stream writes to the socket itself; errors before its first byte are written the same way.
      if (chat.stream) reply.hijack();
      const input: ServeInput = {
        requestId,
        chat,
        key,
        candidates: models,
        inputTokens: estimateInputTokens(chat),
        reply,
        upstreamHeaders: { 'x-request-id': requestId },
        ...(watch ? { observer: watch.attempts } : {}),
        onCharge: tally.addCharge,
        streamIdleMs: deps.streamIdleMs ?? 0,
      };
      const proxyDeps: ProxyDeps = { store: deps.store, upstream, health: deps.health, clock: deps.clock, random: deps.random, log: req.log };
      const result = await serveChat(input, proxyDeps);
      report(deps, watch, tally.event({ result }));
      return reply;
    } catch (err) {
      const apiError = knownApiError(err);
      report(deps, watch, tally.event(apiError ? { error: apiError } : {}));
      if (!reply.sent) throw err;
      if (apiError === undefined) req.log.error({ err: { message: (err as Error).message } }, 'stream failed');
      await sendApiError(reply, apiError ?? Errors.internal(), requestId);
      return reply;
    } finally {
      // Every way out (answer, error, stream end, client gone, stalled reader cut) gives the slot back.
      release?.();
    }
  });
}

function report(deps: ChatRouteDeps, watch: ChatWatch | undefined, e: ChatEvent): void {
  watch?.end(e);
  deps.onChat(e);
}

/** What one chat request has come to so far, for its ChatEvent (one object per request, not a closure per field). */
class ChatTally {
  keyId: string | undefined;
  requestedModel: string | undefined;
  stream = false;
  charged: AttemptCharge[] | undefined;
  upstreamWaitMs: number | undefined;

  constructor(
    private readonly requestId: string,
    private readonly started: number,
  ) {}

  readonly addWait = (ms: number): void => {
    this.upstreamWaitMs = (this.upstreamWaitMs ?? 0) + ms;
  };

  readonly addCharge = (c: AttemptCharge): void => {
    (this.charged ??= []).push(c);
  };

  event(end: { result?: ServeResult; error?: ApiError }): ChatEvent {
    const now = performance.now();
    // Filled in by assignment (the same fields as before): a spread per optional field cost an
    // object each on every request.
    const e: { -readonly [K in keyof ChatEvent]: ChatEvent[K] } = {
      requestId: this.requestId,
      stream: this.stream,
      durationMs: now - this.started,
      startedAt: this.started,
    };
    if (this.keyId !== undefined) e.keyId = this.keyId;
    if (this.requestedModel !== undefined) e.requestedModel = this.requestedModel;
    if (end.result !== undefined) e.result = end.result;
    if (end.error !== undefined) e.error = end.error;
    if (this.charged !== undefined) e.charged = this.charged;
    if (this.upstreamWaitMs !== undefined) e.upstreamWaitMs = this.upstreamWaitMs;
    return e;
  }
}

/** A slot among the key's requests in flight, or a 429; returns its release. */
function takeInFlightSlot(counter: InFlightCounter | undefined, key: CompiledKey): (() => void) | undefined {
  const limit = key.limits.maxInFlight;
  if (counter === undefined || limit === undefined) return undefined;
  if (!counter.tryAcquire(key.id, limit)) {
    throw Errors.rateLimited(`Too many requests in flight for this key: Limit ${limit} at once. Wait for one to finish.`).withHeaders(retryAfterHeaders(1000));
  }
  return () => counter.release(key.id);
}
