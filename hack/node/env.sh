# Shared by hack/node/up.sh and down.sh: where the single-node cluster keeps its state and
# which addresses it uses. Sourced, not run.
STATE="${TOKENHUB_NODE_DIR:-/var/lib/tokenhub-node}"
BRIDGE=thbr0
NODE_NAME=tokenhub-node
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
API_SERVICE_IP=10.96.0.1
ETCD_PORT=12379
ETCD_PEER_PORT=12380
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
PAUSE_IMAGE=localhost/tokenhub-pause:1
# Stopped in this order by down.sh (reverse of start).
DAEMONS=(node-dns kube-proxy kubelet containerd kube-scheduler kube-controller-manager kube-apiserver etcd)

all_running() {
  local d pid
  for d in "${DAEMONS[@]}"; do
    pid="$(cat "$STATE/pids/$d" 2>/dev/null)" || return 1
    kill -0 "$pid" 2>/dev/null || return 1
  done
}
