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

  constructor(private readonly opts: FileSourceOptions) {}

  /** First load; throws when it is invalid (a gateway must not start on a broken config). */
  async start(): Promise<void> {
    this.signature = await this.currentSignature();
    const first = await this.reload();
    if (!first.applied && this.opts.holder.current() === undefined) {
      throw new Error(`invalid config:\n${first.errors.map(formatCheckLine).join('\n')}`);
    }
    for (const path of this.opts.paths) this.watchPath(path);
    this.poller = setInterval(() => void this.checkForChange(), this.opts.pollMs ?? 2000);
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
  }

  private async doReload(): Promise<ReloadResult> {
    const { docs, problems } = await loadManifests(this.opts.paths);
    const now = new Date((this.opts.clock ?? Date.now)());
    const report = checkDocuments(docs, problems, { now, compiler: this.opts.compiler, ...(this.opts.transform ? { transform: this.opts.transform } : {}) });
    // A key's stated condition (expired, disabled) is not a mistake: it stays, and the rest applies.
    const errors = report.lines.filter((l) => l.severity === 'error' && !isInForce(l.reason));
    if (errors.length > 0) {
      for (const e of errors) this.opts.log.error({ problem: formatCheckLine(e) }, 'config change rejected; the last good config keeps serving');
      return { applied: false, errors };
    }
    const { config } = report.compiled;
    const changed = this.opts.holder.swap(config);
    if (changed) this.opts.log.info({ revision: config.revision, models: config.modelIds.length, keys: config.keys.size }, 'config loaded');
    return { applied: changed, revision: config.revision, errors: [] };
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
    this.debounce = setTimeout(() => void this.checkForChange(), this.opts.debounceMs ?? 100);
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
