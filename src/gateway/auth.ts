/**
 * Who is calling: the bearer key, hashed and looked up among the config's key hashes. The clear
 * key is never stored, logged or compared as such; the found hash is compared in constant time.
 * With a token verifier (cluster mode), a Bearer that is a JWT is a ServiceAccount token instead:
 * verified offline (see keys/service-account-token.ts) and mapped to the ApiKey that binds the
 * ServiceAccount.
 */
import type { CompiledKey, GatewayConfig } from '../compile/types.js';
import { serviceAccountKeyId } from '../compile/keys.js';
import { hashKey, hashesEqual } from '../keys/hash.js';
import { type TokenVerdict, looksLikeJwt } from '../keys/service-account-token.js';
import { Errors } from './errors.js';

/** Verifies ServiceAccount tokens (signature, issuer, audience, expiry) without a network call. */
export interface TokenVerifier {
  verify(token: string, now: number): TokenVerdict;
}

/** What the routes (and a request hook) call: the calling key, or a 401 ApiError. */
export type Authenticate = (config: GatewayConfig, authorization: string | undefined, now: number) => CompiledKey;

export function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** API keys only (file mode, tests): a JWT Bearer is just an unknown key. */
export const authenticate: Authenticate = authenticator();

/** API keys, and with `tokens` ServiceAccount tokens too. */
export function authenticator(tokens?: TokenVerifier): Authenticate {
  return (config, authorization, now) => {
    const clear = bearerOf(authorization);
    if (clear === undefined) throw Errors.missingKey();
    if (tokens !== undefined && looksLikeJwt(clear)) return usable(serviceAccountKey(config, tokens.verify(clear, now)), now);
    const hash = hashKey(clear);
    const key = config.keys.get(hash);
    if (key === undefined || !hashesEqual(key.hash, hash)) throw Errors.invalidKey();
    return usable(key, now);
  };
}

function serviceAccountKey(config: GatewayConfig, verdict: TokenVerdict): CompiledKey {
  if (!verdict.ok) throw verdict.reason === 'expired' ? Errors.expiredKey() : Errors.invalidKey();
  const key = config.keys.get(serviceAccountKeyId(verdict.namespace, verdict.name));
  if (key === undefined) throw Errors.invalidKey();
  return key;
}

function usable(key: CompiledKey, now: number): CompiledKey {
  if (key.disabled) throw Errors.disabledKey();
  // An old credential after its rotation window: refused like an expired key.
  if (key.credentialNotAfter !== undefined && key.credentialNotAfter <= now) throw Errors.expiredKey();
  if (key.expiresAt !== undefined && key.expiresAt <= now) throw Errors.expiredKey();
  return key;
}
