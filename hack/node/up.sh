#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd (private socket and state), kubelet,
# kube-proxy (iptables mode) and a small cluster DNS, on a bridge network it creates.
# Modelled on kubernetes/hack/local-up-cluster.sh. Needs root.
#
#   hack/node/up.sh      # start (idempotent); prints `export KUBECONFIG=...` on stdout
#   hack/node/down.sh    # stop everything and remove pods, netns, mounts, iptables rules, bridge
#
# Addresses: bridge thbr0 10.244.0.1/24 (node IP, API server, DNS, pod gateway), pods in
# 10.244.0.0/24, Services in 10.96.0.0/24. Only that bridge and 127.0.0.1 are used.
# Images: hack/node/image.sh builds them; they are imported into the node's containerd here.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
# shellcheck source=hack/node/env.sh
source hack/node/env.sh

log() { echo "[node/up] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$(id -u)" = 0 ]] || die "needs root (containerd, kubelet, iptables, network namespaces)"
if [[ -f "$STATE/ready" ]] && all_running; then
  log "already running"
  echo "export KUBECONFIG=$STATE/kubeconfig"
  exit 0
fi
[[ -d "$STATE" ]] && bash hack/node/down.sh
# command → Debian package, installed when missing (a clean CI machine has none of them).
need=()
for pair in containerd:containerd runc:runc iptables:iptables conntrack:conntrack buildah:buildah \
  debootstrap:debootstrap curl:curl openssl:openssl ip:iproute2 sysctl:procps; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
if ((${#need[@]})); then
  log "installing Debian packages: ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

started=$(date +%s)
CP_BIN="$(hack/controlplane/build.sh | tail -n 1)"
NODE_BIN="$(hack/node/build.sh | tail -n 1)"
mapfile -t IMAGES < <(hack/node/image.sh)
[[ -f dist/src/devtools/node-dns.js ]] || npm run build >/dev/null

mkdir -p "$STATE"/{pki,logs,pids,cni/net.d,cni/ipam,kubelet,containerd}
PKI="$STATE/pki"

# --- certificates --------------------------------------------------------------------------
ssl() { openssl "$@" 2>/dev/null; }
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
  -days 30 -subj /CN=tokenhub-node-ca -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
leaf() { # name subject extensions
  ssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2"
  printf '%b' "$3" >"$PKI/$1.ext"
  ssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -out "$PKI/$1.crt" -days 30 -extfile "$PKI/$1.ext"
}
leaf apiserver /CN=kube-apiserver "subjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n"
leaf admin /O=system:masters/CN=admin "extendedKeyUsage=clientAuth\n"
ssl genrsa -out "$PKI/sa.key" 2048
ssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
b64() { base64 -w0 <"$1"; }
cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: tokenhub-node, cluster: {server: "https://$NODE_IP:6443", certificate-authority-data: $(b64 "$PKI/ca.crt")}}]
users: [{name: admin, user: {client-certificate-data: $(b64 "$PKI/admin.crt"), client-key-data: $(b64 "$PKI/admin.key")}}]
contexts: [{name: tokenhub-node, context: {cluster: tokenhub-node, user: admin}}]
current-context: tokenhub-node
EOF
chmod 600 "$STATE/kubeconfig"
KC="$STATE/kubeconfig"

# --- network: the bridge (node IP), forwarding and bridge netfilter for kube-proxy -----------
cat /proc/sys/net/ipv4/ip_forward >"$STATE/ip_forward.orig"
ip link add "$BRIDGE" type bridge 2>/dev/null || true
ip addr replace "$NODE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
cat >"$STATE/cni/net.d/10-tokenhub.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "tokenhub", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
            "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
# Pods resolve through the cluster DNS only; the host's resolvers may sit on its own loopback.
: >"$STATE/resolv.conf"

start() { # name binary args...: a daemon in its own session, output in logs/<name>.log
  local name="$1"; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}
wait_for() { # what, command...: poll until it succeeds (90 s)
  local what="$1"; shift
  for _ in $(seq 1 180); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "$what did not come up; see $STATE/logs/"
}

# --- control plane ----------------------------------------------------------------------------
start etcd "$CP_BIN/etcd" --name=node --data-dir="$STATE/etcd" --unsafe-no-fsync=true --log-level=warn \
  --listen-client-urls=http://127.0.0.1:$ETCD_PORT --advertise-client-urls=http://127.0.0.1:$ETCD_PORT \
  --listen-peer-urls=http://127.0.0.1:$ETCD_PEER_PORT --initial-advertise-peer-urls=http://127.0.0.1:$ETCD_PEER_PORT \
  --initial-cluster=node=http://127.0.0.1:$ETCD_PEER_PORT
wait_for etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
start kube-apiserver "$CP_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:$ETCD_PORT \
  --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
  --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key"
wait_for kube-apiserver curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$NODE_IP:6443/readyz"
start kube-controller-manager "$NODE_BIN/kube-controller-manager" --kubeconfig="$KC" \
  --authentication-kubeconfig="$KC" --authorization-kubeconfig="$KC" --bind-address=127.0.0.1 \
  --leader-elect=false --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=false --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --controllers='*,-nodeipam' --service-cluster-ip-range="$SERVICE_CIDR"
start kube-scheduler "$NODE_BIN/kube-scheduler" --kubeconfig="$KC" --authentication-kubeconfig="$KC" \
  --authorization-kubeconfig="$KC" --bind-address=127.0.0.1 --leader-elect=false

# --- containerd, the images, kubelet ------------------------------------------------------
cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses to lower oom_score_adj; without this every sandbox fails in runc.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
ls -d /run/netns/cni-* >"$STATE/netns.before" 2>/dev/null || true
echo "$NODE_BIN" >"$STATE/node-bin-dir"
start containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd ctr --address "$CONTAINERD_SOCK" version
for line in "${IMAGES[@]}"; do
  ref="${line#*=}"; ref="${ref%% *}"; archive="${line##* }"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$archive" >/dev/null
  log "image $ref"
done

cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: $STATE/resolv.conf
podLogsDir: $STATE/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
serializeImagePulls: false
registerNode: true
EOF
start kubelet "$NODE_BIN/kubelet" --config="$STATE/kubelet/config.yaml" --kubeconfig="$KC" \
  --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
start kube-proxy "$NODE_BIN/kube-proxy" --kubeconfig="$KC" --proxy-mode=iptables --cluster-cidr="$POD_CIDR" \
  --hostname-override="$NODE_NAME" --conntrack-max-per-core=0 \
  --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
start node-dns node "$REPO/dist/src/devtools/node-dns.js" --listen "$NODE_IP" --kubeconfig "$KC"

K() { "$CP_BIN/kubectl" --kubeconfig "$KC" "$@"; }
wait_for "node $NODE_NAME Ready" K wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
wait_for "default ServiceAccount" K -n default get serviceaccount default
for line in "${IMAGES[@]}"; do echo "${line%% *}"; done | sed 's/^/image_/' >"$STATE/images.env"
echo "$CP_BIN" >"$STATE/kubectl-dir"
date -u +%FT%TZ >"$STATE/ready"
log "ready in $(( $(date +%s) - started ))s: node $NODE_NAME, API https://$NODE_IP:6443, logs in $STATE/logs"
echo "export KUBECONFIG=$STATE/kubeconfig"
