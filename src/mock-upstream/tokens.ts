// Deterministic token accounting for the mock upstream. Pure functions only: the gateway's
// tests compare its own accounting against these numbers, so they must be reproducible from
// the request alone (no tokenizer, no randomness, no clock).

/** What one image part of a message costs, whatever its size (OpenAI's low-detail price). */
export const IMAGE_TOKENS = 85;
/** Per-message overhead, like OpenAI's role/separator tokens. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Tokens that prime the assistant's reply. */
export const REPLY_PRIMING_TOKENS = 2;
/** How many words of the user's message the answer echoes before it pads. */
const ECHO_WORDS = 8;

const PADDING_WORDS = [
  'alpha',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliet',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa',
] as const;

/** A "word" is a maximal run of non-whitespace characters. */
export function countWords(text: string): number {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Space, tab, LF, VT, FF, CR: enough for a mock, and much cheaper than a regex split.
    const space = c === 32 || (c >= 9 && c <= 13);
    if (!space && !inWord) count++;
    inWord = !space;
  }
  return count;
}

function splitWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Tokens of one message's content: words of text, a flat price per image, nothing else. */
export function contentTokens(content: unknown): number {
  if (typeof content === 'string') return countWords(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (!isRecord(part)) continue;
    if (part['type'] === 'text' && typeof part['text'] === 'string') total += countWords(part['text']);
    else if (part['type'] === 'image_url') total += IMAGE_TOKENS;
  }
  return total;
}

/**
 * prompt_tokens = sum over messages of (4 + content tokens) + 2.
 * Tool calls, names and tool definitions are not counted: only text content and images.
 */
export function countPromptTokens(messages: readonly unknown[]): number {
  let total = REPLY_PRIMING_TOKENS;
  for (const m of messages) {
    total += MESSAGE_OVERHEAD_TOKENS + (isRecord(m) ? contentTokens(m['content']) : 0);
  }
  return total;
}

/** The text of a message's content: the string itself, or its text parts joined by spaces. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) {
    if (isRecord(part) && part['type'] === 'text' && typeof part['text'] === 'string') texts.push(part['text']);
  }
  return texts.join(' ');
}

export function lastUserText(messages: readonly unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (isRecord(m) && m['role'] === 'user') return contentText(m['content']);
  }
  return '';
}

/**
 * The answer as a list of tokens, one stream chunk each: "Echo:", then up to 8 words of the
 * user's message, then padding words, cut to `count`. Every token but the first carries its
 * leading space (as real BPE tokens do), so the tokens join into the full answer text.
 */
export function answerTokens(userText: string, count: number): string[] {
  const echoed = splitWords(userText).slice(0, ECHO_WORDS);
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    let word: string;
    if (i === 0) word = 'Echo:';
    else if (i <= echoed.length) word = echoed[i - 1] ?? '';
    else word = PADDING_WORDS[(i - echoed.length - 1) % PADDING_WORDS.length] ?? '';
    tokens.push(i === 0 ? word : ` ${word}`);
  }
  return tokens;
}

/** Whether a word occurs in the text, ignoring case and surrounding punctuation. */
export function mentionsWord(text: string, word: string): boolean {
  const wanted = word.toLowerCase();
  return splitWords(text).some((w) => w.toLowerCase().replace(/^\W+|\W+$/g, '') === wanted);
}
