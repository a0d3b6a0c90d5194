/**
 * `tokenhub gateway` as a real child process (the built CLI, as a user runs it), for tests of
 * cluster mode: a free loopback port, logs in a file, killed with the test worker.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServerProcess, freePort, waitUntil } from '../../src/devtools/control-plane-process.js';

export { ensureBuilt } from './build.js';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface GatewayProcess {
  readonly url: string;
  readonly baseURL: string;
  readonly port: number;
  readonly logFile: string;
  pid(): number | undefined;
  /** Why it exited, or undefined while it runs. */
  exited(): string | undefined;
  log(): string;
  /** GET /readyz status (0 when unreachable). */
  readyz(): Promise<number>;
  stop(): Promise<void>;
}

export interface StartGatewayOptions {
  /** CLI arguments after `gateway` (without --port/--host, which are added). */
  args: string[];
  logFile: string;
  /** Extra environment (e.g. TOKENHUB_REDIS_URL). */
  env?: NodeJS.ProcessEnv;
  /** Wait for /readyz 200 (default true). */
  waitReady?: boolean;
  timeoutMs?: number;
}

export async function startGatewayProcess(opts: StartGatewayOptions): Promise<GatewayProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = new ServerProcess({
    name: 'tokenhub gateway',
    binary: process.execPath,
    args: [join(ROOT, 'bin/tokenhub.js'), 'gateway', ...opts.args, '--port', String(port), '--host', '127.0.0.1'],
    logFile: opts.logFile,
    // No kube-proxy or connection pools to wait for here: SIGTERM closes at once (src/gateway/drain.ts).
    env: { ...process.env, TOKENHUB_DRAIN_SECONDS: '0', ...opts.env },
  });
  proc.start();
  const readyz = async (): Promise<number> => {
    try {
      return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).status;
    } catch {
      return 0;
    }
  };
  const gw: GatewayProcess = {
    url,
    baseURL: `${url}/api/v1`,
    port,
    logFile: opts.logFile,
    pid: () => proc.pid,
    exited: () => proc.exited,
    log: () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8') : ''),
    readyz,
    stop: () => proc.stop(5_000),
  };
  if (opts.waitReady !== false) {
    await waitUntil({
      probe: async () => (await readyz()) === 200,
      abort: () => proc.exited && `exited (${proc.exited})`,
      timeoutMs: opts.timeoutMs ?? 20_000,
      intervalMs: 100,
    }).catch(async (err: Error) => {
      await proc.stop(1_000);
      throw new Error(proc.describeFailure(`not ready: ${err.message}`));
    });
  }
  return gw;
}
