/**
 * One operator instance: caches of the policy objects and of the fleet, three small controllers
 * (policy status + key Secrets, the gateway fleet, usage write-back), each a serial task that
 * re-reads the whole state, and leader election deciding which instance may write. A standby
 * runs everything but the writes, so a failover starts from warm caches.
 */
import { hostname } from 'node:os';
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import { type Compiler, createCompiler } from '../compile/compile.js';
import type { KubeClient } from '../kube/client.js';
import { ClusterState } from '../kube/cluster-state.js';
import type { LimitStore } from '../limits/store.js';
import { FleetController } from './fleet/controller.js';
import { buildHealthServer } from './health.js';
import { SecretGenerator } from './keys/secret-generator.js';
import { LeaderElector, type LeaseTimings } from './leader/lease.js';
import { OperatorMetrics } from './metrics.js';
import { Reconciler } from './reconciler.js';
import { SerialTask } from './serial-task.js';
import { EventRecorder } from './status/events.js';
import { StatusWriter } from './status/writer.js';
import { UsageReporter } from './usage/reporter.js';

export interface LeaderElectionOptions {
  readonly leaseName?: string;
  /** Unique per instance; default `<hostname>-<pid>`. */
  readonly identity?: string;
  readonly timings?: Partial<LeaseTimings>;
}

export interface StartOperatorOptions {
  readonly client: KubeClient;
  /** Namespaces whose ModelRoutes, ApiKeys and QuotaPolicies are reconciled; empty = all. */
  readonly namespaces?: readonly string[];
  /** The operator's own namespace: fleet ConfigMap, gateway objects, Lease. Default `tokenhub`. */
  readonly fleetNamespace?: string;
  /** Default `tokenhub-gateway`. */
  readonly fleetConfigName?: string;
  /** Probe server; port 0 picks a free one. Default 0.0.0.0:8081. */
  readonly health?: { readonly port?: number; readonly host?: string };
  /** false: this instance always leads (a single replica). Default: elect with a Lease. */
  readonly leaderElection?: false | LeaderElectionOptions;
  /** The shared usage store (Redis); without one there is no usage write-back. */
  readonly store?: Pick<LimitStore, 'usage' | 'budgetUsed'>;
  readonly usageIntervalMs?: number;
  readonly debounceMs?: number;
  readonly watchSeconds?: number;
  /** pino options (fastify's `logger`); default: silent. */
  readonly logger?: FastifyServerOptions['logger'];
  readonly clock?: () => number;
  readonly compiler?: Compiler;
  /** Namespaces whose ModelRoutes are served and which may set ceilings; empty: all (see compile/tenancy.ts). */
  readonly platformNamespaces?: readonly string[];
}

export interface RunningOperator {
  readonly metrics: OperatorMetrics;
  /** http://host:port of the probe server. */
  readonly healthUrl: string;
  readonly log: FastifyBaseLogger;
  /** Every cache has synced. */
  ready(): boolean;
  isLeader(): boolean;
  /** Stops writing, releases the Lease, stops the watches and the probe server. */
  stop(): Promise<void>;
}

interface Parts {
  readonly state: ClusterState;
  readonly fleet: FleetController;
  readonly tasks: { readonly policy: SerialTask; readonly fleet: SerialTask; readonly usage: SerialTask };
}

export async function startOperator(opts: StartOperatorOptions): Promise<RunningOperator> {
  const metrics = new OperatorMetrics();
  let parts: Parts | undefined;
  const ready = (): boolean => parts !== undefined && parts.state.synced && parts.fleet.synced;
  const app = buildHealthServer({ ready, logger: opts.logger });
  const log = app.log;
  // First, so that a port already in use fails the start before anything runs.
  const healthUrl = await app.listen({ port: opts.health?.port ?? 8081, host: opts.health?.host ?? '0.0.0.0' });
  const fleetNamespace = opts.fleetNamespace ?? 'tokenhub';
  const elector =
    opts.leaderElection === false
      ? undefined
      : new LeaderElector({
          client: opts.client,
          namespace: fleetNamespace,
          name: opts.leaderElection?.leaseName ?? 'tokenhub-operator',
          identity: opts.leaderElection?.identity ?? `${hostname()}-${process.pid}`,
          log,
          ...(opts.leaderElection?.timings === undefined ? {} : { timings: opts.leaderElection.timings }),
          onStartedLeading: () => {
            metrics.leaderAcquisitions += 1;
            metrics.leading = 1;
            for (const t of Object.values(parts?.tasks ?? {})) t.trigger(0);
          },
          onStoppedLeading: () => {
            metrics.leading = 0;
          },
        });
  const isLeader = (): boolean => elector === undefined || elector.isLeader;
  parts = assemble({ opts, log, metrics, isLeader, fleetNamespace });
  if (elector === undefined) {
    metrics.leaderAcquisitions += 1;
    metrics.leading = 1;
  }
  parts.state.start();
  parts.fleet.start();
  elector?.start();
  const usageTimer = setInterval(() => parts?.tasks.usage.trigger(0), opts.usageIntervalMs ?? 30_000);
  const running = parts;
  return {
    metrics,
    healthUrl,
    log,
    ready,
    isLeader,
    stop: async () => {
      clearInterval(usageTimer);
      await Promise.all(Object.values(running.tasks).map((t) => t.stop()));
      await elector?.stop();
      running.state.stop();
      running.fleet.stop();
      await app.close();
    },
  };
}

function assemble(ctx: {
  opts: StartOperatorOptions;
  log: FastifyBaseLogger;
  metrics: OperatorMetrics;
  isLeader: () => boolean;
  fleetNamespace: string;
}): Parts {
  const { opts, log, metrics, isLeader } = ctx;
  const clock = opts.clock ?? Date.now;
  const identity = (opts.leaderElection === false ? undefined : opts.leaderElection?.identity) ?? `${hostname()}-${process.pid}`;
  const events = new EventRecorder({ client: opts.client, log, metrics, instance: identity, clock });
  const writer = new StatusWriter({ client: opts.client, log, metrics, events });
  const task = (name: string, run: () => Promise<boolean>): SerialTask =>
    new SerialTask({
      name,
      run,
      log,
      ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs }),
      onError: () => (metrics.reconcileErrors += 1),
    });
  const watch = opts.watchSeconds === undefined ? {} : { watchSeconds: opts.watchSeconds };
  const state = new ClusterState({ client: opts.client, namespaces: opts.namespaces ?? [], log, onChange: () => tasks.policy.trigger(), ...watch });
  const reconciler = new Reconciler({
    state,
    writer,
    metrics,
    log,
    isLeader,
    clock,
    compiler: opts.compiler ?? createCompiler(undefined, { platformNamespaces: opts.platformNamespaces ?? [] }),
    secrets: new SecretGenerator({ client: opts.client, log, metrics }),
    requeue: () => tasks.policy.trigger(),
  });
  const fleet = new FleetController({
    client: opts.client,
    namespace: ctx.fleetNamespace,
    configMapName: opts.fleetConfigName ?? 'tokenhub-gateway',
    log,
    metrics,
    onChange: () => tasks.fleet.trigger(),
    ...watch,
  });
  const store = opts.store;
  const usage =
    store === undefined
      ? undefined
      : new UsageReporter({
          store,
          writer,
          metrics,
          log,
          clock,
          config: () => reconciler.lastResult?.config,
          apiKeys: () => state.tokenhubObjects().filter((o) => o.kind === 'ApiKey'),
        });
  const tasks = {
    policy: task('policy', () => reconciler.reconcile()),
    fleet: task('fleet', async () => !isLeader() || (await fleet.reconcile())),
    usage: task('usage', async () => usage === undefined || !isLeader() || (await usage.report())),
  };
  return { state, fleet, tasks };
}
