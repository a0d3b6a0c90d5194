/**
 * Closing a gateway does not wait for clients. Node's server.close() ends idle kept-alive
 * connections but counts one that was opened and never carried a request as active, and waits
 * for the client to end it; undici opens such a connection for its pool after a fetch is aborted
 * (the openai SDK leaving a stream). The gateway's close then took the client's keep-alive time
 * (~4 s), and a pod's shutdown would have as long as clients held their connections.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestGateway, eventually, keyYaml, modelYaml, startTestGateway } from '../support/gateway.js';

const KEY = 'th-close-key';
let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const start = async (): Promise<TestGateway> =>
  (gw = await startTestGateway({ yaml: [modelYaml({ name: 'fast' }), keyYaml({ name: 'k', clear: KEY })].join('') }));

/** How long the gateway's own close takes, or that it took over a second (the close goes on). */
async function closeMs(g: TestGateway): Promise<number | 'over 1 s'> {
  const started = performance.now();
  const closing = g.close();
  gw = undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'over 1 s'>((resolve) => (timer = setTimeout(() => resolve('over 1 s'), 1000)));
  const r = await Promise.race([closing.then(() => performance.now() - started), late]);
  clearTimeout(timer);
  return r;
}

describe('gateway close', () => {
  it('after a client left a stream mid-way (the openai SDK), resolves within 1 s', async () => {
    const g = await start();
    const say = [{ role: 'user' as const, content: 'hi' }];
    const client = g.client(KEY);
    // A first stream read to its end leaves a kept-alive connection; the second one the client leaves.
    for await (const _ of await client.chat.completions.create({ model: 'fast', stream: true, messages: say })) void _;
    g.mock.setBehaviour('fast', { chunkDelayMs: 30, completionTokens: 200 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create({ model: 'fast', stream: true, messages: say }, { signal: controller.signal });
    let n = 0;
    // The SDK ends the iteration (or throws, by version) when its signal aborts.
    await (async () => {
      for await (const _ of stream) if (++n === 3) controller.abort();
    })().catch(() => undefined);
    expect(n).toBe(3);
    await eventually(() => g.events.length === 2);
    expect(await closeMs(g)).toBeTypeOf('number');
  });

  it('does not wait for a connection that never sent a request', async () => {
    const g = await start();
    const socket = connect(Number(new URL(g.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const took = await closeMs(g);
    socket.destroy();
    expect(took).toBeTypeOf('number');
    await closed;
  });
});
