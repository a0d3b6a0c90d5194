/**
 * Closing the gateway without waiting for clients' unused connections. Node's server.close()
 * ends idle kept-alive connections at once, but counts a connection that was opened and never
 * carried a request as active (its parser times it for headersTimeout from the start) and waits
 * until the client ends it. Clients open such connections: undici, after a fetch is aborted,
 * opens a fresh one for its pool (the openai SDK leaving a stream does this). The gateway's close
 * then took the client's keep-alive time (about 4 s for undici; up to the headers timeout for a
 * client that keeps it), and a pod's shutdown would too. So at close, a connection that has not
 * sent one byte is ended with the idle ones, as Node ends them: a request racing the close on it
 * meets a closed connection, as one on an idle kept-alive connection does.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** Installs the tracking and the close hook; call before the app is ready (fastify freezes hooks). */
export function closeUnusedConnectionsOnClose(app: FastifyInstance): void {
  const sockets = new Set<Socket>();
  // Per connection, not per request.
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // preClose runs right before fastify calls server.close(), in the same tick when it is synchronous.
  app.addHook('preClose', (done) => {
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
    done();
  });
}
