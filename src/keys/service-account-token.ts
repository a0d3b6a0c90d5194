/**
 * Kubernetes ServiceAccount tokens, verified offline: a projected token is a JWT the API server
 * signed with its service-account key. Given the API server's issuer and public keys (its OIDC
 * discovery, `/openid/v1/jwks`), the signature, issuer, audience, expiry and not-before are
 * checked here, with no call to the API server per request. Pure: the keys and the clock come in.
 */
import { type JsonWebKey, type KeyObject, createPublicKey, verify } from 'node:crypto';

/** The audience a pod asks its projected token for; tokens for any other audience are refused. */
export const TOKEN_AUDIENCE = 'tokenhub';
/** Tolerated clock difference between the API server and this pod for nbf/iat, in seconds. */
const CLOCK_SKEW_S = 60;
/** A projected token is around 1 KB; anything far beyond that is not one (and not worth parsing). */
const MAX_TOKEN_LENGTH = 16 * 1024;

const ALGORITHMS: Readonly<Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }>> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
};

export interface TokenKeys {
  readonly issuer: string;
  /** By key id (`kid`). */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

export type TokenVerdict =
  | { readonly ok: true; readonly namespace: string; readonly name: string; readonly expiresAt: number }
  /** `unknown-key`: signed by a key not (yet) known; the caller may refresh its keys. */
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-key' | 'bad-signature' | 'issuer' | 'audience' | 'expired' | 'not-yet-valid' | 'subject' };

/** Whether a Bearer value has a JWT's shape (TokenHub keys start with `th-` and have no dots). */
export function looksLikeJwt(bearer: string): boolean {
  return bearer.startsWith('eyJ') && bearer.split('.').length === 3;
}

/** Public keys from a JWKS document (`{"keys":[{kid, kty, n, e} ...]}`); unusable entries are skipped. */
export function keysOfJwks(jwks: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const list = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) return out;
  for (const jwk of list as (JsonWebKey & { kid?: unknown; use?: unknown })[]) {
    if (typeof jwk.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue;
    try {
      out.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
    } catch {
      // A key type this Node cannot read: tokens signed with it are refused as unknown-key.
    }
  }
  return out;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function verifyServiceAccountToken(opts: { token: string; keys: TokenKeys; now: number; audience?: string }): TokenVerdict {
  const { token, keys, now } = opts;
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const [h = '', p = '', s = ''] = token.split('.');
  const header = decodeJson(h);
  const claims = decodeJson(p);
  const alg = typeof header?.['alg'] === 'string' ? ALGORITHMS[header['alg']] : undefined;
  if (header === undefined || claims === undefined || alg === undefined || s === '') return { ok: false, reason: 'malformed' };
  const key = typeof header['kid'] === 'string' ? keys.keys.get(header['kid']) : undefined;
  if (key === undefined) return { ok: false, reason: 'unknown-key' };
  const signed = verify(alg.hash, Buffer.from(`${h}.${p}`), { key, ...(alg.dsaEncoding ? { dsaEncoding: alg.dsaEncoding } : {}) }, Buffer.from(s, 'base64url'));
  if (!signed) return { ok: false, reason: 'bad-signature' };
  return checkClaims(claims, { issuer: keys.issuer, audience: opts.audience ?? TOKEN_AUDIENCE, now });
}

function checkClaims(claims: Record<string, unknown>, want: { issuer: string; audience: string; now: number }): TokenVerdict {
  if (claims['iss'] !== want.issuer) return { ok: false, reason: 'issuer' };
  const aud = claims['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(want.audience)) return { ok: false, reason: 'audience' };
  const exp = claims['exp'];
  if (typeof exp !== 'number' || exp * 1000 <= want.now) return { ok: false, reason: 'expired' };
  const nbf = claims['nbf'];
  if (typeof nbf === 'number' && (nbf - CLOCK_SKEW_S) * 1000 > want.now) return { ok: false, reason: 'not-yet-valid' };
  const m = typeof claims['sub'] === 'string' ? /^system:serviceaccount:([a-z0-9.-]+):([a-z0-9.-]+)$/.exec(claims['sub']) : null;
  if (m === null) return { ok: false, reason: 'subject' };
  return { ok: true, namespace: m[1] as string, name: m[2] as string, expiresAt: exp * 1000 };
}
