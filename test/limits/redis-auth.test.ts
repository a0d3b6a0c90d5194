/**
 * Redis with a password from a Secret (issue #11): TOKENHUB_REDIS_PASSWORD (what the chart and
 * the operator put in the pods through valueFrom.secretKeyRef) reaches every connection, and a
 * Redis that requires a password refuses a client without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectRedis, parseRedisUrl, redisUrlFromEnv, withRedisPassword } from '../../src/limits/redis-connect.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

describe('withRedisPassword', () => {
  it.each([
    ['redis://r:6379/0', 'redis://:p%40ss%3Aword@r:6379/0'],
    ['rediss://r:6380', 'rediss://:p%40ss%3Aword@r:6380'],
    ['redis://user@r:6379', 'redis://user:p%40ss%3Aword@r:6379'],
    // A URL that carries its own password keeps it.
    ['redis://user:own@r:6379', 'redis://user:own@r:6379'],
    ['redis+sentinel://s1:26379,s2:26379/mymaster', 'redis+sentinel://:p%40ss%3Aword@s1:26379,s2:26379/mymaster'],
  ])('%s → %s', (url, expected) => {
    expect(withRedisPassword(url, 'p@ss:word')).toBe(expected);
  });

  it('reaches Sentinel and Cluster auth decoded', () => {
    const parsed = parseRedisUrl(withRedisPassword('redis+cluster://a:1,b:2', 'p@ss:word'));
    expect(parsed).toMatchObject({ kind: 'cluster', auth: { password: 'p@ss:word' } });
  });

  it('leaves the URL alone without a password, and gives nothing without a URL', () => {
    expect(redisUrlFromEnv(undefined, { TOKENHUB_REDIS_URL: 'redis://r:1' })).toBe('redis://r:1');
    expect(redisUrlFromEnv(undefined, { TOKENHUB_REDIS_PASSWORD: 'x' })).toBeUndefined();
    expect(redisUrlFromEnv('redis://flag:1', { TOKENHUB_REDIS_URL: 'redis://env:1', TOKENHUB_REDIS_PASSWORD: 'x' })).toBe('redis://:x@flag:1');
  });
});

describe('a Redis that requires a password', () => {
  let redis: RedisServer;
  const password = 'from-a-secret/+=';

  beforeAll(async () => {
    redis = await startRedis();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', password);
    admin.disconnect();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('refuses a client without it, and serves one given TOKENHUB_REDIS_PASSWORD', async () => {
    const attempt = (c: Redis | ReturnType<typeof connectRedis>) => (): Promise<string> => c.set('k', 'v').catch((e: Error) => e.message);
    // No ready check, so the server's own refusal comes back (the store's client never gets ready).
    const anonymous = new Redis(redis.url, { enableReadyCheck: false, maxRetriesPerRequest: 1 }).on('error', () => {});
    expect(await attempt(anonymous)()).toMatch(/NOAUTH|Authentication required/i);
    anonymous.disconnect();
    const url = redisUrlFromEnv(undefined, { TOKENHUB_REDIS_URL: redis.url, TOKENHUB_REDIS_PASSWORD: password });
    const client = connectRedis({ url: url ?? '' }).on('error', () => {});
    await expect.poll(attempt(client), { timeout: 5000 }).toBe('OK');
    client.disconnect();
  });
});
