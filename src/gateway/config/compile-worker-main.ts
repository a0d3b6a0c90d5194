/**
 * The compile worker (a node:worker_threads thread; see compile-worker.ts for the protocol and
 * why). It keeps what a compile needs between runs: the compiled validators and, for the cluster
 * source, each object's last good version, so neither crosses the thread boundary again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createCompiler } from '../../compile/compile.js';
import { diffKeys } from '../../compile/key-diff.js';
import { RememberingValidator } from './remembering-validator.js';
import { type LastGood, compileKeepingLastGood, withRecordedLastGood } from '../../compile/last-good.js';
import type { Tenancy } from '../../compile/tenancy.js';
import type { CompiledKey, GatewayConfig, SecretInput } from '../../compile/types.js';
import { checkDocuments } from '../../manifests/check.js';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { type ParseCache, loadManifests } from '../../manifests/load.js';
import type { ObjectsHeld, ToMain, ToWorker } from './compile-worker.js';

/** Keys per message back: small enough that taking one in never holds the serving thread long. */
const KEYS_PER_CHUNK = 200;

const port = parentPort;
if (port === null) throw new Error('compile-worker-main runs as a worker thread');

/**
 * Compiling is background work: this thread runs at nice 10, so on a busy CPU the serving thread
 * of the same process gets the core first. At the same priority the scheduler let a 100k-key
 * compile hold a 2-core machine while the serving thread waited 10+ ms to run (issue #13).
 * Linux keeps a nice value per thread (this thread's id from /proc); elsewhere, or if refused, the
 * thread keeps the process's priority.
 */
const COMPILE_NICE = 10;
try {
  const tid = Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]);
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, COMPILE_NICE);
} catch {
  // Not Linux, or not allowed: the process's priority.
}
// The worker builds its own compiler: a Compiler passed to a config source does not cross the
// thread, so its settings (tenancy: which namespaces publish models) come as workerData.
const settings = (workerData ?? {}) as { tenancy?: Tenancy };
// Unchanged files keep their parsed objects (parsedFiles) and unchanged cluster objects stay in
// clusterObjects: their validation is remembered.
const compiler = createCompiler(new RememberingValidator(), settings.tenancy ?? {});
let lastGood: LastGood = new Map();
/** The cluster's objects by the number the serving thread gave them, and those sent for the next compile. */
let clusterObjects = new Map<number, unknown>();
/** Objects sent for compile `id`: those of a hand-over that never finished (its sender failed) are dropped. */
let incoming: { id: number; objects: [number, unknown][] } = { id: 0, objects: [] };
let outgoing: { id: number; entries: [string, CompiledKey][]; at: number; keys: ReadonlyMap<string, CompiledKey> } | undefined;
/** The keys of the last result the serving thread received in full: what the next one is a diff against. */
let delivered: { id: number; keys: ReadonlyMap<string, CompiledKey> } | undefined;

const send = (msg: ToMain): void => port.postMessage(msg);

function offer(job: { id: number; base: number }, config: GatewayConfig, extra: { heldBack?: readonly string[]; errors?: unknown[] }): void {
  const { keys, ...head } = config;
  // Only what changed since the serving thread's copy, when it holds the one this worker last sent.
  const diff = delivered !== undefined && delivered.id === job.base ? diffKeys(delivered.keys, keys) : undefined;
  const entries = diff?.changed ?? [...keys.entries()];
  const base = diff === undefined ? undefined : { base: job.base, removed: diff.removed };
  const rest = { heldBack: [...(extra.heldBack ?? [])], errors: extra.errors ?? [] };
  send({ type: 'ready', id: job.id, head, keyCount: entries.length, ...rest, ...base });
  if (entries.length === 0) delivered = { id: job.id, keys };
  else outgoing = { id: job.id, entries, at: 0, keys };
}

function nextChunk(id: number): void {
  if (outgoing?.id !== id) return;
  const entries = outgoing.entries.slice(outgoing.at, outgoing.at + KEYS_PER_CHUNK);
  outgoing.at += entries.length;
  const last = outgoing.at >= outgoing.entries.length;
  if (last) {
    delivered = { id, keys: outgoing.keys };
    outgoing = undefined;
  }
  send({ type: 'keys', id, entries, last });
}

function compileCluster(job: { id: number; base: number } & ObjectsHeld, secrets: readonly SecretInput[], now: number): void {
  if (job.keep) for (const n of job.removed) clusterObjects.delete(n);
  else clusterObjects = new Map<number, unknown>();
  if (incoming.id === job.id) for (const [n, o] of incoming.objects) clusterObjects.set(n, o);
  incoming = { id: 0, objects: [] };
  const input = { objects: [...clusterObjects.values()], secrets };
  // The operator's record (status.lastGood) wins over this worker's memory, as on the inline path.
  const result = compileKeepingLastGood(compiler, input, { now: new Date(now), lastGood: withRecordedLastGood(lastGood, input.objects) });
  lastGood = result.lastGood;
  offer(job, result.config, { heldBack: result.heldBack });
}

/** Each file's last text and parse (manifests/load.ts): a change to one file re-parses only it. */
const parsedFiles: ParseCache = new Map();

async function compileFiles(job: { id: number; base: number }, paths: readonly string[], now: number): Promise<void> {
  const { docs, problems } = await loadManifests(paths, parsedFiles);
  const report = checkDocuments(docs, problems, { now: new Date(now), compiler });
  const errors = report.lines.filter((l) => l.severity === 'error');
  offer(job, report.compiled.config, { errors });
}

port.on('message', (msg: ToWorker) => {
  const run = async (): Promise<void> => {
    if (msg.type === 'objects') {
      if (incoming.id !== msg.id) incoming = { id: msg.id, objects: [] };
      incoming.objects.push(...msg.objects);
    } else if (msg.type === 'compile-cluster') compileCluster(msg, msg.secrets, msg.now);
    else if (msg.type === 'compile-files') await compileFiles(msg, msg.paths, msg.now);
    else if (msg.type === 'next') nextChunk(msg.id);
  };
  run().catch((err: unknown) => {
    incoming = { id: 0, objects: [] };
    if ('id' in msg) send({ type: 'failed', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  });
});
