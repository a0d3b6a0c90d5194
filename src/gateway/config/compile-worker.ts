/**
 * Compile off the serving thread. A full compile at 10k keys takes about a second and at 100k
 * several; on the event loop every request in flight would wait that long (issue #13). Here a
 * node:worker_threads thread compiles and the serving thread only takes the result in.
 *
 * Moving data between threads is itself synchronous work on both ends (structured clone), so
 * nothing big crosses in one message: the cluster's objects go over in chunks with an event-loop
 * turn between them, and the compiled keys come back in chunks the serving thread asks for one
 * at a time (pull, not push: a port delivers queued messages in one go, which would block again).
 * The config is assembled and frozen chunk by chunk and swapped in whole at the end.
 * After the first result only the keys that changed cross (a diff against the last result this
 * side took in whole): one new key at 10k keys is one small message, not fifty, and the new key
 * map shares all but the changed keys' shards with the one before (key-shards.ts).
 *
 *   serving thread                         worker
 *   objects ×N (chunks; ──────────────────▶ keeps them, by number
 *     only new ones after the first)
 *   compile-cluster / compile-files ─────▶ compile (keeps last good versions, validators,
 *     (+ numbers of objects gone)
 *     (base: id of the last result held)     the keys last delivered)
 *                       ◀──────────────── ready: models, revision, errors, held back
 *                                           (+ base and removed keys when a diff follows)
 *   next ────────────────────────────────▶
 *                       ◀──────────────── keys (a chunk: all, or new and changed) … until last
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deepFreeze } from '../../compile/compile.js';
import type { CompileInput, CompiledKey, GatewayConfig, SecretInput } from '../../compile/types.js';
import type { CheckLine } from '../../manifests/check.js';
import type { Tenancy } from '../../compile/tenancy.js';
import { KeyShards } from './key-shards.js';
import { TurnBudget } from './turn-budget.js';

/**
 * The cluster objects of a compile: those sent for it (numbered), plus, with `keep`, those the
 * worker held from the compile before, but for the `removed` numbers.
 */
export type ObjectsHeld = { keep: false } | { keep: true; removed: number[] };

/** `base`: the id of the last result this side took in whole (0: none), which the worker may send a diff against. */
export type ToWorker =
  | { type: 'objects'; id: number; objects: [number, unknown][] }
  | ({ type: 'compile-cluster'; id: number; base: number; secrets: readonly SecretInput[]; now: number } & ObjectsHeld)
  | { type: 'compile-files'; id: number; base: number; paths: readonly string[]; now: number }
  | { type: 'next'; id: number };

/**
 * `ready` with a `base`: the keys that follow are only those new or changed since result `base`,
 * and `removed` the ones gone; without it, the keys that follow are all of them.
 */
export type ToMain =
  | {
      type: 'ready';
      id: number;
      head: Omit<GatewayConfig, 'keys'>;
      keyCount: number;
      heldBack: string[];
      errors: unknown[];
      base?: number;
      removed?: string[];
    }
  | { type: 'keys'; id: number; entries: [string, CompiledKey][]; last: boolean }
  | { type: 'failed'; id: number; message: string };

export interface WorkerCompileResult {
  readonly config: GatewayConfig;
  /** Cluster source: objects whose invalid change was ignored (their last good version serves). */
  readonly heldBack: readonly string[];
  /** File source: error lines of the check (the caller decides which ones reject the change). */
  readonly errors: readonly CheckLine[];
}

/** Objects per message to the worker (a few ms of structured clone at most; 500 took 10-20 ms). */
const OBJECTS_PER_CHUNK = 200;

/**
 * The worker's young generation. V8's GC helper threads serve every isolate of the process and
 * run at the process's priority, not the worker's nice 10: with the default (smaller) young
 * generation a 100k-key recompile spent ~550 ms of those threads' CPU on scavenges and marking,
 * time the serving thread had to share the cores with. 64 MB about halves it (~250 ms; 128 MB
 * was no better). The cost is up to 64 MB more RSS while a big compile runs.
 */
const WORKER_YOUNG_GENERATION_MB = 64;

/** The worker's script: next to this module once built; from dist/ when this runs as TypeScript (tests). */
function workerScript(): URL {
  const here = new URL('./compile-worker-main.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL(import.meta.url.replace(/\/src\/gateway\/config\/[^/]+$/, '/dist/src/gateway/config/compile-worker-main.js'));
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`compile worker script not found at ${fileURLToPath(here)} or ${fileURLToPath(built)}: run npm run build`);
}

interface Job {
  readonly id: number;
  handle(msg: ToMain): void;
  fail(err: Error): void;
}

export class CompileWorker {
  private worker: Worker | undefined;
  private job: Job | undefined;
  /** The keys of the last result taken in whole, and its worker: a diff applies to these. */
  private base: { id: number; worker: Worker; keys: KeyShards<CompiledKey> } | undefined;
  /**
   * The cluster objects the worker holds: each object's number, and the numbers in its store with
   * the id of the last compile that listed them. Updated in place: a new 100k-entry Set per
   * compile was 100k inserts, rehashes and garbage on the serving thread.
   */
  private held: { worker: Worker; ids: WeakMap<object, number>; live: Map<number, number> } | undefined;
  private objectSeq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;

  /** `tenancy`: the settings of the worker's own compiler (handed over as workerData). */
  constructor(private readonly opts: { readonly tenancy?: Tenancy } = {}) {}

  /**
   * The cluster's state → config; the worker remembers last good versions between calls. Only
   * objects the worker does not hold yet cross (an informer replaces an object that changed, so
   * a known object is an unchanged one), and the numbers of those gone.
   */
  compileCluster(input: CompileInput, now: Date): Promise<WorkerCompileResult> {
    return this.enqueue(async (id, worker) => {
      const known = this.held?.worker === worker ? this.held : undefined;
      this.held = undefined; // until this hand-over is complete (a failed one starts the next over in full)
      const held = known ?? { worker, ids: new WeakMap<object, number>(), live: new Map<number, number>() };
      const budget = new TurnBudget();
      let fresh: [number, unknown][] = [];
      let listedCount = 0;
      for (const o of input.objects) {
        const isObject = typeof o === 'object' && o !== null;
        let n = isObject ? held.ids.get(o) : undefined;
        const listed = n === undefined ? undefined : held.live.get(n);
        // Never sent, gone from the worker since, or listed twice in this input: send it (again).
        if (n === undefined || listed === undefined || listed === id) {
          n = ++this.objectSeq;
          if (isObject) held.ids.set(o, n);
          fresh.push([n, o]);
        }
        held.live.set(n, id);
        listedCount++;
        if (fresh.length === OBJECTS_PER_CHUNK) {
          worker.postMessage({ type: 'objects', id, objects: fresh } satisfies ToWorker);
          fresh = [];
          await budget.yield();
        } else if (budget.due()) await budget.yield();
      }
      if (fresh.length > 0) worker.postMessage({ type: 'objects', id, objects: fresh } satisfies ToWorker);
      const removed: number[] = [];
      // Numbers not listed this time are gone; none when every one held was listed (the common
      // case: objects only added). keys() + get(), not entries(): no [n, id] array per object.
      if (held.live.size > listedCount) {
        for (const n of held.live.keys()) {
          if (held.live.get(n) !== id) removed.push(n);
          if (budget.due()) await budget.yield();
        }
      }
      for (const n of removed) {
        held.live.delete(n);
        if (budget.due()) await budget.yield();
      }
      const objects: ObjectsHeld = known === undefined ? { keep: false } : { keep: true, removed };
      worker.postMessage({ type: 'compile-cluster', id, base: this.baseId(), ...objects, secrets: input.secrets, now: now.getTime() } satisfies ToWorker);
      this.held = held;
    });
  }

  /** Manifest files → check lines and config; the worker reads the files itself. */
  compileFiles(paths: readonly string[], now: Date): Promise<WorkerCompileResult> {
    return this.enqueue(async (id, worker) => {
      worker.postMessage({ type: 'compile-files', id, base: this.baseId(), paths, now: now.getTime() } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
  }

  private baseId(): number {
    return this.base !== undefined && this.base.worker === this.worker ? this.base.id : 0;
  }

  private enqueue(send: (id: number, worker: Worker) => Promise<void>): Promise<WorkerCompileResult> {
    const run = this.queue.then(() => this.runOne(send));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private runOne(send: (id: number, worker: Worker) => Promise<void>): Promise<WorkerCompileResult> {
    const worker = this.ensureWorker();
    const id = ++this.seq;
    return new Promise<WorkerCompileResult>((resolve, reject) => {
      let head: (ToMain & { type: 'ready' }) | undefined;
      // An array, not a Map: a Map of 100k rehashes for ~10 ms on the way (the map is built in finish).
      const keys: [string, CompiledKey][] = [];
      const done = (): void => {
        this.job = undefined;
      };
      this.job = {
        id,
        fail: (err) => {
          done();
          reject(err);
        },
        handle: (msg) => {
          if (msg.type === 'failed') return this.job?.fail(new Error(`compile failed: ${msg.message}`));
          if (msg.type === 'ready') head = msg;
          else for (const entry of msg.entries) keys.push([entry[0], freeze(entry[1])]);
          if (head === undefined) return;
          if ((msg.type === 'keys' && msg.last) || (msg.type === 'ready' && head.keyCount === 0)) {
            done();
            const ready = head;
            this.finish({ worker, ready, keys }).then(resolve, reject);
            return;
          }
          // Ask for the next chunk after an event-loop turn: requests in flight go first.
          setImmediate(() => worker.postMessage({ type: 'next', id } satisfies ToWorker));
        },
      };
      send(id, worker).catch((err: unknown) => this.job?.fail(err instanceof Error ? err : new Error(String(err))));
    });
  }

  /**
   * The key map: the base (or nothing) with the diff applied, a slice per event-loop turn. Only
   * the shards a change falls in are copied; the rest are shared with the config before.
   */
  private async finish(got: { worker: Worker; ready: ToMain & { type: 'ready' }; keys: [string, CompiledKey][] }): Promise<WorkerCompileResult> {
    const { worker, ready } = got;
    let from = KeyShards.empty<CompiledKey>();
    if (ready.base !== undefined) {
      if (this.base?.id !== ready.base || this.base.worker !== worker) throw new Error(`compile worker sent a diff against ${ready.base}, not held`);
      from = this.base.keys;
    }
    const next = from.edit();
    const budget = new TurnBudget();
    for (const hash of ready.removed ?? []) {
      next.delete(hash);
      if (budget.due()) await budget.yield();
    }
    for (const [hash, key] of got.keys) {
      next.set(hash, key);
      if (budget.due()) await budget.yield();
    }
    const keys = next.build();
    this.base = { id: ready.id, worker, keys };
    return assemble(ready, keys);
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(workerScript(), {
      workerData: { tenancy: this.opts.tenancy ?? {} },
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    worker.unref(); // never what keeps a process alive
    worker.on('message', (msg: ToMain) => {
      if (this.job?.id === msg.id) this.job.handle(msg);
    });
    const lost = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      this.job?.fail(err);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`compile worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

function freeze<T>(value: T): T {
  deepFreeze(value);
  return value;
}

function assemble(ready: ToMain & { type: 'ready' }, keys: KeyShards<CompiledKey>): WorkerCompileResult {
  for (const m of ready.head.models.values()) deepFreeze(m);
  const config: GatewayConfig = Object.freeze({ ...ready.head, keys });
  return { config, heldBack: ready.heldBack, errors: ready.errors as CheckLine[] };
}
