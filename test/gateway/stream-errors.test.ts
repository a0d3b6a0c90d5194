/**
 * Streaming requests that end before their stream starts: each once hung or answered 500, because
 * a streaming route writes to the socket itself and fastify's reply.send does nothing then.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Agent, fetch } from 'undici';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { StoreUnavailableError } from '../../src/limits/errors.js';
import type { AdmitRequest, AdmitResult } from '../../src/limits/store.js';
import { type TestGateway, eventually, keyYaml, modelYaml, startTestGateway } from '../support/gateway.js';

const KEY = 'th-test-stream-errors';
const YAML = modelYaml({ name: 'alpha' }) + keyYaml({ name: 'k', clear: KEY });

/** A memory store whose admit can be slowed down or made to fail like an unreachable Redis. */
class ControlledStore extends MemoryLimitStore {
  delayMs = 0;
  unavailable = false;
  override async admit(req: AdmitRequest, now: number): Promise<AdmitResult> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.unavailable) throw new StoreUnavailableError('redis unreachable');
    return super.admit(req, now);
  }
}

let gw: TestGateway;
const store = new ControlledStore();
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML, store });
});
// Our own connection pool, closed first: a connection a client opened and left unused would hold
// up the gateway's graceful close until its keep-alive timeout.
const dispatcher = new Agent();
afterAll(async () => {
  await dispatcher.destroy();
  await gw?.close();
});

const streamBody = { model: 'alpha', stream: true, messages: [{ role: 'user', content: 'hi' }] };

describe('a stream that ends before it starts', () => {
  it('passes an upstream 4xx on as that status (regression: the request hung)', async () => {
    gw.mock.setBehaviour('alpha', { status: 400 });
    try {
      const started = Date.now();
      const err = await gw
        .client(KEY, { timeout: 5000 })
        .chat.completions.create({ model: 'alpha', stream: true, messages: [{ role: 'user', content: 'hi' }] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as { status?: number }).status).toBe(400);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      gw.mock.setBehaviour('alpha', undefined);
    }
  });

  it('answers 503 limiter_unavailable when the limiter is down (regression: 500 internal_error)', async () => {
    store.unavailable = true;
    try {
      const res = await fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(streamBody),
        dispatcher,
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('limiter_unavailable');
      expect(gw.events.at(-1)?.error?.code).toBe('limiter_unavailable');
    } finally {
      store.unavailable = false;
    }
  });

  it('does not call the upstream for a client that left while it was being admitted (regression: wedged forever)', async () => {
    store.delayMs = 300;
    try {
      const before = gw.mock.stats().requests;
      const eventsBefore = gw.events.length;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(streamBody),
        signal: controller.signal,
        dispatcher,
      }).catch(() => undefined);
      await eventually(() => gw.events.length > eventsBefore, 3000);
      expect(gw.events.at(-1)?.result?.clientGone).toBe(true);
      expect(gw.mock.stats().requests).toBe(before);
    } finally {
      store.delayMs = 0;
    }
  });
});
