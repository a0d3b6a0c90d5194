/** Redis URL parsing: pure, in the unit tier (the store itself is tested against a real Redis in redis-store.test.ts). */
import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/limits/redis-connect.js';

describe('parseRedisUrl', () => {
  it('understands standalone, Sentinel and Cluster URLs', () => {
    expect(parseRedisUrl('rediss://:pw@redis.example:6380/2')).toEqual({ kind: 'standalone', url: 'rediss://:pw@redis.example:6380/2' });
    expect(parseRedisUrl('redis+sentinel://:s3cret@s1:26379,s2/mymaster/1')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'mymaster',
      auth: { password: 's3cret' },
      db: 1,
    });
    expect(parseRedisUrl('redis+cluster://a:7000,b:7001')).toMatchObject({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    expect(parseRedisUrl('redis://u:p@seed:7000', { cluster: true })).toMatchObject({
      kind: 'cluster',
      nodes: [{ host: 'seed', port: 7000 }],
      auth: { username: 'u', password: 'p' },
    });
  });

  it('never echoes the URL (it may carry a password) in its errors', () => {
    expect(() => parseRedisUrl('http://user:hunter2@h:1')).toThrow(/unsupported scheme "http"/);
    expect(() => parseRedisUrl('redis+sentinel://:hunter2@h:1')).toThrow(/master name/);
    for (const bad of ['http://user:hunter2@h:1', 'redis+sentinel://:hunter2@h:1', 'nonsense hunter2']) {
      expect(() => parseRedisUrl(bad)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
    }
  });
});
