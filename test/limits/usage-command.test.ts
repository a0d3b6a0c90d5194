/** `tokenhub usage` against a real Redis filled by the Redis store's own settlements. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { budgetId, keyTag } from '../../src/limits/plan.js';
import { RedisLimitStore } from '../../src/limits/redis-store.js';
import type { AdmitRequest } from '../../src/limits/store.js';
import { usageCommand } from '../../src/usage/command.js';
import { freePort, startRedis, type RedisServer } from '../support/redis-server.js';

/** Runs the command with stdout/stderr captured. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    return { code: await usageCommand(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('tokenhub usage', () => {
  let redis: RedisServer;
  const at = Date.UTC(2026, 10, 28, 12);
  beforeAll(async () => {
    redis = await startRedis();
    const store = new RedisLimitStore({ url: redis.url });
    await store.ready();
    const settle = async (id: string, keyId: string, model: string, tokens: [number, number], costNanos: number): Promise<void> => {
      const reservation: AdmitRequest = {
        requestId: id,
        keyId,
        rates: [{ id: `${keyTag(keyId)}:rpm`, scope: 'key', unit: 'requests', limit: 100, cost: 1 }],
        budgets: [],
      };
      await store.admit(reservation, 0);
      const usage = { requestId: id, keyId, model, inputTokens: tokens[0], outputTokens: tokens[1], costNanos, at };
      await store.settle({ reservation, actual: { tokens: tokens[0] + tokens[1], costNanos }, usage }, 0);
    };
    await settle('u1', 'team-a/app', 'gpt-x', [1000, 200], 1_500_000_000);
    await settle('u2', 'team-a/app', 'gpt-x', [10, 20], 250_000);
    await settle('u3', 'team-a/app', 'small', [5, 5], 7);
    await settle('u4', 'team-b/batch', 'gpt-x', [1, 2], 3);
    await store.close();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('prints a table per key and model for a day', async () => {
    const { code, out } = await run(['--redis', redis.url, '--date', '2026-11-28']);
    expect(code).toBe(0);
    expect(out.split('\n')).toEqual([
      'usage for d2026-11-28',
      'KEY           MODEL  REQUESTS  INPUT  OUTPUT         COST',
      'team-a/app    gpt-x         2   1010     220  1.50025',
      'team-a/app    small         1      5       5  0.000000007',
      'team-b/batch  gpt-x         1      1       2  0.000000003',
      'TOTAL                       4   1016     227  1.50025001',
      '',
    ]);
  });

  it('filters by key and prints JSON, reading the URL from TOKENHUB_REDIS_URL', async () => {
    vi.stubEnv('TOKENHUB_REDIS_URL', redis.url);
    try {
      const { code, out } = await run(['--period', 'month', '--date', '2026-11-02', '--key', 'team-b/batch', '--json']);
      expect(code).toBe(0);
      expect(JSON.parse(out)).toEqual({
        period: 'm2026-11',
        rows: [{ keyId: 'team-b/batch', model: 'gpt-x', requests: 1, inputTokens: 1, outputTokens: 2, costNanos: 3, cost: '0.000000003' }],
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('says so when a period has no usage', async () => {
    const { code, out } = await run(['--redis', redis.url, '--date', '2026-01-01']);
    expect([code, out]).toEqual([0, 'no usage recorded for d2026-01-01\n']);
  });

  it('recharges a key’s total cost credit', async () => {
    const { code, out } = await run(['recharge', '--redis', redis.url, '--key', 'team-a/app', '--amount', '10.50']);
    expect(code).toBe(0);
    expect(out).toBe('credited 10.50 to team-a/app: total cost used is now -10.50\n');
    const store = new RedisLimitStore({ url: redis.url });
    await store.ready();
    expect(await store.budgetUsed(budgetId('team-a/app', 'cost', 'total'))).toBe(-10_500_000_000);
    await store.close();
  });

  it('reports mistakes in one line, without a stack trace or the Redis password', async () => {
    const cases: [string[], number, RegExp][] = [
      [['--period', 'week', '--redis', redis.url], 2, /--period must be one of day, month, total/],
      [['--date', '2026-02-30', '--redis', redis.url], 2, /--date must be a day/],
      [['recharge', '--key', 'nons', '--amount', '1', '--redis', redis.url], 2, /--key must be namespace\/name/],
      [['recharge', '--key', 'a/b', '--amount', 'ten', '--redis', redis.url], 2, /--amount must be a decimal/],
      [['--redis', 'http://x'], 1, /unsupported scheme "http"/],
    ];
    vi.stubEnv('TOKENHUB_REDIS_URL', '');
    cases.push([[], 2, /--redis URL or TOKENHUB_REDIS_URL/]);
    for (const [args, code, message] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    vi.unstubAllEnvs();
  });

  it('names an unreachable Redis without its password', async () => {
    const url = `redis://:hunter2@127.0.0.1:${await freePort()}`;
    const r = await run(['--redis', url]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`tokenhub usage: cannot reach Redis at ${url.replace(':hunter2@', '***@')}\n`);
  }, 15_000);
});
