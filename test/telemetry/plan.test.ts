/** Which exporters the standard OTEL_* variables (and TokenHub's metrics port) turn on. */
import { describe, expect, it } from 'vitest';
import { TelemetryConfigError, planTelemetry } from '../../src/telemetry/plan.js';

describe('planTelemetry', () => {
  it('exports nothing when nothing is configured', () => {
    expect(planTelemetry({})).toEqual({ serviceName: 'tokenhub-gateway' });
  });

  it('appends the signal paths to OTEL_EXPORTER_OTLP_ENDPOINT, http/protobuf by default', () => {
    expect(planTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      serviceName: 'tokenhub-gateway',
      metrics: { url: 'http://collector:4318/v1/metrics', protocol: 'http/protobuf', intervalMs: 60_000, timeoutMs: 30_000 },
      traces: { url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' },
    });
  });

  it('takes signal-specific endpoints and protocols as they are, and OTEL_SERVICE_NAME', () => {
    const plan = planTelemetry({
      OTEL_SERVICE_NAME: 'gw-eu',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    });
    expect(plan).toEqual({ serviceName: 'gw-eu', traces: { url: 'https://traces.example/otlp', protocol: 'http/protobuf' } });
  });

  it('honours OTEL_*_EXPORTER (none, otlp with the default endpoint, prometheus) and OTEL_SDK_DISABLED', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'prometheus' };
    expect(planTelemetry(env)).toEqual({ serviceName: 'tokenhub-gateway', prometheus: { host: '0.0.0.0', port: 9464 } });
    expect(planTelemetry({ OTEL_TRACES_EXPORTER: 'otlp' }).traces).toEqual({ url: 'http://localhost:4318/v1/traces', protocol: 'http/protobuf' });
    expect(planTelemetry({ ...env, OTEL_SDK_DISABLED: 'true' }, { metricsPort: 9000 })).toEqual({ serviceName: 'tokenhub-gateway' });
  });

  it('opens the Prometheus endpoint on --metrics-port or TOKENHUB_METRICS_PORT', () => {
    expect(planTelemetry({ TOKENHUB_METRICS_PORT: '9100' }).prometheus).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(planTelemetry({ TOKENHUB_METRICS_PORT: '9100' }, { metricsPort: 0, metricsHost: '127.0.0.1' }).prometheus).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('rejects what it cannot do with a clear error', () => {
    expect(() => planTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /grpc.*not supported.*http\/protobuf or http\/json/,
    );
    expect(() => planTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(TelemetryConfigError);
    expect(() => planTelemetry({ TOKENHUB_METRICS_PORT: 'ninety' })).toThrow(/TOKENHUB_METRICS_PORT must be a port number/);
    expect(() => planTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRIC_EXPORT_INTERVAL: '-1' })).toThrow(/OTEL_METRIC_EXPORT_INTERVAL/);
  });
});
