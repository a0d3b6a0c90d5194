/**
 * req.log is made on its first use (logging.ts lazyChildLogger): a request that logs through it
 * still gets a line bound to its request id, one that does not never makes the child, and the
 * child behaves as pino's own (levels, further children).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lazyChildLogger, loggerOptions } from '../../src/gateway/logging.js';
import { type TestGateway, keyYaml, modelYaml, postChat, startTestGateway } from '../support/gateway.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text.push(chunk.toString('utf8'));
      done();
    },
  });
  const lines = () =>
    text
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe('lazyChildLogger', () => {
  it('makes the child on first use only, bound as pino binds it, with its level and children', () => {
    const out = capture();
    const root = pino({ level: 'info' }, out.stream);
    const childSpy = vi.spyOn(root, 'child');
    const lazy = lazyChildLogger(root, { reqId: 'r-1' }, {});
    expect(childSpy).not.toHaveBeenCalled();
    lazy.debug('not written');
    lazy.warn({ n: 1 }, 'first');
    lazy.error('second %s', 'arg');
    expect(childSpy).toHaveBeenCalledTimes(1);
    expect(lazy.level).toBe('info');
    lazy.level = 'error';
    lazy.warn('below the level now');
    lazy.child({ extra: true }).error('grandchild');
    expect(out.lines().map((l) => [l['reqId'], l['msg'], l['n'], l['extra']])).toEqual([
      ['r-1', 'first', 1, undefined],
      ['r-1', 'second arg', undefined, undefined],
      ['r-1', 'grandchild', undefined, true],
    ]);
  });
});

describe('a gateway request that logs through req.log', () => {
  const out = capture();
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      yaml: modelYaml({ name: 'liar' }) + keyYaml({ name: 'k', clear: 'th-request-log-key-0001' }),
      gateway: { logger: { ...(loggerOptions({ level: 'info' }) as Record<string, unknown>), stream: out.stream } },
    });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('writes its line with the request id', async () => {
    gw.mock.setBehaviour('liar', { reportedPromptTokens: -5, reportedCompletionTokens: 3 });
    const res = await postChat(gw.baseURL, {
      key: 'th-request-log-key-0001',
      headers: { 'x-request-id': 'req-log-1' },
      body: { model: 'liar', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.status).toBe(200);
    const clamped = out.lines().filter((l) => l['msg'] === 'upstream usage out of range; clamped');
    expect(clamped).toHaveLength(1);
    expect(clamped[0]).toMatchObject({ level: 40, reqId: 'req-log-1', model: 'liar', fields: expect.arrayContaining(['prompt_tokens']) });
    expect(out.lines().filter((l) => l['msg'] === 'request completed' && l['requestId'] === 'req-log-1')).toHaveLength(1);
  });
});
