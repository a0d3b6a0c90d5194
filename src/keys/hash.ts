/**
 * API key material. The gateway only ever holds `sha256:<hex>` hashes; a clear key exists in
 * the caller's Authorization header and in the Secret the operator generates, nowhere else.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export const KEY_PREFIX = 'th-';

/** `sha256:<64 hex>` of the clear key, the form ApiKey.spec.credential.hash takes. */
export function hashKey(clear: string): string {
  // One-shot crypto.hash: a third of createHash's cost, and it runs on every request.
  return `sha256:${hash('sha256', clear, 'hex')}`;
}

/** A new key: `th-` + 43 url-safe base64 chars (256 bits of entropy). */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** What may be shown of a hash in status and logs: a short, stable fingerprint. */
export function keyFingerprint(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}

/** What may be shown of a clear key (to its owner): the first characters. */
export function keyPrefixOf(clear: string): string {
  return `${clear.slice(0, KEY_PREFIX.length + 6)}…`;
}

/** Constant-time equality of two hashes of the same form. */
export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
