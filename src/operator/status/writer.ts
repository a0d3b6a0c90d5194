/**
 * The one status writer (Envoy Gateway's status updater): every status change, conditions and
 * usage alike, goes through here. It skips the write when the live status already says it,
 * sends a JSON merge patch to the /status subresource with the resourceVersion it computed from
 * (optimistic concurrency), and on 409 re-reads the object, recomputes and tries again, a few
 * times. It never throws: a failed write is logged and counted, and the next reconcile retries.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type KubeClient, type KubeObject, KubeApiError, isConflict, isNotFound } from '../../kube/client.js';
import { tokenhubPath } from '../../kube/resources.js';
import type { KindName } from '../../schema/kinds.js';
import type { OperatorMetrics } from '../metrics.js';
import type { Condition } from '../../schema/common.js';
import type { StatusFields } from './desired.js';
import { type EventRecorder, transitionEvent } from './events.js';
import { statusPatch } from './patch.js';

export const FIELD_MANAGER = 'tokenhub-operator';

export type WriteOutcome = 'written' | 'unchanged' | 'gone' | 'failed';

export interface StatusWrite {
  readonly kind: KindName;
  /** The object as the informer cache has it (its status and resourceVersion). */
  readonly live: KubeObject;
  /** The desired fields, computed from a version of the object (recomputed after a conflict). */
  readonly desired: (object: KubeObject) => StatusFields;
}

export interface StatusWriterOptions {
  readonly client: KubeClient;
  readonly log: Pick<FastifyBaseLogger, 'warn' | 'debug'>;
  readonly metrics: OperatorMetrics;
  readonly maxAttempts?: number;
  /** Records an Event for every write that moved a condition; default none. */
  readonly events?: EventRecorder;
}

export class StatusWriter {
  constructor(private readonly opts: StatusWriterOptions) {}

  async write(w: StatusWrite): Promise<WriteOutcome> {
    const attempts = this.opts.maxAttempts ?? 4;
    let object = w.live;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const desired = w.desired(object);
      const patch = statusPatch(object['status'], desired);
      if (patch === undefined) {
        this.opts.metrics.statusWritesSkipped += 1;
        return 'unchanged';
      }
      try {
        await this.send(w.kind, object, patch);
        this.opts.metrics.statusWrites += 1;
        await this.recordTransition(w.kind, object, desired);
        return 'written';
      } catch (err) {
        if (isNotFound(err)) return 'gone';
        if (!isConflict(err)) return this.failed(w, err);
        this.opts.metrics.statusConflicts += 1;
        const fresh = await this.reread(w.kind, object);
        if (fresh === undefined) return 'gone';
        if (fresh instanceof Error) return this.failed(w, fresh);
        object = fresh;
      }
    }
    return this.failed(w, new Error(`still conflicting after ${attempts} attempts`));
  }

  /** Only after the write succeeded: an Event says what the status now says. */
  private async recordTransition(kind: KindName, object: KubeObject, desired: StatusFields): Promise<void> {
    if (this.opts.events === undefined || !('conditions' in desired)) return;
    const before = (object['status'] as { conditions?: Condition[] } | undefined)?.conditions;
    const event = transitionEvent(before, desired['conditions'] as Condition[] | undefined);
    if (event !== undefined) await this.opts.events.record(kind, object, event);
  }

  private async send(kind: KindName, object: KubeObject, status: Record<string, unknown>): Promise<void> {
    const { name, namespace, resourceVersion } = object.metadata;
    const path = tokenhubPath(kind, { ...(namespace === undefined ? {} : { namespace }), name, status: true });
    await this.opts.client.request('PATCH', path, {
      // The resourceVersion makes the patch conditional: the status was computed from this version.
      body: { metadata: { resourceVersion }, status },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: FIELD_MANAGER },
    });
  }

  private async reread(kind: KindName, object: KubeObject): Promise<KubeObject | Error | undefined> {
    const { name, namespace } = object.metadata;
    try {
      return await this.opts.client.request<KubeObject>('GET', tokenhubPath(kind, { ...(namespace === undefined ? {} : { namespace }), name }));
    } catch (err) {
      return isNotFound(err) ? undefined : (err as Error);
    }
  }

  private failed(w: StatusWrite, err: unknown): WriteOutcome {
    this.opts.metrics.statusWriteErrors += 1;
    const { name, namespace } = w.live.metadata;
    const status = err instanceof KubeApiError ? err.status : undefined;
    this.opts.log.warn({ kind: w.kind, namespace, name, status, err: { message: (err as Error).message } }, 'status write failed; the next reconcile retries');
    return 'failed';
  }
}
