/**
 * The operator's probes: /healthz (the process answers) and /readyz (every cache has synced), on
 * their own port. The fastify instance also provides the operator's logger (pino), so the
 * operator logs like the gateway does.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';

export interface HealthServerOptions {
  readonly ready: () => boolean;
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildHealthServer(opts: HealthServerOptions): FastifyInstance {
  // Probes arrive every few seconds: a log line each would drown the reconcile logs.
  const app = Fastify({ logger: opts.logger ?? false, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = opts.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  return app;
}
