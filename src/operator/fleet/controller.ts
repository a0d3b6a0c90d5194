/**
 * The gateway fleet controller: fleet ConfigMap → rendered objects (pure) → compare each with the
 * live object by its template-hash annotation (and the replica count) → server-side apply only
 * what differs, delete a PDB or HPA that was switched off. Informers watch the ConfigMaps of the
 * fleet namespace and the objects we manage, so a deleted or edited Deployment comes back.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type KubeClient, type KubeObject, isNotFound } from '../../kube/client.js';
import { type Informer, informerFactory } from '../../kube/informer.js';
import { corePath, groupPath } from '../../kube/resources.js';
import type { OperatorMetrics } from '../metrics.js';
import { FIELD_MANAGER } from '../status/writer.js';
import { FLEET_CONFIG_KEY, FleetConfigParser } from './config.js';
import { FLEET_KINDS, type FleetKind, type FleetObjects, GATEWAY_NAME, MANAGED_BY, TEMPLATE_HASH_ANNOTATION, renderFleet } from './render.js';

const RESOURCES: Readonly<Record<FleetKind, { groupVersion: string; plural: string }>> = {
  Deployment: { groupVersion: 'apps/v1', plural: 'deployments' },
  Service: { groupVersion: 'v1', plural: 'services' },
  PodDisruptionBudget: { groupVersion: 'policy/v1', plural: 'poddisruptionbudgets' },
  HorizontalPodAutoscaler: { groupVersion: 'autoscaling/v2', plural: 'horizontalpodautoscalers' },
};

export function fleetPath(kind: FleetKind, namespace: string, name?: string): string {
  const r = RESOURCES[kind];
  return r.groupVersion === 'v1' ? corePath(namespace, r.plural, name) : groupPath(r.groupVersion, namespace, r.plural, name);
}

/** Pure: whether the live object must be (re)written to match the desired one. */
export function needsWrite(desired: KubeObject, live: KubeObject | undefined): boolean {
  if (live === undefined) return true;
  if (live.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION] !== desired.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION]) return true;
  const want = (desired['spec'] as { replicas?: number }).replicas;
  return want !== undefined && (live['spec'] as { replicas?: number } | undefined)?.replicas !== want;
}

export interface FleetControllerOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly configMapName: string;
  readonly log: FastifyBaseLogger;
  readonly metrics: OperatorMetrics;
  readonly onChange: () => void;
  readonly watchSeconds?: number;
}

export class FleetController {
  private readonly configMaps: Informer;
  private readonly managed: Map<FleetKind, Informer>;
  private readonly parser = new FleetConfigParser();
  /** What was last logged about the ConfigMap, so a steady problem is logged once, not per pass. */
  private lastReport = '';

  constructor(private readonly opts: FleetControllerOptions) {
    const make = informerFactory({
      client: opts.client,
      log: opts.log,
      onChange: opts.onChange,
      ...(opts.watchSeconds === undefined ? {} : { watchSeconds: opts.watchSeconds }),
    });
    // Our Informer has no fieldSelector: watch the namespace's ConfigMaps and pick ours by name.
    this.configMaps = make(corePath(opts.namespace, 'configmaps'));
    this.managed = new Map(FLEET_KINDS.map((k) => [k, make(fleetPath(k, opts.namespace), `app.kubernetes.io/managed-by=${MANAGED_BY}`)]));
  }

  start(): void {
    for (const i of this.informers()) i.start();
  }

  stop(): void {
    for (const i of this.informers()) i.stop();
  }

  get synced(): boolean {
    return this.informers().every((i) => i.synced);
  }

  /** One pass (leader only); false when a write failed and the pass should be retried. */
  async reconcile(): Promise<boolean> {
    if (!this.synced) return true;
    const desired = this.desired();
    if (desired === undefined) return true;
    let ok = true;
    for (const kind of FLEET_KINDS) {
      const live = this.managed
        .get(kind)
        ?.list()
        .find((o) => o.metadata.name === GATEWAY_NAME);
      ok = (await this.sync(kind, desired[kind], live)) && ok;
    }
    return ok;
  }

  private informers(): Informer[] {
    return [this.configMaps, ...this.managed.values()];
  }

  private desired(): FleetObjects | undefined {
    const { namespace, configMapName } = this.opts;
    const cm = this.configMaps.list().find((o) => o.metadata.name === configMapName);
    if (cm === undefined) {
      this.report('info', `ConfigMap ${namespace}/${configMapName} not found: no gateway fleet is managed`);
      return undefined;
    }
    const parsed = this.parser.parse((cm['data'] as Record<string, string> | undefined)?.[FLEET_CONFIG_KEY]);
    if (!parsed.ok) {
      this.report('error', `ConfigMap ${namespace}/${configMapName}: ${parsed.error}; the fleet is left as it is`);
      return undefined;
    }
    this.report('info', `gateway fleet from ConfigMap ${namespace}/${configMapName}`);
    return renderFleet({ config: parsed.config, namespace, owner: { name: configMapName, uid: cm.metadata.uid ?? '' } });
  }

  private report(level: 'info' | 'error', message: string): void {
    if (message === this.lastReport) return;
    this.lastReport = message;
    this.opts.log[level](message);
  }

  private async sync(kind: FleetKind, desired: KubeObject | undefined, live: KubeObject | undefined): Promise<boolean> {
    const path = fleetPath(kind, this.opts.namespace, GATEWAY_NAME);
    try {
      if (desired === undefined) {
        if (live === undefined) return true;
        await this.opts.client.request('DELETE', path).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
        this.opts.log.info({ kind }, 'fleet object switched off: deleted');
      } else {
        if (!needsWrite(desired, live)) return true;
        // Server-side apply: creates or updates, and drops fields we stopped setting.
        await this.opts.client.request('PATCH', path, {
          body: desired,
          contentType: 'application/apply-patch+yaml',
          query: { fieldManager: FIELD_MANAGER, force: true },
        });
        this.opts.log.info(
          { kind, hash: desired.metadata.annotations?.[TEMPLATE_HASH_ANNOTATION] },
          live === undefined ? 'fleet object created' : 'fleet object updated',
        );
      }
      this.opts.metrics.fleetWrites += 1;
      return true;
    } catch (err) {
      this.opts.metrics.fleetErrors += 1;
      this.opts.log.warn({ kind, err: { message: (err as Error).message } }, 'fleet write failed; retrying');
      return false;
    }
  }
}
