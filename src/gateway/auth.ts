/**
 * Who is calling: the bearer key, hashed and looked up among the config's key hashes. The clear
 * key is never stored, logged or compared as such; the found hash is compared in constant time.
 */
import type { CompiledKey, GatewayConfig } from '../compile/types.js';
import { hashKey, hashesEqual } from '../keys/hash.js';
import { Errors } from './errors.js';

export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

export function authenticate(config: GatewayConfig, authorization: string | undefined, now: number): CompiledKey {
  const clear = bearerOf(authorization);
  if (clear === undefined) throw Errors.missingKey();
  const hash = hashKey(clear);
  const key = config.keys.get(hash);
  if (key === undefined || !hashesEqual(key.hash, hash)) throw Errors.invalidKey();
  if (key.disabled) throw Errors.disabledKey();
  if (key.expiresAt !== undefined && key.expiresAt <= now) throw Errors.expiredKey();
  return key;
}
