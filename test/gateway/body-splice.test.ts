/**
 * The upstream body as an edit of the client's JSON text (body-splice.ts) against its oracle,
 * JSON.stringify of upstreamBody: the same members on random bodies written in hostile ways
 * (random whitespace, keys and strings spelled with \u escapes), and never a text where the
 * gateway reads one thing and the upstream another. Pure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, spliceObject, topLevelMembers } from '../../src/gateway/request/body-splice.js';
import { type ChatRequest, type UpstreamLimit, upstreamBody, upstreamPayload } from '../../src/gateway/request/chat-request.js';

/** JSON text of `value` with whitespace and \u escapes chosen by `pick` (a source of booleans). */
function hostileJson(value: unknown, pick: () => boolean): string {
  const ws = (): string => (pick() ? (pick() ? ' \n\t' : ' ') : '');
  const str = (s: string): string =>
    pick()
      ? [...s]
          .map((ch) =>
            ch
              .split('')
              .map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`)
              .join(''),
          )
          .join('')
      : JSON.stringify(s).slice(1, -1);
  const write = (v: unknown): string => {
    if (typeof v === 'string') return `"${str(v)}"`;
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => write(x)).join(`${ws()},${ws()}`)}${ws()}]`;
    if (typeof v === 'object' && v !== null) {
      const members = Object.entries(v).map(([k, x]) => `${ws()}"${str(k)}"${ws()}:${ws()}${write(x)}${ws()}`);
      return `{${members.join(',')}${ws()}}`;
    }
    return JSON.stringify(v);
  };
  return `${ws()}${write(value)}${ws()}`;
}

function picker(bits: readonly boolean[]): () => boolean {
  let i = 0;
  return () => bits.length > 0 && (bits[i++ % bits.length] as boolean);
}

const request = (raw: string, stream = false): ChatRequest => {
  const body = JSON.parse(raw) as Record<string, unknown>;
  // upstreamPayload reads the body, its text and whether it streams; the rest does not matter here.
  return { body, raw, stream } as unknown as ChatRequest;
};

const OWN_KEYS = [
  'model',
  'messages',
  'fallback_models',
  'max_tokens',
  'max_completion_tokens',
  'stream_options',
  'stream',
  'temperature',
  '__x',
  'mod\u0065l2',
];
const bodyArb = fc
  .record({
    model: fc.string(),
    rest: fc.dictionary(fc.oneof(fc.constantFrom(...OWN_KEYS), fc.string()), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
  })
  // model first or last: the gateway reads the body's own model wherever it is.
  .chain(({ model, rest }) => fc.boolean().map((first) => (first ? { model, ...rest } : { ...rest, model })))
  .filter((b) => !Object.prototype.hasOwnProperty.call(b, '__proto__'));
const limitArb: fc.Arbitrary<UpstreamLimit> = fc.record({
  param: fc.constantFrom('max_tokens', 'max_completion_tokens'),
  value: fc.integer({ min: 1, max: 1_000_000 }),
});

describe('upstreamPayload', () => {
  it('has the members of JSON.stringify(upstreamBody) on random bodies written in hostile ways', () => {
    fc.assert(
      fc.property(bodyArb, fc.array(fc.boolean(), { maxLength: 64 }), limitArb, fc.string(), fc.boolean(), (body, bits, limit, upstreamModel, stream) => {
        const req = request(hostileJson(body, picker(bits)), stream);
        // The text path is the one under test: it must take every such body (no repeated key, shallow).
        expect(topLevelMembers(req.raw as string)).toBeDefined();
        const opts = { upstreamModel, limit };
        const text = upstreamPayload(req, opts);
        const oracle = JSON.parse(JSON.stringify(upstreamBody(req, opts))) as unknown;
        expect(JSON.parse(text)).toEqual(oracle);
        // Exactly one of each key: what the upstream reads is what the oracle says, whichever parser it uses.
        expect(topLevelMembers(text)).toBeDefined();
      }),
      { numRuns: 500 },
    );
  });

  it('sends the routed model once when the body names two (duplicate keys fall back to the parsed body)', () => {
    const raw = '{"model":"cheap","messages":[{"role":"user","content":"hi"}],"model":"routed"}';
    const req = request(raw);
    expect(req.body['model']).toBe('routed');
    const text = upstreamPayload(req, { upstreamModel: 'up-routed', limit: { param: 'max_tokens', value: 5 } });
    expect(text.match(/"model"/g)).toHaveLength(1);
    expect(JSON.parse(text)).toEqual({ model: 'up-routed', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
  });

  it("reads keys spelled with escapes as JSON.parse does: an escaped `model` or `fallback_models` is the gateway's", () => {
    const raw = '{"mod\\u0065l":"asked","fallback\\u005fmodels":["x"],"max_tokens":9,"messages":[]}';
    const text = upstreamPayload(request(raw), { upstreamModel: 'up', limit: { param: 'max_completion_tokens', value: 7 } });
    expect(JSON.parse(text)).toEqual({ model: 'up', messages: [], max_completion_tokens: 7 });
    expect(topLevelMembers(text)?.map((m) => m.key)).toEqual(['model', 'messages', 'max_completion_tokens']);
  });

  it('leaves a `model` inside a message, a nested object or a string as the client wrote it', () => {
    const raw = '{"messages":[{"role":"user","content":"\\"model\\": \\"evil\\", \\\\","model":"inner"}],"metadata":{"model":"m"},"model":"asked"}';
    const text = upstreamPayload(request(raw), { upstreamModel: 'up', limit: { param: 'max_tokens', value: 1 } });
    expect(JSON.parse(text)).toEqual({
      messages: [{ role: 'user', content: '"model": "evil", \\', model: 'inner' }],
      metadata: { model: 'm' },
      model: 'up',
      max_tokens: 1,
    });
    // The client's own bytes, not a re-serialisation of them.
    expect(text.startsWith('{"messages":[{"role":"user","content":"\\"model\\": \\"evil\\", \\\\","model":"inner"}]')).toBe(true);
  });

  it("sets stream_options.include_usage in place, keeping the client's other options", () => {
    const raw = '{"model":"m","stream_options":{"include_usage":false,"x":1},"stream":true,"messages":[]}';
    const text = upstreamPayload(request(raw, true), { upstreamModel: 'm', limit: { param: 'max_tokens', value: 3 } });
    expect(text).toBe('{"model":"m","stream_options":{"include_usage":true,"x":1},"stream":true,"messages":[],"max_tokens":3}');
  });

  it('a body nested deeper than MAX_DEPTH is serialised from the parsed body (whose stack limit decides)', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const req = request(`{"model":"m","messages":[],"extra":${deep}}`);
    expect(() => upstreamPayload(req, { upstreamModel: 'm', limit: { param: 'max_tokens', value: 1 } })).toThrow(RangeError);
    const fine = `${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`;
    const ok = upstreamPayload(request(`{"model":"m","extra":${fine}}`), { upstreamModel: 'u', limit: { param: 'max_tokens', value: 1 } });
    expect(ok).toBe(`{"model":"u","extra":${fine},"max_tokens":1}`);
  });
});

describe('topLevelMembers', () => {
  it.each([
    ['a repeated key', '{"a":1,"a":2}'],
    ['a key repeated under an escape', '{"a":1,"\\u0061":2}'],
    ['an array', '[1,2]'],
    ['a byte-order mark', '\ufeff{"a":1}'],
    ['trailing text', '{"a":1} x'],
  ])('refuses %s', (_what, text) => {
    expect(topLevelMembers(text)).toBeUndefined();
  });

  it('finds each member of an object written with any whitespace', () => {
    const text = ' {\n "a" : "x\\"}" ,"b":[{"c":"]"}],\t"d": -1.5e3 , "e":null}\n';
    expect(topLevelMembers(text)?.map((m) => [m.key, text.slice(m.valueStart, m.end)])).toEqual([
      ['a', '"x\\"}"'],
      ['b', '[{"c":"]"}]'],
      ['d', '-1.5e3'],
      ['e', 'null'],
    ]);
    expect(topLevelMembers('{}')).toEqual([]);
  });

  it('spliceObject of an empty object only adds', () => {
    expect(spliceObject('{ }', { drop: new Set(), set: [['model', '"m"']] })).toBe('{"model":"m"}');
  });
});
