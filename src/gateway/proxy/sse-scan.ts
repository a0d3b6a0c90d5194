/**
 * The relay's pass over an upstream SSE stream, one upstream chunk at a time: it finds the
 * chunk's complete events, reads them (usage, produced output, [DONE]) and rewrites what must
 * change (the public model name, the usage chunk the client did not ask for), and gives back the
 * bytes for one write to the client.
 *
 * Why not event by event: a stream chunk carries tens of events, and per-event decoding, regex
 * subjects, result objects and copies were most of the gateway's streaming cost beyond the bare
 * proxy. Here a chunk is read as one latin1 string (one char per byte, no decoding: JSON keys and
 * punctuation are ASCII and no byte of a multi-byte UTF-8 character is, so the patterns match as
 * on text), unchanged events are never copied (a chunk of only such events is written as it
 * came), and a chunk with changes is joined once. Anything unusual (several lines, CRLF, spaced
 * JSON, usage to blank) goes through processEvent, which defines what every event becomes.
 */
import { type EventResult, HAS_USAGE, PRODUCED, type Usage, processEvent, usageOf } from './sse.js';

/** Per stream: what the scan of each event needs, computed once. */
export interface ScanOptions {
  readonly includeUsage: boolean;
  readonly rename?: { from: string; to: string };
  /**
   * `"model":"<from>"` when it is ASCII (so a latin1 view of the bytes finds it), and its
   * replacement's UTF-8 bytes as a latin1 string (what the output is built from).
   */
  readonly needle?: string;
  readonly replacement?: string;
}

export function scanOptions(opts: { includeUsage: boolean; rename?: { from: string; to: string } }): ScanOptions {
  const rename = opts.rename;
  if (rename === undefined || rename.from === rename.to) return { includeUsage: opts.includeUsage };
  const needle = `"model":${JSON.stringify(rename.from)}`;
  // eslint-disable-next-line no-control-regex -- ASCII test
  if (!/^[\x00-\x7f]*$/.test(needle)) return { includeUsage: opts.includeUsage, rename };
  return { includeUsage: opts.includeUsage, rename, needle, replacement: latin1(`"model":${JSON.stringify(rename.to)}`) };
}

/** What the events read so far said; the scanner updates it in place. */
export interface ScanTally {
  usage: Usage | undefined;
  /** Events that carried generated output. */
  produced: number;
  /** [DONE] was seen. */
  done: boolean;
}

/** Adds what one event (as processEvent read it) said to the tally. */
export function tallyEvent(tally: ScanTally, r: Pick<EventResult, 'usage' | 'produced' | 'done'>): void {
  if (r.usage !== undefined) tally.usage = r.usage;
  if (r.produced) tally.produced++;
  if (r.done) tally.done = true;
}

const LF = 10;
const CR = 13;
const DATA = 'data: ';
const DONE = 'data: [DONE]';
const EMPTY = Buffer.alloc(0);

/** A string's UTF-8 bytes as a latin1 string: one char per byte, as the scanner's text is. */
const latin1 = (s: string): string => Buffer.from(s).toString('latin1');

/** A one-line `data: ` event: where it is in the chunk, and its text. */
interface OneLine {
  readonly start: number;
  readonly end: number;
  readonly next: number;
  readonly text: string;
}

export class SseScanner {
  private pending: Buffer | undefined;
  /** The chunk being scanned and its latin1 view. */
  private buf: Buffer = EMPTY;
  private text = '';
  /**
   * The output of a chunk in which something changed, as latin1 text (so: bytes), and the run of
   * unchanged bytes not yet added to it. Slices and string concatenation make no copies until the
   * one Buffer.from at the end; a list of Buffer views measured twice as slow for a renamed stream.
   */
  private out = '';
  private changed = false;
  private runStart = -1;
  private runEnd = -1;

  constructor(
    private readonly o: ScanOptions,
    private readonly tally: ScanTally,
  ) {}

  /** Scans the complete events `chunk` ends (with what an earlier chunk left); the bytes to send, if any. */
  push(chunk: Buffer): Buffer | undefined {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const text = buf.toString('latin1');
    this.buf = buf;
    this.text = text;
    // Blank lines end events (LF or CRLF line ends); a line break that is not one makes a multi-line event.
    let start = 0;
    let multiline = false;
    let lf = text.indexOf('\n');
    while (lf !== -1) {
      let after = lf + 1;
      if (text.charCodeAt(after) === CR) after++;
      if (text.charCodeAt(after) === LF) {
        const end = lf > start && text.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
        this.event({ start, end, next: after + 1, multiline });
        start = after + 1;
        multiline = false;
        lf = text.indexOf('\n', start);
      } else {
        multiline = true;
        lf = text.indexOf('\n', lf + 1);
      }
    }
    this.pending = start < buf.length ? buf.subarray(start) : undefined;
    const out = this.output();
    this.text = '';
    return out;
  }

  /** Whatever is left when the stream ends without a final blank line. */
  rest(): string {
    const r = this.pending?.toString('utf8') ?? '';
    this.pending = undefined;
    return r;
  }

  /** One event, [start, end) without its terminator; the next starts at `next`. */
  private event(e: { start: number; end: number; next: number; multiline: boolean }): void {
    const { start, end, next } = e;
    // The fast path keeps the bytes as they are, terminator included: one line, ended by exactly "\n\n".
    if (next !== end + 2 || e.multiline || !this.text.startsWith(DATA, start)) return this.slow(start, end);
    // The event's own string for the patterns (a slice shares the chunk's characters): indexOf
    // or a regex from an offset into the whole chunk measured slower.
    const text = this.text.slice(start, end);
    if (HAS_USAGE.test(text)) return this.usageEvent({ start, end, next, text });
    if (text === DONE) {
      this.tally.done = true;
      return this.keep(start, next);
    }
    const produced = PRODUCED.test(text);
    if (!this.keepRenamed({ start, end, next, text })) return this.slow(start, end);
    if (produced) this.tally.produced++;
  }

  /**
   * A one-line event with a usage object, once per stream: read the usage, then keep it (the
   * client asked for usage) or drop it (it did not, and the event carries no choices). A content
   * chunk whose usage must be blanked, or anything that does not parse, goes to processEvent.
   */
  private usageEvent(e: OneLine): void {
    let chunk: unknown;
    try {
      chunk = JSON.parse(this.buf.toString('utf8', e.start + DATA.length, e.end));
    } catch {
      return this.slow(e.start, e.end);
    }
    if (typeof chunk !== 'object' || chunk === null) return this.slow(e.start, e.end);
    const choices = (chunk as Record<string, unknown>)['choices'];
    const drop = !this.o.includeUsage && (!Array.isArray(choices) || choices.length === 0);
    if (!this.o.includeUsage && !drop) return this.slow(e.start, e.end);
    if (!drop && !this.keepRenamed(e)) return this.slow(e.start, e.end);
    if (drop) this.drop();
    const usage = usageOf((chunk as Record<string, unknown>)['usage']);
    if (usage !== undefined) this.tally.usage = usage;
    // The rename touches only the model's value: the pattern sees the same keys either way.
    if (PRODUCED.test(e.text)) this.tally.produced++;
  }

  /**
   * Keeps an event, with the upstream's model name spliced to the public one when it differs;
   * false (nothing kept) when only processEvent can rename it.
   */
  private keepRenamed(e: OneLine): boolean {
    const { rename, needle, replacement } = this.o;
    if (rename === undefined) {
      this.keep(e.start, e.next);
      return true;
    }
    // A non-ASCII name has no latin1 needle; the name not in its compact form (spaced JSON), or no model field.
    const at = needle === undefined ? -1 : e.text.indexOf(needle);
    if (at === -1 || needle === undefined || replacement === undefined) return false;
    this.keep(e.start, e.start + at);
    this.drop();
    this.out += replacement;
    this.keep(e.start + at + needle.length, e.next);
    return true;
  }

  /** The event as processEvent makes it: decoded, rewritten and encoded again. */
  private slow(start: number, end: number): void {
    const o = this.o;
    const r = processEvent(this.buf.toString('utf8', start, end), { includeUsage: o.includeUsage, ...(o.rename ? { rename: o.rename } : {}) });
    tallyEvent(this.tally, r);
    this.drop();
    if (r.out !== null) this.out += latin1(r.out);
  }

  /** Adds [from, to) of the chunk to the bytes to send, extending the current run when it continues it. */
  private keep(from: number, to: number): void {
    if (this.runStart !== -1 && this.runEnd === from) {
      this.runEnd = to;
      return;
    }
    this.flushRun();
    this.runStart = from;
    this.runEnd = to;
  }

  /** Ends the run of unchanged bytes: what follows is not the chunk's own (a replacement, or nothing). */
  private drop(): void {
    this.flushRun();
    this.changed = true;
  }

  private flushRun(): void {
    if (this.runStart === -1) return;
    this.out += this.text.slice(this.runStart, this.runEnd);
    this.runStart = -1;
  }

  /** The chunk itself when every event in it went out unchanged (or a view of it: a partial event follows); otherwise one new buffer. */
  private output(): Buffer | undefined {
    if (!this.changed) {
      const { runStart, runEnd } = this;
      this.runStart = -1;
      if (runStart === -1) return undefined;
      return runStart === 0 && runEnd === this.buf.length ? this.buf : this.buf.subarray(runStart, runEnd);
    }
    this.flushRun();
    const out = this.out;
    this.out = '';
    this.changed = false;
    return out === '' ? undefined : Buffer.from(out, 'latin1');
  }
}
