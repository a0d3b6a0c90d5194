/**
 * Server-sent events from an OpenAI-compatible upstream, one event at a time: split, inspect
 * (usage, produced chunks, [DONE]) and rewrite (the public model name, the usage chunk the client
 * did not ask for). Pure: bytes in, bytes out. The common event (one `data: ` line, no usage) is
 * scanned without decoding or re-encoding it and goes out as the upstream's own bytes; anything
 * else takes the slow path through processEvent.
 */

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
}

export interface EventResult {
  /** What to send to the client (with its trailing blank line), or null to drop the event. */
  readonly out: string | null;
  readonly usage?: Usage;
  /** The event carried generated output (content, reasoning, refusal, tool/function call or audio delta). */
  readonly produced: boolean;
  readonly done: boolean;
}

/**
 * One complete event inside `buf`: its bytes are [start, end) without the blank-line terminator;
 * the next event starts at `next`. A view, not a copy: unchanged events go out as these bytes.
 */
export interface SseEvent {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  readonly next: number;
}

const LF = 10;
const CR = 13;

/**
 * Splits bytes into complete events at blank lines (LF or CRLF line ends). Works on bytes, not
 * text: a blank line never falls inside a multi-byte UTF-8 character, so nothing is decoded here.
 */
export class SseSplitter {
  private pending: Buffer | undefined;

  push(chunk: Buffer): SseEvent[] {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const events: SseEvent[] = [];
    let start = 0;
    let lf = buf.indexOf(LF, start);
    while (lf !== -1) {
      let after = lf + 1;
      if (buf[after] === CR) after++;
      if (buf[after] === LF) {
        const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
        events.push({ buf, start, end, next: after + 1 });
        start = after + 1;
        lf = buf.indexOf(LF, start);
      } else {
        lf = buf.indexOf(LF, lf + 1);
      }
    }
    this.pending = start < buf.length ? buf.subarray(start) : undefined;
    return events;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  rest(): string {
    const r = this.pending?.toString('utf8') ?? '';
    this.pending = undefined;
    return r;
  }
}

// JSON from upstreams may have spaces after the colons (Python's json.dumps does). Every kind of
// output delta counts: text, reasoning (DeepSeek/Ark's reasoning_content, OpenRouter's reasoning),
// a refusal, tool and legacy function calls, audio.
const PRODUCED = /"(?:content|reasoning_content|reasoning|refusal)"\s*:\s*"(?!")|"(?:tool_calls|function_call|audio)"\s*:\s*[[{]/;
const HAS_USAGE = /"usage":\s*\{/;

export function processEvent(event: string, opts: { includeUsage: boolean; rename?: { from: string; to: string } }): EventResult {
  const data = dataOf(event);
  if (data === undefined) return { out: `${event}\n\n`, produced: false, done: false };
  if (data.trim() === '[DONE]') return { out: 'data: [DONE]\n\n', produced: false, done: true };
  let payload = data;
  if (opts.rename !== undefined && opts.rename.from !== opts.rename.to) payload = renameModel(payload, opts.rename);
  const produced = PRODUCED.test(payload);
  if (!HAS_USAGE.test(payload)) return { out: `data: ${payload}\n\n`, produced, done: false };
  return withUsage(payload, produced, opts.includeUsage);
}

/** The first `"model": "<from>"` (compact, or spaced by the upstream) becomes `"model":"<to>"`. */
function renameModel(payload: string, rename: { from: string; to: string }): string {
  const to = `"model":${JSON.stringify(rename.to)}`;
  const compact = `"model":${JSON.stringify(rename.from)}`;
  if (payload.includes(compact)) return payload.replace(compact, () => to);
  const literal = JSON.stringify(rename.from).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return payload.replace(new RegExp(`"model"\\s*:\\s*${literal}`), () => to);
}

function withUsage(payload: string, produced: boolean, includeUsage: boolean): EventResult {
  let chunk: Record<string, unknown>;
  try {
    chunk = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return { out: `data: ${payload}\n\n`, produced, done: false };
  }
  const usage = usageOf(chunk['usage']);
  if (includeUsage) return { out: `data: ${payload}\n\n`, ...(usage ? { usage } : {}), produced, done: false };
  const choices = chunk['choices'];
  // The client did not ask for usage: drop the usage-only chunk, or blank usage on a content chunk.
  if (!Array.isArray(choices) || choices.length === 0) return { out: null, ...(usage ? { usage } : {}), produced, done: false };
  return { out: `data: ${JSON.stringify({ ...chunk, usage: null })}\n\n`, ...(usage ? { usage } : {}), produced, done: false };
}

function dataOf(event: string): string | undefined {
  const lines = event.split(/\r?\n/).filter((l) => l.startsWith('data:'));
  if (lines.length === 0) return undefined;
  return lines.map((l) => l.slice(l.startsWith('data: ') ? 6 : 5)).join('\n');
}

/** OpenAI usage object → ours; undefined when absent or malformed. */
export function usageOf(u: unknown): Usage | undefined {
  if (typeof u !== 'object' || u === null) return undefined;
  const r = u as Record<string, unknown>;
  const prompt = r['prompt_tokens'];
  const completion = r['completion_tokens'];
  // Counts are taken as sent (billing.ts clamps and logs those out of range); 1e999 parses as Infinity.
  if (typeof prompt !== 'number' || typeof completion !== 'number' || !Number.isFinite(prompt) || !Number.isFinite(completion)) return undefined;
  const details = r['prompt_tokens_details'] as Record<string, unknown> | undefined;
  const c = details?.['cached_tokens'];
  const cached = typeof c === 'number' && Number.isFinite(c) ? c : 0;
  return { promptTokens: prompt, completionTokens: completion, cachedTokens: Math.min(cached, prompt) };
}

/** What to do with one event: send its bytes as they came, send these bytes instead, or drop it. */
export interface EventScan {
  readonly out: 'keep' | Buffer | null;
  readonly usage?: Usage;
  readonly produced: boolean;
  readonly done: boolean;
}

/** Per stream: what the scan of each event needs, computed once. */
export interface ScanOptions {
  readonly includeUsage: boolean;
  readonly rename?: { from: string; to: string };
  /** `"model":"<from>"` when it is ASCII (so a latin1 view of the bytes finds it), and its replacement. */
  readonly needle?: string;
  readonly replacement?: Buffer;
}

export function scanOptions(opts: { includeUsage: boolean; rename?: { from: string; to: string } }): ScanOptions {
  const rename = opts.rename;
  if (rename === undefined || rename.from === rename.to) return { includeUsage: opts.includeUsage };
  const needle = `"model":${JSON.stringify(rename.from)}`;
  // eslint-disable-next-line no-control-regex -- ASCII test
  if (!/^[\x00-\x7f]*$/.test(needle)) return { includeUsage: opts.includeUsage, rename };
  return { includeUsage: opts.includeUsage, rename, needle, replacement: Buffer.from(`"model":${JSON.stringify(rename.to)}`) };
}

const DATA = 'data: ';

/**
 * The event's bytes read as latin1 (one char per byte, no decoding): JSON keys and punctuation
 * are ASCII, and no byte of a multi-byte UTF-8 character is, so the patterns match as on text.
 */
export function scanEvent(e: SseEvent, o: ScanOptions): EventScan {
  const text = e.buf.toString('latin1', e.start, e.end);
  // The fast path keeps the bytes as they are, terminator included: it must be exactly "\n\n".
  const plain = e.next === e.end + 2 && e.buf[e.end] === LF;
  if (!plain || !text.startsWith(DATA) || text.includes('\n') || HAS_USAGE.test(text)) return slowPath(e, o);
  if (text === 'data: [DONE]') return { out: 'keep', produced: false, done: true };
  const produced = PRODUCED.test(text);
  if (o.rename === undefined) return { out: 'keep', produced, done: false };
  if (o.needle === undefined || o.replacement === undefined) return slowPath(e, o);
  const at = text.indexOf(o.needle);
  // Not in its compact form (spaced JSON), or no model field: the slow path knows every form.
  if (at < 0) return slowPath(e, o);
  const out = Buffer.concat([e.buf.subarray(e.start, e.start + at), o.replacement, e.buf.subarray(e.start + at + o.needle.length, e.next)]);
  return { out, produced, done: false };
}

function slowPath(e: SseEvent, o: ScanOptions): EventScan {
  const r = processEvent(e.buf.toString('utf8', e.start, e.end), { includeUsage: o.includeUsage, ...(o.rename ? { rename: o.rename } : {}) });
  return { ...r, out: r.out === null ? null : Buffer.from(r.out) };
}
