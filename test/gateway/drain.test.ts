/** Draining after SIGTERM (src/gateway/drain.ts): not ready, `Connection: close`, then close. */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { drainMsOf, installDrain } from '../../src/gateway/drain.js';

describe('drain', () => {
  it('keeps serving while draining, with Connection: close on every response', async () => {
    const app = Fastify();
    const drain = installDrain(app);
    app.get('/x', async () => ({ ok: true }));
    const before = await app.inject({ url: '/x' });
    expect(before.headers['connection']).not.toBe('close');
    expect(drain.draining()).toBe(false);
    const t0 = Date.now();
    const done = drain.start(50);
    expect(drain.draining()).toBe(true);
    const during = await app.inject({ url: '/x' });
    expect([during.statusCode, during.headers['connection']]).toEqual([200, 'close']);
    await done;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    await app.close();
  });

  it('closes the connection of a streaming (hijacked) response too', async () => {
    const app = Fastify();
    const drain = installDrain(app);
    app.get('/stream', (_req, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
      reply.raw.end('data: [DONE]\n\n');
    });
    expect((await app.inject({ url: '/stream' })).headers['connection']).not.toBe('close');
    const done = drain.start(10);
    const during = await app.inject({ url: '/stream' });
    expect([during.statusCode, during.headers['connection'], during.headers['content-type']]).toEqual([200, 'close', 'text/event-stream']);
    await done;
    await app.close();
  });

  it('reads TOKENHUB_DRAIN_SECONDS: default 5 s, 0 allowed, nonsense rejected', () => {
    expect(drainMsOf(undefined)).toBe(5_000);
    expect(drainMsOf('')).toBe(5_000);
    expect(drainMsOf('0')).toBe(0);
    expect(drainMsOf('2.5')).toBe(2_500);
    for (const bad of ['-1', 'abc', '301', 'Infinity']) expect(() => drainMsOf(bad)).toThrow(/TOKENHUB_DRAIN_SECONDS/);
  });
});
