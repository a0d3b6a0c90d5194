/**
 * Config from the cluster: informers on the three kinds and Secrets, the shared compile (keeping
 * each object's last good version), an atomic swap. The gateway is ready only after the first
 * full sync; when the API server is unreachable the informers keep their caches and the config
 * stays as it is.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Compiler } from '../../compile/compile.js';
import { type LastGood, compileKeepingLastGood } from '../../compile/last-good.js';
import type { KubeClient } from '../../kube/client.js';
import { ClusterState } from '../../kube/cluster-state.js';
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
}

export class KubeConfigSource {
  private readonly state: ClusterState;
  private lastGood: LastGood = new Map();
  private timer: NodeJS.Timeout | undefined;
  private published = false;

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
  }

  start(): void {
    this.state.start();
  }

  stop(): void {
    this.state.stop();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Ready: every watch synced and a config published. */
  get ready(): boolean {
    return this.published && this.state.synced;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recompile();
    }, this.opts.debounceMs ?? 50);
  }

  private recompile(): void {
    if (!this.state.synced) return;
    const now = new Date((this.opts.clock ?? Date.now)());
    const result = compileKeepingLastGood(this.opts.compiler, this.state.compileInput(), { now, lastGood: this.lastGood });
    this.lastGood = result.lastGood;
    for (const ref of result.heldBack) this.opts.log.warn({ object: ref }, 'invalid change ignored; the last good version stays in force');
    if (this.opts.holder.swap(result.config)) {
      const c = result.config;
      this.opts.log.info({ revision: c.revision, models: c.modelIds.length, keys: c.keys.size }, 'config reloaded from the cluster');
    }
    this.published = true;
  }
}
