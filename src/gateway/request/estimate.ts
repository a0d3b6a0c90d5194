/**
 * Token estimates, made where no upstream count exists: the input before the call (to reserve
 * TPM and budget), and the output of an answer that came without usage. They err high because a
 * reservation is reconciled with the upstream's real count afterwards: a high estimate only
 * holds capacity for the length of one call, a low one would let concurrent requests overshoot.
 *
 * Text: about four ASCII characters a token; two a token for other alphabetic scripts (Cyrillic,
 * Greek, Arabic, accented Latin…); one token per character from U+2E80 on (CJK, kana, Hangul,
 * emoji halves), where BPE vocabularies such as Doubao's or cl100k spend 0.6–1.5 tokens a
 * character. No tokenizer package: a vocabulary per provider would still be an estimate, and
 * this rule costs one native regex test per string on the common ASCII path.
 */
import type { ChatRequest } from './chat-request.js';

const PER_MESSAGE = 4;
const PER_REQUEST = 3;

/** Per media part: providers charge ~85–1100 tokens an image, more for a video or a document. */
export const MEDIA_TOKENS = { image: 765, video: 16_384, audio: 4096, file: 16_384 } as const;
export type MediaKind = keyof typeof MEDIA_TOKENS;
export type MediaCounts = Record<MediaKind, number>;

const NOT_ASCII = /[^\x00-\x7f]/;

/** Estimated tokens of one string. */
export function textTokens(s: string): number {
  if (!NOT_ASCII.test(s)) return Math.ceil(s.length / 4);
  let ascii = 0;
  let alphabetic = 0;
  let wide = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) ascii++;
    else if (c < 0x2e80) alphabetic++;
    else wide++;
  }
  return Math.ceil(ascii / 4) + Math.ceil(alphabetic / 2) + wide;
}

export function estimateInputTokens(req: Pick<ChatRequest, 'inputTextTokens' | 'messageCount' | 'media'>): number {
  const m = req.media;
  const media = m.image * MEDIA_TOKENS.image + m.video * MEDIA_TOKENS.video + m.audio * MEDIA_TOKENS.audio + m.file * MEDIA_TOKENS.file;
  return req.inputTextTokens + req.messageCount * PER_MESSAGE + media + PER_REQUEST;
}
