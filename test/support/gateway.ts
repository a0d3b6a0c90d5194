/**
 * A gateway for tests, as a user runs it: real HTTP on a free loopback port, the project's mock
 * upstream over real HTTP, config compiled from the same YAML a platform team writes, and the
 * official `openai` SDK as the client.
 */
import { eventually as pollEventually } from './poll.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createCompiler } from '../../src/compile/compile.js';
import { compileInputOf } from '../../src/manifests/check.js';
import { buildGateway, type GatewayOptions } from '../../src/gateway/app.js';
import { ConfigHolder } from '../../src/gateway/config/config-holder.js';
import type { ChatEvent } from '../../src/gateway/routes/chat-completions.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import type { LimitStore } from '../../src/limits/store.js';
import { type MockUpstream, startMockUpstream } from '../../src/mock-upstream/server.js';
import { hashKey } from '../../src/keys/hash.js';

export interface TestGateway {
  readonly url: string;
  readonly baseURL: string;
  readonly mock: MockUpstream;
  readonly holder: ConfigHolder;
  readonly store: LimitStore;
  readonly events: ChatEvent[];
  client(key: string, opts?: { maxRetries?: number; timeout?: number }): OpenAI;
  /** Recompiles from YAML and swaps (what a reload does); throws if any object is not Ready. */
  load(yaml: string): void;
  close(): Promise<void>;
}

const compiler = createCompiler();

/** Compiles YAML (with `${MOCK}` replaced by the mock's base URL) into a config. */
export function compileYaml(yaml: string, opts: { mockURL: string; now?: Date }) {
  const text = yaml.replaceAll('${MOCK}', opts.mockURL);
  const objects = parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o) => o !== null && o !== undefined);
  return compiler(compileInputOf(objects, 'default'), { now: opts.now ?? new Date() });
}

export async function startTestGateway(opts: {
  yaml: string;
  store?: LimitStore;
  clock?: () => number;
  gateway?: Partial<GatewayOptions>;
  allowNotReady?: boolean;
}): Promise<TestGateway> {
  const mock = await startMockUpstream({ host: '127.0.0.1', port: 0 });
  const holder = new ConfigHolder();
  const store = opts.store ?? new MemoryLimitStore();
  const events: ChatEvent[] = [];
  const load = (yaml: string): void => {
    const { config, verdicts } = compileYaml(yaml, { mockURL: mock.url, ...(opts.clock ? { now: new Date(opts.clock()) } : {}) });
    const bad = verdicts.filter((v) => !v.ready && v.reason !== 'KeyDisabled' && v.reason !== 'KeyExpired');
    if (bad.length > 0 && opts.allowNotReady !== true) throw new Error(`test config not ready: ${JSON.stringify(bad)}`);
    holder.swap(config);
  };
  load(opts.yaml);
  const app = buildGateway({ holder, store, ...(opts.clock ? { clock: opts.clock } : {}), onChat: (e) => events.push(e), ...opts.gateway });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    baseURL: `${url}/api/v1`,
    mock,
    holder,
    store,
    events,
    client: (key, o = {}) => new OpenAI({ baseURL: `${url}/api/v1`, apiKey: key, maxRetries: o.maxRetries ?? 0, timeout: o.timeout ?? 10_000 }),
    load,
    close: async () => {
      await app.close();
      await mock.close();
    },
  };
}

/** A ModelRoute on the mock upstream, with overridable fields. */
export function modelYaml(opts: {
  name: string;
  capabilities?: string[];
  maxOutput?: number;
  maxInput?: number;
  contextWindow?: number;
  rpm?: number;
  tpm?: number;
  fallback?: string[];
  baseURL?: string;
  timeoutSeconds?: number;
  price?: [string, string];
  /** Several backends instead of the one on the mock (`baseURL` defaults to the mock). */
  backends?: readonly BackendSpec[];
}): string {
  const lines = [
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ModelRoute',
    `metadata: {name: ${opts.name}}`,
    'spec:',
    `  model: ${opts.name}`,
    `  capabilities: [${(opts.capabilities ?? ['text']).join(', ')}]`,
    `  limits: {contextWindow: ${opts.contextWindow ?? 8192}, maxInput: ${opts.maxInput ?? opts.contextWindow ?? 8192}, maxOutput: ${opts.maxOutput ?? 1024}}`,
    `  backends: [${(opts.backends ?? [{ name: 'main', ...(opts.baseURL ? { baseURL: opts.baseURL } : {}) }]).map((b) => backendFlow(b, opts.timeoutSeconds)).join(', ')}]`,
  ];
  if (opts.rpm !== undefined || opts.tpm !== undefined) {
    lines.push(
      `  rateLimits: {${[opts.rpm === undefined ? '' : `rpm: ${opts.rpm}`, opts.tpm === undefined ? '' : `tpm: ${opts.tpm}`].filter(Boolean).join(', ')}}`,
    );
  }
  if (opts.fallback) lines.push(`  fallbackModels: [${opts.fallback.join(', ')}]`);
  if (opts.price) lines.push(`  pricing: {inputPerMillion: "${opts.price[0]}", outputPerMillion: "${opts.price[1]}"}`);
  return `${lines.join('\n')}\n`;
}

export interface BackendSpec {
  readonly name: string;
  readonly baseURL?: string;
  readonly upstreamModel?: string;
  readonly priority?: number;
  /** YAML flow text for `connection`, e.g. `{maxConnections: 1}`. */
  readonly connection?: string;
}

function backendFlow(b: BackendSpec, timeoutSeconds: number | undefined): string {
  const fields = [`name: ${b.name}`, `baseURL: "${b.baseURL ?? '${MOCK}'}"`, `timeoutSeconds: ${timeoutSeconds ?? 10}`];
  if (b.upstreamModel !== undefined) fields.push(`upstreamModel: ${b.upstreamModel}`);
  if (b.priority !== undefined) fields.push(`priority: ${b.priority}`);
  if (b.connection !== undefined) fields.push(`connection: ${b.connection}`);
  return `{${fields.join(', ')}}`;
}

/** An ApiKey whose clear value is `clear`, committed as a hash. */
export function keyYaml(opts: { name: string; clear: string; allowed?: string[]; policies?: string[]; disabled?: boolean; expiresAt?: string }): string {
  const lines = [
    '---',
    'apiVersion: tokenhub.io/v1alpha1',
    'kind: ApiKey',
    `metadata: {name: ${opts.name}}`,
    'spec:',
    `  credential: {hash: "${hashKey(opts.clear)}"}`,
  ];
  if (opts.allowed) lines.push(`  allowedModels: [${opts.allowed.map((a) => JSON.stringify(a)).join(', ')}]`);
  if (opts.policies) lines.push(`  quotaPolicies: [${opts.policies.join(', ')}]`);
  if (opts.disabled) lines.push('  disabled: true');
  if (opts.expiresAt) lines.push(`  expiresAt: "${opts.expiresAt}"`);
  return `${lines.join('\n')}\n`;
}

/** A QuotaPolicy; `spec` is YAML flow text, e.g. `{rateLimits: {rpm: 5}}`. */
export function policyYaml(name: string, spec: string): string {
  return `---\napiVersion: tokenhub.io/v1alpha1\nkind: QuotaPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
}

/** Polls until `check` passes or the time is up (for effects another process makes); see support/poll.ts. */
export function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  return pollEventually(check, { timeoutMs });
}

/** A loopback port nothing listens on (bound, then released): a backend that refuses connections. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON. */
  readonly json: unknown;
}

/** POST /chat/completions with fetch, for exact status, headers and body bytes. */
export async function postChat(baseURL: string, opts: { key?: string; body: unknown; headers?: Record<string, string> }): Promise<RawResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.key !== undefined) headers['authorization'] = `Bearer ${opts.key}`;
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers,
    body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The OpenAI error shape, exactly: `{"error":{"message","type","param","code"}}`, and the status. */
export function expectOpenAIError(res: RawResponse, want: { status: number; code: string | null; type?: string; param?: string | null }): void {
  expect(res.status, res.text).toBe(want.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = res.json as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error['message']).toEqual(expect.any(String));
  expect(body.error['code']).toBe(want.code);
  if (want.type !== undefined) expect(body.error['type']).toBe(want.type);
  if (want.param !== undefined) expect(body.error['param']).toBe(want.param);
  expect(res.text).not.toMatch(/\n\s+at /);
}
