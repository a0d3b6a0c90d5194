/** POST /chat/completions: authorise, parse, pick candidate models, serve (proxy/serve.ts). */
import type { FastifyInstance } from 'fastify';
import { Errors, knownApiError } from '../errors.js';
import { sendApiError } from '../reply-error.js';
import { parseChatRequest } from '../request/chat-request.js';
import { estimateInputTokens } from '../request/estimate.js';
import { candidatesFor } from '../routing/candidates.js';
import { type ProxyDeps, serveChat } from '../proxy/serve.js';
import type { RouteContext } from './context.js';
import { type ChatEvent, type GatewayObserver, NOOP_OBSERVER } from '../events.js';

export type { ChatEvent } from '../events.js';

/** One per finished request: the access log line, metrics and traces are built from it. */

export function registerChatRoute(
  app: FastifyInstance,
  ctx: RouteContext,
  deps: ProxyDeps & { onChat: (e: ChatEvent) => void; observer?: GatewayObserver },
): void {
  const observer = deps.observer ?? NOOP_OBSERVER;
  app.post('/chat/completions', async (req, reply) => {
    const started = performance.now();
    const requestId = String(req.id);
    const watch = observer.watchChat({ requestId, method: req.method, url: req.url, headers: req.headers });
    const done = (e: ChatEvent): void => {
      watch.end(e);
      deps.onChat(e);
    };
    const event: { keyId?: string; requestedModel?: string; stream: boolean } = { stream: false };
    try {
      const { config, key } = ctx.authorize(req);
      event.keyId = key.id;
      const chat = parseChatRequest(req.body);
      event.requestedModel = chat.model;
      event.stream = chat.stream;
      const { models } = candidatesFor({ config, key, model: chat.model, fallbackModels: chat.fallbackModels });
      // A stream writes to the socket itself; errors before its first byte are written the same way.
      if (chat.stream) reply.hijack();
      const result = await serveChat(
        { requestId, chat, key, candidates: models, inputTokens: estimateInputTokens(chat), reply, upstreamHeaders: { 'x-request-id': requestId }, ...(deps.observer ? { observer: watch.attempts } : {}) },
        { ...deps, log: req.log },
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
    }
  });
}
