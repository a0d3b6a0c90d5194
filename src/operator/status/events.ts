/**
 * Kubernetes Events for condition transitions (events.k8s.io/v1, which `kubectl describe` and
 * `kubectl get events` show): one Event per object whose conditions changed status or reason in
 * a status write, Warning when the object is Stalled. Which conditions transitioned is pure
 * (`transitionEvent`); posting is best effort: a failed Event is counted and logged, never
 * fails the reconcile.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { KubeClient, KubeObject } from '../../kube/client.js';
import { GROUP_VERSION } from '../../schema/common.js';
import type { Condition } from '../../schema/common.js';
import type { KindName } from '../../schema/kinds.js';
import type { OperatorMetrics } from '../metrics.js';
import { findCondition } from './conditions.js';
import { READY } from './desired.js';
import { STALLED } from './progress.js';

export const REPORTING_CONTROLLER = 'tokenhub.io/operator';

export interface TransitionEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
}

const NOTE_MAX = 1024;

/**
 * The Event for going from `before` to `after`, or undefined when no condition changed status
 * or reason. Its reason is the Ready reason; its note names every condition that moved.
 */
export function transitionEvent(before: readonly Condition[] | undefined, after: readonly Condition[] | undefined): TransitionEvent | undefined {
  const moved = (after ?? []).filter((c) => {
    const old = findCondition(before, c.type);
    return old === undefined || old.status !== c.status || old.reason !== c.reason;
  });
  if (moved.length === 0) return undefined;
  const ready = findCondition(after, READY);
  const stalled = findCondition(after, STALLED)?.status === 'True';
  const changes = moved.map((c) => `${c.type}=${c.status} (${c.reason})`).join(', ');
  const message = ready?.message ? `: ${ready.message}` : '';
  return {
    type: stalled ? 'Warning' : 'Normal',
    reason: ready?.reason ?? moved[0]!.reason,
    note: `${changes}${message}`.slice(0, NOTE_MAX),
  };
}

export interface EventRecorderOptions {
  readonly client: KubeClient;
  readonly log: Pick<FastifyBaseLogger, 'warn'>;
  readonly metrics: OperatorMetrics;
  /** This operator instance (reportingInstance), e.g. the pod name. */
  readonly instance: string;
  readonly clock?: () => number;
}

export class EventRecorder {
  constructor(private readonly opts: EventRecorderOptions) {}

  async record(kind: KindName, object: KubeObject, event: TransitionEvent): Promise<void> {
    const { name, namespace, uid, resourceVersion } = object.metadata;
    const ns = namespace ?? 'default';
    const now = new Date((this.opts.clock ?? Date.now)());
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${name}.${now.getTime().toString(16)}${randomBytes(4).toString('hex')}`, namespace: ns },
      // MicroTime: RFC 3339 with six fractional digits.
      eventTime: now.toISOString().replace(/Z$/, '000Z'),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.opts.instance.slice(0, 128),
      action: 'Reconcile',
      type: event.type,
      reason: event.reason,
      note: event.note,
      regarding: { apiVersion: GROUP_VERSION, kind, name, namespace: ns, uid, resourceVersion },
    };
    try {
      await this.opts.client.request('POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/events`, { body });
      this.opts.metrics.eventsRecorded += 1;
    } catch (err) {
      this.opts.metrics.eventErrors += 1;
      this.opts.log.warn({ kind, namespace: ns, name, err: { message: (err as Error).message } }, 'could not record an Event');
    }
  }
}
