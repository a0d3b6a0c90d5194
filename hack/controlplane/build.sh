#!/usr/bin/env bash
# Builds a Kubernetes control plane (etcd, kube-apiserver, kubectl) from source
# with the Go toolchain, the way envtest consumes them, because this project must
# not depend on Docker or on downloads outside the Go module proxy.
#
# Output: the directory holding the three binaries, on stdout's last line.
#   - KUBEBUILDER_ASSETS set  -> that directory is used as-is, nothing is built.
#   - already in the cache    -> printed immediately (idempotent, fast).
#   - otherwise               -> cold build (many minutes, several GB of RAM).
#
# Cache: ${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}/controlplane/<k8s-version>/
set -euo pipefail

K8S_VERSION="v1.36.3"
ETCD_VERSION="v3.6.16"
BINARIES=(etcd kube-apiserver kubectl)

log() { echo "[controlplane/build] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in "${BINARIES[@]}"; do
    [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable '$b'"
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}"
CP_ROOT="$CACHE_ROOT/controlplane"
DEST="$CP_ROOT/$K8S_VERSION"
MARKER="$DEST/.complete"

is_complete() {
  [[ -f "$MARKER" ]] || return 1
  for b in "${BINARIES[@]}"; do [[ -x "$DEST/$b" ]] || return 1; done
}

if is_complete; then echo "$DEST"; exit 0; fi

command -v go >/dev/null 2>&1 || die "Go is not installed. Install Go >= 1.26 (https://go.dev/dl/) or set KUBEBUILDER_ASSETS to a directory containing etcd, kube-apiserver and kubectl."

mkdir -p "$CP_ROOT"
# Tests and `npm run cluster:up` may both trigger a build; serialise them so two
# cold builds never run side by side (each needs several GB of RAM).
exec 9>"$CP_ROOT/.build.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for build lock $CP_ROOT/.build.lock"
  flock 9
fi
if is_complete; then echo "$DEST"; exit 0; fi

STAGE="$(mktemp -d "$CP_ROOT/.stage-$K8S_VERSION.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin"

# 2 cores / limited RAM: keep the compiler's parallelism bounded so the linker
# of kube-apiserver does not run next to several compile jobs and OOM.
JOBS="${TOKENHUB_BUILD_JOBS:-2}"
export GOMAXPROCS="${GOMAXPROCS:-$JOBS}"
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED=0
export GOWORK=off

# --- etcd -------------------------------------------------------------------
build_etcd() {
  local mod="$STAGE/etcd-mod"
  mkdir -p "$mod"
  cp "$SCRIPT_DIR/etcd/main.go" "$mod/main.go"
  (
    cd "$mod"
    go mod init tokenhub.local/etcd-wrapper >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    go mod tidy >&2
    go build -p "$JOBS" -ldflags "-s -w" -o "$STAGE/bin/etcd" . >&2
  )
}

# --- kube-apiserver + kubectl -----------------------------------------------
# k8s.io/kubernetes replaces its staging modules with ./staging/src/... paths,
# which only work inside its own repo. A wrapper module pins each staging module
# to its published v0.Y.Z counterpart instead.
write_k8s_wrapper() {
  local mod="$1" kkmod staging_version
  kkmod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$kkmod" ]] || die "could not download go.mod of k8s.io/kubernetes@$K8S_VERSION"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module tokenhub.local/k8s-wrapper"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$kkmod")"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*$#\t\1 => \1 '"$staging_version"'#p' "$kkmod"
    echo ")"
  } >"$mod/go.mod"
  cat >"$mod/tools.go" <<'EOF'
//go:build tools

// Package tools only exists so `go mod tidy` records the build's dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
}

k8s_ldflags() {
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local build_date
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  echo "$flags"
}

build_k8s() {
  local mod="$STAGE/k8s-mod" ldflags
  mkdir -p "$mod"
  (cd "$mod" && go mod init tokenhub.local/k8s-wrapper >/dev/null 2>&1)
  write_k8s_wrapper "$mod"
  ldflags="$(k8s_ldflags)"
  (
    cd "$mod"
    go mod tidy >&2
    for cmd in kube-apiserver kubectl; do
      log "building $cmd $K8S_VERSION"
      go build -p "$JOBS" -ldflags "$ldflags" -o "$STAGE/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2
    done
  )
}

start=$(date +%s)
log "cold build of etcd $ETCD_VERSION + Kubernetes $K8S_VERSION into $DEST (this takes a while)"
log "building etcd $ETCD_VERSION"
build_etcd
build_k8s
echo "etcd=$ETCD_VERSION kubernetes=$K8S_VERSION built=$(date -u +%FT%TZ) seconds=$(( $(date +%s) - start ))" \
  >"$STAGE/bin/.complete"

# Publish atomically: the directory appears complete or not at all.
rm -rf "$DEST"
mv -T "$STAGE/bin" "$DEST"
log "done in $(( $(date +%s) - start ))s"
echo "$DEST"
