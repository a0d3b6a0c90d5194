#!/usr/bin/env bash
# End to end on a real cluster (kind, needs Docker): build the image, install the chart, apply
# the examples and the mock upstream, wait for the operator to build the gateway fleet, then
# call the API through a port-forward with the official OpenAI SDK (hack/e2e/smoke.mjs).
#
#   hack/e2e-kind.sh            # creates kind cluster "tokenhub-e2e" and deletes it at the end
#   KEEP_CLUSTER=1 hack/e2e-kind.sh
#
# Needs: docker, kind, kubectl, helm (HELM overrides), node with `npm ci` done (for openai).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-tokenhub-e2e}"
IMAGE_REPO=tokenhub
IMAGE_TAG=e2e
IMAGE="$IMAGE_REPO:$IMAGE_TAG"
NS=tokenhub
HELM="${HELM:-helm}"
# The operator names the gateway Deployment and Service after the fleet ConfigMap.
GATEWAY=tokenhub-gateway
LOCAL_PORT="${LOCAL_PORT:-18080}"

log() { echo "[e2e] $*" >&2; }
pf_pid=""
cleanup() {
  status=$?
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    log "failed; cluster state for the log:"
    kubectl -n "$NS" get all,modelroutes,apikeys,quotapolicies -o wide || true
    kubectl -n "$NS" logs deployment/tokenhub-operator --tail=100 || true
    kubectl -n "$NS" logs "deployment/$GATEWAY" --tail=100 || true
  fi
  if [ -z "${KEEP_CLUSTER:-}" ]; then kind delete cluster --name "$CLUSTER" || true; fi
  exit "$status"
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "installing the chart (in-chart Redis on)"
"$HELM" upgrade --install tokenhub charts/tokenhub --namespace "$NS" --create-namespace \
  --set image.repository="$IMAGE_REPO" --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
  --set redis.enabled=true --wait --timeout 5m

log "mock upstream and examples"
sed "s|image: tokenhub:.*|image: $IMAGE|; s|imagePullPolicy: IfNotPresent|imagePullPolicy: Never|" \
  hack/e2e/mock-upstream.yaml | kubectl apply -f -
kubectl apply -R -f examples/models -f examples/policies -f examples/keys
kubectl -n "$NS" rollout status deployment/tokenhub-mock-upstream --timeout=2m

log "waiting for the operator to create deployment/$GATEWAY"
for _ in $(seq 1 60); do kubectl -n "$NS" get "deployment/$GATEWAY" >/dev/null 2>&1 && break; sleep 2; done
kubectl -n "$NS" rollout status "deployment/$GATEWAY" --timeout=3m
kubectl -n "$NS" wait --for=condition=Ready modelroutes --all --timeout=2m
kubectl -n "$NS" wait --for=condition=Ready apikey/demo apikey/team-search --timeout=2m

# The operator generated team-search's key into a Secret; the demo key is public.
for _ in $(seq 1 30); do kubectl -n "$NS" get secret team-search-key >/dev/null 2>&1 && break; sleep 2; done
generated="$(kubectl -n "$NS" get secret team-search-key -o jsonpath='{.data.api-key}' | base64 -d)"

log "port-forward service/$GATEWAY to localhost:$LOCAL_PORT"
kubectl -n "$NS" port-forward "service/$GATEWAY" "$LOCAL_PORT:80" >/dev/null &
pf_pid=$!
for _ in $(seq 1 30); do curl -fsS "http://127.0.0.1:$LOCAL_PORT/readyz" >/dev/null 2>&1 && break; sleep 1; done

node hack/e2e/smoke.mjs "http://127.0.0.1:$LOCAL_PORT/api/v1" th-demo-key-for-local-use-only "$generated"
log "passed"
