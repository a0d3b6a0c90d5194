/**
 * Child-process plumbing for the local control plane: spawning long-lived
 * servers with their output in log files, making sure they never outlive us,
 * and small polling helpers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Every server we started and have not stopped yet; killed when this process exits. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous, so SIGKILL is the only thing we can do here.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * `setpriv --pdeathsig KILL` makes the kernel kill the server when its parent
 * dies for any reason, including SIGKILL of a test worker, where no JS exit
 * handler gets a chance to run. Without setpriv we fall back to exit hooks only.
 */
const setprivPath: string | undefined = (() => {
  const probe = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
  return probe.status === 0 && probe.stdout.includes('pdeathsig') ? 'setpriv' : undefined;
})();

export interface ServerProcessOptions {
  /** Short name used in error messages, e.g. "etcd". */
  name: string;
  binary: string;
  args: string[];
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** A long-running server process (etcd, kube-apiserver) whose output goes to a log file. */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private exitInfo: string | undefined;

  constructor(private readonly opts: ServerProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Why the process exited, or undefined while it is running. */
  get exited(): string | undefined {
    return this.exitInfo;
  }

  start(): void {
    installExitHook();
    const fd = openSync(this.opts.logFile, 'a');
    const [cmd, argv] = setprivPath ? [setprivPath, ['--pdeathsig', 'KILL', '--', this.opts.binary, ...this.opts.args]] : [this.opts.binary, this.opts.args];
    this.exitInfo = undefined;
    const child = spawn(cmd, argv, {
      stdio: ['ignore', fd, fd],
      detached: false,
      env: this.opts.env ?? process.env,
    });
    closeSync(fd);
    this.child = child;
    live.add(child);
    child.once('error', (err) => {
      this.exitInfo = `failed to spawn: ${err.message}`;
      live.delete(child);
    });
    child.once('exit', (code, signal) => {
      this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      live.delete(child);
    });
  }

  /** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo !== undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** The last `lines` lines of the log, for error messages. */
  tail(lines = 40): string {
    return tailFile(this.opts.logFile, lines);
  }

  describeFailure(reason: string): string {
    return `${this.opts.name} ${reason}; last lines of ${this.opts.logFile}:\n${this.tail()}`;
  }
}

export function tailFile(path: string, lines: number): string {
  if (!existsSync(path)) return '(no log file)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Asks the kernel for a free loopback port. There is a small window in which
 * another process could grab it before our server binds; acceptable for tests.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export interface WaitUntilOptions {
  /** Resolves true once ready; errors count as "not yet". */
  probe: () => Promise<boolean>;
  /** Returns a reason to give up early (e.g. the process died), or undefined. */
  abort?: () => string | undefined;
  timeoutMs: number;
  intervalMs?: number;
}

/** Polls until `probe` succeeds; rejects with the abort reason or a timeout message. */
export async function waitUntil(opts: WaitUntilOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw new Error(aborted);
    if (await opts.probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${opts.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Also copy the child's stderr to ours (used for the long build). */
  echoStderr?: boolean;
}

/** Runs a short-lived command to completion; never throws on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.echoStderr) process.stderr.write(d);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
