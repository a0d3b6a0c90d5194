/**
 * `npm run bench`: what the gateway costs over a bare proxy and over no proxy at all.
 *
 * Process layout (one run, a 2-core machine). Each box is its own OS process, so the system
 * under test never shares an event loop with the upstream or the load generator:
 *
 *   [this process: orchestration + load generator (autocannon, undici)]
 *        │ HTTP/1.1 keep-alive
 *        ├──────────────────────────────────────────────▶ [mock upstream]        "direct"
 *        ├──▶ [bare proxy: node dist/bench/bare-proxy.js] ──▶ [mock upstream]    "bare proxy"
 *        ├──▶ [tokenhub gateway, memory store]             ──▶ [mock upstream]    "gateway"
 *        └──▶ [tokenhub gateway --redis] ──▶ [redis-server]
 *                                         └──────────────▶ [mock upstream]       "gateway+redis"
 *
 * All of them start at the beginning and stay up (an idle process costs nothing); the load goes
 * to one at a time. Each measurement (max throughput, fixed rate, paced, streaming) is cut into
 * slices of BENCH_SLICE seconds, interleaved round-robin across the targets (the order rotating
 * each round) and pooled per target: on a machine shared with other work, a noisy minute then
 * hurts every row alike instead of whichever row happened to run in it. The gateway runs
 * as users run it (`node bin/tokenhub.js gateway --config DIR`) on manifests written to a temp
 * directory: one ModelRoute on the mock, one ApiKey (by hash), one QuotaPolicy whose limits are
 * far too high to trigger, so authentication, validation, routing, limits and settlement all run.
 * Three busy processes share two cores, so the proxy's CPU per request is what it takes from
 * the rest: it is printed (from /proc) beside the rates, and is the steadiest number here.
 *
 * Environment:
 *   BENCH_DURATION      seconds per measurement per target (8)
 *   BENCH_SLICE         seconds per interleaved slice (2)
 *   BENCH_WARMUP        seconds of warm-up of each target (2)
 *   BENCH_CONNECTIONS   autocannon connections for max throughput (64)
 *   BENCH_RATE          the fixed rate, requests/s (500)
 *   BENCH_STREAM        0 skips the streaming variant
 *   BENCH_STORE         memory: no Redis row; redis: a Redis row is required; unset: a Redis row
 *                       when TOKENHUB_REDIS_URL is set or redis-server is on PATH
 *   TOKENHUB_REDIS_URL  use this Redis for the gateway+redis row instead of starting one
 *   BENCH_PROFILE       1: run the gateways under `node --cpu-prof` and print their hot spots
 *                       (the profiler slows them down: numbers of such a run are not comparable)
 *   BENCH_GATEWAY_NODE_ARGS  extra node flags for the gateway processes, e.g. "--trace-gc" (their
 *                       output goes to the gateway logs: use with BENCH_KEEP=1)
 *   BENCH_GATEWAY_LOG_LEVEL  the gateways' --log-level; unset = their default (info), which writes
 *                       one access line per request (to a log file here, to stdout in a pod)
 *   BENCH_KEEP          1: keep the temp directory (logs, manifests, profiles)
 *   BENCH_QUIET_WAIT    seconds to wait, before measuring, for other processes to go under 25%
 *                       of a core (60; 0 = do not wait). Busy neighbours are reported either way.
 *
 * It always exits 0: it reports, it does not gate.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proc, freePort, onPath, startProcess, waitForHttp } from './processes.js';
import { formatSummary, summarizeProfile } from './profile-summary.js';
import { measureAll, startAll, type Running, type Target, waitForQuiet } from './measure.js';
import { startRedis } from './redis.js';
import { report } from './report.js';
import { BARE_PROXY, CLI, ROOT, gatewayManifests, settings } from './settings.js';

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenhub-bench-'));
  const profiles = join(dir, 'profiles');
  const notes: string[] = [];
  const procs: Proc[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    // Mock upstream, for the whole run.
    const mockPort = await freePort();
    const mock = startProcess({
      name: 'mock upstream',
      command: process.execPath,
      args: [CLI, 'mock-upstream', '--port', String(mockPort), '--host', '127.0.0.1'],
      logFile: join(dir, 'mock.log'),
    });
    procs.push(mock);
    const mockBase = `http://127.0.0.1:${mockPort}`;
    await waitForHttp(mock, `${mockBase}/__mock/stats`);

    const configDir = join(dir, 'config');
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'bench.yaml'), gatewayManifests(`${mockBase}/v1`));

    // The memory-store gateway must not pick up a Redis URL from the environment.
    const gatewayEnv: NodeJS.ProcessEnv = { ...process.env };
    delete gatewayEnv['TOKENHUB_REDIS_URL'];

    const startGatewayProc = async (name: string, logName: string, extra: string[]): Promise<Running> => {
      const port = await freePort();
      const nodeArgs = [
        ...settings.gatewayNodeArgs,
        ...(settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`, `--cpu-prof-name=${logName}.cpuprofile`] : []),
      ];
      const proc = startProcess({
        name,
        command: process.execPath,
        args: [
          ...nodeArgs,
          CLI,
          'gateway',
          '--config',
          configDir,
          '--port',
          String(port),
          '--host',
          '127.0.0.1',
          ...(settings.gatewayLogLevel === undefined ? [] : ['--log-level', settings.gatewayLogLevel]),
          ...extra,
        ],
        logFile: join(dir, `${logName}.log`),
        env: gatewayEnv,
      });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForHttp(proc, `${url}/readyz`);
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return { url, pids: proc.child.pid === undefined ? [] : [proc.child.pid], auth: true, stop: () => proc.stop() };
    };

    const targets: Target[] = [
      { name: 'direct', start: async () => ({ url: mockBase, pids: [], auth: false, stop: async () => {} }) },
      {
        name: 'bare proxy',
        start: async () => {
          const port = await freePort();
          const proc = startProcess({
            name: 'bare proxy',
            command: process.execPath,
            args: [BARE_PROXY, '--port', String(port), '--upstream', mockBase],
            logFile: join(dir, 'bare-proxy.log'),
          });
          const url = `http://127.0.0.1:${port}`;
          await waitForHttp(proc, `${url}/healthz`);
          return { url, pids: proc.child.pid === undefined ? [] : [proc.child.pid], auth: false, stop: () => proc.stop() };
        },
      },
      { name: 'gateway', start: () => startGatewayProc('gateway', 'gateway', []) },
    ];

    // The Redis row.
    const redisWanted = settings.store === 'redis' || (settings.store === 'auto' && (settings.redisUrl !== undefined || onPath('redis-server') !== undefined));
    if (settings.store !== 'memory' && settings.store !== 'redis' && settings.store !== 'auto')
      throw new Error(`BENCH_STORE must be memory or redis, got '${settings.store}'`);
    if (redisWanted) {
      targets.push({
        name: 'gateway+redis',
        start: async () => {
          let redis: { url: string; proc?: Proc };
          if (settings.redisUrl !== undefined) redis = { url: settings.redisUrl };
          else if (onPath('redis-server') !== undefined) redis = await startRedis(dir);
          else throw new Error('BENCH_STORE=redis: set TOKENHUB_REDIS_URL or put redis-server on PATH');
          try {
            const gw = await startGatewayProc('gateway+redis', 'gateway-redis', ['--redis', redis.url]);
            const redisPid = redis.proc?.child.pid;
            return {
              ...gw,
              pids: [...gw.pids, ...(redisPid === undefined ? [] : [redisPid])],
              stop: async () => {
                await gw.stop();
                await redis.proc?.stop();
              },
            };
          } catch (err) {
            await redis.proc?.stop();
            throw err;
          }
        },
      });
      notes.push(
        `gateway+redis: ${settings.redisUrl !== undefined ? `Redis at TOKENHUB_REDIS_URL` : 'a local redis-server (no persistence), a 4th busy process on the same cores'}`,
      );
    } else if (settings.store === 'auto') {
      notes.push('no gateway+redis row: redis-server is not on PATH and TOKENHUB_REDIS_URL is unset');
    }
    if (settings.profile) notes.push('BENCH_PROFILE=1: the gateways ran under the CPU profiler; their numbers are slower than usual');
    notes.push(
      settings.gatewayLogLevel === undefined
        ? 'gateways at their default log level (info): one access log line per request, written to a file'
        : `gateways at --log-level ${settings.gatewayLogLevel}`,
    );
    if (settings.gatewayNodeArgs.length > 0) notes.push(`gateways ran with node ${settings.gatewayNodeArgs.join(' ')}`);

    const { live, failed } = await startAll(targets, mock.child.pid);
    for (const l of live) stops.push(() => l.sut.stop());
    const other = await waitForQuiet(mock.child.pid);
    if (other !== undefined && other >= 25)
      notes.push(`other processes used ${other.toFixed(0)}% of a core when measuring began (waited ${settings.quietWait} s)`);
    const measured = await measureAll(live);
    const rows = targets.map((t) => measured.find((r) => r.name === t.name) ?? failed.find((r) => r.name === t.name) ?? { name: t.name, error: 'not run' });

    process.stdout.write(`${report(rows, notes)}\n`);

    if (settings.profile) {
      // A profile is written when its process exits.
      for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
      let files: string[] = [];
      try {
        files = readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile'));
      } catch {
        files = [];
      }
      for (const f of files) {
        process.stdout.write(`\nCPU profile ${join(profiles, f)}\n${formatSummary(summarizeProfile(join(profiles, f), { root: ROOT, top: 20 }))}\n`);
      }
      if (files.length === 0) process.stdout.write('\nBENCH_PROFILE=1 but no profile was written\n');
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop();
    if (settings.keep || settings.profile) process.stderr.write(`[bench] logs, manifests and profiles kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stdout.write(`\nbenchmark could not run: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 0;
  },
);
