/**
 * Locates etcd, kube-apiserver and kubectl: an explicit directory,
 * KUBEBUILDER_ASSETS (the envtest convention), or the Go-built cache that
 * hack/controlplane/build.sh maintains (building on first use).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './control-plane-process.js';

export interface ControlPlaneBinaries {
  binDir: string;
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

const BUILD_SCRIPT = 'hack/controlplane/build.sh';

const HOW_TO_GET_BINARIES =
  'To get them, either:\n' +
  '  1. install Go >= 1.26 (https://go.dev/dl/) and re-run; the binaries are then built once from source by ' +
  `${BUILD_SCRIPT} into \${TOKENHUB_CACHE_DIR:-~/.cache/tokenhub}/controlplane/<k8s-version>/ ` +
  '(about 5 minutes on 2 cores and ~2 GB of RAM the first time; longer on slow networks), or\n' +
  '  2. set KUBEBUILDER_ASSETS to a directory containing etcd, kube-apiserver and kubectl ' +
  '(for example the output of `setup-envtest use -p path`).';

/**
 * Walks up from this module (works from both src/ and dist/src/) to find a
 * repo-relative path; undefined when running outside a checkout.
 */
export function findRepoPath(relative: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function fromDir(binDir: string, origin: string): ControlPlaneBinaries {
  const bins = {
    binDir: resolve(binDir),
    etcd: join(binDir, 'etcd'),
    kubeApiserver: join(binDir, 'kube-apiserver'),
    kubectl: join(binDir, 'kubectl'),
  };
  for (const path of [bins.etcd, bins.kubeApiserver, bins.kubectl]) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(`${origin} (${binDir}) has no executable ${path}.\n${HOW_TO_GET_BINARIES}`);
    }
  }
  return bins;
}

export interface ResolveBinariesOptions {
  /** Use exactly this directory; nothing is built. */
  binDir?: string;
  /** Copy build progress to our stderr (a cold build is silent for many minutes otherwise). */
  echoBuildOutput?: boolean;
}

export async function resolveBinaries(opts: ResolveBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  if (opts.binDir) return fromDir(opts.binDir, 'binDir');
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) return fromDir(assets, 'KUBEBUILDER_ASSETS');

  const script = findRepoPath(BUILD_SCRIPT);
  if (!script) {
    throw new Error(`Kubernetes control-plane binaries not found and ${BUILD_SCRIPT} is not available.\n${HOW_TO_GET_BINARIES}`);
  }
  // build.sh is idempotent: with a warm cache it prints the directory and exits at once.
  const res = await run('bash', [script], { echoStderr: opts.echoBuildOutput ?? true });
  if (res.code !== 0) {
    const goMissing = res.stderr.includes('Go is not installed');
    const detail = res.stderr.trimEnd().split('\n').slice(-40).join('\n');
    throw new Error(
      goMissing
        ? `Kubernetes control-plane binaries (etcd, kube-apiserver, kubectl) are not cached and Go is not installed to build them.\n${HOW_TO_GET_BINARIES}`
        : `${BUILD_SCRIPT} failed (exit ${res.code}):\n${detail}\n${HOW_TO_GET_BINARIES}`,
    );
  }
  const lastLine = res.stdout.trimEnd().split('\n').pop() ?? '';
  return fromDir(lastLine, BUILD_SCRIPT);
}
