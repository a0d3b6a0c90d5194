/**
 * Config from the cluster: informers on the three kinds and Secrets, the shared compile (keeping
 * each object's last good version), an atomic swap. The gateway is ready only after the first
 * full sync; when the API server is unreachable the informers keep their caches and the config
 * stays as it is.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Compiler } from '../../compile/compile.js';
import { type LastGood, compileKeepingLastGood, withRecordedLastGood } from '../../compile/last-good.js';
import type { KubeClient } from '../../kube/client.js';
import { ClusterState } from '../../kube/cluster-state.js';
import type { GatewayConfig } from '../../compile/types.js';
import { CompileWorker } from './compile-worker.js';
import type { Tenancy } from '../../compile/tenancy.js';
import type { ConfigHolder } from './config-holder.js';

export interface KubeSourceOptions {
  readonly client: KubeClient;
  readonly namespaces: readonly string[];
  readonly holder: ConfigHolder;
  readonly compiler: Compiler;
  readonly log: FastifyBaseLogger;
  readonly clock?: () => number;
  readonly debounceMs?: number;
  readonly watchSeconds?: number;
  /**
   * Compile in a worker thread (default): the serving thread never waits for a compile. The worker
   * makes its own compiler from `tenancy`; `compiler` serves only when this is false.
   */
  readonly offThread?: boolean;
  /** The compiler's tenancy settings, for the worker's own compiler (a Compiler cannot cross threads). */
  readonly tenancy?: Tenancy;
}

export class KubeConfigSource {
  private readonly state: ClusterState;
  private lastGood: LastGood = new Map();
  private timer: NodeJS.Timeout | undefined;
  private published = false;
  private readonly worker: CompileWorker | undefined;
  private compiling = false;
  private again = false;

  constructor(private readonly opts: KubeSourceOptions) {
    this.state = new ClusterState({
      client: opts.client,
      namespaces: opts.namespaces,
      log: opts.log,
      onChange: () => this.schedule(),
      // Status is the operator's output (conditions, usage every 30 s): nothing the gateway compiles.
      ignoreStatusOnly: true,
      ...(opts.watchSeconds ? { watchSeconds: opts.watchSeconds } : {}),
    });
    this.worker = opts.offThread === false ? undefined : new CompileWorker({ tenancy: opts.tenancy ?? {} });
  }

  start(): void {
    this.state.start();
  }

  stop(): void {
    this.state.stop();
    if (this.timer) clearTimeout(this.timer);
    void this.worker?.close();
  }

  /** Ready: every watch synced and a config published. */
  get ready(): boolean {
    return this.published && this.state.synced;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.recompile();
    }, this.opts.debounceMs ?? 50);
  }

  /** One compile at a time; changes that arrive meanwhile are folded into one more run after it. */
  private async recompile(): Promise<void> {
    if (!this.state.synced) return;
    if (this.compiling) {
      this.again = true;
      return;
    }
    this.compiling = true;
    try {
      const now = new Date((this.opts.clock ?? Date.now)());
      const input = this.state.compileInput();
      const result = this.worker === undefined ? this.compileHere(input, now) : await this.worker.compileCluster(input, now);
      this.publish(result.config, result.heldBack);
    } catch (err) {
      this.opts.log.error({ err: { message: (err as Error).message } }, 'compile failed; the current config keeps serving');
    } finally {
      this.compiling = false;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    }
  }

  private compileHere(input: ReturnType<ClusterState['compileInput']>, now: Date): { config: GatewayConfig; heldBack: readonly string[] } {
    // The operator's record (status.lastGood) wins over this pod's memory: a pod started after
    // an object turned invalid holds back to the same version as its elders.
    const lastGood = withRecordedLastGood(this.lastGood, input.objects);
    const result = compileKeepingLastGood(this.opts.compiler, input, { now, lastGood });
    this.lastGood = result.lastGood;
    return result;
  }

  private publish(config: GatewayConfig, heldBack: readonly string[]): void {
    for (const ref of heldBack) this.opts.log.warn({ object: ref }, 'invalid change ignored; the last good version stays in force');
    if (this.opts.holder.swap(config)) {
      this.opts.log.info({ revision: config.revision, models: config.modelIds.length, keys: config.keys.size }, 'config reloaded from the cluster');
    }
    this.published = true;
  }
}
