/**
 * The upstream body as an edit of the client's JSON text instead of a parse-and-stringify of it:
 * the top-level members are located (strings skipped, brackets counted, nothing decoded but the
 * keys), then the members the gateway owns are replaced, dropped or appended and the rest are
 * copied as the client sent them. Pure.
 *
 * It answers undefined whenever the text is not one it can edit safely, and the caller then
 * serialises the parsed body instead (chat-request.ts): not an object, nested deeper than
 * MAX_DEPTH (the serialiser's own limit then decides), or a key that appears twice: a client
 * must not be able to have the gateway read one `messages` and an upstream another.
 */

/** One top-level member: `"key": value` spans [start, end); the value starts at valueStart. */
export interface Member {
  readonly key: string;
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

/** Deeper than this, the caller's JSON.stringify path (and its stack limit) decides. */
export const MAX_DEPTH = 256;

/** The members of the object `text` holds, in order; undefined if it is not one (or repeats a key). */
export function topLevelMembers(text: string): Member[] | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipSpace(text, i + 1);
  const members: Member[] = [];
  const seen = new Set<string>();
  if (text.charCodeAt(i) === CLOSE_OBJECT) return skipSpace(text, i + 1) === text.length ? members : undefined;
  for (;;) {
    const start = i;
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const key = keyOf(text, start, keyEnd);
    if (key === undefined || seen.has(key)) return undefined;
    seen.add(key);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const valueStart = skipSpace(text, i + 1);
    const end = valueEnd(text, valueStart);
    if (end < 0) return undefined;
    members.push({ key, start, valueStart, end });
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_OBJECT) return skipSpace(text, i + 1) === text.length ? members : undefined;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
}

export interface BodyEdit {
  /** Top-level keys left out. */
  readonly drop: ReadonlySet<string>;
  /** Top-level keys whose value is replaced (in place when present, else appended), as JSON text; at most 31. */
  readonly set: ReadonlyArray<readonly [key: string, json: string]>;
}

/**
 * `text` with `edit` applied, members in the order an object spread would give them: kept ones
 * where they were, replaced ones in place, new ones at the end in `set` order.
 */
export function spliceObject(text: string, edit: BodyEdit): string | undefined {
  const members = topLevelMembers(text);
  if (members === undefined) return undefined;
  // One string built as it goes and a bit per `set` entry placed (the gateway sets at most three
  // keys): no list of parts, no lookup closure, no set of placed keys per request.
  let out = '{';
  let placed = 0;
  for (const m of members) {
    if (edit.drop.has(m.key)) continue;
    const at = indexOfKey(edit.set, m.key);
    if (out.length > 1) out += ',';
    if (at < 0) out += text.slice(m.start, m.end);
    else {
      out += text.slice(m.start, m.valueStart) + (edit.set[at] as readonly [string, string])[1];
      placed |= 1 << at;
    }
  }
  for (let i = 0; i < edit.set.length; i++) {
    if ((placed & (1 << i)) !== 0) continue;
    const [key, json] = edit.set[i] as readonly [string, string];
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${json}`;
  }
  return `${out}}`;
}

function indexOfKey(set: BodyEdit['set'], key: string): number {
  for (let i = 0; i < set.length; i++) if ((set[i] as readonly [string, string])[0] === key) return i;
  return -1;
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Index after the closing quote of the string opening at `i`; -1 if it never closes. */
function stringEnd(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    // Escaped when preceded by an odd run of backslashes.
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** A key as JSON.parse reads it: `"mod\u0065l"` is `model`. */
function keyOf(text: string, start: number, end: number): string | undefined {
  const raw = text.slice(start + 1, end - 1);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(start, end)) as string;
  } catch {
    return undefined;
  }
}

/** Index after the value starting at `i` (its text was parsed already: only its extent is found). */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) return containerEnd(text, i);
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  for (;;) {
    const d = text.charCodeAt(j);
    if (Number.isNaN(d) || d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
    j++;
  }
  return j > i ? j : -1;
}

function containerEnd(text: string, i: number): number {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      const e = stringEnd(text, j);
      if (e < 0) return -1;
      j = e - 1;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_DEPTH) return -1;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth === 0) return j + 1;
    }
  }
  return -1;
}
