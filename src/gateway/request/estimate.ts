/**
 * Token estimates, made where no upstream count exists: the input before the call (to reserve
 * TPM and budget), and the output of an answer that came without usage. They err high because a
 * reservation is reconciled with the upstream's real count afterwards: a high estimate only
 * holds capacity for the length of one call, a low one would let concurrent requests overshoot.
 *
 * Text: about four ASCII characters a token; 1.6 a token for the 2-byte scripts (Cyrillic,
 * Greek, Arabic, accented Latin…); one token per character from U+0800 on (CJK, kana, Hangul),
 * where BPE vocabularies such as Doubao's or cl100k spend 0.6–1.5 tokens a character. No
 * tokenizer package: a vocabulary per provider would still be an estimate. The rule needs no
 * loop in JavaScript: with L UTF-16 units and B UTF-8 bytes, the extra bytes x = B − L are one
 * per 2-byte character and two per 3-byte one; counting the ASCII part as L − x/2 characters
 * (exact without 2-byte ones) gives L/4 + 3x/8 tokens. Buffer.byteLength is native and
 * vectorised, so the common ASCII prompt costs one call and no per-character work in JS.
 */

const PER_MESSAGE = 4;
const PER_REQUEST = 3;

/** Per media part: providers charge ~85–1100 tokens an image, more for a video or a document. */
export const MEDIA_TOKENS = { image: 765, video: 16_384, audio: 4096, file: 16_384 } as const;
export type MediaKind = keyof typeof MEDIA_TOKENS;
export type MediaCounts = Record<MediaKind, number>;

/** Estimated tokens of one string: L/4 for ASCII, plus 3/8 a token per extra UTF-8 byte (see above). */
export function textTokens(s: string): number {
  const extra = Buffer.byteLength(s, 'utf8') - s.length;
  return Math.ceil(s.length / 4 + (extra * 3) / 8);
}

/** What the estimate reads of a parsed request (chat-request.ts; a shape here, so the two do not import each other). */
export interface EstimateInput {
  readonly inputTextTokens: number;
  readonly messageCount: number;
  readonly media: MediaCounts;
}

export function estimateInputTokens(req: EstimateInput): number {
  const m = req.media;
  const media = m.image * MEDIA_TOKENS.image + m.video * MEDIA_TOKENS.video + m.audio * MEDIA_TOKENS.audio + m.file * MEDIA_TOKENS.file;
  return req.inputTextTokens + req.messageCount * PER_MESSAGE + media + PER_REQUEST;
}
