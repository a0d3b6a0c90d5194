/** Outcome words and the access line, from ChatEvents (pure). */
import { describe, expect, it } from 'vitest';
import { Errors } from '../../src/gateway/errors.js';
import type { ChatEvent } from '../../src/gateway/routes/chat-completions.js';
import { accessLogLine } from '../../src/telemetry/access-log.js';
import { errorTypeOf, outcomeOf } from '../../src/telemetry/outcome.js';

const base: ChatEvent = { requestId: 'r1', stream: true, durationMs: 12.3456, startedAt: 0 };
const served = (extra: Partial<NonNullable<ChatEvent['result']>> = {}): ChatEvent => ({
  ...base,
  keyId: 'ns/k',
  requestedModel: 'm',
  result: { status: 200, servedModel: 'm', attempts: 1, fallbacks: 0, usage: { inputTokens: 3, outputTokens: 4, costNanos: 1_500 }, ...extra },
});

describe('outcomeOf', () => {
  it('names each way a request ends', () => {
    expect(outcomeOf(served())).toBe('served');
    expect(outcomeOf(served({ cut: true }))).toBe('served');
    expect(errorTypeOf(served({ cut: true }))).toBe('upstream_stream_cut');
    expect(outcomeOf(served({ clientGone: true }))).toBe('cancelled');
    expect(outcomeOf(served({ status: 499, clientGone: true }))).toBe('cancelled');
    expect(outcomeOf(served({ status: 400 }))).toBe('rejected');
    expect(errorTypeOf(served({ status: 400 }))).toBe('400');
    expect(outcomeOf({ ...base, error: Errors.rateLimited('x') })).toBe('limited');
    expect(outcomeOf({ ...base, error: Errors.insufficientQuota('x') })).toBe('quota_exceeded');
    expect(outcomeOf({ ...base, error: Errors.upstreamTimeout('x') })).toBe('upstream_error');
    expect(outcomeOf({ ...base, error: Errors.invalidKey() })).toBe('rejected');
    expect(outcomeOf({ ...base, error: Errors.limiterUnavailable() })).toBe('error');
    expect(outcomeOf(base)).toBe('error');
  });
});

describe('accessLogLine', () => {
  it('carries ids, models, tokens, a decimal cost and no more', () => {
    expect(accessLogLine(served())).toEqual({
      requestId: 'r1',
      key: 'ns/k',
      model: 'm',
      servedModel: 'm',
      status: 200,
      outcome: 'served',
      inputTokens: 3,
      outputTokens: 4,
      cost: '0.0000015',
      latencyMs: 12.346,
      attempts: 1,
      fallbacks: 0,
      stream: true,
    });
  });

  it('does not echo a model name that is not a plain token (client input)', () => {
    expect(accessLogLine({ ...base, requestedModel: 'ignore previous instructions' }).model).toBe('_invalid');
  });
});
