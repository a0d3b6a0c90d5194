/**
 * `startGateway` (what `tokenhub gateway` and the demo run) wires telemetry from its options and
 * the environment: the Prometheus endpoint, OTLP in the default http/protobuf, the timed store,
 * the config metrics; and `close()` flushes the exporters, so a clean shutdown loses nothing.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../../src/gateway/server.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { revisionNumber } from '../../src/telemetry/index.js';
import { keyYaml, modelYaml } from '../support/gateway.js';
import { type OtlpReceiver, startOtlpReceiver } from './otlp-receiver.js';

const KEY = 'th-wiring-secret-key';
let dir: string;
let mock: MockUpstream;
let receiver: OtlpReceiver;
let gw: RunningGateway | undefined;

beforeAll(async () => {
  mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  receiver = await startOtlpReceiver();
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-telemetry-'));
  await writeFile(join(dir, 'config.yaml'), (modelYaml({ name: 'alpha' }) + keyYaml({ name: 'k', clear: KEY })).replaceAll('${MOCK}', mock.url));
});

afterAll(async () => {
  await gw?.close();
  await mock?.close();
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('startGateway telemetry', () => {
  it('serves Prometheus metrics, exports OTLP http/protobuf, and flushes on close', async () => {
    gw = await startGateway({
      configPaths: [dir],
      port: 0,
      logger: false,
      telemetry: { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_METRIC_EXPORT_INTERVAL: '3600000' }, metricsPort: 0, metricsHost: '127.0.0.1' },
    });
    expect(gw.telemetry.describe()).toMatchObject({
      otlpMetrics: expect.stringContaining(`${receiver.url}/v1/metrics (http/protobuf`),
      prometheus: gw.telemetry.metricsUrl,
    });
    const client = new OpenAI({ baseURL: `${gw.url}/api/v1`, apiKey: KEY, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'hello' }] });
    const text = await (await fetch(gw.telemetry.metricsUrl as string)).text();
    const line = (prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));
    expect(line('gen_ai_client_token_usage_sum{')).toBeDefined();
    expect(line('tokenhub_config_revision{')).toBe(`tokenhub_config_revision{otel_scope_name="tokenhub"} ${revisionNumber(gw.holder.current()?.revision)}`);
    expect(line('tokenhub_config_reloads_total{')).toMatch(/ 1$/);
    expect(line('tokenhub_limiter_operation_duration_count{tokenhub_limiter_operation="admit"')).toMatch(/ 1$/);
    const out = text.split('\n').filter((l) => l.startsWith('tokenhub_tokens_total{') && l.includes('gen_ai_token_type="output"'));
    expect(out.map((l) => Number(l.split(' ').at(-1)))).toEqual([res.usage?.completion_tokens]);
    expect(receiver.received.filter((r) => r.path === '/v1/metrics')).toHaveLength(0);
    await gw.close();
    gw = undefined;
    const posted = receiver.received.map((r) => [r.path, r.contentType]);
    expect(posted).toContainEqual(['/v1/metrics', 'application/x-protobuf']);
    expect(posted).toContainEqual(['/v1/traces', 'application/x-protobuf']);
  });
});
