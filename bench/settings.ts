/** Bench settings (BENCH_* variables), targets, request bodies and the gateway's manifests. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashKey } from '../src/keys/hash.js';
import { type LoadSpec } from './load.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'bin', 'tokenhub.js');
export const BARE_PROXY = join(ROOT, 'dist', 'bench', 'bare-proxy.js');
export const CHAT_PATH = '/v1/chat/completions';
export const MODEL = 'bench-model';
export const API_KEY = 'th-bench-key-not-a-secret';

/** Issue #13's targets against the bare proxy, measured in the same run. */
export const TARGETS = {
  gateway: { throughput: 0.7, streaming: 0.6, addedP99Ms: 1 },
  'gateway+redis': { throughput: 0.5, streaming: undefined, addedP99Ms: 2 },
} as const;

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return n;
}

export const settings = {
  seconds: envNumber('BENCH_DURATION', 8),
  slice: envNumber('BENCH_SLICE', 2),
  /** Not counted at the start of each slice: new connections, not the steady state. */
  leadIn: 0.5,
  warmup: envNumber('BENCH_WARMUP', 2),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 64)),
  rate: envNumber('BENCH_RATE', 500),
  stream: process.env['BENCH_STREAM'] !== '0',
  store: process.env['BENCH_STORE'] ?? 'auto',
  redisUrl: process.env['TOKENHUB_REDIS_URL'] || undefined,
  profile: process.env['BENCH_PROFILE'] === '1',
  gatewayNodeArgs: (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== ''),
  /** Unset: the gateway's default (info: one access line per request, to its log file here as to stdout in a pod). */
  gatewayLogLevel: process.env['BENCH_GATEWAY_LOG_LEVEL'] || undefined,
  keep: process.env['BENCH_KEEP'] === '1',
  quietWait: process.env['BENCH_QUIET_WAIT'] === '0' ? 0 : envNumber('BENCH_QUIET_WAIT', 60),
};

export const messages = [{ role: 'user', content: 'In one short sentence: why do proxies add latency?' }];
export const BODIES = {
  plain: JSON.stringify({ model: MODEL, messages, max_tokens: 16 }),
  // include_usage: the gateway always asks the upstream for it, so every target gets the same upstream answer.
  stream: JSON.stringify({ model: MODEL, messages, max_tokens: 16, stream: true, stream_options: { include_usage: true } }),
};

export function specOf(baseURL: string, stream: boolean, auth: boolean): LoadSpec {
  return {
    url: `${baseURL}${CHAT_PATH}`,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${API_KEY}` } : {}) },
    body: stream ? BODIES.stream : BODIES.plain,
  };
}

// ---------------------------------------------------------------------------------------------
// Config for the gateway (the same YAML as test/support/gateway.ts writes, inline: bench/ is
// compiled with src/ only).

export function gatewayManifests(mockURL: string): string {
  const huge = { rpm: 1_000_000_000, tpm: 1_000_000_000_000 };
  return [
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ModelRoute',
    `metadata: {name: ${MODEL}}`,
    'spec:',
    `  model: ${MODEL}`,
    '  capabilities: [text]',
    '  limits: {contextWindow: 8192, maxInput: 8192, maxOutput: 1024}',
    `  backends: [{name: main, baseURL: "${mockURL}", timeoutSeconds: 10}]`,
    `  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}`,
    '  pricing: {inputPerMillion: "0.30", outputPerMillion: "0.60"}',
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: QuotaPolicy',
    'metadata: {name: bench-policy}',
    'spec:',
    `  rateLimits: {rpm: ${huge.rpm}, tpm: ${huge.tpm}}`,
    `  modelRateLimits: [{model: "${MODEL}", rpm: ${huge.rpm}, tpm: ${huge.tpm}}]`,
    '  budgets: {tokens: {day: 1000000000000000}}',
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ApiKey',
    'metadata: {name: bench-key}',
    'spec:',
    `  credential: {hash: "${hashKey(API_KEY)}"}`,
    `  allowedModels: ["${MODEL}"]`,
    '  quotaPolicies: [bench-policy]',
    '',
  ].join('\n');
}
