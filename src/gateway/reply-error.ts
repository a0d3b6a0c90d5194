/**
 * Writes an ApiError to the client whichever way the reply is held: through fastify, or straight
 * to the socket once a streaming route has hijacked the reply (fastify's send is a no-op then).
 */
import type { FastifyReply } from 'fastify';
import type { ApiError } from './errors.js';

export async function sendApiError(reply: FastifyReply, err: ApiError, requestId: string): Promise<void> {
  if (!reply.sent) {
    await reply
      .code(err.status)
      .headers({ ...err.headers, 'x-request-id': requestId })
      .send(err.toBody());
    return;
  }
  const raw = reply.raw;
  if (raw.headersSent || raw.destroyed) {
    if (!raw.writableEnded) raw.end();
    return;
  }
  raw.writeHead(err.status, { ...err.headers, 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId });
  raw.end(JSON.stringify(err.toBody()));
}
