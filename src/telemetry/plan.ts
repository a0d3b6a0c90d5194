/**
 * Which exporters to run, from the standard OpenTelemetry environment variables plus TokenHub's
 * metrics port. Pure: an environment in, a plan out (setup.ts builds it).
 *
 * - OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; `/v1/metrics` and `/v1/traces` are
 *   appended) or `OTEL_EXPORTER_OTLP_{METRICS,TRACES}_ENDPOINT` (full URLs) is set, or when
 *   `OTEL_{METRICS,TRACES}_EXPORTER` says `otlp` (then the default http://localhost:4318).
 *   Protocol: `OTEL_EXPORTER_OTLP[_{METRICS,TRACES}]_PROTOCOL`, `http/protobuf` (default) or `http/json`.
 * - A Prometheus scrape endpoint (`/metrics`) on `--metrics-port` / `TOKENHUB_METRICS_PORT`, or
 *   when `OTEL_METRICS_EXPORTER` lists `prometheus` (`OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`, 9464).
 * - `OTEL_SDK_DISABLED=true`, or `none` as a signal's exporter, turns that off.
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type Env = Readonly<Record<string, string | undefined>>;

export interface OtlpTarget {
  readonly url: string;
  readonly protocol: OtlpProtocol;
}

export interface TelemetryPlan {
  readonly serviceName: string;
  readonly metrics?: OtlpTarget & { readonly intervalMs: number; readonly timeoutMs: number };
  readonly traces?: OtlpTarget;
  readonly prometheus?: { readonly host: string; readonly port: number };
}

export class TelemetryConfigError extends Error {
  override readonly name = 'TelemetryConfigError';
}

export function planTelemetry(env: Env, opts: { metricsPort?: number; metricsHost?: string; serviceName?: string } = {}): TelemetryPlan {
  const serviceName = nonEmpty(env['OTEL_SERVICE_NAME']) ?? opts.serviceName ?? 'tokenhub-gateway';
  if (nonEmpty(env['OTEL_SDK_DISABLED'])?.toLowerCase() === 'true') return { serviceName };
  const metricExporters = listOf(env['OTEL_METRICS_EXPORTER']);
  const metrics = otlpTarget(env, 'METRICS', 'v1/metrics', metricExporters);
  const traces = otlpTarget(env, 'TRACES', 'v1/traces', listOf(env['OTEL_TRACES_EXPORTER']));
  const prometheus = prometheusOf(env, opts, metricExporters);
  const intervalMs = positive(env['OTEL_METRIC_EXPORT_INTERVAL'], 'OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000;
  const timeoutMs = Math.min(positive(env['OTEL_METRIC_EXPORT_TIMEOUT'], 'OTEL_METRIC_EXPORT_TIMEOUT') ?? 30_000, intervalMs);
  return {
    serviceName,
    ...(metrics === undefined ? {} : { metrics: { ...metrics, intervalMs, timeoutMs } }),
    ...(traces === undefined ? {} : { traces }),
    ...(prometheus === undefined ? {} : { prometheus }),
  };
}

function otlpTarget(env: Env, signal: 'METRICS' | 'TRACES', path: string, exporters: readonly string[] | undefined): OtlpTarget | undefined {
  if (exporters !== undefined && !exporters.includes('otlp')) return undefined;
  const specific = nonEmpty(env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]);
  const base = nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
  if (specific === undefined && base === undefined && exporters === undefined) return undefined;
  const url = specific ?? `${(base ?? 'http://localhost:4318').replace(/\/+$/, '')}/${path}`;
  checkURL(url, specific === undefined ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`);
  const protocol = nonEmpty(env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]) ?? nonEmpty(env['OTEL_EXPORTER_OTLP_PROTOCOL']) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new TelemetryConfigError(`OTLP protocol ${JSON.stringify(protocol)} is not supported: use http/protobuf or http/json (a collector's port 4318)`);
  }
  return { url, protocol };
}

function prometheusOf(env: Env, opts: { metricsPort?: number; metricsHost?: string }, exporters: readonly string[] | undefined): TelemetryPlan['prometheus'] {
  const port = opts.metricsPort ?? port0(env['TOKENHUB_METRICS_PORT'], 'TOKENHUB_METRICS_PORT');
  const host = opts.metricsHost ?? nonEmpty(env['OTEL_EXPORTER_PROMETHEUS_HOST']) ?? '0.0.0.0';
  if (port !== undefined) return { host, port };
  if (exporters?.includes('prometheus') !== true) return undefined;
  return { host, port: port0(env['OTEL_EXPORTER_PROMETHEUS_PORT'], 'OTEL_EXPORTER_PROMETHEUS_PORT') ?? 9464 };
}

/** A comma list; undefined when unset (meaning: the default). */
function listOf(v: string | undefined): string[] | undefined {
  const s = nonEmpty(v);
  return s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim().toLowerCase())
        .filter((x) => x !== '');
}

function nonEmpty(v: string | undefined): string | undefined {
  const s = v?.trim();
  return s === undefined || s === '' ? undefined : s;
}

function positive(v: string | undefined, name: string): number | undefined {
  const s = nonEmpty(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new TelemetryConfigError(`${name} must be a positive integer (milliseconds), not ${JSON.stringify(s)}`);
  return n;
}

function port0(v: string | undefined, name: string): number | undefined {
  const s = nonEmpty(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TelemetryConfigError(`${name} must be a port number, not ${JSON.stringify(s)}`);
  return n;
}

function checkURL(url: string, name: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TelemetryConfigError(`${name} is not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TelemetryConfigError(`${name} must be an http(s) URL`);
}
