/**
 * The gateway's HTTP application: the OpenAI-compatible API under /api/v1 and /v1, health
 * endpoints, one error handler that shows 4xx messages and hides 5xx internals.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { LimitStore } from '../limits/store.js';
import { closeUnusedConnectionsOnClose } from './unused-connections.js';
import { ApiError, Errors, knownApiError } from './errors.js';
import { type TokenVerifier, authenticator } from './auth.js';
import { ConfigHolder } from './config/config-holder.js';
import { BackendHealth } from './routing/backend-health.js';
import { UpstreamClient } from './upstream/client.js';
import { type ChatEvent, registerChatRoute } from './routes/chat-completions.js';
import { registerModelRoutes } from './routes/models.js';
import { registerKeyRoutes } from './routes/key.js';
import { registerHealthRoutes } from './routes/health.js';
import { authenticateFirst, decorateAuth, parseJsonKeepingText, routeContext } from './routes/context.js';
import { type ClientTimeouts, timeoutsFromEnv } from './timeouts.js';
import { InFlightCounter } from '../limits/in-flight.js';
import { accessLogLine, accessLogMembers } from '../telemetry/access-log.js';
import { infoWriter, lazyChildLogger } from './logging.js';
import type { GatewayObserver } from './events.js';

export interface GatewayOptions {
  readonly holder: ConfigHolder;
  readonly store: LimitStore;
  readonly upstream?: UpstreamClient;
  readonly clock?: () => number;
  readonly random?: () => number;
  readonly logger?: FastifyServerOptions['logger'];
  /** Request body limit in bytes (images inline as base64 make bodies large). */
  readonly bodyLimit?: number;
  /** Extra readiness condition (for example: the Kubernetes watches have synced). */
  readonly ready?: () => boolean;
  readonly onChat?: (e: ChatEvent) => void;
  /** Telemetry hooks (spans, metrics); see src/telemetry. None: not observed. */
  readonly observer?: GatewayObserver;
  /** Header, request and stream-idle timeouts; default: DEFAULT_TIMEOUTS and TOKENHUB_*_TIMEOUT_MS. */
  readonly timeouts?: ClientTimeouts;
  /** ServiceAccount tokens as Bearers (cluster mode); none: API keys only. */
  readonly serviceAccountTokens?: TokenVerifier;
}

const API_PREFIXES = ['/api/v1', '/v1'] as const;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function buildGateway(opts: GatewayOptions): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? 16 * 1024 * 1024;
  const timeouts = opts.timeouts ?? timeoutsFromEnv(process.env);
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit,
    // A client that drips its headers or body is answered 408 and cut (fastify's default is never).
    requestTimeout: timeouts.requestMs,
    http: { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkIntervalMs },
    // A request that reaches us on a kept-alive connection while the server closes is served (and
    // its connection closed: see drain.ts), not answered 503: the client could not have known.
    return503OnClosing: false,
    // One access line per request comes from the chat route itself (see telemetry), not from fastify.
    logController: new LogController({ disableRequestLogging: true }),
    // req.log is made when first used (most requests never log through it): see logging.ts.
    childLoggerFactory: lazyChildLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  // The access line is built field by field from a ChatEvent (telemetry/access-log.ts): no header,
  // body or key can be in it, so it skips the redaction net, whose wildcard paths run a check
  // on every value of every line (a visible share of a request's CPU).
  const accessLog = infoWriter(app.log.child({}, { redact: [] }), { msg: 'request completed', members: accessLogMembers });
  const clock = opts.clock ?? Date.now;
  const upstream = opts.upstream ?? new UpstreamClient();
  // A reload that changes a backend's origin or connection settings leaves its old pool behind: closed.
  if (opts.upstream === undefined) opts.holder.onSwap((next) => void upstream.retain(next));
  const ctx = routeContext(opts.holder, clock, authenticator(opts.serviceAccountTokens));
  const deps = {
    store: opts.store,
    upstream,
    health: new BackendHealth(),
    clock,
    random: opts.random ?? Math.random,
    log: app.log,
    inFlight: new InFlightCounter(),
    streamIdleMs: timeouts.streamIdleMs,
    // The one access line per chat request (no body, no key: see telemetry/access-log.ts).
    onChat: (e: ChatEvent): void => {
      accessLog(accessLogLine(e));
      opts.onChat?.(e);
    },
    ...(opts.observer ? { observer: opts.observer } : {}),
  };
  decorateAuth(app);
  parseJsonKeepingText(app);
  for (const prefix of API_PREFIXES) {
    void app.register(
      async (api) => {
        authenticateFirst(api, ctx);
        registerChatRoute(api, ctx, deps);
        registerModelRoutes(api, ctx);
        registerKeyRoutes(api, ctx, { store: opts.store });
      },
      { prefix },
    );
  }
  registerHealthRoutes(app, { holder: opts.holder, ready: opts.ready ?? (() => true) });
  app.setNotFoundHandler((req, reply) => sendError(reply, Errors.notFound(req.url.split('?')[0] ?? '/')));
  app.setErrorHandler((err, req, reply) => {
    const apiError = toApiError(err, bodyLimit, (e) => req.log.error({ err: { message: e.message, code: e.code } }, 'unhandled error'));
    if ((isBodyError(err) || req.tokenhubAuthFailed) && /\/chat\/completions$/.test(req.url.split('?')[0] ?? '')) reportUnparsed(req, reply, apiError, deps);
    return sendError(reply, apiError);
  });
  app.addHook('onClose', async () => {
    if (opts.upstream === undefined) await upstream.close();
  });
  closeUnusedConnectionsOnClose(app);
  return app;
}

/** Fastify's own body errors (unreadable JSON, too large, wrong type) happen before the route runs. */
function isBodyError(err: unknown): boolean {
  const fe = (err ?? {}) as FastifyError;
  return !(err instanceof ApiError) && (fe.statusCode === 400 || fe.statusCode === 413 || fe.statusCode === 415 || fe.code?.startsWith('FST_ERR_CTP') === true);
}

/** A chat request whose body never reached the route still gets its access line, metrics and span. */
function reportUnparsed(
  req: import('fastify').FastifyRequest,
  reply: import('fastify').FastifyReply,
  error: ApiError,
  deps: { onChat(e: ChatEvent): void; observer?: GatewayObserver },
): void {
  const requestId = String(req.id);
  const event: ChatEvent = { requestId, stream: false, error, durationMs: reply.elapsedTime, startedAt: performance.now() - reply.elapsedTime };
  deps.observer?.watchChat({ requestId, method: req.method, url: req.url, headers: req.headers }).end(event);
  deps.onChat(event);
}

function sendError(reply: import('fastify').FastifyReply, err: ApiError) {
  return reply.code(err.status).headers(err.headers).send(err.toBody());
}

function toApiError(err: unknown, bodyLimit: number, logUnexpected: (e: FastifyError) => void): ApiError {
  const known = knownApiError(err);
  if (known !== undefined) return known;
  const fe = (err ?? {}) as FastifyError;
  if (fe.statusCode === 413) return Errors.bodyTooLarge(bodyLimit);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return Errors.invalidRequest('Send the body as application/json.');
  if (fe.statusCode === 400 || fe.code?.startsWith('FST_ERR_CTP') === true) return Errors.invalidJson();
  logUnexpected(fe);
  return Errors.internal();
}
