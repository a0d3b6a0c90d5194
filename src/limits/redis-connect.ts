/**
 * Redis connections for the limit store: URL parsing (standalone, TLS, Sentinel, Cluster) and
 * client options tuned so Redis trouble never stalls a request: short timeouts, no offline
 * queue, no resends. The caller (resilient-store.ts) decides what to do when a command fails.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** `redis://`, `rediss://`, `redis+sentinel://h:p,h:p/master`, `redis+cluster://h:p,h:p`. */
  readonly url: string;
  /** Treat a `redis://` URL as a seed node of a Redis Cluster. */
  readonly cluster?: boolean;
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

/** A URL we cannot use. The message names the problem, never the URL (it may hold a password). */
export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
}

/**
 * The URL with `password` put in its userinfo, unless the URL already carries one: how a
 * password from a Secret (TOKENHUB_REDIS_PASSWORD) reaches every connection kind, including
 * Sentinel and Cluster URLs. Never logged (see redactRedisUrl).
 */
export function withRedisPassword(url: string, password: string | undefined): string {
  if (password === undefined || password === '') return url;
  const m = /^([a-z+]+:\/\/)([^@/]*@)?(.*)$/i.exec(url.trim());
  if (m === null) return url;
  const userinfo = m[2]?.slice(0, -1) ?? '';
  if (userinfo.includes(':')) return url;
  return `${m[1]}${encodeURIComponent(userinfo === '' ? '' : decodeURIComponent(userinfo))}:${encodeURIComponent(password)}@${m[3]}`;
}

/** TOKENHUB_REDIS_URL (or the flag) with TOKENHUB_REDIS_PASSWORD applied; undefined when neither URL is set. */
export function redisUrlFromEnv(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = flag ?? env['TOKENHUB_REDIS_URL'];
  return url === undefined || url === '' ? url : withRedisPassword(url, env['TOKENHUB_REDIS_PASSWORD']);
}

/** The URL with any credentials masked, for messages and logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type ParsedRedisUrl =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'sentinel'; readonly sentinels: HostPort[]; readonly name: string; readonly auth: Auth; readonly db: number }
  | { readonly kind: 'cluster'; readonly nodes: HostPort[]; readonly auth: Auth; readonly tls: boolean };

interface Auth {
  readonly username?: string;
  readonly password?: string;
}

// Multi-host URLs are not WHATWG URLs (`h1:1,h2:2` is no valid authority), so split by hand.
const MULTI_HOST = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?[^#]*)?$/i;

export function parseRedisUrl(url: string, opts: { cluster?: boolean } = {}): ParsedRedisUrl {
  const m = MULTI_HOST.exec(url.trim());
  if (m === null) throw new RedisUrlError('invalid Redis URL: expected scheme://host:port');
  const scheme = (m[1] ?? '').toLowerCase();
  const auth = parseAuth(m[2]);
  const path = (m[4] ?? '').replace(/^\//, '');
  if (scheme === 'redis+sentinel') {
    const [name = '', db = '0'] = path.split('/');
    if (name === '') throw new RedisUrlError('invalid Redis Sentinel URL: the master name is missing (redis+sentinel://h:p,h:p/mastername)');
    return { kind: 'sentinel', sentinels: parseHosts(m[3] ?? '', 26379), name: decodeURIComponent(name), auth, db: parseDb(db) };
  }
  if (scheme === 'redis+cluster') return { kind: 'cluster', nodes: parseHosts(m[3] ?? '', 6379), auth, tls: false };
  if (scheme !== 'redis' && scheme !== 'rediss') {
    throw new RedisUrlError(`invalid Redis URL: unsupported scheme "${scheme}" (redis, rediss, redis+sentinel, redis+cluster)`);
  }
  if (opts.cluster === true) return { kind: 'cluster', nodes: parseHosts(m[3] ?? '', 6379), auth, tls: scheme === 'rediss' };
  return { kind: 'standalone', url };
}

function parseAuth(userinfo: string | undefined): Auth {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  // `redis://:secret@h` is the usual password-only form: no username.
  return { ...(user === '' ? {} : { username: user }), ...(password === undefined ? {} : { password }) };
}

function parseHosts(list: string, defaultPort: number): HostPort[] {
  const hosts = list.split(',').filter((h) => h !== '');
  if (hosts.length === 0) throw new RedisUrlError('invalid Redis URL: no host');
  return hosts.map((h) => {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
    if (m === null) throw new RedisUrlError('invalid Redis URL: a host is not host:port');
    return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port: m[2] === undefined ? defaultPort : Number(m[2]) };
  });
}

function parseDb(db: string): number {
  if (!/^\d{1,2}$/.test(db)) throw new RedisUrlError('invalid Redis URL: the database must be a number');
  return Number(db);
}

/** Options every connection gets; see the module comment for why. */
function baseOptions(opts: RedisConnectOptions): RedisOptions {
  return {
    commandTimeout: opts.commandTimeoutMs ?? 400,
    connectTimeout: opts.connectTimeoutMs ?? 1000,
    // Commands in flight when the connection drops fail at once (0 retries) and are never
    // re-sent after a reconnect: a re-sent admit would reserve for a request already answered.
    // Settlements are retried by the resilient store's journal, idempotently.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    // Off: admits and settlements are batched by the store itself (admit-batch.ts,
    // settle-batch.ts), one script call per round trip; auto-pipelining on top only added a
    // Pipeline object and a nextTick per write. Rare commands (reads, the usage index) go alone.
    enableAutoPipelining: false,
    // Reconnect soon after Redis comes back; the resilient store probes on top of this.
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
  };
}

export function connectRedis(opts: RedisConnectOptions): RedisClient {
  const parsed = parseRedisUrl(opts.url, opts.cluster === undefined ? {} : { cluster: opts.cluster });
  const base = baseOptions(opts);
  if (parsed.kind === 'standalone') return new Redis(parsed.url, base);
  if (parsed.kind === 'sentinel') {
    return new Redis({ ...base, ...parsed.auth, sentinels: parsed.sentinels, name: parsed.name, db: parsed.db });
  }
  const cluster: ClusterOptions = {
    enableOfflineQueue: false,
    // ioredis's cluster auto-pipelining takes a script's first argument (the key count) for
    // its key, grouping scripts of different slots into one pipeline, which it then refuses.
    enableAutoPipelining: false,
    maxRedirections: 4,
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    redisOptions: { ...base, enableAutoPipelining: false, ...parsed.auth, ...(parsed.tls ? { tls: {} } : {}) },
  };
  return new Cluster(parsed.nodes, cluster);
}

/**
 * Resolves true once the client is connected; false after `timeoutMs` (it keeps trying) or,
 * with `failFast` (a CLI, where nobody benefits from waiting), at the first connection error.
 */
export async function waitReady(client: RedisClient, opts: { timeoutMs: number; failFast?: boolean }): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const onError = (): void => {
      if (opts.failFast === true) done(false);
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs);
    client.on('ready', onReady);
    client.on('error', onError);
  });
}
