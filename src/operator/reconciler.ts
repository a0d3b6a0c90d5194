/**
 * The policy reconciler: the whole state in, every object's status and the missing key Secrets
 * out. Read the caches → compile (keeping each object's last good version) → desired status per
 * object (pure) → write only what differs, through the one status writer. Only the leader
 * writes; a standby compiles too, so its last-good memory is current when it takes over.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Compiler } from '../compile/compile.js';
import { identityKey } from '../compile/identity.js';
import { type LastGood, compileKeepingLastGood, lastGoodRecordOf, withRecordedLastGood } from '../compile/last-good.js';
import type { CompileResult, Verdict } from '../compile/types.js';
import type { KubeObject } from '../kube/client.js';
import type { ClusterState } from '../kube/cluster-state.js';
import { isKindName } from '../schema/kinds.js';
import type { SecretGenerator } from './keys/secret-generator.js';
import type { OperatorMetrics } from './metrics.js';
import { desiredStatus } from './status/desired.js';
import type { StatusWriter, WriteOutcome } from './status/writer.js';

export interface ReconcilerOptions {
  readonly state: ClusterState;
  readonly compiler: Compiler;
  readonly writer: StatusWriter;
  readonly secrets: SecretGenerator;
  readonly metrics: OperatorMetrics;
  readonly log: FastifyBaseLogger;
  readonly isLeader: () => boolean;
  readonly clock: () => number;
  /** Asks for another reconcile (at the end of a key's rotation window, to clean up and restate). */
  readonly requeue?: () => void;
}

export function objectKey(o: KubeObject): string {
  return identityKey({ kind: o.kind ?? '', namespace: o.metadata.namespace ?? 'default', name: o.metadata.name });
}

/** `Kind/Reason` → count, for the objects-by-condition gauge. */
export function countByCondition(verdicts: readonly Verdict[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of verdicts) counts[`${v.ref.kind}/${v.reason}`] = (counts[`${v.ref.kind}/${v.reason}`] ?? 0) + 1;
  return counts;
}

export class Reconciler {
  private lastGood: LastGood = new Map();
  private result: CompileResult | undefined;

  constructor(private readonly opts: ReconcilerOptions) {}

  /** The last compile (config in force and verdicts), for usage write-back. */
  get lastResult(): CompileResult | undefined {
    return this.result;
  }

  /** One pass; false when a write failed and the pass should be retried. */
  private deadlineTimer: NodeJS.Timeout | undefined;

  /** A rotation window ends with no event to say so: reconcile then (old key out of Secret and status). */
  private requeueAtNextDeadline(verdicts: readonly { status?: { rotationDeadline?: string } }[], now: number): void {
    const next = Math.min(...verdicts.map((v) => Date.parse(v.status?.rotationDeadline ?? '')).filter((t) => t > now));
    clearTimeout(this.deadlineTimer);
    if (!Number.isFinite(next) || this.opts.requeue === undefined) return;
    const requeue = this.opts.requeue;
    this.deadlineTimer = setTimeout(requeue, Math.min(next - now + 100, 2 ** 31 - 1));
    this.deadlineTimer.unref();
  }

  async reconcile(): Promise<boolean> {
    const { state, metrics } = this.opts;
    if (!state.synced) return true;
    const started = performance.now();
    const startedAt = Date.now();
    const now = new Date(this.opts.clock());
    const input = state.compileInput();
    const objects = input.objects as KubeObject[];
    // What an earlier leader recorded in the cluster wins over this instance's memory.
    const lastGood = withRecordedLastGood(this.lastGood, objects);
    const result = compileKeepingLastGood(this.opts.compiler, input, { now, lastGood });
    this.lastGood = result.lastGood;
    this.result = result;
    metrics.objectsByCondition = countByCondition(result.verdicts);
    let ok = true;
    const leader = this.opts.isLeader();
    if (leader) {
      const keys = objects.filter((o) => o.kind === 'ApiKey');
      ok = await this.opts.secrets.ensure(keys, state.secretList(), now);
      ok = (await this.writeStatuses(result, objects, now)) && ok;
    }
    this.requeueAtNextDeadline(result.verdicts, now.getTime());
    metrics.reconciles += 1;
    const durationMs = performance.now() - started;
    metrics.observeReconcile(durationMs);
    const notReady = result.verdicts.filter((v) => !v.ready).length;
    metrics.onReconcile?.({ startedAt, durationMs, objects: result.verdicts.length, notReady, leader, ok });
    return ok;
  }

  private async writeStatuses(result: CompileResult & { lastGood: LastGood }, objects: readonly KubeObject[], now: Date): Promise<boolean> {
    const live = new Map(objects.map((o) => [objectKey(o), o]));
    const outcomes: WriteOutcome[] = [];
    for (const verdict of result.verdicts) {
      const key = identityKey(verdict.ref);
      const object = live.get(key);
      const kind = verdict.ref.kind;
      // A leadership loss mid-pass stops the writes; the new leader redoes the pass.
      if (object === undefined || !isKindName(kind) || !this.opts.isLeader()) continue;
      // Recorded in status.lastGood, so that every gateway holds back to this same version.
      const lastGood = lastGoodRecordOf(result.lastGood.get(key), object);
      outcomes.push(await this.opts.writer.write({ kind, live: object, desired: (o) => desiredStatus({ verdict, object: o, now, lastGood }) }));
    }
    return !outcomes.includes('failed');
  }
}
