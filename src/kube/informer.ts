/**
 * A list-then-watch cache of one resource collection that does not stop: 410 Gone relists,
 * errors back off and relist, a silent stream is cut by an inactivity deadline, and a periodic
 * relist with jitter catches anything a watch missed. `onChange` only says "something changed":
 * callers re-read the whole cache (reconcile the whole state, not each event).
 */
import type { FastifyBaseLogger } from 'fastify';
import { type KubeClient, type KubeList, type KubeObject, KubeApiError } from './client.js';

export interface InformerOptions {
  readonly client: KubeClient;
  /** Collection path, e.g. /apis/tokenhub.io/v1alpha1/modelroutes or /api/v1/namespaces/x/secrets. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly log: Pick<FastifyBaseLogger, 'warn' | 'info' | 'debug'>;
  readonly onChange: () => void;
  /** Server-side watch timeout; the watch is renewed after it. */
  readonly watchSeconds?: number;
  /** Full relist period (±20% jitter). */
  readonly relistMs?: number;
  /** Objects per list page (the list follows `continue` to the end); default 500. */
  readonly pageSize?: number;
  /**
   * Call `onChange` only when what a reader compiles changed: not for an update that touched
   * only status (the operator's 30 s usage write-back, its conditions) or bookkeeping metadata
   * (resourceVersion, managedFields). The cache still takes every version. Off: every event.
   */
  readonly ignoreStatusOnly?: boolean;
}

/** What the informers of one owner share: everything but the collection and its selector. */
export type InformerSettings = Omit<InformerOptions, 'path' | 'labelSelector'>;

/** Informers with the same client, logger, change callback and watch settings, one per collection. */
export function informerFactory(settings: InformerSettings): (path: string, labelSelector?: string) => Informer {
  return (path, labelSelector) => new Informer({ ...settings, path, ...(labelSelector === undefined ? {} : { labelSelector }) });
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly items = new Map<string, T>();
  private resourceVersion = '';
  private hasSynced = false;
  private stopped = false;
  private abort = new AbortController();
  private lastRelist = 0;
  private failures = 0;

  constructor(private readonly opts: InformerOptions) {}

  get synced(): boolean {
    return this.hasSynced;
  }

  list(): T[] {
    return [...this.items.values()];
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '' || this.relistDue()) await this.relist();
        await this.watchOnce();
        this.failures = 0;
      } catch (err) {
        if (this.stopped) return;
        const gone = err instanceof KubeApiError && err.status === 410;
        if (gone) this.opts.log.info({ path: this.opts.path }, 'watch expired (410 Gone); relisting');
        else this.opts.log.warn({ path: this.opts.path, err: { message: (err as Error).message } }, 'watch failed; relisting after a pause');
        this.resourceVersion = '';
        if (!gone) await this.pause(Math.min(10_000, 250 * 2 ** this.failures++));
      }
    }
  }

  private relistDue(): boolean {
    const period = this.opts.relistMs ?? 300_000;
    return Date.now() - this.lastRelist > period * (0.8 + 0.4 * Math.random());
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let page: KubeList<T> | undefined;
    do {
      page = await this.opts.client.request<KubeList<T>>('GET', this.opts.path, {
        query: { labelSelector: this.opts.labelSelector, limit: this.opts.pageSize ?? 500, continue: page?.metadata.continue },
      });
      items.push(...page.items);
    } while (page.metadata.continue);
    const previous = new Map(this.items);
    this.items.clear();
    for (const item of items) this.items.set(keyOf(item), item);
    // Every page of one list is served at the first page's resourceVersion.
    this.resourceVersion = page.metadata.resourceVersion;
    this.lastRelist = Date.now();
    const first = !this.hasSynced;
    this.hasSynced = true;
    if (first || this.changedSince(previous)) this.opts.onChange();
  }

  /**
   * After a relist: whether any object came, went, or got a new version (with ignoreStatusOnly,
   * a new version that changed more than its status).
   */
  private changedSince(previous: ReadonlyMap<string, T>): boolean {
    if (previous.size !== this.items.size) return true;
    for (const [key, item] of this.items) {
      const old = previous.get(key);
      if (old === undefined) return true;
      if (old.metadata.resourceVersion === item.metadata.resourceVersion) continue;
      if (this.opts.ignoreStatusOnly !== true || !sameButStatus(old, item)) return true;
    }
    return false;
  }

  private async watchOnce(): Promise<void> {
    const watchSeconds = this.opts.watchSeconds ?? 60;
    this.abort = new AbortController();
    await this.opts.client.watch(this.opts.path, {
      query: { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchSeconds, labelSelector: this.opts.labelSelector },
      signal: this.abort.signal,
      // Bookmarks arrive about once a minute; silence well past the server timeout is a stall.
      inactivityMs: (watchSeconds + 30) * 1000,
      onEvent: (type, obj) => this.apply(type, obj as T),
    });
  }

  private apply(type: string, obj: T): void {
    // A watch that delivers is healthy: the next failure starts the backoff afresh. (Not a mere
    // successful list: a watch refused every time would then be retried every 250 ms for ever.)
    this.failures = 0;
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const key = keyOf(obj);
    const previous = this.items.get(key);
    if (type === 'DELETED') this.items.delete(key);
    else this.items.set(key, obj);
    const statusOnly = type === 'MODIFIED' && previous !== undefined && this.opts.ignoreStatusOnly === true && sameButStatus(previous, obj);
    if (!statusOnly) this.opts.onChange();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/** What an object says apart from its status and the API server's bookkeeping. */
function withoutStatus(o: KubeObject): string {
  const { status, metadata, ...rest } = o as KubeObject & { status?: { lastGood?: unknown } };
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = metadata as KubeObject['metadata'] & { managedFields?: unknown };
  // status.lastGood is config, not a report: the version every gateway holds back to (compile/last-good.ts).
  return JSON.stringify([meta, rest, status?.lastGood ?? null]);
}

/**
 * True when two versions differ at most in status and bookkeeping. A generation that moved means
 * the spec did (for kinds that count generations); otherwise the rest is compared as JSON, where
 * a different key order only costs a needless recompile, never a missed one.
 */
export function sameButStatus(a: KubeObject, b: KubeObject): boolean {
  if (a.metadata.generation !== b.metadata.generation) return false;
  return withoutStatus(a) === withoutStatus(b);
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}
