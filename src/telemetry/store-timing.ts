/**
 * A LimitStore decorator that times every call into the limiter/usage store (memory or Redis):
 * `tokenhub.limiter.operation.duration`, by operation and store, with `error.type` on failures.
 * Everything else (flush, extra methods) is reached through `inner`.
 */
import type { Histogram, Meter } from '@opentelemetry/api';
import type { AdmitRequest, AdmitResult, LimitStore, RateCheck, RateState, Settlement, UsageRow } from '../limits/store.js';
import { BUCKETS, METRICS, OTHER, TOKENHUB } from './names.js';

export class TimedLimitStore implements LimitStore {
  private readonly histogram: Histogram;

  constructor(
    readonly inner: LimitStore,
    meter: Meter,
  ) {
    this.histogram = meter.createHistogram(METRICS.limiterDuration, {
      unit: 's',
      description: 'Duration of calls into the limiter/usage store.',
      advice: { explicitBucketBoundaries: [...BUCKETS.limiter] },
    });
  }

  get name(): string {
    return this.inner.name;
  }

  admit(req: AdmitRequest, now: number): Promise<AdmitResult> {
    return this.timed('admit', () => this.inner.admit(req, now));
  }

  settle(s: Settlement, now: number): Promise<void> {
    return this.timed('settle', () => this.inner.settle(s, now));
  }

  usage(query: { periodId: string; keyId?: string }): Promise<UsageRow[]> {
    return this.timed('usage', () => this.inner.usage(query));
  }

  peek(rates: readonly RateCheck[], now: number): Promise<RateState[]> {
    return this.timed('peek', () => this.inner.peek(rates, now));
  }

  budgetUsed(id: string): Promise<number> {
    return this.timed('budget_used', () => this.inner.budgetUsed(id));
  }

  credit(id: string, amount: number): Promise<void> {
    return this.timed('credit', () => this.inner.credit(id, amount));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const attrs = { [TOKENHUB.limiterOperation]: operation, [TOKENHUB.limiterStore]: this.inner.name };
    try {
      const result = await call();
      this.histogram.record((performance.now() - started) / 1000, attrs);
      return result;
    } catch (err) {
      const type = err instanceof Error ? err.name : '_OTHER';
      this.histogram.record((performance.now() - started) / 1000, { ...attrs, [OTHER.errorType]: type });
      throw err;
    }
  }
}
