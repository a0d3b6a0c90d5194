/**
 * Real redis-server processes for tests, on free loopback ports, with their data in a temporary
 * directory and append-only persistence, so a test can SIGKILL one and restart it on the same
 * port with its data, as a real server comes back. No mocks: the tests exercise real Lua,
 * real timeouts and real reconnects.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/devtools/control-plane-process.js';
import { redisPing } from '../../src/devtools/redis-ping.js';

export { freePort };

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server and deletes its data (the end of a test). */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown, no final save; the append-only file is what survives. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data directory. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** 'always' (default) makes every acknowledged write survive a SIGKILL; 'everysec' is the usual production trade. */
  readonly appendfsync?: 'always' | 'everysec';
  /** Extra redis-server arguments. */
  readonly args?: readonly string[];
}

function requireRedis(): void {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} not found: install it with \`apt-get install redis-server\` (scripts/test.sh does)`);
  }
}

export async function waitForPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}`);
    if (await redisPing(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Spawns one redis-server; `extra` are arguments on top of the loopback/persistence ones. */
export function spawnRedis(opts: { port: number; dir: string; args: readonly string[] }): ChildProcess {
  const args = [
    '--port',
    String(opts.port),
    '--bind',
    '127.0.0.1',
    '--dir',
    opts.dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    join(opts.dir, 'redis.log'),
    ...opts.args,
  ];
  return spawn(REDIS_SERVER, args, { stdio: 'ignore' });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  requireRedis();
  const dataDir = await mkdtemp(join(tmpdir(), 'tokenhub-redis-'));
  const port = await freePort();
  const args = ['--appendonly', 'yes', '--appendfsync', opts.appendfsync ?? 'always', ...(opts.args ?? [])];
  let child = spawnRedis({ port, dir: dataDir, args });
  // If the test process dies, its servers must not outlive it.
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  await waitForPing(port, child);
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL');
    await exited(child);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dataDir,
    kill,
    async restart() {
      await kill();
      child = spawnRedis({ port, dir: dataDir, args });
      await waitForPing(port, child);
    },
    async stop() {
      process.off('exit', onExit);
      child.kill('SIGTERM');
      await exited(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterServer {
  /** `redis+cluster://h:p,h:p,h:p` */
  readonly url: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

/** Three masters, no replicas: enough to put a key's slot and a model's slot on different nodes. */
export async function startRedisCluster(): Promise<RedisClusterServer> {
  requireRedis();
  const nodes: { child: ChildProcess; port: number; dir: string }[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-redis-cluster-'));
    const port = await freePort();
    const child = spawnRedis({ port, dir, args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--appendonly', 'no'] });
    nodes.push({ child, port, dir });
  }
  const onExit = (): void => nodes.forEach((n) => n.child.kill('SIGKILL'));
  process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    await Promise.all(
      nodes.map(async (n) => {
        n.child.kill('SIGTERM');
        await exited(n.child);
        await rm(n.dir, { recursive: true, force: true });
      }),
    );
  };
  try {
    for (const n of nodes) await waitForPing(n.port, n.child);
    const create = spawnSync(REDIS_CLI, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    await waitClusterOk(nodes.map((n) => n.port));
  } catch (err) {
    await stop();
    throw err;
  }
  const ports = nodes.map((n) => n.port);
  return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, stop };
}

async function waitClusterOk(ports: number[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = ports.every((p) => spawnSync(REDIS_CLI, ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok'));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis cluster did not reach cluster_state:ok');
}
