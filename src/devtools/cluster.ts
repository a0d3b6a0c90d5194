/**
 * `npm run cluster:up` / `npm run cluster:down`: a long-lived local control
 * plane for development, kept alive by a detached background process.
 *
 *   node dist/src/devtools/cluster.js up      start (or reuse) it, print `export KUBECONFIG=...`
 *   node dist/src/devtools/cluster.js down    stop it
 *   node dist/src/devtools/cluster.js status  report whether it runs
 *   node dist/src/devtools/cluster.js serve   (internal) the background process itself
 *
 * Human-readable progress goes to stderr so `eval "$(npm run -s cluster:up)"` works.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoPath } from './control-plane-binaries.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { tailFile } from './control-plane-process.js';

const repoRoot = dirname(findRepoPath('package.json') ?? join(process.cwd(), 'package.json'));
const stateDir = join(repoRoot, '.tokenhub', 'cluster');
const files = {
  pid: join(stateDir, 'pid'),
  ready: join(stateDir, 'ready.json'),
  kubeconfig: join(stateDir, 'kubeconfig'),
  log: join(stateDir, 'cluster.log'),
};
/** A cold first run builds Kubernetes from source, which can take half an hour on small machines. */
const UP_TIMEOUT_MS = 60 * 60_000;

const info = (msg: string): boolean => process.stderr.write(`[cluster] ${msg}\n`);

function readPid(): number | undefined {
  if (!existsSync(files.pid)) return undefined;
  const pid = Number(readFileSync(files.pid, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Alive and still our serve process (pids get reused after reboots or long uptimes). */
function isOurProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  return !existsSync(cmdline) || readFileSync(cmdline, 'utf8').includes('cluster.js');
}

async function clearState(): Promise<void> {
  await Promise.all([files.pid, files.ready, files.kubeconfig].map((f) => rm(f, { force: true })));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForReady(pid: number): Promise<boolean> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (existsSync(files.ready)) return true;
    if (!isOurProcess(pid)) return false;
    await sleep(500);
  }
  return false;
}

async function up(): Promise<number> {
  const running = readPid();
  if (running !== undefined && isOurProcess(running) && existsSync(files.ready)) {
    info(`already running (pid ${running})`);
    process.stdout.write(`export KUBECONFIG=${files.kubeconfig}\n`);
    return 0;
  }
  await mkdir(stateDir, { recursive: true });
  await clearState();
  const log = openSync(files.log, 'w');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve'], {
    detached: true, // survives this command; `down` stops it through the pid file
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error('failed to spawn the background cluster process');
  await writeFile(files.pid, `${child.pid}\n`);
  info(`starting (pid ${child.pid}); a first run builds Kubernetes from source. Log: ${files.log}`);
  if (!(await waitForReady(child.pid))) {
    info(`failed to start; last lines of ${files.log}:\n${tailFile(files.log, 40)}`);
    await stopPid(child.pid);
    return 1;
  }
  const ready = JSON.parse(readFileSync(files.ready, 'utf8')) as { server: string };
  info(`ready: ${ready.server}`);
  process.stdout.write(`export KUBECONFIG=${files.kubeconfig}\n`);
  return 0;
}

async function stopPid(pid: number): Promise<void> {
  if (!isOurProcess(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isOurProcess(pid) && Date.now() < deadline) await sleep(200);
  if (isOurProcess(pid)) process.kill(pid, 'SIGKILL');
}

/** A serve process that was SIGKILLed could not delete its temp dir (etcd data, certs); do it now. */
async function removeOrphanedWorkDir(): Promise<void> {
  if (!existsSync(files.ready)) return;
  const { dir } = JSON.parse(readFileSync(files.ready, 'utf8')) as { dir?: string };
  if (dir && basename(dir).startsWith('tokenhub-cp-')) {
    await rm(dir, { recursive: true, force: true });
    info(`removed orphaned working dir ${dir}`);
  }
}

async function down(): Promise<number> {
  const pid = readPid();
  if (pid === undefined || !isOurProcess(pid)) {
    info('not running');
    await removeOrphanedWorkDir();
  } else {
    await stopPid(pid);
    info(`stopped (pid ${pid})`);
  }
  await clearState();
  return 0;
}

function status(): number {
  const pid = readPid();
  const alive = pid !== undefined && isOurProcess(pid) && existsSync(files.ready);
  info(alive ? `running (pid ${pid}), KUBECONFIG=${files.kubeconfig}` : 'not running');
  return alive ? 0 : 1;
}

/** The detached background process: owns etcd and kube-apiserver until signalled. */
async function serve(): Promise<number> {
  let cp: ControlPlane | undefined;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    info(`${signal}: stopping control plane`);
    await cp?.stop();
    await clearState();
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, (s) => void shutdown(s));
  try {
    cp = await startControlPlane({ startTimeoutMs: 120_000 });
  } catch (err) {
    info((err as Error).message);
    await clearState();
    return 1;
  }
  await copyFile(cp.kubeconfigPath, files.kubeconfig);
  await writeFile(files.pid, `${process.pid}\n`);
  const ready = { pid: process.pid, server: cp.server, etcdEndpoint: cp.etcdEndpoint, binDir: cp.binDir, dir: cp.dir };
  await writeFile(files.ready, `${JSON.stringify(ready, null, 2)}\n`);
  info(`ready: ${cp.server} (working dir ${cp.dir})`);
  // The spawned servers keep the event loop alive; block here until a signal arrives.
  return new Promise<number>(() => undefined);
}

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    case 'serve':
      return serve();
    default:
      process.stderr.write('usage: cluster.js up|down|status\n');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
