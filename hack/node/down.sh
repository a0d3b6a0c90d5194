#!/usr/bin/env bash
# Stops the single-node cluster of hack/node/up.sh and removes what it left on the host:
# pods (through the kubelet, so CNI tears their network down), containerd shims, network
# namespaces, mounts, kube-proxy's iptables rules, the bridge, and the state directory.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=hack/node/env.sh
source hack/node/env.sh
log() { echo "[node/down] $*" >&2; }

[[ -d "$STATE" ]] || { log "not running"; exit 0; }
pid_of() { cat "$STATE/pids/$1" 2>/dev/null; }
alive() { local p; p="$(pid_of "$1")" && kill -0 "$p" 2>/dev/null; }
stop() { # name: SIGTERM, then SIGKILL after 10 s
  local p; p="$(pid_of "$1")" || return 0
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
}
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
tasks_left() { "${CTR[@]}" tasks ls 2>/dev/null | grep -c RUNNING; }

# 1. With no controllers left to replace them, force-delete every pod: the kubelet stops each
#    sandbox through the CRI, which runs CNI DEL (veth, IP) and unmounts its volumes.
stop node-dns; stop kube-scheduler; stop kube-controller-manager
KUBECTL="$(cat "$STATE/kubectl-dir" 2>/dev/null)/kubectl"
if alive kube-apiserver && alive kubelet && [[ -x "$KUBECTL" ]]; then
  "$KUBECTL" --kubeconfig "$STATE/kubeconfig" delete pods --all -A --force --grace-period=0 --wait=false \
    >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do [[ "$(tasks_left)" = 0 ]] && break; sleep 0.5; done
fi
stop kubelet

# 2. Anything still running (kubelet gone early): kill it through containerd.
if alive containerd; then
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 1
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
fi
stop containerd
# containerd's shims outlive it; ours are the ones started with our socket.
for p in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" || true); do kill -9 "$p" 2>/dev/null; done

# 3. kube-proxy, then its rules.
stop kube-proxy
proxy="$(cat "$STATE/node-bin-dir" 2>/dev/null)/kube-proxy"
[[ -x "$proxy" ]] && "$proxy" --cleanup >/dev/null 2>&1
# The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT) and whatever
# kube-proxy left: unhook them from the built-in chains, then flush and delete them.
remove_kube_chains() { # iptables | ip6tables
  local ipt="$1" table rule chains
  command -v "$ipt" >/dev/null || return 0
  for table in filter nat mangle; do
    "$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -v '^-A KUBE-' | sed 's/^-A /-D /' \
      | while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
    chains="$("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p')"
    for c in $chains; do "$ipt" -t "$table" -F "$c" 2>/dev/null; done
    for c in $chains; do "$ipt" -t "$table" -X "$c" 2>/dev/null; done
  done
}
remove_kube_chains iptables
remove_kube_chains ip6tables
stop kube-apiserver; stop etcd

# 4. Network namespaces containerd made for our pods, mounts under the state dir, the bridge.
# Ours: the cni-* namespaces that were not there before up.sh started containerd.
for ns in /run/netns/cni-*; do
  [[ -e "$ns" ]] || continue
  grep -qx "$ns" "$STATE/netns.before" 2>/dev/null && continue
  umount "$ns" 2>/dev/null; rm -f "$ns"
done
findmnt -rn -o TARGET | grep "^$STATE/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
ip link del "$BRIDGE" 2>/dev/null
[[ -f "$STATE/ip_forward.orig" ]] && sysctl -qw "net.ipv4.ip_forward=$(cat "$STATE/ip_forward.orig")"
rm -rf "$STATE"
# Paths containerd 1.6 and libcni use whatever the config says: our CNI result cache, and the
# shim socket and runc directories when nothing else uses them.
rm -f /var/lib/cni/results/tokenhub-*
rmdir /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null
log "stopped and cleaned up"
