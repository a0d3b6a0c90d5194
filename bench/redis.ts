/** A redis-server for the gateway+redis target (when one is on PATH). */
import { join } from 'node:path';
import { redisPing } from '../src/devtools/redis-ping.js';
import { type Proc, freePort, startProcess } from './processes.js';

export async function startRedis(dir: string): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = startProcess({
    name: 'redis-server',
    command: 'redis-server',
    // No persistence: the benchmark measures the round trips, not the disk.
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    logFile: join(dir, 'redis.log'),
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`redis-server exited:\n${proc.tail()}`);
    if (await redisPing(port)) return { url: `redis://127.0.0.1:${port}`, proc };
    await new Promise((r) => setTimeout(r, 25));
  }
  await proc.stop();
  throw new Error('redis-server did not answer PING within 10 s');
}
