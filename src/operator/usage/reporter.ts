/**
 * Usage write-back: every interval, for each ApiKey in force, read its month's usage and its
 * budget counters from the shared store (Redis) and write `status.usage` through the one status
 * writer, which skips keys whose usage did not move. Leader only.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { CompiledKey, GatewayConfig } from '../../compile/types.js';
import type { KubeObject } from '../../kube/client.js';
import { PERIODS, periodId } from '../../limits/periods.js';
import { budgetId } from '../../limits/plan.js';
import type { LimitStore } from '../../limits/store.js';
import type { KeyUsageStatus } from '../../schema/api-key.js';
import type { OperatorMetrics } from '../metrics.js';
import type { StatusWriter } from '../status/writer.js';
import { usageStatus, withStableTime } from './report.js';

export interface UsageReporterOptions {
  readonly store: Pick<LimitStore, 'usage' | 'budgetUsed'>;
  readonly writer: StatusWriter;
  readonly metrics: OperatorMetrics;
  readonly log: Pick<FastifyBaseLogger, 'warn'>;
  readonly clock: () => number;
  /** The config in force (from the last compile) and the live ApiKeys (from the cache). */
  readonly config: () => GatewayConfig | undefined;
  readonly apiKeys: () => readonly KubeObject[];
}

export class UsageReporter {
  constructor(private readonly opts: UsageReporterOptions) {}

  /** One pass; false when the store or a write failed (the next interval retries anyway). */
  async report(): Promise<boolean> {
    const config = this.opts.config();
    if (config === undefined) return true;
    const now = new Date(this.opts.clock());
    const live = new Map(this.opts.apiKeys().map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
    // config.keys is by hash; a key id appears once.
    const keys = new Map([...config.keys.values()].map((k) => [k.id, k]));
    let ok = true;
    for (const key of keys.values()) {
      const object = live.get(key.id);
      if (object === undefined) continue;
      try {
        const usage = await this.usageOf(key, now);
        const outcome = await this.opts.writer.write({
          kind: 'ApiKey',
          live: object,
          desired: (o) => ({ usage: withStableTime((o['status'] as { usage?: KeyUsageStatus } | undefined)?.usage, usage) }),
        });
        ok = outcome !== 'failed' && ok;
      } catch (err) {
        ok = false;
        this.opts.metrics.usageErrors += 1;
        this.opts.log.warn({ apiKey: key.id, err: { message: (err as Error).message } }, 'usage read failed');
      }
    }
    this.opts.metrics.usageRefreshes += 1;
    return ok;
  }

  private async usageOf(key: CompiledKey, now: Date): Promise<KeyUsageStatus> {
    const period = periodId('month', now);
    const rows = await this.opts.store.usage({ periodId: period, keyId: key.id });
    const used: { tokens: Record<string, number>; cost: Record<string, number> } = { tokens: {}, cost: {} };
    const budgets = key.limits.budgets;
    for (const p of PERIODS) {
      if (budgets.tokens[p] !== undefined) used.tokens[p] = await this.opts.store.budgetUsed(budgetId(key.id, 'tokens', periodId(p, now)));
      if (budgets.costNanos[p] !== undefined) used.cost[p] = await this.opts.store.budgetUsed(budgetId(key.id, 'cost', periodId(p, now)));
    }
    return usageStatus({ period, rows, budgets, used, now });
  }
}
