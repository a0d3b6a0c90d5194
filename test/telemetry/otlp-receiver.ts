/**
 * A real OTLP/HTTP receiver inside the test process: accepts POST /v1/metrics and /v1/traces,
 * keeps every body (JSON parsed when the exporter used http/json), and answers as a collector
 * does. Plus small readers for the OTLP JSON shapes the tests assert on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly path: string;
  readonly contentType: string;
  readonly raw: Buffer;
  /** The parsed body for application/json. */
  readonly json?: unknown;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type'] ?? '');
      const path = (req.url ?? '').split('?')[0] ?? '';
      received.push({ path, contentType, raw, ...(contentType.startsWith('application/json') ? { json: JSON.parse(raw.toString('utf8')) as unknown } : {}) });
      if (path !== '/v1/metrics' && path !== '/v1/traces') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': contentType }).end(contentType.startsWith('application/json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// --- OTLP JSON (opentelemetry-proto's JSON mapping), as far as the tests need it ---

export type AttrMap = Record<string, string | number | boolean>;

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}

export function attrsOf(list: readonly { key: string; value: AnyValue }[] | undefined): AttrMap {
  const out: AttrMap = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}

export interface Point {
  readonly attributes: AttrMap;
  /** Sums and gauges. */
  readonly value?: number;
  /** Histograms. */
  readonly count?: number;
  readonly sum?: number;
}

export interface ExportedMetric {
  readonly name: string;
  readonly unit: string;
  readonly kind: 'sum' | 'gauge' | 'histogram';
  readonly monotonic?: boolean;
  readonly points: readonly Point[];
}

interface RawPoint {
  attributes?: { key: string; value: AnyValue }[];
  asInt?: number | string;
  asDouble?: number;
  count?: number | string;
  sum?: number;
}

interface RawMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints: RawPoint[]; isMonotonic?: boolean };
  gauge?: { dataPoints: RawPoint[] };
  histogram?: { dataPoints: RawPoint[] };
}

function pointOf(p: RawPoint): Point {
  const attributes = attrsOf(p.attributes);
  if (p.count !== undefined) return { attributes, count: Number(p.count), sum: p.sum ?? 0 };
  return { attributes, value: p.asDouble ?? Number(p.asInt ?? 0) };
}

/** The metrics of one export request (cumulative: the last export has everything). */
export function metricsOf(body: unknown): Map<string, ExportedMetric> {
  const out = new Map<string, ExportedMetric>();
  const rms = (body as { resourceMetrics?: { scopeMetrics?: { metrics?: RawMetric[] }[] }[] }).resourceMetrics ?? [];
  for (const m of rms.flatMap((r) => r.scopeMetrics ?? []).flatMap((s) => s.metrics ?? [])) {
    const data = m.histogram ?? m.sum ?? m.gauge;
    const kind = m.histogram ? 'histogram' : m.sum ? 'sum' : 'gauge';
    out.set(m.name, {
      name: m.name,
      unit: m.unit ?? '',
      kind,
      ...(m.sum ? { monotonic: m.sum.isMonotonic === true } : {}),
      points: (data?.dataPoints ?? []).map(pointOf),
    });
  }
  return out;
}

export interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  readonly kind: number;
  readonly attributes: AttrMap;
  readonly status: { code?: number; message?: string };
}

interface RawSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: AnyValue }[];
  status?: { code?: number; message?: string };
}

export function spansOf(bodies: readonly unknown[]): ExportedSpan[] {
  const out: ExportedSpan[] = [];
  for (const body of bodies) {
    const rss = (body as { resourceSpans?: { scopeSpans?: { spans?: RawSpan[] }[] }[] }).resourceSpans ?? [];
    for (const s of rss.flatMap((r) => r.scopeSpans ?? []).flatMap((x) => x.spans ?? [])) {
      out.push({
        traceId: s.traceId,
        spanId: s.spanId,
        ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
        name: s.name,
        kind: s.kind,
        attributes: attrsOf(s.attributes),
        status: s.status ?? {},
      });
    }
  }
  return out;
}

/** Points whose attributes include all of `match`. */
export function pointsWhere(metric: ExportedMetric | undefined, match: AttrMap): Point[] {
  return (metric?.points ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}

export function total(points: readonly Point[], field: 'value' | 'sum' | 'count' = 'value'): number {
  return points.reduce((acc, p) => acc + (p[field] ?? 0), 0);
}
