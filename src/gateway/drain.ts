/**
 * Draining before the listener closes. In a pod, SIGTERM and the removal of the pod from its
 * Service's endpoints happen at the same time, but kube-proxy (and every client's pool of
 * kept-alive connections) learns of the removal later. Closing the listener at once refuses
 * those connections and answers requests on kept-alive ones with 503 or a reset. So for a
 * while after SIGTERM the gateway keeps serving, reports not-ready, and answers every request
 * with `Connection: close`, which makes clients drop their pooled connections cleanly.
 */
import type { FastifyInstance } from 'fastify';
import { UsageError } from '../cli/args.js';

export interface Drain {
  /** True once start() was called: readiness should fail from then on. */
  readonly draining: () => boolean;
  /** Starts draining and resolves after `ms`; the caller then closes the server. */
  start(ms: number): Promise<void>;
}

/** Installs the `Connection: close` hook; call before the app is ready (fastify freezes hooks). */
export function installDrain(app: FastifyInstance): Drain {
  let draining = false;
  // A callback hook: no promise per request for a flag check.
  app.addHook('onRequest', (_req, reply, done) => {
    // On the raw response: streaming routes hijack the reply and write their own head.
    if (draining) reply.raw.setHeader('connection', 'close');
    done();
  });
  return {
    draining: () => draining,
    start: (ms) => {
      draining = true;
      return new Promise((resolve) => setTimeout(resolve, ms));
    },
  };
}

/** TOKENHUB_DRAIN_SECONDS: how long to keep serving after SIGTERM (default 5, 0 disables). */
export function drainMsOf(env: string | undefined): number {
  if (env === undefined || env === '') return 5_000;
  const s = Number(env);
  if (!Number.isFinite(s) || s < 0 || s > 300) throw new UsageError(`TOKENHUB_DRAIN_SECONDS must be 0..300, not ${JSON.stringify(env)}`);
  return Math.round(s * 1000);
}
