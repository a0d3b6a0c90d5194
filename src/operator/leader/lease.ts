/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * take the Lease when it is free (no holder) or when its record has not changed for a whole
 * lease duration as measured on our own clock (so clock skew between nodes does not matter),
 * renew it every few seconds, and step down when renewals have failed for the renew deadline.
 * Every write is a PUT carrying the resourceVersion we read (optimistic concurrency): of two
 * candidates, exactly one wins. On stop the holder is cleared so a standby takes over at once.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type KubeClient, type KubeObject, isConflict, isNotFound } from '../../kube/client.js';
import { groupPath } from '../../kube/resources.js';

export interface LeaseTimings {
  /** How long a Lease stays valid without renewal (client-go default 15 s). */
  readonly leaseDurationMs: number;
  /** How often the holder renews and a candidate retries. */
  readonly renewIntervalMs: number;
  /** A leader that has not renewed for this long steps down (must be < leaseDurationMs). */
  readonly renewDeadlineMs: number;
}

export const DEFAULT_TIMINGS: LeaseTimings = { leaseDurationMs: 15_000, renewIntervalMs: 2_000, renewDeadlineMs: 10_000 };

export interface LeaderElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  readonly timings?: Partial<LeaseTimings>;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly clock?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** MicroTime wants exactly six fractional digits. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private readonly timings: LeaseTimings;
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private lastRenew = 0;
  private observed: { record: string; at: number } = { record: '', at: 0 };

  constructor(private readonly opts: LeaderElectorOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops campaigning; a leader clears the Lease's holder so a standby need not wait it out.
   * `release: false` leaves the Lease to expire, as a crashed process would.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (!this.leading) return;
    if (opts.release !== false)
      await this.release().catch((err: Error) => this.opts.log.warn({ err: { message: err.message } }, 'could not release the Lease; it expires by itself'));
    this.setLeading(false);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.tryAcquireOrRenew().catch((err: Error) => this.failed(err));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.timings.renewIntervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  private path(name?: string): string {
    return groupPath('coordination.k8s.io/v1', this.opts.namespace, 'leases', name);
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.now();
    const lease = await this.opts.client.request<Lease>('GET', this.path(this.opts.name)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (lease === undefined) {
      await this.opts.client.request('POST', this.path(), { body: this.leaseObject(undefined, now) });
      return this.renewed(now);
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, lease.metadata.resourceVersion]);
    if (record !== this.observed.record) this.observed = { record, at: now };
    const holder = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== this.opts.identity;
    if (heldByOther && now < this.observed.at + this.timings.leaseDurationMs) {
      if (this.leading) this.setLeading(false);
      return;
    }
    await this.opts.client.request('PUT', this.path(this.opts.name), { body: this.leaseObject(lease, now) });
    this.renewed(now);
  }

  /** The Lease we PUT (or POST): ours, renewed now; a takeover counts a transition. */
  private leaseObject(current: Lease | undefined, now: number): Lease {
    const spec = current?.spec ?? {};
    const ours = spec.holderIdentity === this.opts.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(current?.metadata ?? {}), name: this.opts.name, namespace: this.opts.namespace },
      spec: {
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(this.timings.leaseDurationMs / 1000)),
        acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (current === undefined || ours ? 0 : 1),
      },
    };
  }

  private renewed(now: number): void {
    this.lastRenew = now;
    if (!this.leading) this.setLeading(true);
  }

  private failed(err: Error): void {
    if (this.stopped) return;
    // A 409 is another candidate winning the race: not worth a warning.
    if (!isConflict(err)) this.opts.log.warn({ lease: this.opts.name, err: { message: err.message } }, 'leader election: Lease update failed');
    if (this.leading && this.now() - this.lastRenew > this.timings.renewDeadlineMs) this.setLeading(false);
  }

  private async release(): Promise<void> {
    const lease = await this.opts.client.request<Lease>('GET', this.path(this.opts.name));
    if (lease.spec?.holderIdentity !== this.opts.identity) return;
    const now = microTime(this.now());
    const spec: LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now };
    await this.opts.client.request('PUT', this.path(this.opts.name), { body: { ...lease, spec } });
    this.opts.log.info({ lease: this.opts.name }, 'leader election: Lease released');
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.opts.log.info({ lease: this.opts.name, identity: this.opts.identity }, leading ? 'became leader' : 'stopped leading');
    if (leading) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }
}
