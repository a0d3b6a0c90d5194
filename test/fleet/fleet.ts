/**
 * A gateway fleet for tests: N `tokenhub gateway` processes (the built CLI, as an operator runs
 * it) on one config directory and, optionally, one Redis; a bounded concurrent hammer of raw
 * requests spread across them; and `tokenhub usage` as an operator runs it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, freePort, waitUntil } from '../../src/devtools/control-plane-process.js';

export const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'bin/tokenhub.js');

/** `npm run build` when a source file is newer than everything in dist/ (or dist/ is missing). */
export function buildIfStale(): void {
  const newest = (dir: string): number =>
    Number(spawnSync('sh', ['-c', `find ${dir} -type f -printf '%T@\\n' | sort -n | tail -1`], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || 0);
  if (existsSync(join(ROOT, 'dist/src/cli/main.js')) && newest('dist/src') >= newest('src')) return;
  const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  // tsc emits even with type errors (someone's edit in progress): only a missing CLI is fatal.
  if (res.status !== 0 && !existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error(`npm run build failed:\n${res.stdout}${res.stderr}`);
}

/** A temporary config directory holding `yaml` (one file of manifests). */
export async function configDir(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-fleet-'));
  await writeFile(join(dir, 'config.yaml'), yaml);
  return dir;
}

export interface FleetGateway {
  readonly baseURL: string;
  readonly logFile: string;
  /** SIGTERM (graceful: in-flight requests finish, journals flush), SIGKILL after the grace. */
  stop(): Promise<void>;
  exited(): string | undefined;
}

export interface Fleet {
  readonly gateways: readonly FleetGateway[];
  stop(): Promise<void>;
}

/** Starts `n` gateways on free loopback ports and waits until every one is ready. */
export async function startFleet(opts: { n: number; configDir: string; redisUrl?: string; env?: Record<string, string> }): Promise<Fleet> {
  const gateways: FleetGateway[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.stop()));
  };
  try {
    await Promise.all(
      Array.from({ length: opts.n }, async (_, i) => {
        const port = await freePort();
        const logFile = join(opts.configDir, `gateway-${i}.log`);
        const args = [CLI, 'gateway', '--config', join(opts.configDir, 'config.yaml'), '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'];
        if (opts.redisUrl !== undefined) args.push('--redis', opts.redisUrl);
        const proc = new ServerProcess({ name: `gateway-${i}`, binary: process.execPath, args, logFile, env: { ...process.env, ...opts.env } });
        proc.start();
        const url = `http://127.0.0.1:${port}`;
        gateways.push({ baseURL: `${url}/api/v1`, logFile, stop: () => proc.stop(10_000), exited: () => proc.exited });
        await waitUntil({
          probe: async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.status === 200,
          abort: () => proc.exited && `exited (${proc.exited})`,
          timeoutMs: 20_000,
          intervalMs: 50,
        }).catch((err: Error) => {
          throw new Error(proc.describeFailure(`not ready: ${err.message}`));
        });
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { gateways, stop };
}

export interface Outcome {
  readonly status: number;
  /** `error.code` of an error body. */
  readonly code?: string;
  readonly usage?: { prompt_tokens: number; completion_tokens: number };
}

/**
 * `total` requests, `clients` at a time, round-robin over `baseURLs` (each client sticks to one
 * gateway), every one answered before this resolves. Never retries.
 */
export async function hammer(opts: {
  baseURLs: readonly string[];
  key: string;
  body: unknown;
  clients: number;
  total: number;
}): Promise<{ outcomes: Outcome[]; elapsedMs: number }> {
  const outcomes: Outcome[] = [];
  let issued = 0;
  const payload = JSON.stringify(opts.body);
  const client = async (c: number): Promise<void> => {
    const base = opts.baseURLs[c % opts.baseURLs.length] ?? '';
    while (issued < opts.total) {
      issued++;
      outcomes.push(await send(base, opts.key, payload));
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: opts.clients }, (_, c) => client(c)));
  return { outcomes, elapsedMs: performance.now() - started };
}

export async function send(baseURL: string, key: string, payload: string): Promise<Outcome> {
  try {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: payload,
      signal: AbortSignal.timeout(15_000),
    });
    const json = (await res.json()) as { usage?: Outcome['usage']; error?: { code?: string } };
    return {
      status: res.status,
      ...(json.error?.code === undefined ? {} : { code: json.error.code }),
      ...(json.usage === undefined ? {} : { usage: json.usage }),
    };
  } catch (err) {
    return { status: 0, code: err instanceof Error ? err.message : String(err) };
  }
}

/** Statuses and codes counted, e.g. `{ '200': 40, '429 rate_limit_exceeded': 360 }`. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) {
    const k = o.code === undefined ? String(o.status) : `${o.status} ${o.code}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export const tokensOf = (outcomes: readonly Outcome[]): number =>
  outcomes.reduce((t, o) => t + (o.usage === undefined ? 0 : o.usage.prompt_tokens + o.usage.completion_tokens), 0);

/**
 * `tokenhub <args>` with the built CLI: exit code and output. Asynchronous on purpose: a
 * spawnSync would stall in-process gateways (their Redis commands time out meanwhile).
 */
export function cli(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** The last lines of every gateway's log, for a failing assertion's message. */
export function logsOf(fleet: Fleet | undefined): string {
  return (fleet?.gateways ?? [])
    .map((g) => `--- ${g.logFile}\n${existsSync(g.logFile) ? readFileSync(g.logFile, 'utf8').split('\n').slice(-15).join('\n') : ''}`)
    .join('\n');
}
