#!/usr/bin/env bash
# Builds the node side of a single-node cluster from source: kubelet, kube-scheduler,
# kube-controller-manager and kube-proxy, with the same wrapper module and version as
# hack/controlplane/build.sh (so the Go build cache of kube-apiserver makes this ~2 min).
#
# Output: the directory holding the four binaries, on stdout's last line.
# Cache: ${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}/node/<k8s-version>/
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="$(sed -n 's/^K8S_VERSION="\(.*\)"$/\1/p' "$SCRIPT_DIR/../controlplane/build.sh")"
BINARIES=(kubelet kube-scheduler kube-controller-manager kube-proxy)

log() { echo "[node/build] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CACHE_ROOT="${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}"
DEST="$CACHE_ROOT/node/$K8S_VERSION"
MARKER="$DEST/.complete"
is_complete() {
  [[ -f "$MARKER" ]] || return 1
  for b in "${BINARIES[@]}"; do [[ -x "$DEST/$b" ]] || return 1; done
}
if is_complete; then echo "$DEST"; exit 0; fi
command -v go >/dev/null 2>&1 || die "Go >= 1.26 is required to build kubelet and friends"

mkdir -p "$CACHE_ROOT/controlplane" "$CACHE_ROOT/node"
# The same lock as the control-plane build: one cold Kubernetes build at a time (RAM).
exec 9>"$CACHE_ROOT/controlplane/.build.lock"
log "waiting for build lock"
flock 9
if is_complete; then echo "$DEST"; exit 0; fi

STAGE="$(mktemp -d "$CACHE_ROOT/node/.stage-$K8S_VERSION.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/mod"

JOBS="${TOKENHUB_BUILD_JOBS:-2}"
export GOMAXPROCS="${GOMAXPROCS:-$JOBS}" GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0 GOWORK=off

# Same go.mod as hack/controlplane/build.sh writes (staging modules pinned to v0.Y.Z).
mod="$STAGE/mod"
kkmod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[[ -f "$kkmod" ]] || die "could not download go.mod of k8s.io/kubernetes@$K8S_VERSION"
staging_version="v0.${K8S_VERSION#v1.}"
{
  echo "module tokenhub.local/k8s-wrapper"; echo
  echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kkmod")"; echo
  echo "require k8s.io/kubernetes $K8S_VERSION"; echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*$#\t\1 => \1 '"$staging_version"'#p' "$kkmod"
  echo ")"
} >"$mod/go.mod"
{
  echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
  for b in "${BINARIES[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
  echo ')'
} >"$mod/tools.go"

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

start=$(date +%s)
(
  cd "$mod"
  go mod tidy >&2
  for b in "${BINARIES[@]}"; do
    log "building $b $K8S_VERSION"
    go build -p "$JOBS" -ldflags "$ldflags" -o "$STAGE/bin/$b" "k8s.io/kubernetes/cmd/$b" >&2
  done
)
echo "kubernetes=$K8S_VERSION built=$(date -u +%FT%TZ) seconds=$(( $(date +%s) - start ))" >"$STAGE/bin/.complete"
rm -rf "$DEST"
mv -T "$STAGE/bin" "$DEST"
log "done in $(( $(date +%s) - start ))s"
echo "$DEST"
