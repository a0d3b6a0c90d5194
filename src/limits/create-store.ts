/**
 * The store a gateway runs with: in memory for a single instance (no Redis URL), otherwise
 * Redis behind the resilient wrapper (fallback, journal, replay).
 */
import { MemoryLimitStore } from './memory-store.js';
import { RedisLimitStore } from './redis-store.js';
import { ResilientStore, type StoreMode } from './resilient-store.js';
import type { LimitStore } from './store.js';

export interface CreateStoreOptions {
  readonly redisUrl?: string;
  readonly mode?: StoreMode;
  /** Replicas sharing the limits: each pod's fallback share when Redis is away. */
  readonly replicas?: number;
  /** Treat a `redis://` URL as a Redis Cluster seed (`redis+cluster://` says so by itself). */
  readonly cluster?: boolean;
  /** How long settled request ids are remembered in Redis (redis-store.ts REPLAY_WINDOW_S). */
  readonly replayWindowSeconds?: number;
  /** Told when the fleet store is lost or found again (the gateway logs it). */
  readonly onStateChange?: (state: 'redis' | 'degraded', reason: string) => void;
}

export function createStore(opts: CreateStoreOptions = {}): LimitStore & { flush?(): Promise<void> } {
  if (opts.redisUrl === undefined || opts.redisUrl === '') return new MemoryLimitStore();
  const remote = new RedisLimitStore({
    url: opts.redisUrl,
    ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
    ...(opts.replayWindowSeconds === undefined ? {} : { replayWindowSeconds: opts.replayWindowSeconds }),
  });
  return new ResilientStore({
    remote,
    ...(opts.mode === undefined ? {} : { mode: opts.mode }),
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
    ...(opts.onStateChange === undefined ? {} : { onStateChange: opts.onStateChange }),
  });
}
