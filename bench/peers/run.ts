/**
 * `npm run bench:peers`: TokenHub beside its peers on the same mock upstream and the same load
 * generator, as ratios of a bare Node pass-through (issue #13, "Peers side by side").
 *
 *   [this process: load generator (autocannon)]
 *        ├──▶ [bare proxy: dist/bench/bare-proxy.js]           ─┐
 *        ├──▶ [tokenhub gateway --config DIR] (memory limits)   │
 *        ├──▶ [Portkey gateway, npm, node start-server.js]      ├──▶ [mock upstream]
 *        └──▶ [LiteLLM proxy, PyPI, 1 worker]                  ─┘
 *
 * One process each; each measurement is cut into slices interleaved round-robin across the
 * targets (as in `npm run bench`), so a noisy minute hurts every row alike. Non-streaming chat.
 * Peers are installed on first use into ~/.cache/tokenhub/peers (see install.ts), pinned.
 * TokenHub runs with its full policy (auth, validation, routing, limits, accounting); Portkey
 * and LiteLLM run as their docs start them, no database, no logging backend (LiteLLM with a
 * master key, which it requires; Portkey has no auth of its own).
 *
 * Environment:
 *   PEERS_DURATION     seconds of load per target (20)     PEERS_SLICE        seconds per slice (5)
 *   PEERS_CONNECTIONS  autocannon connections (50)         PEERS_WARMUP       seconds per target (3)
 *   PEERS_ONLY         comma list of targets (bare,tokenhub,portkey,litellm)
 * Prints a markdown table for the README. Always exits 0: it reports, it does not gate.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKey } from '../../src/keys/hash.js';
import { repoRoot } from '../compile-fixture.js';
import { type LoadSpec, Tally, probe, runAutocannon } from '../load.js';
import { type Proc, cpuTimeMs, freePort, startProcess, waitForHttp } from '../processes.js';
import { LITELLM_VERSION, PORTKEY_VERSION, ensureLiteLLM, ensurePortkey } from './install.js';

const MODEL = 'bench-model';
const API_KEY = 'th-peers-bench-key';
const BODY = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'In one short sentence: why do proxies add latency?' }], max_tokens: 16 });

const num = (name: string, fallback: number): number => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
};
const settings = {
  seconds: num('PEERS_DURATION', 20),
  slice: num('PEERS_SLICE', 5),
  warmup: num('PEERS_WARMUP', 3),
  connections: Math.round(num('PEERS_CONNECTIONS', 50)),
  only: (process.env['PEERS_ONLY'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
};
const log = (m: string): void => void process.stderr.write(`[bench:peers] ${m}\n`);

interface Target {
  readonly id: string;
  readonly label: string;
  readonly spec: LoadSpec;
  readonly proc: Proc;
}

const chatSpec = (base: string, headers: Record<string, string>): LoadSpec => ({
  url: `${base}/v1/chat/completions`,
  headers: { 'content-type': 'application/json', ...headers },
  body: BODY,
});

function tokenhubManifests(mock: string): string {
  const huge = { rpm: 1_000_000_000, tpm: 1_000_000_000_000 };
  return [
    {
      apiVersion: 'tokenhub.io/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: MODEL },
      spec: {
        model: MODEL,
        capabilities: ['text'],
        limits: { contextWindow: 8192, maxInput: 8192, maxOutput: 1024 },
        backends: [{ name: 'main', baseURL: `${mock}/v1`, timeoutSeconds: 10 }],
        rateLimits: huge,
        pricing: { inputPerMillion: '0.30', outputPerMillion: '0.60' },
      },
    },
    {
      apiVersion: 'tokenhub.io/v1alpha1',
      kind: 'QuotaPolicy',
      metadata: { name: 'bench-policy' },
      spec: {
        rateLimits: huge,
        modelRateLimits: [{ model: MODEL, ...huge }],
        budgets: { tokens: { day: 1_000_000_000_000_000 } },
      },
    },
    {
      apiVersion: 'tokenhub.io/v1alpha1',
      kind: 'ApiKey',
      metadata: { name: 'bench-key' },
      spec: {
        credential: { hash: hashKey(API_KEY) },
        allowedModels: [MODEL],
        quotaPolicies: ['bench-policy'],
      },
    },
  ]
    .map((d) => `---\n${JSON.stringify(d)}\n`)
    .join('');
}

function litellmConfig(mock: string): string {
  return [
    'model_list:',
    `  - model_name: ${MODEL}`,
    '    litellm_params:',
    `      model: openai/${MODEL}`,
    `      api_base: ${mock}/v1`,
    '      api_key: sk-mock-not-a-secret',
    '',
  ].join('\n');
}

async function startTargets(dir: string, mock: string): Promise<Target[]> {
  const root = repoRoot();
  const want = (id: string): boolean => settings.only.length === 0 || settings.only.includes(id);
  const out: Target[] = [];
  const start = async (
    id: string,
    label: string,
    make: (port: number) => Promise<{ proc: Proc; health: string; spec: LoadSpec }>,
    timeoutMs = 30_000,
  ): Promise<void> => {
    if (!want(id)) return;
    const port = await freePort();
    try {
      const { proc, health, spec } = await make(port);
      await waitForHttp(proc, health, timeoutMs);
      const res = await probe(spec);
      if (res.status !== 200) throw new Error(`${label} answered ${res.status}: ${res.text.slice(0, 200)}`);
      out.push({ id, label, spec, proc });
    } catch (err) {
      log(`${label}: not measured (${(err as Error).message.split('\n')[0]})`);
    }
  };
  const base = (port: number): string => `http://127.0.0.1:${port}`;
  await start('bare', 'bare undici pass-through', async (port) => ({
    proc: startProcess({
      name: 'bare proxy',
      command: process.execPath,
      args: [join(root, 'dist', 'bench', 'bare-proxy.js'), '--port', String(port), '--upstream', mock],
      logFile: join(dir, 'bare.log'),
    }),
    health: `${base(port)}/healthz`,
    spec: chatSpec(base(port), {}),
  }));
  writeFileSync(join(dir, 'tokenhub.yaml'), tokenhubManifests(mock));
  const env = { ...process.env };
  delete env['TOKENHUB_REDIS_URL'];
  await start('tokenhub', 'TokenHub, memory limits', async (port) => ({
    proc: startProcess({
      name: 'tokenhub',
      command: process.execPath,
      args: [join(root, 'bin', 'tokenhub.js'), 'gateway', '--config', join(dir, 'tokenhub.yaml'), '--port', String(port), '--host', '127.0.0.1'],
      logFile: join(dir, 'tokenhub.log'),
      env,
    }),
    health: `${base(port)}/readyz`,
    spec: chatSpec(base(port), { authorization: `Bearer ${API_KEY}` }),
  }));
  if (want('portkey')) {
    const script = await ensurePortkey(log).catch((err: Error) => (log(`Portkey: install failed (${err.message})`), undefined));
    if (script !== undefined) {
      await start('portkey', `Portkey gateway ${PORTKEY_VERSION} (npm)`, async (port) => ({
        proc: startProcess({
          name: 'portkey',
          command: process.execPath,
          args: [script, `--port=${port}`, '--headless'],
          logFile: join(dir, 'portkey.log'),
          env: { ...process.env, NODE_ENV: 'production' },
        }),
        health: `${base(port)}/`,
        spec: chatSpec(base(port), { authorization: 'Bearer sk-mock-not-a-secret', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${mock}/v1` }),
      }));
    }
  }
  if (want('litellm')) {
    const bin = await ensureLiteLLM(log).catch((err: Error) => (log(`LiteLLM: install failed (${err.message})`), undefined));
    if (bin !== undefined) {
      writeFileSync(join(dir, 'litellm.yaml'), litellmConfig(mock));
      // LiteLLM refuses to start without a master key (it would accept anyone); a fresh one per run.
      const masterKey = `sk-${randomBytes(24).toString('hex')}`;
      await start(
        'litellm',
        `LiteLLM proxy ${LITELLM_VERSION} (PyPI, 1 worker)`,
        async (port) => ({
          proc: startProcess({
            name: 'litellm',
            command: bin,
            args: ['--config', join(dir, 'litellm.yaml'), '--port', String(port), '--host', '127.0.0.1', '--num_workers', '1'],
            logFile: join(dir, 'litellm.log'),
            env: { ...process.env, LITELLM_MASTER_KEY: masterKey, LITELLM_TELEMETRY: 'False', LITELLM_LOG: 'ERROR' },
          }),
          health: `${base(port)}/health/liveliness`,
          spec: chatSpec(base(port), { authorization: `Bearer ${masterKey}` }),
        }),
        180_000,
      );
    }
  }
  return out;
}

interface Measured {
  readonly target: Target;
  readonly tally: Tally;
  cpuMs: number | undefined;
}

async function measure(targets: readonly Target[]): Promise<Measured[]> {
  for (const t of targets) {
    log(`warming up ${t.label}`);
    await runAutocannon(t.spec, { connections: settings.connections, seconds: settings.warmup });
  }
  const rows: Measured[] = targets.map((target) => ({ target, tally: new Tally(), cpuMs: 0 }));
  const rounds = Math.max(1, Math.round(settings.seconds / settings.slice));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[(i + r) % rows.length] as Measured;
      const c0 = cpuTimeMs(row.target.proc.child.pid);
      await runAutocannon(row.target.spec, { connections: settings.connections, seconds: settings.slice, leadInSeconds: 0.5 }, row.tally);
      const c1 = cpuTimeMs(row.target.proc.child.pid);
      row.cpuMs = row.cpuMs === undefined || c0 === undefined || c1 === undefined ? undefined : row.cpuMs + c1 - c0;
    }
    log(`round ${r + 1}/${rounds} done`);
  }
  return rows;
}

function table(rows: readonly Measured[]): string {
  const bare = rows.find((r) => r.target.id === 'bare')?.tally.result().rps;
  const lines = [`| system | req/s | share of the bare pass-through | p50 ms | p99 ms | CPU µs/req | errors |`, '|---|---|---|---|---|---|---|'];
  for (const { target, tally, cpuMs } of rows) {
    const r = tally.result();
    const share = bare === undefined || bare === 0 ? '-' : `${((100 * r.rps) / bare).toFixed(r.rps / bare < 0.1 ? 1 : 0)}%`;
    const us = cpuMs === undefined || r.responses === 0 ? '-' : Math.round((1000 * cpuMs) / (r.responses + tally.leadInResponses)).toString();
    const errors = r.non2xx + r.errors;
    lines.push(`| ${target.label} | ${Math.round(r.rps).toLocaleString('en-US')} | ${share} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${us} | ${errors} |`);
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  lines.push(
    '',
    `${cpus().length} cores (${cpu}), Node ${process.version}; autocannon ${settings.connections} connections, ${settings.seconds} s per system in ${settings.slice} s slices, non-streaming chat on the project's mock upstream; \`npm run bench:peers\`.`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tokenhub-peers-'));
  const procs: Proc[] = [];
  try {
    const mockPort = await freePort();
    const mock = startProcess({
      name: 'mock upstream',
      command: process.execPath,
      args: [join(root, 'bin', 'tokenhub.js'), 'mock-upstream', '--port', String(mockPort), '--host', '127.0.0.1'],
      logFile: join(dir, 'mock.log'),
    });
    procs.push(mock);
    const mockBase = `http://127.0.0.1:${mockPort}`;
    await waitForHttp(mock, `${mockBase}/__mock/stats`);
    const targets = await startTargets(dir, mockBase);
    procs.push(...targets.map((t) => t.proc));
    if (targets.length === 0) throw new Error('no target started');
    const rows = await measure(targets);
    process.stdout.write(`${table(rows)}\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop();
    if (process.env['PEERS_KEEP'] === '1') log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:peers: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 0;
});
