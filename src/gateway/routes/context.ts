/** What the API routes share: the config holder, the clock, and authorisation of a request. */
import type { FastifyRequest } from 'fastify';
import type { CompiledKey, GatewayConfig } from '../../compile/types.js';
import { type Authenticate, authenticate } from '../auth.js';
import { Errors } from '../errors.js';
import type { ConfigHolder } from '../config/config-holder.js';

export interface RouteContext {
  readonly holder: ConfigHolder;
  readonly clock: () => number;
  /** The config snapshot for this request and the calling key; throws 401/503 ApiErrors. */
  authorize(req: FastifyRequest): { config: GatewayConfig; key: CompiledKey };
}

/** `auth`: how a request's Authorization header becomes a key (API keys, and ServiceAccount tokens in cluster mode). */
export function routeContext(holder: ConfigHolder, clock: () => number, auth: Authenticate = authenticate): RouteContext {
  return {
    holder,
    clock,
    authorize(req) {
      const config = holder.current();
      if (config === undefined) throw Errors.notReady();
      return { config, key: auth(config, req.headers.authorization, clock()) };
    },
  };
}
