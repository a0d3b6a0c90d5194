/** Does a request fit a model: capabilities, max output, input and context window. Pure. */
import { describe, expect, it } from 'vitest';
import type { CompiledModel } from '../../src/compile/types.js';
import { parseChatRequest } from '../../src/gateway/request/chat-request.js';
import { fitModel } from '../../src/gateway/request/fit.js';
import { compileYaml, modelYaml } from '../support/gateway.js';

const { config } = compileYaml(
  modelYaml({ name: 'plain', capabilities: ['text'], contextWindow: 1000, maxInput: 800, maxOutput: 300 }) +
    modelYaml({ name: 'full', capabilities: ['text', 'multimodal', 'tools', 'structuredOutput'], contextWindow: 8192, maxOutput: 8192 }),
  { mockURL: 'http://127.0.0.1:9/v1' },
);
const model = (id: string): CompiledModel => config.models.get(id) as CompiledModel;
const chat = (extra: Record<string, unknown> = {}) => parseChatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }], ...extra });
const codeOf = (f: ReturnType<typeof fitModel>) => (f.ok ? 'ok' : `${f.error.code}:${f.error.param}`);

describe('capabilities', () => {
  const image = { messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:,' } }] }] };
  const tools = { tools: [{ type: 'function', function: { name: 'f' } }] };
  const schema = { response_format: { type: 'json_schema', json_schema: { name: 's', schema: {} } } };

  it.each([
    ['images', image, 'unsupported_capability:messages', /image input/],
    ['tools', tools, 'unsupported_capability:tools', /tool calling/],
    ['json_schema', schema, 'unsupported_capability:response_format', /structured output/],
  ])('%s on a model without the capability: a 400 naming it', (_what, extra, code, named) => {
    const f = fitModel(chat(extra), model('plain'), 10);
    expect(codeOf(f)).toBe(code);
    expect(f.ok ? '' : f.error.message).toMatch(named);
    expect(f.ok ? 0 : f.error.status).toBe(400);
  });

  it('the same requests fit a model that has the capabilities', () => {
    for (const extra of [image, tools, schema]) expect(fitModel(chat(extra), model('full'), 10).ok).toBe(true);
  });

  it('json_object needs no structured output; an empty tools list needs no tools', () => {
    expect(fitModel(chat({ response_format: { type: 'json_object' } }), model('plain'), 10).ok).toBe(true);
    expect(fitModel(chat({ tools: [] }), model('plain'), 10).ok).toBe(true);
  });
});

describe('token limits', () => {
  it('max_tokens above the max output is refused, naming the parameter the client used', () => {
    expect(codeOf(fitModel(chat({ max_tokens: 301 }), model('plain'), 10))).toBe('max_tokens_too_large:max_tokens');
    expect(codeOf(fitModel(chat({ max_completion_tokens: 301 }), model('plain'), 10))).toBe('max_tokens_too_large:max_completion_tokens');
    expect(fitModel(chat({ max_tokens: 300 }), model('plain'), 10)).toEqual({ ok: true, maxTokens: 300, maxOutput: 300 });
  });

  it('an input above maxInput is refused; exactly maxInput fits', () => {
    expect(codeOf(fitModel(chat(), model('plain'), 801))).toBe('context_length_exceeded:messages');
    expect(fitModel(chat({ max_tokens: 200 }), model('plain'), 800)).toEqual({ ok: true, maxTokens: 200, maxOutput: 200 });
  });

  it('input plus max_tokens above the context window is refused', () => {
    expect(codeOf(fitModel(chat({ max_tokens: 201 }), model('plain'), 800))).toBe('context_length_exceeded:max_tokens');
  });

  it("no max_tokens: the model's default, shortened to the room the input leaves", () => {
    expect(fitModel(chat(), model('plain'), 10)).toEqual({ ok: true, maxTokens: 300, maxOutput: 300 });
    expect(fitModel(chat(), model('plain'), 750)).toEqual({ ok: true, maxTokens: 250, maxOutput: 250 });
    expect(fitModel(chat(), model('full'), 10)).toEqual({ ok: true, maxTokens: 4096, maxOutput: 4096 });
  });

  it('no max_tokens and no room left at all is refused', () => {
    expect(codeOf(fitModel(chat(), model('full'), 8192))).toBe('context_length_exceeded:max_tokens');
  });

  it('capabilities are checked before limits', () => {
    expect(codeOf(fitModel(chat({ tools: [{ type: 'function' }], max_tokens: 5000 }), model('plain'), 10))).toBe('unsupported_capability:tools');
  });
});
