/**
 * A real Kubernetes control plane (etcd + kube-apiserver, no kubelet, no
 * controllers) for tests and local development, started the way
 * controller-runtime's envtest does it: plain processes on loopback ports,
 * no Docker. Used by the vitest suites and by `npm run cluster:up`.
 *
 * Deliberately free of any test-framework import so scripts can use it.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinaries, type ControlPlaneBinaries } from './control-plane-binaries.js';
import { generatePki, loadAdminCredentials, type AdminCredentials, type Pki } from './control-plane-pki.js';
import { ServerProcess, freePort, run, waitUntil, type RunResult } from './control-plane-process.js';

export type { AdminCredentials } from './control-plane-pki.js';
export type { ControlPlaneBinaries } from './control-plane-binaries.js';
export { resolveBinaries } from './control-plane-binaries.js';

export interface StartControlPlaneOptions {
  /** Directory with etcd, kube-apiserver and kubectl; default: KUBEBUILDER_ASSETS or the build cache. */
  binDir?: string;
  /** Working directory for etcd data, certs, logs and kubeconfig; default: a fresh temp dir. */
  dir?: string;
  /** Keep `dir` after stop() (a caller-provided `dir` is always kept). */
  keepDir?: boolean;
  /** Per-component readiness timeout; default 60 s. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. ['--watch-cache=false']; later flags win. */
  apiServerArgs?: string[];
  /** Copy a (possibly very long) first-time build's progress to stderr; default true. */
  echoBuildOutput?: boolean;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  input?: string;
  /** Use another kubeconfig, e.g. one from impersonatingKubeconfig(). */
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 60 s; the process is killed after that. */
  timeoutMs?: number;
}

export type KubectlResult = RunResult;

export interface ControlPlane {
  /** Admin (system:masters) kubeconfig, self-contained (certs embedded). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** http://127.0.0.1:<port>, plaintext etcd client URL (also serves the v3 JSON gateway). */
  readonly etcdEndpoint: string;
  readonly binDir: string;
  /** Working directory: etcd data, pki/, *.log, kubeconfig. */
  readonly dir: string;
  /** PEMs for building HTTPS clients that talk to `server` as admin. */
  readonly admin: AdminCredentials;
  /** Runs the pinned kubectl against this cluster; never throws on a non-zero exit. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Stops and restarts kube-apiserver on the same port; etcd (and so all objects) is kept. */
  restartApiServer(): Promise<void>;
  /**
   * Compacts etcd at its current revision and returns it. Watches from older
   * resourceVersions then get 410 Gone only if they reach etcd: start with
   * apiServerArgs ['--watch-cache=false'], because the default watch cache keeps
   * serving a window of recent events from memory. (A restartApiServer() also
   * yields 410 for pre-restart versions: the new cache starts at the current revision.)
   */
  compactEtcd(): Promise<number>;
  /** Kills both processes and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface Impersonation {
  /** e.g. 'system:serviceaccount:tokenhub:controller' (see serviceAccountIdentity). */
  user: string;
  groups?: string[];
  /** Where to write the kubeconfig; default: a new file in the control plane's dir. */
  path?: string;
}

interface Endpoints {
  etcdClientPort: number;
  etcdPeerPort: number;
  apiPort: number;
}

function etcdArgs(dir: string, ports: Endpoints): string[] {
  const client = `http://127.0.0.1:${ports.etcdClientPort}`;
  const peer = `http://127.0.0.1:${ports.etcdPeerPort}`;
  return [
    '--name=default',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    // An explicit peer port: etcd's default 2380 would collide between parallel test files.
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    // Test data is disposable; fsync dominates etcd latency on CI disks (envtest does the same).
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** envtest's kube-apiserver defaults, with our own certs instead of generated ones. */
function apiServerArgs(dir: string, pki: Pki, ports: Endpoints, extra: string[]): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClientPort}`,
    `--cert-dir=${join(dir, 'pki')}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${ports.apiPort}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    // No controller-manager runs, so nothing would create the `default` ServiceAccount
    // the admission plugin insists on; envtest disables it for the same reason.
    '--disable-admission-plugins=ServiceAccount',
    '--authorization-mode=RBAC',
    `--service-account-issuer=https://127.0.0.1:${ports.apiPort}/`,
    `--service-account-key-file=${pki.saPublicKey}`,
    `--service-account-signing-key-file=${pki.saPrivateKey}`,
    ...extra,
  ];
}

/** GET `path` on the API server as admin; resolves to the HTTP status code. */
export function adminGet(server: string, admin: AdminCredentials, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, server),
      {
        method: 'GET',
        ca: admin.caPem,
        cert: admin.certPem,
        key: admin.keyPem,
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}

interface KubeconfigSpec {
  server: string;
  admin: AdminCredentials;
  impersonate?: Omit<Impersonation, 'path'>;
}

/** JSON is valid YAML, and kubectl / client-node read it as a kubeconfig. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const b64 = (pem: string): string => Buffer.from(pem).toString('base64');
  const user: Record<string, unknown> = {
    'client-certificate-data': b64(spec.admin.certPem),
    'client-key-data': b64(spec.admin.keyPem),
  };
  if (spec.impersonate) {
    user.as = spec.impersonate.user;
    if (spec.impersonate.groups?.length) user['as-groups'] = spec.impersonate.groups;
  }
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'tokenhub-local', cluster: { server: spec.server, 'certificate-authority-data': b64(spec.admin.caPem) } }],
    users: [{ name: 'tokenhub-local-user', user }],
    contexts: [{ name: 'tokenhub-local', context: { cluster: 'tokenhub-local', user: 'tokenhub-local-user', namespace: 'default' } }],
    'current-context': 'tokenhub-local',
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

interface EtcdHeaderResponse {
  header?: { revision?: string };
}

async function etcdPost(endpoint: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${path} failed: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as unknown;
}

class LocalControlPlane implements ControlPlane {
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly etcdEndpoint: string;
  private stopped = false;

  constructor(
    private readonly bins: ControlPlaneBinaries,
    readonly dir: string,
    readonly admin: AdminCredentials,
    private readonly procs: { etcd: ServerProcess; api: ServerProcess },
    private readonly cfg: { ports: Endpoints; timeoutMs: number; removeDir: boolean },
  ) {
    this.kubeconfigPath = join(dir, 'kubeconfig');
    this.server = `https://127.0.0.1:${cfg.ports.apiPort}`;
    this.etcdEndpoint = `http://127.0.0.1:${cfg.ports.etcdClientPort}`;
  }

  get binDir(): string {
    return this.bins.binDir;
  }

  async waitForEtcd(): Promise<void> {
    await waitUntil({
      probe: async () => (await fetch(`${this.etcdEndpoint}/health`)).ok,
      abort: () => this.procs.etcd.exited && `exited unexpectedly (${this.procs.etcd.exited})`,
      timeoutMs: this.cfg.timeoutMs,
    }).catch((err: Error) => {
      throw new Error(this.procs.etcd.describeFailure(`did not become healthy: ${err.message}`));
    });
  }

  async waitForApiServer(): Promise<void> {
    const api = this.procs.api;
    await waitUntil({
      probe: async () => (await adminGet(this.server, this.admin, '/readyz')) === 200,
      abort: () => api.exited && `exited unexpectedly (${api.exited})`,
      timeoutMs: this.cfg.timeoutMs,
      intervalMs: 250,
    }).catch((err: Error) => {
      throw new Error(api.describeFailure(`did not become ready: ${err.message}`));
    });
  }

  kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
    // A discovery cache of this cluster's own: kubectl's default (~/.kube/cache) is keyed by
    // host:port, and an earlier API server on the same port (without our CRDs) left answers there
    // that `kubectl explain` trusts ("couldn't find resource").
    const cacheDir = join(this.dir, 'kubectl-cache');
    return run(this.bins.kubectl, ['--kubeconfig', opts.kubeconfig ?? this.kubeconfigPath, '--cache-dir', cacheDir, ...args], {
      input: opts.input,
      env: opts.env,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  async restartApiServer(): Promise<void> {
    await this.procs.api.stop();
    this.procs.api.start();
    await this.waitForApiServer();
  }

  async compactEtcd(): Promise<number> {
    // Any key works: the response header carries the store-wide current revision.
    const range = (await etcdPost(this.etcdEndpoint, '/v3/kv/range', {
      key: Buffer.from('/').toString('base64'),
      limit: 1,
    })) as EtcdHeaderResponse;
    const revision = Number(range.header?.revision);
    if (!Number.isInteger(revision) || revision <= 0) {
      throw new Error(`etcd returned no usable revision: ${JSON.stringify(range)}`);
    }
    await etcdPost(this.etcdEndpoint, '/v3/kv/compaction', { revision: String(revision), physical: true });
    return revision;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // API server first: stopping etcd under it would only produce noisy reconnect loops.
    await this.procs.api.stop();
    await this.procs.etcd.stop();
    if (this.cfg.removeDir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function allocatePorts(): Promise<Endpoints> {
  const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  if (new Set([etcdClientPort, etcdPeerPort, apiPort]).size !== 3) return allocatePorts();
  return { etcdClientPort, etcdPeerPort, apiPort };
}

/** Finds or builds the binaries, then starts etcd and kube-apiserver and waits until both are ready. */
export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const bins = await resolveBinaries({ binDir: opts.binDir, echoBuildOutput: opts.echoBuildOutput });
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'tokenhub-cp-')));
  await mkdir(join(dir, 'pki'), { recursive: true });
  const pki = await generatePki(join(dir, 'pki'));
  const admin = await loadAdminCredentials(pki);
  const ports = await allocatePorts();
  const procs = {
    etcd: new ServerProcess({ name: 'etcd', binary: bins.etcd, args: etcdArgs(dir, ports), logFile: join(dir, 'etcd.log') }),
    api: new ServerProcess({
      name: 'kube-apiserver',
      binary: bins.kubeApiserver,
      args: apiServerArgs(dir, pki, ports, opts.apiServerArgs ?? []),
      logFile: join(dir, 'kube-apiserver.log'),
    }),
  };
  const removeDir = opts.dir === undefined && !opts.keepDir;
  const cp = new LocalControlPlane(bins, dir, admin, procs, { ports, timeoutMs: opts.startTimeoutMs ?? 60_000, removeDir });
  try {
    procs.etcd.start();
    await cp.waitForEtcd();
    procs.api.start();
    await cp.waitForApiServer();
    await writeFile(cp.kubeconfigPath, renderKubeconfig({ server: cp.server, admin }), { mode: 0o600 });
  } catch (err) {
    // Keep the directory so the full logs referenced in the message stay readable.
    await procs.api.stop();
    await procs.etcd.stop();
    throw new Error(`control plane failed to start (logs in ${dir}): ${(err as Error).message}`, { cause: err });
  }
  return cp;
}

/** The identity a ServiceAccount's token authenticates as (user plus its implicit groups). */
export function serviceAccountIdentity(namespace: string, name: string): { user: string; groups: string[] } {
  return {
    user: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

let impersonationCounter = 0;

/**
 * Writes a kubeconfig that authenticates with the admin cert but impersonates
 * `user`/`groups`, so a component runs with exactly that identity's RBAC rights
 * (no token minting, no ServiceAccount controller needed). Returns its path.
 */
export async function impersonatingKubeconfig(cp: Pick<ControlPlane, 'server' | 'admin' | 'dir'>, who: Impersonation): Promise<string> {
  const path = who.path ?? join(cp.dir, `kubeconfig-as-${process.pid}-${++impersonationCounter}`);
  const { user, groups } = who;
  await writeFile(path, renderKubeconfig({ server: cp.server, admin: cp.admin, impersonate: { user, groups } }), {
    mode: 0o600,
  });
  return path;
}
