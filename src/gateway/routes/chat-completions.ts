/** POST /chat/completions: authorise, parse, pick candidate models, serve (proxy/serve.ts). */
import type { FastifyInstance } from 'fastify';
import { Errors, knownApiError } from '../errors.js';
import { sendApiError } from '../reply-error.js';
import { parseChatRequest } from '../request/chat-request.js';
import { estimateInputTokens } from '../request/estimate.js';
import { candidatesFor } from '../routing/candidates.js';
import { type ProxyDeps, serveChat } from '../proxy/serve.js';
import type { RouteContext } from './context.js';
import { type AttemptCharge, type ChatEvent, type GatewayObserver, NOOP_OBSERVER } from '../events.js';
import type { CompiledKey } from '../../compile/types.js';
import type { InFlightCounter } from '../../limits/in-flight.js';
import { retryAfterHeaders } from '../proxy/rate-headers.js';
import { cutStalledReaderAfter } from '../proxy/stream-relay.js';

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
  const observer = deps.observer ?? NOOP_OBSERVER;
  app.post('/chat/completions', async (req, reply) => {
    const started = performance.now();
    const requestId = String(req.id);
    const watch = observer.watchChat({ requestId, method: req.method, url: req.url, headers: req.headers });
    const done = (e: ChatEvent): void => {
      watch.end(e);
      deps.onChat(e);
    };
    const event: { keyId?: string; requestedModel?: string; stream: boolean; charged?: AttemptCharge[]; upstreamWaitMs?: number } = { stream: false };
    const upstream = deps.upstream.withWaitListener((ms) => {
      event.upstreamWaitMs = (event.upstreamWaitMs ?? 0) + ms;
    });
    let release: (() => void) | undefined;
    try {
      const { config, key } = ctx.authorize(req);
      event.keyId = key.id;
      release = takeInFlightSlot(deps.inFlight, key);
      const chat = parseChatRequest(req.body);
      event.requestedModel = chat.model;
      event.stream = chat.stream;
      const { models } = candidatesFor({ config, key, model: chat.model, fallbackModels: chat.fallbackModels });
      // A stream writes to the socket itself; errors before its first byte are written the same way.
      if (chat.stream) {
        reply.hijack();
        cutStalledReaderAfter(reply.raw, deps.streamIdleMs ?? 0);
      }
      const result = await serveChat(
        {
          requestId,
          chat,
          key,
          candidates: models,
          inputTokens: estimateInputTokens(chat),
          reply,
          upstreamHeaders: { 'x-request-id': requestId },
          ...(deps.observer ? { observer: watch.attempts } : {}),
          onCharge: (c) => (event.charged ??= []).push(c),
        },
        { ...deps, upstream, log: req.log },
      );
      done({ requestId, ...event, result, durationMs: performance.now() - started, startedAt: started });
      return reply;
    } catch (err) {
      const apiError = knownApiError(err);
      done({ requestId, ...event, ...(apiError ? { error: apiError } : {}), durationMs: performance.now() - started, startedAt: started });
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

/** A slot among the key's requests in flight, or a 429; returns its release. */
function takeInFlightSlot(counter: InFlightCounter | undefined, key: CompiledKey): (() => void) | undefined {
  const limit = key.limits.maxInFlight;
  if (counter === undefined || limit === undefined) return undefined;
  if (!counter.tryAcquire(key.id, limit)) {
    throw Errors.rateLimited(`Too many requests in flight for this key: Limit ${limit} at once. Wait for one to finish.`).withHeaders(retryAfterHeaders(1000));
  }
  return () => counter.release(key.id);
}
