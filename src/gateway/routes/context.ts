/** What the API routes share: the config holder, the clock, and authorisation of a request. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CompiledKey, GatewayConfig } from '../../compile/types.js';
import { type Authenticate, authenticate } from '../auth.js';
import { Errors } from '../errors.js';
import type { ConfigHolder } from '../config/config-holder.js';

export interface Authorized {
  readonly config: GatewayConfig;
  readonly key: CompiledKey;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API's onRequest hook, before the body is read (see authenticateFirst). */
    tokenhubAuth: Authorized | null;
    /** The onRequest hook turned the request away (its 401/503 never reaches the route). */
    tokenhubAuthFailed: boolean;
    /** A JSON body's text as received (see parseJsonKeepingText). */
    tokenhubRawBody: string | null;
  }
}

export interface RouteContext {
  readonly holder: ConfigHolder;
  readonly clock: () => number;
  /** The config snapshot for this request and the calling key; throws 401/503 ApiErrors. */
  authorize(req: FastifyRequest): Authorized;
}

/** `auth`: how a request's Authorization header becomes a key (API keys, and ServiceAccount tokens in cluster mode). */
export function routeContext(holder: ConfigHolder, clock: () => number, auth: Authenticate = authenticate): RouteContext {
  return {
    holder,
    clock,
    authorize(req) {
      if (req.tokenhubAuth) return req.tokenhubAuth;
      const config = holder.current();
      if (config === undefined) throw Errors.notReady();
      return { config, key: auth(config, req.headers.authorization, clock()) };
    },
  };
}

/** The request fields authenticateFirst fills in; once, on the root instance. */
export function decorateAuth(app: FastifyInstance): void {
  app.decorateRequest('tokenhubAuth', null);
  app.decorateRequest('tokenhubAuthFailed', false);
  app.decorateRequest('tokenhubRawBody', null);
}

/**
 * fastify's own JSON parser (same limits, same refusal of `__proto__` and `constructor` keys,
 * same errors), keeping the text it parsed on the request: the chat route edits that text for
 * the upstream instead of serialising the parsed body again.
 */
export function parseJsonKeepingText(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    req.tokenhubRawBody = body as string;
    // The default parser is callback-style: it returns nothing to await.
    void parse(req, body as string, done);
  });
}

/**
 * Authenticates every request of `api` from its Authorization header before fastify reads its
 * body: a caller without a valid key costs a hash lookup, never a 16 MiB JSON parse. Node reads
 * and discards the unread body after the 401, so the client still gets its answer.
 */
export function authenticateFirst(api: FastifyInstance, ctx: RouteContext): void {
  // A callback hook, not an async one: no promise per request for what is a synchronous lookup.
  api.addHook('onRequest', (req, _reply, done) => {
    try {
      req.tokenhubAuth = ctx.authorize(req);
    } catch (err) {
      req.tokenhubAuthFailed = true;
      done(err as Error);
      return;
    }
    done();
  });
}
