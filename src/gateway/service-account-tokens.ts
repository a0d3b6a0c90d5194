/**
 * The gateway's ServiceAccount token verifier: the API server's issuer and signing keys from its
 * OIDC discovery (`/.well-known/openid-configuration`, `/openid/v1/jwks`, readable by every
 * ServiceAccount through the default `system:service-account-issuer-discovery` binding), loaded
 * at start and refreshed in the background, so a request never waits for the API server.
 * A token signed with a key not known yet triggers a refresh (at most one per REFRESH_MIN_MS);
 * that request is refused, the next ones pass once the keys are in.
 * Verified tokens are remembered by their hash until they expire: a pod's repeated requests
 * cost one hash, not one signature check.
 */
import { createHash } from 'node:crypto';
import { type TokenKeys, type TokenVerdict, keysOfJwks, verifyServiceAccountToken } from '../keys/service-account-token.js';
import type { TokenVerifier } from './auth.js';

const REFRESH_MS = 10 * 60_000;
const REFRESH_MIN_MS = 10_000;
const CACHE_MAX = 10_000;

type VerifierLog = { warn(o: object, m: string): void };

export interface JwksVerifierOptions {
  /** GET a JSON document from the API server (an authenticated KubeClient in cluster mode). */
  readonly fetchJson: (path: string) => Promise<unknown>;
  readonly refreshMs?: number;
}

export class JwksTokenVerifier implements TokenVerifier {
  private keys: TokenKeys | undefined;
  private readonly verified = new Map<string, Extract<TokenVerdict, { ok: true }>>();
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  /** The gateway's logger, from start(): the first load's failure is logged too. */
  private log: VerifierLog | undefined;
  private lastLoad = 0;
  /** Loads of the discovery documents (for tests: requests do not cause any). */
  loads = 0;

  constructor(private readonly opts: JwksVerifierOptions) {}

  /** First load (waited for, but a failure only logs: API keys keep working) and the refresh timer. */
  async start(log?: VerifierLog): Promise<void> {
    this.log = log;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  verify(token: string, now: number): TokenVerdict {
    const id = createHash('sha256').update(token).digest('base64url');
    const hit = this.verified.get(id);
    if (hit !== undefined) {
      if (hit.expiresAt > now) return hit;
      this.verified.delete(id);
      return { ok: false, reason: 'expired' };
    }
    if (this.keys === undefined) {
      void this.refreshSoon();
      return { ok: false, reason: 'unknown-key' };
    }
    const verdict = verifyServiceAccountToken({ token, keys: this.keys, now });
    if (verdict.ok) {
      if (this.verified.size >= CACHE_MAX) this.verified.clear();
      this.verified.set(id, verdict);
    } else if (verdict.reason === 'unknown-key') {
      void this.refreshSoon();
    }
    return verdict;
  }

  private refreshSoon(): Promise<void> {
    return Date.now() - this.lastLoad < REFRESH_MIN_MS ? Promise.resolve() : this.refresh();
  }

  private refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    this.lastLoad = Date.now();
    this.loads++;
    try {
      const discovery = (await this.opts.fetchJson('/.well-known/openid-configuration')) as { issuer?: unknown };
      if (typeof discovery?.issuer !== 'string') throw new Error('the discovery document names no issuer');
      const keys = keysOfJwks(await this.opts.fetchJson('/openid/v1/jwks'));
      if (keys.size === 0) throw new Error('the JWKS holds no usable signing key');
      this.keys = { issuer: discovery.issuer, keys };
    } catch (err) {
      this.log?.warn(
        { err: { message: err instanceof Error ? err.message : String(err) } },
        'ServiceAccount token keys could not be loaded; tokens are refused until they are',
      );
    }
  }
}
