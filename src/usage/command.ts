/**
 * `tokenhub usage`: what each key spent, per model, from the fleet's Redis (the usage records
 * the gateways settle), and `tokenhub usage recharge`, which tops up a key's total cost credit.
 * Errors are one line on stderr, never a stack trace, and never the Redis password.
 */
import { formatNanos, parseNanos } from '../billing/money.js';
import { HelpRequested, UsageError, parse, runCommand } from '../cli/args.js';
import { PERIODS, periodId, type Period } from '../limits/periods.js';
import { budgetId } from '../limits/plan.js';
import { redactRedisUrl, redisUrlFromEnv } from '../limits/redis-connect.js';
import { RedisLimitStore } from '../limits/redis-store.js';
import type { UsageRow } from '../limits/store.js';

const USAGE =
  'tokenhub usage [--redis URL] [--period day|month|total] [--date YYYY-MM-DD] [--key ns/name] [--json]\n' +
  '       tokenhub usage recharge --key ns/name --amount 10.00 [--redis URL]';

/** A CLI waits longer than a gateway request would: nobody is queued behind it. */
const CLI_TIMEOUT_MS = 5000;

export async function usageCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    try {
      return args[0] === 'recharge' ? await recharge(args.slice(1)) : await report(args);
    } catch (err) {
      if (err instanceof UsageError || err instanceof HelpRequested) throw err;
      process.stderr.write(`tokenhub usage: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  });
}

async function report(args: string[]): Promise<number> {
  const { values } = parse(args, {
    redis: { type: 'string' },
    period: { type: 'string' },
    date: { type: 'string' },
    key: { type: 'string' },
    json: { type: 'boolean' },
  });
  const period = parsePeriod(values.period ?? 'day');
  const pid = periodId(period, parseDate(values.date));
  const keyId = values.key === undefined ? undefined : parseKeyId(values.key);
  const rows = await withStore(values.redis, (store) => store.usage({ periodId: pid, ...(keyId === undefined ? {} : { keyId }) }));
  if (values.json === true) {
    const out = rows.map((r) => ({ ...r, cost: formatNanos(r.costNanos) }));
    process.stdout.write(`${JSON.stringify({ period: pid, rows: out }, null, 2)}\n`);
  } else {
    process.stdout.write(rows.length === 0 ? `no usage recorded for ${pid}\n` : formatTable(pid, rows));
  }
  return 0;
}

async function recharge(args: string[]): Promise<number> {
  const { values } = parse(args, { redis: { type: 'string' }, key: { type: 'string' }, amount: { type: 'string' } });
  if (values.key === undefined || values.amount === undefined) throw new UsageError('recharge needs --key ns/name and --amount 10.00');
  const keyId = parseKeyId(values.key);
  let nanos: number;
  try {
    nanos = parseNanos(values.amount);
  } catch {
    throw new UsageError(`--amount must be a decimal amount like 10.00, not ${JSON.stringify(values.amount)}`);
  }
  if (nanos <= 0) throw new UsageError('--amount must be more than zero');
  const id = budgetId(keyId, 'cost', 'total');
  const used = await withStore(values.redis, async (store) => {
    await store.credit(id, nanos);
    return store.budgetUsed(id);
  });
  process.stdout.write(`credited ${formatNanos(nanos)} to ${keyId}: total cost used is now ${formatNanos(used)}\n`);
  return 0;
}

/** Connects (bounded), runs `fn`, always closes. */
async function withStore<T>(flag: string | undefined, fn: (store: RedisLimitStore) => Promise<T>): Promise<T> {
  const url = redisUrlFromEnv(flag);
  if (url === undefined || url === '') throw new UsageError('give the Redis URL with --redis URL or TOKENHUB_REDIS_URL');
  const store = new RedisLimitStore({ url, commandTimeoutMs: CLI_TIMEOUT_MS, connectTimeoutMs: CLI_TIMEOUT_MS });
  try {
    if (!(await store.ready(CLI_TIMEOUT_MS, { failFast: true }))) throw new Error(`cannot reach Redis at ${redactRedisUrl(url)}`);
    return await fn(store);
  } finally {
    await store.close();
  }
}

function parsePeriod(p: string): Period {
  const period = PERIODS.find((x) => x === p);
  if (period === undefined) throw new UsageError(`--period must be one of ${PERIODS.join(', ')}, not ${JSON.stringify(p)}`);
  return period;
}

function parseDate(d: string | undefined): Date {
  if (d === undefined) return new Date();
  const date = new Date(`${d}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== d) {
    throw new UsageError(`--date must be a day as YYYY-MM-DD, not ${JSON.stringify(d)}`);
  }
  return date;
}

function parseKeyId(k: string): string {
  if (!/^[^/\s]+\/[^/\s]+$/.test(k)) throw new UsageError(`--key must be namespace/name, not ${JSON.stringify(k)}`);
  return k;
}

function formatTable(pid: string, rows: UsageRow[]): string {
  const header = ['KEY', 'MODEL', 'REQUESTS', 'INPUT', 'OUTPUT', 'COST'];
  const total = rows.reduce(
    (t, r) => ({
      requests: t.requests + r.requests,
      inputTokens: t.inputTokens + r.inputTokens,
      outputTokens: t.outputTokens + r.outputTokens,
      costNanos: t.costNanos + r.costNanos,
    }),
    {
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      costNanos: 0,
    },
  );
  const costs = alignDecimals([...rows.map((r) => r.costNanos), total.costNanos].map(formatNanos));
  let n = 0;
  const cells = (r: Omit<UsageRow, 'keyId' | 'model'>, key: string, model: string): string[] => [
    key,
    model,
    String(r.requests),
    String(r.inputTokens),
    String(r.outputTokens),
    costs[n++] ?? '',
  ];
  const body = [header, ...rows.map((r) => cells(r, r.keyId, r.model)), cells(total, 'TOTAL', '')];
  const widths = header.map((_, i) => Math.max(...body.map((row) => (row[i] ?? '').length)));
  // Names left-aligned, numbers right-aligned so digits line up.
  const line = (row: string[]): string =>
    row
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `usage for ${pid}\n${body.map(line).join('\n')}\n`;
}

/** Pads fractions to one width so the decimal points line up in a right-aligned column. */
function alignDecimals(amounts: string[]): string[] {
  const frac = (a: string): string => a.slice(a.indexOf('.') + 1);
  const width = Math.max(...amounts.map((a) => frac(a).length));
  return amounts.map((a) => a + ' '.repeat(width - frac(a).length));
}
