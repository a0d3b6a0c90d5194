/**
 * Accuracy across a fleet (issue #5): four `tokenhub gateway` processes sharing one real Redis,
 * hammered concurrently past a key's RPM and, with another key, its TPM. Admitted requests and
 * tokens must stay within the limit plus the stated bound (GCRA refills continuously, so the
 * elapsed time's refill counts too, and a reservation in flight may cross by one), and must
 * reach the limit (no under-use). The contrast: the same fleet with a memory store per pod
 * admits about four times the limit, which is what a per-replica limiter does.
 *
 * The numbers are printed as a table for the closing note.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { estimateInputTokens } from '../../src/gateway/request/estimate.js';
import { parseChatRequest } from '../../src/gateway/request/chat-request.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { keyYaml, modelYaml, policyYaml } from '../support/gateway.js';
import { type Fleet, type Outcome, buildIfStale, configDir, hammer, logsOf, startFleet, tally, tokensOf } from './fleet.js';

const N = 4;
const RPM = 40;
const TPM = 2000;
/** Per gateway: 25 concurrent clients; 400 requests in all per scenario. */
const CLIENTS = N * 25;
const TOTAL = 400;
const KEYS = { rpm: 'th-fleet-rpm-key', tpm: 'th-fleet-tpm-key' } as const;
const MAX_TOKENS = 16;
const body = { model: 'fleet-m', messages: [{ role: 'user', content: 'hello' }], max_tokens: MAX_TOKENS };
/** What admit reserves for one request: the input estimate plus max_tokens. */
const RESERVATION = estimateInputTokens(parseChatRequest(body)) + MAX_TOKENS;

let redis: RedisServer | undefined;
let mock: MockUpstream | undefined;
let dir: string | undefined;
let fleet: Fleet | undefined;
/** TOTAL requests of the test body from CLIENTS clients spread over the fleet's gateways. */
const hammerFleet = (key: string): ReturnType<typeof hammer> =>
  hammer({ baseURLs: fleet?.gateways.map((g) => g.baseURL) ?? [], key, body, clients: CLIENTS, total: TOTAL });

const rows: string[][] = [['scenario', 'store', 'limit', 'admitted', 'bound', '429s', 'elapsed ms']];

beforeAll(async () => {
  buildIfStale();
  [redis, mock] = await Promise.all([startRedis(), startMockUpstream()]);
  const yaml = [
    modelYaml({ name: 'fleet-m' }),
    policyYaml('rpm', `{rateLimits: {rpm: ${RPM}}}`),
    policyYaml('tpm', `{rateLimits: {tpm: ${TPM}}}`),
    keyYaml({ name: 'rpm', clear: KEYS.rpm, policies: ['rpm'] }),
    keyYaml({ name: 'tpm', clear: KEYS.tpm, policies: ['tpm'] }),
  ].join('');
  dir = await configDir(yaml.replaceAll('${MOCK}', mock.url));
});

afterAll(async () => {
  await fleet?.stop();
  await Promise.all([redis?.stop(), mock?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  console.log(`fleet accuracy (${N} gateway processes, ${CLIENTS} concurrent clients, ${TOTAL} requests a scenario):\n${table(rows)}`);
});

/** Allowed by GCRA over `elapsedMs`: the burst, the refill meanwhile, and one unit of rounding. */
const refill = (limit: number, elapsedMs: number): number => Math.floor((elapsedMs * limit) / 60_000);

function expectOnly(outcomes: readonly Outcome[], allowed: readonly string[]): void {
  const seen = tally(outcomes);
  expect(
    Object.keys(seen).filter((k) => !allowed.includes(k)),
    `${JSON.stringify(seen)}\n${logsOf(fleet)}`,
  ).toEqual([]);
}

describe('a fleet of four gateway processes on one Redis', () => {
  beforeAll(async () => {
    // Fail-closed: should a pod lose Redis (a stalled machine), it answers 503 here rather than
    // admitting its fallback share silently, so the numbers below are Redis's alone.
    fleet = await startFleet({
      n: N,
      configDir: dir ?? '',
      redisUrl: redis?.url ?? '',
      env: { TOKENHUB_REPLICAS: String(N), TOKENHUB_REDIS_FAILURE_MODE: 'fail-closed' },
    });
  });
  afterAll(async () => {
    await fleet?.stop();
    fleet = undefined;
  });

  it(`admits the key's RPM (${RPM}) across the fleet, not more than the refill and one request over`, async () => {
    const { outcomes, elapsedMs } = await hammerFleet(KEYS.rpm);
    expectOnly(outcomes, ['200', '429 rate_limit_exceeded']);
    const admitted = outcomes.filter((o) => o.status === 200).length;
    const bound = RPM + refill(RPM, elapsedMs) + 1;
    rows.push(['RPM', 'redis', String(RPM), String(admitted), `<= ${bound}`, String(TOTAL - admitted), elapsedMs.toFixed(0)]);
    expect(admitted).toBeLessThanOrEqual(bound);
    expect(admitted).toBeGreaterThanOrEqual(RPM);
  });

  it(`admits the key's TPM (${TPM}) in real tokens across the fleet, within the refill and one reservation`, async () => {
    const { outcomes, elapsedMs } = await hammerFleet(KEYS.tpm);
    expectOnly(outcomes, ['200', '429 rate_limit_exceeded']);
    const ok = outcomes.filter((o) => o.status === 200);
    const tokens = tokensOf(ok);
    const actual = tokens / ok.length;
    const bound = TPM + refill(TPM, elapsedMs) + RESERVATION;
    // Settlements refund reserved − actual; a refund landing after the last denial is capacity
    // no client was left to use: at most one per client.
    const floor = TPM - RESERVATION - (RESERVATION - actual) * CLIENTS;
    rows.push(['TPM', 'redis', String(TPM), `${tokens} tokens (${ok.length} req)`, `<= ${bound}`, String(TOTAL - ok.length), elapsedMs.toFixed(0)]);
    expect(tokens).toBeLessThanOrEqual(bound);
    expect(tokens).toBeGreaterThanOrEqual(floor);
  });
});

describe('the contrast: the same fleet with a memory store per pod (no --redis)', () => {
  beforeAll(async () => {
    fleet = await startFleet({ n: N, configDir: dir ?? '', env: { TOKENHUB_REPLICAS: String(N) } });
  });

  it('admits about replicas × RPM: each pod enforces the whole limit on its own', async () => {
    const { outcomes, elapsedMs } = await hammerFleet(KEYS.rpm);
    expectOnly(outcomes, ['200', '429 rate_limit_exceeded']);
    const admitted = outcomes.filter((o) => o.status === 200).length;
    rows.push(['RPM', 'memory per pod', String(RPM), String(admitted), `(${N} × ${RPM} = ${N * RPM})`, String(TOTAL - admitted), elapsedMs.toFixed(0)]);
    expect(admitted).toBeGreaterThan(RPM);
    expect(admitted).toBeLessThanOrEqual(N * (RPM + refill(RPM, elapsedMs) + 1));
  });
});

function table(r: readonly string[][]): string {
  const widths = (r[0] ?? []).map((_, i) => Math.max(...r.map((row) => (row[i] ?? '').length)));
  return r.map((row) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')).join('\n');
}
