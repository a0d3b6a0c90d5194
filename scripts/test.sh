#!/usr/bin/env bash
# The whole test suite, provisioning what it needs on a fresh machine:
#   - redis-server (Debian package) for the fleet-limit tests; the tests start their own on free ports
#   - etcd + kube-apiserver + kubectl, built once from their Go modules into a cache
#     (or taken from $KUBEBUILDER_ASSETS) by hack/controlplane/build.sh
#   - helm, built the same way
#   - python3 with venv (Debian's python3-venv); the Python client tests put the pinned `openai`
#     package into a cached virtualenv themselves (scripts/python-venv.sh)
# Then builds the project and runs every test with vitest. Extra arguments go to vitest (and
# run only what they name). With no arguments the end-to-end tier follows (test/e2e, root: it
# builds kubelet & co. and the images, cached, and starts a single-node cluster); `--e2e` runs
# only that tier; TOKENHUB_SKIP_E2E=1 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# The tests run Debian's binaries by path (test/support/redis-server.ts), so check those paths.
[ -x /usr/bin/redis-server ] && [ -x /usr/bin/redis-cli ] || need_apt+=(redis-server)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# The Python client tests make a virtualenv (scripts/python-venv.sh): python3 with venv and ensurepip.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need_apt[*]} from Debian" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_apt[*]}: install them (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

# Each prints its directory on the last line; a no-op when the binaries are already built.
if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
  KUBEBUILDER_ASSETS="$(hack/controlplane/build.sh | tail -n 1)"
  export KUBEBUILDER_ASSETS
fi
if [ -z "${HELM_BIN_DIR:-}" ]; then
  HELM_BIN_DIR="$(hack/controlplane/build-helm.sh | tail -n 1)"
  export HELM_BIN_DIR
fi
export HELM="${HELM:-$HELM_BIN_DIR/helm}"

[ -d node_modules ] || npm ci
npm run build >/dev/null

# The end-to-end tier (test/e2e): real pods on the single-node cluster of hack/node/up.sh, which
# needs root and is one per machine, so concurrent runs queue on a lock.
run_e2e() {
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the end-to-end tier needs root (containerd, kubelet, iptables); TOKENHUB_SKIP_E2E=1 leaves it out" >&2
    return 1
  fi
  flock /run/tokenhub-node.lock npx vitest run --config vitest.e2e.config.ts "$@"
}
if [ "${1:-}" = "--e2e" ]; then shift; run_e2e "$@"; exit; fi
if (($#)); then exec npx vitest run "$@"; fi
# The whole suite: the fast tiers, then the end-to-end tier.
npx vitest run
if [ -n "${TOKENHUB_SKIP_E2E:-}" ]; then
  echo "test.sh: TOKENHUB_SKIP_E2E is set: the end-to-end tier (npm run test:e2e) did not run" >&2
  exit 0
fi
run_e2e
