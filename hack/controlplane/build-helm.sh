#!/usr/bin/env bash
# Builds helm from source with the Go toolchain (no binary downloads outside the
# Go module proxy), into the same cache root as build.sh:
#   ${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}/helm/<version>/helm
# Idempotent; prints the directory holding `helm` on stdout's last line.
# HELM_BIN_DIR, if set, is used as-is (mirrors KUBEBUILDER_ASSETS for build.sh).
set -euo pipefail

HELM_VERSION="v3.21.4"

log() { echo "[helm/build] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${HELM_BIN_DIR:-}" ]]; then
  [[ -x "$HELM_BIN_DIR/helm" ]] || die "HELM_BIN_DIR=$HELM_BIN_DIR has no executable 'helm'"
  echo "$HELM_BIN_DIR"
  exit 0
fi

CACHE_ROOT="${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}"
HELM_ROOT="$CACHE_ROOT/helm"
DEST="$HELM_ROOT/$HELM_VERSION"

if [[ -x "$DEST/helm" ]]; then echo "$DEST"; exit 0; fi

command -v go >/dev/null 2>&1 || die "Go is not installed. Install Go >= 1.26 (https://go.dev/dl/) or set HELM_BIN_DIR to a directory containing helm."

mkdir -p "$HELM_ROOT"
exec 9>"$HELM_ROOT/.build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [[ -x "$DEST/helm" ]]; then echo "$DEST"; exit 0; fi

STAGE="$(mktemp -d "$HELM_ROOT/.stage-$HELM_VERSION.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

JOBS="${TOKENHUB_BUILD_JOBS:-2}"
export GOMAXPROCS="${GOMAXPROCS:-$JOBS}"
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED=0
export GOWORK=off

# helm's own Makefile stamps its version and the Kubernetes version used for
# default capabilities (derived from its client-go dependency); do the same.
helm_mod="$(cd "$STAGE" && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
client_go="$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$helm_mod" | head -n1)"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [[ -n "$client_go" ]]; then
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$client_go"
  done
fi

start=$(date +%s)
log "building helm $HELM_VERSION into $DEST"
mkdir -p "$STAGE/bin"
GOBIN="$STAGE/bin" go install -p "$JOBS" -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2

# Publish atomically: the directory appears complete or not at all.
rm -rf "$DEST"
mv -T "$STAGE/bin" "$DEST"
log "done in $(( $(date +%s) - start ))s"
echo "$DEST"
