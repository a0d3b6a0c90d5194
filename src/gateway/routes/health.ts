/** Liveness and readiness: ready once a config is loaded (and whatever else the caller adds). */
import type { FastifyInstance } from 'fastify';
import type { ConfigHolder } from '../config/config-holder.js';

export function registerHealthRoutes(app: FastifyInstance, opts: { holder: ConfigHolder; ready: () => boolean }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const config = opts.holder.current();
    const ready = config !== undefined && opts.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', revision: config?.revision ?? null });
  });
}
