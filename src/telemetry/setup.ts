/**
 * Builds the OpenTelemetry SDK for a gateway process from the environment (see plan.ts): a
 * MeterProvider with OTLP/HTTP and/or Prometheus readers, a TracerProvider with an OTLP/HTTP
 * batch exporter. Nothing is registered globally, so several gateways (tests) can run in one
 * process. With nothing configured every instrument is a no-op and nothing listens or exports.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Meter, type Tracer, createNoopMeter, diag, DiagLogLevel } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { type Resource, defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type Env, type TelemetryPlan, planTelemetry } from './plan.js';

export interface TelemetryOptions {
  /** Where the OTEL_* and TOKENHUB_METRICS_PORT variables are read (default: process.env). */
  readonly env?: Env;
  /** Serve Prometheus text on http://host:port/metrics (0: a free port; see `metricsUrl`). */
  readonly metricsPort?: number;
  readonly metricsHost?: string;
  readonly serviceName?: string;
  /** Exporter failures are reported here (as warnings), through OpenTelemetry's diag logger. */
  readonly log?: { warn(obj: object, msg: string): void };
}

export interface TelemetrySdk {
  readonly plan: TelemetryPlan;
  readonly meter: Meter;
  /** Undefined when no traces are exported (no spans are made then). */
  readonly tracer?: Tracer;
  /** The Prometheus scrape URL when that endpoint is on. */
  readonly metricsUrl?: string;
  /** Exports everything recorded so far (tests; before a planned exit). */
  flush(): Promise<void>;
  /** Flushes, stops exporting, closes the scrape endpoint. */
  shutdown(): Promise<void>;
}

const SCOPE = 'tokenhub';

export async function startTelemetrySdk(opts: TelemetryOptions = {}): Promise<TelemetrySdk> {
  const plan = planTelemetry(opts.env ?? process.env, {
    ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
    ...(opts.metricsHost === undefined ? {} : { metricsHost: opts.metricsHost }),
    ...(opts.serviceName === undefined ? {} : { serviceName: opts.serviceName }),
  });
  if (opts.log !== undefined && (plan.metrics || plan.traces)) routeDiagnostics(opts.log);
  const resource = resourceOf(plan.serviceName);
  const readers: IMetricReader[] = [];
  if (plan.metrics) {
    const exporter =
      plan.metrics.protocol === 'http/json' ? new JsonMetricExporter({ url: plan.metrics.url }) : new ProtoMetricExporter({ url: plan.metrics.url });
    readers.push(new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: plan.metrics.intervalMs, exportTimeoutMillis: plan.metrics.timeoutMs }));
  }
  const prometheus = plan.prometheus ? new PrometheusExporter({ preventServerStart: true }) : undefined;
  if (prometheus) readers.push(prometheus);
  const meterProvider = readers.length > 0 ? new MeterProvider({ resource, readers }) : undefined;
  const tracerProvider = plan.traces ? tracerProviderOf(plan.traces, resource) : undefined;
  const scrape = prometheus && plan.prometheus ? await serveScrape(prometheus, plan.prometheus) : undefined;
  return {
    plan,
    meter: meterProvider?.getMeter(SCOPE) ?? createNoopMeter(),
    ...(tracerProvider ? { tracer: tracerProvider.getTracer(SCOPE) } : {}),
    ...(scrape ? { metricsUrl: scrape.url } : {}),
    flush: async () => {
      await Promise.all([meterProvider?.forceFlush(), tracerProvider?.forceFlush()]);
    },
    shutdown: async () => {
      await Promise.allSettled([meterProvider?.shutdown(), tracerProvider?.shutdown()]);
      if (scrape) await new Promise<void>((resolve) => scrape.server.close(() => resolve()));
    },
  };
}

function resourceOf(serviceName: string): Resource {
  // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (envDetector) win over the defaults.
  return defaultResource()
    .merge(resourceFromAttributes({ 'service.name': serviceName }))
    .merge(detectResources({ detectors: [envDetector] }));
}

function tracerProviderOf(target: NonNullable<TelemetryPlan['traces']>, resource: Resource): BasicTracerProvider {
  const exporter = target.protocol === 'http/json' ? new JsonTraceExporter({ url: target.url }) : new ProtoTraceExporter({ url: target.url });
  // Sampling (OTEL_TRACES_SAMPLER[_ARG]) and batching (OTEL_BSP_*) come from the environment.
  return new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
}

async function serveScrape(exporter: PrometheusExporter, at: { host: string; port: number }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') return exporter.getMetricsRequestHandler(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = at.host === '0.0.0.0' || at.host === '::' ? '127.0.0.1' : at.host;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` };
}

/** OpenTelemetry reports export failures through its diag logger: send them to ours. */
function routeDiagnostics(log: NonNullable<TelemetryOptions['log']>): void {
  const warn = (message: string, ...args: unknown[]): void => log.warn({ detail: args.map(String).join(' ').slice(0, 500) }, `telemetry: ${message}`);
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
