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
 *
 *   serving thread                         worker
 *   objects ×N (chunks) ─────────────────▶ buffers them
 *   compile-cluster / compile-files ─────▶ compile (keeps last good versions, validators)
 *                       ◀──────────────── ready: models, revision, errors, held back
 *   next ────────────────────────────────▶
 *                       ◀──────────────── keys (a chunk) … until last
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deepFreeze } from '../../compile/compile.js';
import type { CompileInput, CompiledKey, GatewayConfig, SecretInput } from '../../compile/types.js';
import type { CheckLine } from '../../manifests/check.js';
import type { Tenancy } from '../../compile/tenancy.js';

export type ToWorker =
  | { type: 'objects'; id: number; objects: unknown[] }
  | { type: 'compile-cluster'; id: number; secrets: readonly SecretInput[]; now: number }
  | { type: 'compile-files'; id: number; paths: readonly string[]; now: number }
  | { type: 'next'; id: number };

export type ToMain =
  | { type: 'ready'; id: number; head: Omit<GatewayConfig, 'keys'>; keyCount: number; heldBack: string[]; errors: unknown[] }
  | { type: 'keys'; id: number; entries: [string, CompiledKey][]; last: boolean }
  | { type: 'failed'; id: number; message: string };

export interface WorkerCompileResult {
  readonly config: GatewayConfig;
  /** Cluster source: objects whose invalid change was ignored (their last good version serves). */
  readonly heldBack: readonly string[];
  /** File source: error lines of the check (the caller decides which ones reject the change). */
  readonly errors: readonly CheckLine[];
}

/** Objects per message to the worker (a few ms of structured clone at most). */
const OBJECTS_PER_CHUNK = 500;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;

  /** `tenancy`: the settings of the worker's own compiler (handed over as workerData). */
  constructor(private readonly opts: { readonly tenancy?: Tenancy } = {}) {}

  /** The cluster's state → config; the worker remembers last good versions between calls. */
  compileCluster(input: CompileInput, now: Date): Promise<WorkerCompileResult> {
    return this.enqueue(async (id, worker) => {
      for (let i = 0; i < input.objects.length; i += OBJECTS_PER_CHUNK) {
        worker.postMessage({ type: 'objects', id, objects: input.objects.slice(i, i + OBJECTS_PER_CHUNK) } satisfies ToWorker);
        await turn();
      }
      worker.postMessage({ type: 'compile-cluster', id, secrets: input.secrets, now: now.getTime() } satisfies ToWorker);
    });
  }

  /** Manifest files → check lines and config; the worker reads the files itself. */
  compileFiles(paths: readonly string[], now: Date): Promise<WorkerCompileResult> {
    return this.enqueue(async (id, worker) => {
      worker.postMessage({ type: 'compile-files', id, paths, now: now.getTime() } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
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
      const keys = new Map<string, CompiledKey>();
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
          else for (const [hash, key] of msg.entries) keys.set(hash, freeze(key));
          if (head === undefined) return;
          if (msg.type === 'keys' && msg.last) {
            done();
            resolve(assemble(head, keys));
            return;
          }
          if (msg.type === 'ready' && head.keyCount === 0) {
            done();
            resolve(assemble(head, keys));
            return;
          }
          // Ask for the next chunk after an event-loop turn: requests in flight go first.
          setImmediate(() => worker.postMessage({ type: 'next', id } satisfies ToWorker));
        },
      };
      send(id, worker).catch((err: unknown) => this.job?.fail(err instanceof Error ? err : new Error(String(err))));
    });
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(workerScript(), { workerData: { tenancy: this.opts.tenancy ?? {} } });
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

function assemble(ready: ToMain & { type: 'ready' }, keys: Map<string, CompiledKey>): WorkerCompileResult {
  for (const m of ready.head.models.values()) deepFreeze(m);
  const config: GatewayConfig = Object.freeze({ ...ready.head, keys });
  return { config, heldBack: ready.heldBack, errors: ready.errors as CheckLine[] };
}
