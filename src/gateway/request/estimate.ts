/**
 * Input token estimate, made before the upstream call to reserve TPM and budget. It errs high
 * (about four characters a token, plus per-message overhead) because the reservation is
 * reconciled with the upstream's real count afterwards: a high estimate only holds capacity
 * for the length of one call, a low one would let concurrent requests overshoot.
 */
import type { ChatRequest } from './chat-request.js';

const CHARS_PER_TOKEN = 4;
const PER_MESSAGE = 4;
const PER_REQUEST = 3;
/** A high-detail image tile budget; providers charge from ~85 to ~1100 tokens an image. */
const PER_IMAGE = 765;

export function estimateInputTokens(req: Pick<ChatRequest, 'inputChars' | 'messageCount' | 'imageCount'>): number {
  return Math.ceil(req.inputChars / CHARS_PER_TOKEN) + req.messageCount * PER_MESSAGE + req.imageCount * PER_IMAGE + PER_REQUEST;
}
