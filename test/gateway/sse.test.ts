/** SSE splitting and per-event rewriting: model rename, produced chunks, usage. Pure. */
import { describe, expect, it } from 'vitest';
import { type Usage, processEvent, usageOf } from '../../src/gateway/proxy/sse.js';
import { type ScanOptions, type ScanTally, SseScanner, scanOptions } from '../../src/gateway/proxy/sse-scan.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const chunk = (fields: Record<string, unknown>) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'up-1', ...fields })}`;
const rename = { from: 'up-1', to: 'public' };
/** The scan options both byte-path suites check against processEvent. */
const OPTION_CASES = [
  ['no rename, usage asked', { includeUsage: true }],
  ['no rename, usage not asked', { includeUsage: false }],
  ['rename, usage asked', { includeUsage: true, rename }],
  ['rename, usage not asked', { includeUsage: false, rename }],
  ['rename to a non-ASCII name', { includeUsage: false, rename: { from: 'up-1', to: 'modèle' } }],
] as const;

/** A scanner that keeps every event as it is (no rename, usage asked): what it sends is what it split. */
const splitter = () => {
  const tally: ScanTally = { usage: undefined, produced: 0, done: false };
  const scanner = new SseScanner(scanOptions({ includeUsage: true }), tally);
  return { tally, scanner, push: (b: Buffer) => scanner.push(b)?.toString('utf8') };
};

describe('SseScanner: splitting', () => {
  it('sends whole events only, across chunk boundaries and with CRLF line ends', () => {
    const s = splitter();
    expect(s.push(bytes('data: a\n\nda'))).toBe('data: a\n\n');
    expect(s.push(bytes('ta: b\r'))).toBeUndefined();
    // CRLF events take processEvent, which ends them with LF.
    expect(s.push(bytes('\n\r\ndata: c\n\n'))).toBe('data: b\n\ndata: c\n\n');
    expect(s.scanner.rest()).toBe('');
  });

  it('splits at every form of blank line', () => {
    const s = splitter();
    expect(s.push(bytes('data: a\r\n\r\ndata: b\n\r\ndata: c\r\n\ndata: d\n\n'))).toBe('data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\n');
  });

  it('keeps a multi-byte character split between two chunks intact', () => {
    const s = splitter();
    const all = bytes('data: {"content":"héllo €"}\n\n');
    const cut = all.indexOf(0xe2) + 1;
    expect(s.push(all.subarray(0, cut))).toBeUndefined();
    expect(s.push(all.subarray(cut))).toBe('data: {"content":"héllo €"}\n\n');
    expect(s.tally.produced).toBe(1);
  });

  it('gives back what is left when the stream ends without a blank line', () => {
    const s = splitter();
    s.push(bytes('data: [DONE]'));
    expect(s.scanner.rest()).toBe('data: [DONE]');
  });

  it('sends a chunk of unchanged events as the chunk itself (no copy)', () => {
    const s = splitter();
    const chunk = bytes('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n');
    expect(s.scanner.push(chunk)).toBe(chunk);
    expect(s.tally).toEqual({ usage: undefined, produced: 1, done: true });
  });
});

describe('processEvent', () => {
  it('renames the upstream model to the public one and counts content as produced', () => {
    const r = processEvent(chunk({ choices: [{ index: 0, delta: { content: 'Hi' } }] }), { includeUsage: false, rename });
    expect(JSON.parse(r.out?.slice(6) ?? '')).toMatchObject({ model: 'public' });
    expect(r).toMatchObject({ produced: true, done: false });
  });

  it('counts reasoning and tool call deltas as produced; a role-only or empty delta is not', () => {
    const produced = (delta: unknown) => processEvent(chunk({ choices: [{ index: 0, delta }] }), { includeUsage: false }).produced;
    expect(produced({ reasoning_content: 'thinking' })).toBe(true);
    expect(produced({ tool_calls: [{ index: 0, function: { arguments: '{' } }] })).toBe(true);
    expect(produced({ role: 'assistant', content: '' })).toBe(false);
    expect(produced({ content: null })).toBe(false);
  });

  it('counts every other output delta kind as produced: reasoning, refusal, function_call, audio (issue #10)', () => {
    const produced = (delta: unknown) => processEvent(chunk({ choices: [{ index: 0, delta }] }), { includeUsage: false }).produced;
    expect(produced({ reasoning: 'hmm' })).toBe(true);
    expect(produced({ refusal: 'I cannot' })).toBe(true);
    expect(produced({ function_call: { arguments: '{' } })).toBe(true);
    expect(produced({ audio: { transcript: 'hi', data: 'AAAA' } })).toBe(true);
    expect(produced({ role: 'assistant', content: '', refusal: null, audio: null })).toBe(false);
  });

  it('understands upstreams that write JSON with spaces after the colons (rename and produced were missed)', () => {
    const spaced = `data: ${JSON.stringify({ model: 'up-1', choices: [{ index: 0, delta: { content: 'Hi' } }] }).replaceAll('":', '": ')}`;
    const r = processEvent(spaced, { includeUsage: false, rename });
    expect(JSON.parse(r.out?.slice(6) ?? '')).toMatchObject({ model: 'public' });
    expect(r.produced).toBe(true);
  });

  it('renames a model whose name has regex characters, and only that name', () => {
    const r = processEvent(chunk({ model: 'a.b+c', choices: [] }), { includeUsage: true, rename: { from: 'a.b+c', to: 'pub' } });
    expect(r.out).toContain('"model":"pub"');
    const other = processEvent(chunk({ model: 'axb+c', choices: [] }), { includeUsage: true, rename: { from: 'a.b+c', to: 'pub' } });
    expect(other.out).toContain('"model":"axb+c"');
  });

  it('[DONE] ends the stream; comments and other fields pass through untouched', () => {
    expect(processEvent('data: [DONE]', { includeUsage: false })).toEqual({ out: 'data: [DONE]\n\n', produced: false, done: true });
    expect(processEvent(': keep-alive', { includeUsage: false })).toEqual({ out: ': keep-alive\n\n', produced: false, done: false });
  });

  const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10, prompt_tokens_details: { cached_tokens: 2 } };

  it('passes the usage chunk through when the client asked, and reads it', () => {
    const r = processEvent(chunk({ choices: [], usage }), { includeUsage: true });
    expect(r.out).toContain('"usage":{"prompt_tokens":7');
    expect(r.usage).toEqual({ promptTokens: 7, completionTokens: 3, cachedTokens: 2 });
  });

  it('drops the usage-only chunk the client did not ask for, but still reads it', () => {
    const r = processEvent(chunk({ choices: [], usage }), { includeUsage: false });
    expect(r.out).toBeNull();
    expect(r.usage?.completionTokens).toBe(3);
  });

  it('blanks usage on a content chunk the client did not ask usage for', () => {
    const r = processEvent(chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage }), { includeUsage: false, rename });
    const out = JSON.parse(r.out?.slice(6) ?? '') as Record<string, unknown>;
    expect(out['usage']).toBeNull();
    expect(out['model']).toBe('public');
    expect(r).toMatchObject({ produced: true, usage: { promptTokens: 7 } });
  });

  it('leaves `usage: null` chunks alone', () => {
    const event = chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage: null });
    expect(processEvent(event, { includeUsage: false }).out).toBe(`${event}\n\n`);
  });
});

/** One event through the scanner: its bytes kept as they came, replaced, or dropped (null). */
interface EventScan {
  readonly out: 'keep' | Buffer | null;
  readonly usage?: Usage;
  readonly produced: boolean;
  readonly done: boolean;
}

/** Scans one complete event (terminator included), as the relay does inside a chunk. */
function scanEvent(event: Buffer, o: ScanOptions): EventScan {
  const tally: ScanTally = { usage: undefined, produced: 0, done: false };
  const out = new SseScanner(o, tally).push(event);
  const usage = tally.usage === undefined ? {} : { usage: tally.usage };
  return { out: out === event ? 'keep' : (out ?? null), ...usage, produced: tally.produced > 0, done: tally.done };
}

describe('scanEvent, the relay path: bytes in, bytes out', () => {
  const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
  const content = (text: string, model = 'up-1') => `data: ${JSON.stringify({ id: 'c1', model, choices: [{ index: 0, delta: { content: text } }] })}`;
  /** Every kind of event the slow path knows, with LF and CRLF terminators. */
  const cases: string[] = [
    content('Hi'),
    content('héllo € 你好 🎉'),
    content(''),
    content('x', 'other'),
    chunk({ choices: [{ index: 0, delta: { reasoning_content: '思考' } }] }),
    chunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{' } }] } }] }),
    chunk({ choices: [], usage }),
    chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage }),
    chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage: null }),
    `data: ${JSON.stringify({ model: 'up-1', choices: [{ index: 0, delta: { content: 'Hi' } }] }).replaceAll('":', '": ')}`,
    'data: [DONE]',
    'data:[DONE]',
    ': keep-alive',
    'event: message\ndata: {"model":"up-1","choices":[{"delta":{"content":"two lines"}}]}',
    'data:{"model":"up-1","choices":[{"delta":{"content":"no space"}}]}',
  ];
  const through = (event: string, terminator: string, o: Parameters<typeof scanOptions>[0]) => {
    const buf = bytes(`${event}${terminator}`);
    const r = scanEvent(buf, scanOptions(o));
    return { ...r, out: r.out === 'keep' ? buf.toString('utf8') : r.out === null ? null : r.out.toString('utf8') };
  };

  it.each([...OPTION_CASES, ['rename from a non-ASCII name', { includeUsage: false, rename: { from: 'modèle', to: 'public' } }]] as const)(
    'sends, counts and reads exactly what processEvent does (%s), for LF and CRLF events',
    (_name, o) => {
      for (const event of cases) {
        for (const terminator of ['\n\n', '\r\n\r\n']) {
          const text = terminator === '\n\n' ? event : event.replaceAll('\n', '\r\n');
          // The slow path normalises the terminator to LF; the fast path only keeps LF events as they are.
          expect([text, through(text, terminator, o)]).toEqual([text, processEvent(text, o)]);
        }
      }
    },
  );

  it('keeps a plain content event as the upstream bytes (no copy), and renames by splicing bytes', () => {
    const event = content('héllo');
    const buf = bytes(`${event}\n\n`);
    expect(scanEvent(buf, scanOptions({ includeUsage: false }))).toEqual({ out: 'keep', produced: true, done: false });
    const renamed = scanEvent(buf, scanOptions({ includeUsage: false, rename }));
    expect(renamed.out).toBeInstanceOf(Buffer);
    expect((renamed.out as Buffer).toString('utf8')).toBe(`${content('héllo', 'public')}\n\n`);
  });
});

describe('SseScanner over a whole stream: the same bytes and counts as processEvent event by event', () => {
  const usage = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
  const events = [
    chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }], usage: null }),
    chunk({ choices: [{ index: 0, delta: { content: 'héllo €' } }], usage: null }),
    ': keep-alive',
    chunk({ choices: [{ index: 0, delta: { content: ' 你好' } }] }),
    `data: ${JSON.stringify({ model: 'up-1', choices: [{ index: 0, delta: { content: 'Hi' } }] }).replaceAll('":', '": ')}`,
    chunk({ choices: [{ index: 0, delta: { content: 'x' } }], usage }),
    chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }),
    chunk({ choices: [], usage }),
    'data: [DONE]',
  ];
  const stream = bytes(events.map((e) => `${e}\n\n`).join(''));

  it.each(OPTION_CASES)('%s, cut into two chunks at every byte', (_name, o) => {
    const results = events.map((e) => processEvent(e, o));
    const expected = results.map((r) => r.out ?? '').join('');
    const expectedTally = {
      usage: results.findLast((r) => r.usage !== undefined)?.usage,
      produced: results.filter((r) => r.produced).length,
      done: true,
    };
    for (let cut = 0; cut <= stream.length; cut++) {
      const tally: ScanTally = { usage: undefined, produced: 0, done: false };
      const scanner = new SseScanner(scanOptions(o), tally);
      const out = [stream.subarray(0, cut), stream.subarray(cut)].map((part) => scanner.push(part)?.toString('utf8') ?? '').join('');
      expect([cut, out]).toEqual([cut, expected]);
      expect(tally).toEqual(expectedTally);
      expect(scanner.rest()).toBe('');
    }
  });
});

describe('usageOf', () => {
  it('reads prompt, completion and cached tokens; cached never above prompt', () => {
    expect(usageOf({ prompt_tokens: 5, completion_tokens: 1 })).toEqual({ promptTokens: 5, completionTokens: 1, cachedTokens: 0 });
    expect(usageOf({ prompt_tokens: 5, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 9 } })?.cachedTokens).toBe(5);
  });

  it('is undefined for a missing or malformed usage', () => {
    expect(usageOf(undefined)).toBeUndefined();
    expect(usageOf(null)).toBeUndefined();
    expect(usageOf({ prompt_tokens: '5', completion_tokens: 1 })).toBeUndefined();
  });
});
