/**
 * Child processes for the benchmark: free ports, node processes with their output in a log
 * file, readiness by polling an HTTP URL, CPU time from /proc, and a clean stop (SIGTERM, then
 * SIGKILL if the process does not exit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { tailFile, waitUntil } from '../src/devtools/control-plane-process.js';
import { request } from 'undici';

// The same port and polling helpers the tests and the local control plane use.
export { freePort } from '../src/devtools/control-plane-process.js';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** The last lines of the log, for error messages. */
  tail(lines?: number): string;
  stop(): Promise<void>;
}

/** Starts `command args` with stdout and stderr appended to `logFile` (never a pipe nobody reads). */
export function startProcess(opts: { name: string; command: string; args: readonly string[]; logFile: string; env?: NodeJS.ProcessEnv }): Proc {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(opts.command, [...opts.args], { stdio: ['ignore', fd, fd], env: opts.env ?? process.env });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail = (lines = 20): string => tailFile(opts.logFile, lines);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { name: opts.name, child, logFile: opts.logFile, tail, stop };
}

/** Polls `url` (GET) until it answers 200; fails early if the process exits. */
export async function waitForHttp(proc: Proc, url: string, timeoutMs = 20_000): Promise<void> {
  const ok = async (): Promise<boolean> => {
    const res = await request(url, { method: 'GET', headersTimeout: 1000, bodyTimeout: 1000 });
    await res.body.dump();
    return res.statusCode === 200;
  };
  const exited = (): string | undefined => (proc.child.exitCode === null ? undefined : `${proc.name} exited with code ${proc.child.exitCode}:\n${proc.tail()}`);
  await waitUntil({ probe: ok, abort: exited, timeoutMs, intervalMs: 50 }).catch((err: Error) => {
    throw new Error(err.message.startsWith(proc.name) ? err.message : `${proc.name} did not answer 200 at ${url} within ${timeoutMs} ms:\n${proc.tail()}`);
  });
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux; /proc/<pid>/stat times are in these ticks

/** User + system CPU time of a process in milliseconds (Linux /proc), or undefined elsewhere. */
export function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which is in parentheses and may contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Whether an executable is on PATH. */
export function onPath(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir === '') continue;
    const full = `${dir}/${command}`;
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Busy CPU time of the whole machine in milliseconds, all cores summed (Linux /proc/stat). */
export function machineBusyMs(): number | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const t = first.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = (t[0] ?? 0) + (t[1] ?? 0) + (t[2] ?? 0) + (t[5] ?? 0) + (t[6] ?? 0) + (t[7] ?? 0);
    return (busy * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
