/**
 * Config from manifest files (the same YAML that goes to the cluster): load, check, compile,
 * swap; then watch and do it again on change. A change with any error is logged line by line
 * and changes nothing: the last good config keeps serving.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Compiler } from '../../compile/compile.js';
import { listManifestFiles, loadManifests } from '../../manifests/load.js';
import { type CheckLine, checkDocuments, formatCheckLine } from '../../manifests/check.js';
import { isInForce } from '../../compile/reasons.js';
import type { GatewayConfig } from '../../compile/types.js';
import { CompileWorker } from './compile-worker.js';
import type { Tenancy } from '../../compile/tenancy.js';
import type { ConfigHolder } from './config-holder.js';

export interface FileSourceOptions {
  readonly paths: readonly string[];
  readonly holder: ConfigHolder;
  readonly compiler: Compiler;
  readonly log: FastifyBaseLogger;
  readonly clock?: () => number;
  /** Rewrites objects before compile (the demo points every backend at its mock upstream). */
  readonly transform?: (objects: unknown[]) => unknown[];
  readonly debounceMs?: number;
  readonly pollMs?: number;
  /**
   * Load and compile in a worker thread (default, unless `transform` is set: a function does not
   * cross threads): the serving thread never waits for a compile. The worker makes its own
   * compiler (createCompiler()); `compiler` serves only on the inline path.
   */
  readonly offThread?: boolean;
  /** The compiler's tenancy settings, for the worker's own compiler (a Compiler cannot cross threads). */
  readonly tenancy?: Tenancy;
}

export interface ReloadResult {
  readonly applied: boolean;
  readonly revision?: string;
  readonly errors: readonly CheckLine[];
}

export class FileConfigSource {
  private watchers: FSWatcher[] = [];
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private signature = '';
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly worker: CompileWorker | undefined;

  constructor(private readonly opts: FileSourceOptions) {
    this.worker = opts.offThread === false || opts.transform !== undefined ? undefined : new CompileWorker({ tenancy: opts.tenancy ?? {} });
  }

  /** First load; throws when it is invalid (a gateway must not start on a broken config). */
  async start(): Promise<void> {
    this.signature = await this.currentSignature();
    const first = await this.reload();
    if (!first.applied && this.opts.holder.current() === undefined) {
      throw new Error(`invalid config:\n${first.errors.map(formatCheckLine).join('\n')}`);
    }
    for (const path of this.opts.paths) this.watchPath(path);
    this.poller = setInterval(() => void this.watchedReload(), this.opts.pollMs ?? 2000);
    this.poller.unref();
  }

  async reload(): Promise<ReloadResult> {
    const run = this.reloading.then(() => this.doReload());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poller) clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    void this.worker?.close();
  }

  private async doReload(): Promise<ReloadResult> {
    const now = new Date((this.opts.clock ?? Date.now)());
    const { config, lines } = this.worker === undefined ? await this.compileHere(now) : await this.inWorker(this.worker, now);
    // A key's stated condition (expired, disabled) is not a mistake: it stays, and the rest applies.
    const errors = lines.filter((l) => l.severity === 'error' && !isInForce(l.reason));
    if (errors.length > 0) {
      for (const e of errors) this.opts.log.error({ problem: formatCheckLine(e) }, 'config change rejected; the last good config keeps serving');
      return { applied: false, errors };
    }
    const changed = this.opts.holder.swap(config);
    if (changed) this.opts.log.info({ revision: config.revision, models: config.modelIds.length, keys: config.keys.size }, 'config loaded');
    return { applied: changed, revision: config.revision, errors: [] };
  }

  private async compileHere(now: Date): Promise<{ config: GatewayConfig; lines: readonly CheckLine[] }> {
    const { docs, problems } = await loadManifests(this.opts.paths);
    const report = checkDocuments(docs, problems, { now, compiler: this.opts.compiler, ...(this.opts.transform ? { transform: this.opts.transform } : {}) });
    return { config: report.compiled.config, lines: report.lines };
  }

  private async inWorker(worker: CompileWorker, now: Date): Promise<{ config: GatewayConfig; lines: readonly CheckLine[] }> {
    try {
      const result = await worker.compileFiles(this.opts.paths, now);
      return { config: result.config, lines: result.errors };
    } catch (err) {
      // A lost worker must not lose the reload: this one compiles here, the next starts a new worker.
      this.opts.log.warn({ err: { message: (err as Error).message } }, 'compile worker failed; compiling on the serving thread');
      return this.compileHere(now);
    }
  }

  private watchPath(path: string): void {
    const onEvent = (): void => this.schedule();
    try {
      this.watchers.push(watch(path, { recursive: true }, onEvent));
    } catch {
      // A single file replaced by rename (editors, kubelet ConfigMap swaps) is seen through its folder.
      this.watchers.push(watch(dirname(path), onEvent));
    }
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    // Long enough to fold one save's burst of events (write, rename) into one reload; short, as
    // it is part of every apply → enforced (issue #13). The signature check skips spurious ones.
    this.debounce = setTimeout(() => void this.watchedReload(), this.opts.debounceMs ?? 30);
  }

  /** A reload nobody awaits: one that fails (the files went away mid-read) is logged, never an unhandled rejection that ends the process. */
  private async watchedReload(): Promise<void> {
    try {
      await this.checkForChange();
    } catch (err) {
      this.opts.log.error({ err: { message: (err as Error).message } }, 'config reload failed; the last good config keeps serving');
    }
  }

  /** fs events can be missed or spurious: reload only when the files' names, sizes or times moved. */
  private async checkForChange(): Promise<void> {
    const sig = await this.currentSignature();
    if (sig === this.signature) return;
    this.signature = sig;
    await this.reload();
  }

  private async currentSignature(): Promise<string> {
    const { files } = await listManifestFiles(this.opts.paths);
    const parts = await Promise.all(
      files.map(async (f) => {
        const s = await stat(f).catch(() => undefined);
        return `${f}:${s?.size ?? -1}:${s?.mtimeMs ?? -1}`;
      }),
    );
    return parts.join('|');
  }
}
