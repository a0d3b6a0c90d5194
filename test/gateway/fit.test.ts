/** Does a request fit a model: capabilities, max output, input and context window. Pure. */
import { describe, expect, it } from 'vitest';
import type { CompiledModel } from '../../src/compile/types.js';
import { parseChatRequest, upstreamBody } from '../../src/gateway/request/chat-request.js';
import { fitModel } from '../../src/gateway/request/fit.js';
import { compileYaml, modelYaml } from '../support/gateway.js';

const { config } = compileYaml(
  modelYaml({ name: 'plain', capabilities: ['text'], contextWindow: 1000, maxInput: 800, maxOutput: 300 }) +
    modelYaml({ name: 'full', capabilities: ['text', 'multimodal', 'tools', 'structuredOutput'], contextWindow: 8192, maxOutput: 8192 }) +
    // The catalog's doubao-seed-2-0-pro limits: a chain of thought of up to 131072 tokens.
    thinker('pro', 'contextWindow: 262144, maxInput: 262144, maxOutput: 131072, maxReasoning: 131072') +
    thinker('own-allowance', 'contextWindow: 262144, maxInput: 262144, maxOutput: 131072, maxReasoning: 131072, reasoningAllowance: 1000') +
    thinker('small', 'contextWindow: 20000, maxInput: 20000, maxOutput: 8000'),
  { mockURL: 'http://127.0.0.1:9/v1' },
);
function thinker(name: string, limits: string): string {
  return modelYaml({ name, capabilities: ['text', 'thinking'] }).replace(/limits: \{[^}]*\}/, `limits: {${limits}}`) + '  providerParameters: [thinking]\n';
}
const model = (id: string): CompiledModel => config.models.get(id) as CompiledModel;
const chat = (extra: Record<string, unknown> = {}) => parseChatRequest({ model: 'x', messages: [{ role: 'user', content: 'hi' }], ...extra });
const codeOf = (f: ReturnType<typeof fitModel>) => (f.ok ? 'ok' : `${f.error.code}:${f.error.param}`);

describe('capabilities', () => {
  const image = {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'see' },
          { type: 'image_url', image_url: { url: 'data:,' } },
        ],
      },
    ],
  };
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
    expect(fitModel(chat({ max_tokens: 300 }), model('plain'), 10)).toEqual({
      ok: true,
      maxTokens: 300,
      upstreamLimit: { param: 'max_tokens', value: 300 },
      maxOutput: 300,
    });
  });

  it('an input above maxInput is refused; exactly maxInput fits', () => {
    expect(codeOf(fitModel(chat(), model('plain'), 801))).toBe('context_length_exceeded:messages');
    expect(fitModel(chat({ max_tokens: 200 }), model('plain'), 800)).toEqual({
      ok: true,
      maxTokens: 200,
      upstreamLimit: { param: 'max_tokens', value: 200 },
      maxOutput: 200,
    });
  });

  it('input plus max_tokens above the context window is refused', () => {
    expect(codeOf(fitModel(chat({ max_tokens: 201 }), model('plain'), 800))).toBe('context_length_exceeded:max_tokens');
  });

  it("no max_tokens: the model's default, shortened to the room the input leaves", () => {
    expect(fitModel(chat(), model('plain'), 10)).toEqual({ ok: true, maxTokens: 300, upstreamLimit: { param: 'max_tokens', value: 300 }, maxOutput: 300 });
    expect(fitModel(chat(), model('plain'), 750)).toEqual({ ok: true, maxTokens: 250, upstreamLimit: { param: 'max_tokens', value: 250 }, maxOutput: 250 });
    expect(fitModel(chat(), model('full'), 10)).toEqual({ ok: true, maxTokens: 4096, upstreamLimit: { param: 'max_tokens', value: 4096 }, maxOutput: 4096 });
  });

  it('no max_tokens and no room left at all is refused', () => {
    expect(codeOf(fitModel(chat(), model('full'), 8192))).toBe('context_length_exceeded:max_tokens');
  });

  it('capabilities are checked before limits', () => {
    expect(codeOf(fitModel(chat({ tools: [{ type: 'function' }], max_tokens: 5000 }), model('plain'), 10))).toBe('unsupported_capability:tools');
  });
});

describe("a thinking model's reasoning: bounded upstream by what is reserved (issue #10)", () => {
  const limitOf = (extra: Record<string, unknown>, id: string, input = 10) => {
    const f = fitModel(chat(extra), model(id), input);
    return f.ok ? { limit: f.upstreamLimit, maxOutput: f.maxOutput } : f.error.message;
  };
  const completion = (value: number, n = 1) => ({ limit: { param: 'max_completion_tokens', value }, maxOutput: n * value });

  it('no max_tokens: max_completion_tokens = the default 4096 + the default allowance 16384, not maxReasoning (131072)', () => {
    expect(model('pro').limits.reasoningAllowance).toBe(16384);
    expect(model('own-allowance').limits.reasoningAllowance).toBe(1000);
    expect(model('plain').limits.reasoningAllowance).toBe(0);
    expect(limitOf({}, 'pro')).toEqual(completion(4096 + 16384));
  });

  it("the client's max_tokens plus the allowance becomes max_completion_tokens; the route's own allowance counts", () => {
    expect(limitOf({ max_tokens: 100 }, 'pro')).toEqual(completion(100 + 16384));
    expect(limitOf({ max_tokens: 100 }, 'own-allowance')).toEqual(completion(1100));
  });

  it("the client's max_completion_tokens is kept as is; thinking off keeps max_tokens", () => {
    expect(limitOf({ max_completion_tokens: 100 }, 'pro')).toEqual(completion(100));
    expect(limitOf({ max_tokens: 100, max_completion_tokens: 100 }, 'pro')).toEqual(completion(100));
    expect(limitOf({ max_tokens: 100, thinking: { type: 'disabled' } }, 'pro')).toEqual({ limit: { param: 'max_tokens', value: 100 }, maxOutput: 100 });
  });

  it('without maxReasoning the default allowance stays within maxOutput', () => {
    expect(model('small').limits.reasoningAllowance).toBe(8000);
    expect(limitOf({ max_tokens: 10 }, 'small')).toEqual(completion(8010));
  });

  it('the allowance is cut to the room the context window leaves, down to none', () => {
    expect(limitOf({ max_tokens: 1000 }, 'small', 15000)).toEqual(completion(5000));
    expect(limitOf({ max_tokens: 1000 }, 'small', 19000)).toEqual(completion(1000));
    expect(limitOf({}, 'small', 19999)).toEqual(completion(1));
  });

  it('the reservation covers every choice: n × max_completion_tokens', () => {
    const wide = compileYaml(thinker('wide', 'contextWindow: 262144, maxInput: 262144, maxOutput: 131072, maxReasoning: 131072, maxChoices: 128'), {
      mockURL: 'http://127.0.0.1:9/v1',
    });
    const f = fitModel(chat({ n: 128, max_tokens: 131072 }), wide.config.models.get('wide') as CompiledModel, 10);
    expect(f.ok && f.maxOutput).toBe(128 * (131072 + 16384));
  });

  it('the forwarded body carries exactly the one bound reserved for, never max_tokens beside max_completion_tokens', () => {
    const send = (extra: Record<string, unknown>, id: string) => {
      const req = chat({ ...extra, fallback_models: ['x'] });
      const f = fitModel(req, model(id), 10);
      if (!f.ok) throw new Error(f.error.message);
      const body = upstreamBody(req, { upstreamModel: 'up', limit: f.upstreamLimit });
      return {
        max_tokens: body['max_tokens'],
        max_completion_tokens: body['max_completion_tokens'],
        model: body['model'],
        fallback_models: body['fallback_models'],
      };
    };
    expect(send({}, 'pro')).toEqual({ max_completion_tokens: 4096 + 16384, model: 'up' });
    expect(send({ max_tokens: 100 }, 'pro')).toEqual({ max_completion_tokens: 100 + 16384, model: 'up' });
    expect(send({ max_tokens: 100, max_completion_tokens: 100 }, 'pro')).toEqual({ max_completion_tokens: 100, model: 'up' });
    expect(send({ max_tokens: 100, thinking: { type: 'disabled' } }, 'pro')).toEqual({ max_tokens: 100, model: 'up' });
    expect(send({ max_completion_tokens: 50, max_tokens: 50 }, 'plain')).toEqual({ max_completion_tokens: 50, model: 'up' });
    expect(send({}, 'plain')).toEqual({ max_tokens: 300, model: 'up' });
  });
});
