/**
 * Telemetry for a gateway process: the SDK from the environment (setup.ts), the gateway's
 * metrics and spans behind the GatewayObserver hooks, the limiter store's timing and the config
 * snapshot's revision and reloads. Entry points (server.ts, kubernetes-mode.ts) start one, hand
 * `observer`/`timeStore` to the gateway, and `shutdown()` it after the HTTP server has closed.
 */
import type { Meter, Tracer } from '@opentelemetry/api';
import type { GatewayConfig } from '../compile/types.js';
import type { ConfigHolder } from '../gateway/config/config-holder.js';
import type { ChatWatch, GatewayObserver } from '../gateway/events.js';
import type { LimitStore } from '../limits/store.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { METRICS } from './names.js';
import { type TelemetryOptions, type TelemetrySdk, startTelemetrySdk } from './setup.js';
import { startServerSpan } from './spans.js';
import { TimedLimitStore } from './store-timing.js';

export { type TelemetryOptions } from './setup.js';
export { TelemetryConfigError } from './plan.js';

export class GatewayTelemetry {
  private readonly metrics: GatewayMetrics;
  /** False when no metric leaves the process: then the per-request recording is skipped. */
  private readonly metricsOn: boolean;

  private constructor(private readonly sdk: TelemetrySdk) {
    this.metrics = new GatewayMetrics(sdk.meter);
    this.metricsOn = sdk.plan.metrics !== undefined || sdk.plan.prometheus !== undefined;
  }

  static async start(opts: TelemetryOptions = {}): Promise<GatewayTelemetry> {
    return new GatewayTelemetry(await startTelemetrySdk(opts));
  }

  get meter(): Meter {
    return this.sdk.meter;
  }

  get tracer(): Tracer | undefined {
    return this.sdk.tracer;
  }

  /** Prometheus scrape URL, when `--metrics-port` / TOKENHUB_METRICS_PORT is set. */
  get metricsUrl(): string | undefined {
    return this.sdk.metricsUrl;
  }

  /** What is exported where, for the startup log line. */
  describe(): Record<string, string> {
    const p = this.sdk.plan;
    return {
      ...(p.metrics ? { otlpMetrics: `${p.metrics.url} (${p.metrics.protocol}, every ${p.metrics.intervalMs} ms)` } : {}),
      ...(p.traces ? { otlpTraces: `${p.traces.url} (${p.traces.protocol})` } : {}),
      ...(this.sdk.metricsUrl ? { prometheus: this.sdk.metricsUrl } : {}),
    };
  }

  /** The limiter store, timed (`tokenhub.limiter.operation.duration`). */
  timeStore(store: LimitStore): LimitStore {
    // Timing every call costs on the hot path; without an exporter nobody reads it.
    if (!this.metricsOn) return store;
    return new TimedLimitStore(store, this.sdk.meter);
  }

  /**
   * The config snapshot in force, read at collection: its revision as a number (a label per
   * revision would add a series at every reload), the reloads, and when the last one happened.
   */
  watchConfig(holder: ConfigHolder): void {
    const meter = this.sdk.meter;
    let lastSwap = holder.current() === undefined ? undefined : Date.now();
    holder.onSwap(() => (lastSwap = Date.now()));
    meter
      .createObservableGauge(METRICS.configRevision, { unit: '1', description: 'The config revision in force: its first 12 hex digits as a number.' })
      .addCallback((r) => {
        const n = revisionNumber(holder.current()?.revision);
        if (n !== undefined) r.observe(n);
      });
    meter
      .createObservableCounter(METRICS.configReloads, { unit: '{reload}', description: 'Config snapshots swapped in, the first load included.' })
      .addCallback((r) => r.observe(holder.reloads));
    meter.createObservableGauge(METRICS.configLastReload, { unit: 's', description: 'Unix time of the last config swap.' }).addCallback((r) => {
      if (lastSwap !== undefined) r.observe(lastSwap / 1000);
    });
  }

  /** 1 while the fleet store has lost Redis (limits per pod, usage journaled), else 0. */
  watchStoreState(degraded: () => boolean): void {
    this.sdk.meter
      .createObservableGauge(METRICS.limiterDegraded, { unit: '1', description: '1 while Redis is unreachable and this pod limits on its own.' })
      .addCallback((r) => r.observe(degraded() ? 1 : 0));
  }

  /** The hooks the gateway calls per chat request and per upstream attempt. */
  observer(holder: ConfigHolder): GatewayObserver | undefined {
    // Nothing exported: no hooks at all on the request path.
    if (!this.metricsOn && this.sdk.tracer === undefined) return undefined;
    return { watchChat: (req) => this.watchChat(req, holder.current()) };
  }

  flush(): Promise<void> {
    return this.sdk.flush();
  }

  shutdown(): Promise<void> {
    return this.sdk.shutdown();
  }

  private watchChat(req: Parameters<GatewayObserver['watchChat']>[0], config: GatewayConfig | undefined): ChatWatch {
    const tracer = this.sdk.tracer;
    const span = tracer === undefined ? undefined : guarded(() => startServerSpan(tracer, req));
    return {
      attempts: {
        start: (a) => {
          const client = guarded(() => span?.startAttempt(a));
          return {
            headers: client?.headers ?? {},
            end: (o) => {
              guarded(() => client?.end(o));
              if (this.metricsOn) guarded(() => this.metrics.attempt(a.model, a.backend, o));
            },
          };
        },
      },
      end: (e) => {
        if (this.metricsOn) guarded(() => this.metrics.record(e, config));
        guarded(() => span?.end(e, config));
      },
    };
  }
}

/** `061d325e7bc9cf4b` → 0x061d325e7bc9 (48 bits: exact in a double). */
export function revisionNumber(revision: string | undefined): number | undefined {
  const m = /^[0-9a-f]{12}/i.exec(revision ?? '');
  return m === null ? undefined : Number.parseInt(m[0], 16);
}

/** Telemetry never fails a request: a fault in it is dropped (and shows as missing data). */
function guarded<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
