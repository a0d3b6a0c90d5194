/** Estimates and bills without an upstream count, and the body's field checks (issue #10). Pure. */
import { describe, expect, it } from 'vitest';
import type { CompiledModel } from '../../src/compile/types.js';
import { checkFields } from '../../src/gateway/request/body-fields.js';
import { parseChatRequest } from '../../src/gateway/request/chat-request.js';
import { MEDIA_TOKENS, estimateInputTokens, textTokens } from '../../src/gateway/request/estimate.js';
import { answerTokens } from '../../src/gateway/proxy/attempt.js';
import { billOf } from '../../src/gateway/proxy/billing.js';
import { compileYaml, modelYaml } from '../support/gateway.js';

const estimateOf = (content: unknown): number => estimateInputTokens(parseChatRequest({ model: 'x', messages: [{ role: 'user', content }] }));

describe('input estimate', () => {
  it('counts ASCII at four characters a token, other alphabets at about two, CJK at one a character', () => {
    expect(textTokens('abcdefgh')).toBe(2);
    // 9 Cyrillic letters: 9/4 + 9 × 3/8 = 5.6 → 6 (the rule errs high for 2-byte scripts).
    expect(textTokens('приветмир')).toBe(6);
    // 1000 Chinese characters: at least 1000 tokens (4 chars/token said 250, several times too few).
    expect(textTokens('模型'.repeat(500))).toBe(1000);
    expect(textTokens('hi 你好')).toBe(1 + 2);
  });

  it('counts every media part type (video, audio and files counted 0 before)', () => {
    const part = (type: string) => [
      { type: 'text', text: 'see' },
      { type, [type]: {} },
    ];
    const base = estimateOf([{ type: 'text', text: 'see' }]);
    expect(estimateOf(part('image_url')) - base).toBe(MEDIA_TOKENS.image);
    expect(estimateOf(part('input_image')) - base).toBe(MEDIA_TOKENS.image);
    expect(estimateOf(part('video_url')) - base).toBe(MEDIA_TOKENS.video);
    expect(estimateOf(part('input_audio')) - base).toBe(MEDIA_TOKENS.audio);
    expect(estimateOf(part('file')) - base).toBe(MEDIA_TOKENS.file);
  });

  it("an answer without usage is estimated from every choice's text, reasoning and calls", () => {
    expect(answerTokens([{ message: { content: 'abcd', reasoning_content: '想想' } }, { message: { refusal: 'no' } }])).toBe(1 + 2 + 1);
    expect(answerTokens([{ message: { tool_calls: [{ function: { arguments: '{}' } }] } }])).toBeGreaterThan(0);
    expect(answerTokens(undefined)).toBe(0);
  });
});

describe('body field checks', () => {
  it('passes known fields of the right type and null, and lists the unknown ones', () => {
    expect(checkFields({ model: 'm', messages: [], stream: false, n: 2, temperature: 0.5, stop: ['x'], tool_choice: 'auto', seed: -3, user: null })).toEqual(
      [],
    );
    expect(checkFields({ model: 'm', thinking: {}, foo: 1 })).toEqual(['thinking', 'foo']);
  });

  it.each([
    [{ stream: 'true' }, 'invalid_type', 'stream'],
    [{ n: 0 }, 'invalid_value', 'n'],
    [{ top_p: 1.5 }, 'invalid_value', 'top_p'],
    [{ logprobs: 1 }, 'invalid_type', 'logprobs'],
    [{ messages: {} }, 'invalid_type', 'messages'],
    [{ temperature: Number.NaN }, 'invalid_type', 'temperature'],
  ])('%j is refused naming the field', (body, code, param) => {
    expect(() => checkFields(body)).toThrow(expect.objectContaining({ status: 400, code, param }));
  });
});

describe('billing without or with bad upstream counts', () => {
  const { config } = compileYaml(modelYaml({ name: 'm', contextWindow: 1000, maxOutput: 100, price: ['1', '2'] }), { mockURL: 'http://127.0.0.1:9/v1' });
  const model = config.models.get('m') as CompiledModel;
  const base = { producedChunks: 0, inputEstimate: 50, reservedOutput: 100, choices: 1, model };

  it('a sent attempt with nothing seen is charged its input estimate; a lost answer also the reserved output', () => {
    expect(billOf(base)).toEqual({ inputTokens: 50, outputTokens: 0, costNanos: 50_000, estimated: true });
    expect(billOf({ ...base, assumeReservedOutput: true })).toMatchObject({ inputTokens: 50, outputTokens: 100, estimated: true });
    expect(billOf({ ...base, producedChunks: 7, outputEstimate: 3 })).toMatchObject({ outputTokens: 7 });
  });

  it('clamps negative and absurd counts and says which', () => {
    const bill = billOf({ ...base, usage: { promptTokens: -5, completionTokens: 1e12, cachedTokens: -1 } });
    expect(bill).toMatchObject({ inputTokens: 0, outputTokens: 1000, estimated: false, clamped: ['prompt_tokens', 'completion_tokens', 'cached_tokens'] });
    expect(billOf({ ...base, usage: { promptTokens: 10, completionTokens: 5, cachedTokens: 0 } })).toEqual({
      inputTokens: 10,
      outputTokens: 5,
      costNanos: 20_000,
      estimated: false,
    });
  });
});
