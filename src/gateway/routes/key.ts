/**
 * GET /key and GET /usage: a key holder's own view, authenticated with the key itself. The key
 * id comes only from authentication, never from the request, so no caller can read another
 * key's limits or usage. Reads only (peek, budget counters, usage rows): a look changes nothing.
 */
import type { FastifyInstance } from 'fastify';
import type { CompiledKey, GatewayConfig } from '../../compile/types.js';
import { PERIODS, type Period, periodIds } from '../../limits/periods.js';
import { budgetId } from '../../limits/plan.js';
import type { LimitStore, UsageRow } from '../../limits/store.js';
import { Errors } from '../errors.js';
import type { RouteContext } from './context.js';
import { keyRateChecks, keyView, usageView } from './key-view.js';

export function registerKeyRoutes(app: FastifyInstance, ctx: RouteContext, deps: { store: LimitStore }): void {
  app.get('/key', async (req) => {
    const { config, key } = ctx.authorize(req);
    const now = new Date(ctx.clock());
    const ids = periodIds(now);
    const [rates, budgetsUsed, usage] = await Promise.all([
      deps.store.peek(keyRateChecks(key), now.getTime()),
      budgetCounters(deps.store, key, ids),
      Promise.all(PERIODS.map((p) => deps.store.usage({ periodId: ids[p], keyId: key.id }))),
    ]);
    const [day = [], month = [], total = []] = usage;
    return keyView({ key, currency: currencyOf(config, key), rates, budgetsUsed, usage: { day, month, total }, now });
  });

  app.get<{ Querystring: Record<string, unknown> }>('/usage', async (req) => {
    const { key } = ctx.authorize(req);
    const period = req.query['period'] ?? 'day';
    if (period !== 'day' && period !== 'month' && period !== 'total') throw Errors.invalidRequest('period must be day, month or total', 'period');
    const groupBy = req.query['group_by'];
    if (groupBy !== undefined && groupBy !== 'model') throw Errors.invalidRequest('group_by must be model (or absent for one total)', 'group_by');
    const periodId = periodIds(new Date(ctx.clock()))[period];
    const rows: UsageRow[] = await deps.store.usage({ periodId, keyId: key.id });
    return { object: 'list', period, period_id: periodId, data: usageView({ rows, groupByModel: groupBy === 'model' }) };
  });
}

async function budgetCounters(store: LimitStore, key: CompiledKey, ids: Readonly<Record<Period, string>>) {
  const tokens: Partial<Record<Period, number>> = {};
  const costNanos: Partial<Record<Period, number>> = {};
  const reads: Promise<void>[] = [];
  for (const period of PERIODS) {
    if (key.limits.budgets.tokens[period] !== undefined)
      reads.push(store.budgetUsed(budgetId(key.id, 'tokens', ids[period])).then((v) => void (tokens[period] = v)));
    if (key.limits.budgets.costNanos[period] !== undefined)
      reads.push(store.budgetUsed(budgetId(key.id, 'cost', ids[period])).then((v) => void (costNanos[period] = v)));
  }
  await Promise.all(reads);
  return { tokens, costNanos };
}

/** Budgets are in the models' pricing currency: the first allowed model's says which. */
function currencyOf(config: GatewayConfig, key: CompiledKey): string {
  const first = [...key.allowedModels].sort()[0];
  return (first === undefined ? undefined : config.models.get(first)?.pricing.currency) ?? 'USD';
}
