#!/usr/bin/env bash
# Smoke test of the cached tool binaries: starts etcd, kube-apiserver and
# kube-controller-manager on 127.0.0.1 (random free ports, temp dir), creates a
# Deployment and waits for its ReplicaSet and a Pending Pod (there is no
# scheduler and no node, so the Pod stays Pending). Cleans up everything.
# The flags here are the reference set for the TypeScript e2e harness.
#
#   test/e2e/tools/smoke-controlplane.sh      (runs build-tools.sh kubernetes etcd first)
#   GHOSTWIRE_K8S_VERSION=v1.35.4 ...        another supported release (default: versions.env)
#   GW_SMOKE_KEEP_LOGS=/some/dir  copies the component logs there before cleanup
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"
K8S_VERSION="${GHOSTWIRE_K8S_VERSION:-$K8S_VERSION}"
"$HERE/build-tools.sh" kubernetes etcd >/dev/null
# shellcheck disable=SC1090
. "${GHOSTWIRE_TOOLS_CACHE:-$HOME/.cache/ghostwire-tools}/env-$K8S_VERSION.sh"

log() { echo "[smoke $(date +%T)] $*" >&2; }
T0=$SECONDS
TMP="$(mktemp -d /tmp/gw-smoke.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$? i
  # stop in reverse start order (controller-manager, apiserver, etcd), each fully
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  if [ "$rc" != 0 ]; then
    log "FAILED (rc=$rc); last log lines:"
    tail -n 20 "$TMP"/*.log >&2 2>/dev/null || true
  fi
  if [ -n "${GW_SMOKE_KEEP_LOGS:-}" ]; then mkdir -p "$GW_SMOKE_KEEP_LOGS"; cp "$TMP"/*.log "$GW_SMOKE_KEEP_LOGS"/ 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for <seconds> <description> <command...>
now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $((t / 1000)); }
wait_for() {
  local secs="$1" what="$2" start
  start="$(now_ms)"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if (($(now_ms) - start >= secs * 1000)); then log "timed out after ${secs}s waiting for $what"; return 1; fi
    sleep 0.1
  done
  log "$what after $(($(now_ms) - start)) ms"
}

ETCD_CLIENT_PORT="$(free_port)"
ETCD_PEER_PORT="$(free_port)"
APISERVER_PORT="$(free_port)"
TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# ------------------------------------------------------------------- etcd
"$ETCD" \
  --name=gw-e2e \
  --data-dir="$TMP/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="gw-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync \
  --log-level=warn \
  >"$TMP/etcd.log" 2>&1 &
PIDS+=($!)
wait_for 30 "etcd /health" sh -c "curl -fsS http://127.0.0.1:$ETCD_CLIENT_PORT/health | grep -q '\"health\":\"true\"'"

# ------------------------------------------------------------ certificates
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ghostwire-e2e-ca" \
  -keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$TMP/apiserver.key" -out "$TMP/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$TMP/apiserver.ext"
openssl x509 -req -in "$TMP/apiserver.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" -CAcreateserial \
  -days 1 -extfile "$TMP/apiserver.ext" -out "$TMP/apiserver.crt" 2>/dev/null
openssl genrsa -out "$TMP/sa.key" 2048 2>/dev/null
openssl rsa -in "$TMP/sa.key" -pubout -out "$TMP/sa.pub" 2>/dev/null
printf '%s,admin,admin-uid,"system:masters"\n' "$TOKEN" >"$TMP/tokens.csv"

cat >"$TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $TMP/ca.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: e2e
  context: {cluster: e2e, user: admin, namespace: default}
current-context: e2e
EOF

# ---------------------------------------------------------- kube-apiserver
T_API="$(now_ms)"
"$KUBE_APISERVER" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$TMP/apiserver.crt" \
  --tls-private-key-file="$TMP/apiserver.key" \
  --token-auth-file="$TMP/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$TMP/sa.pub" \
  --service-account-signing-key-file="$TMP/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --allow-privileged=true \
  >"$TMP/apiserver.log" 2>&1 &
PIDS+=($!)
wait_for 120 "kube-apiserver /readyz 200" \
  curl -fsS --cacert "$TMP/ca.crt" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$APISERVER_PORT/readyz"
log "kube-apiserver ready $(($(now_ms) - T_API)) ms after start"
SERVED="$(curl -fsS --cacert "$TMP/ca.crt" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$APISERVER_PORT/version" | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p')"
[ "$SERVED" = "$K8S_VERSION" ] || { log "kube-apiserver reports '$SERVED', expected $K8S_VERSION"; exit 1; }

# ------------------------------------------------- kube-controller-manager
"$KUBE_CONTROLLER_MANAGER" \
  --kubeconfig="$TMP/kubeconfig" \
  --service-account-private-key-file="$TMP/sa.key" \
  --root-ca-file="$TMP/ca.crt" \
  --use-service-account-credentials=false \
  --controllers='*' \
  --leader-elect=false \
  --bind-address=127.0.0.1 \
  --secure-port=0 \
  >"$TMP/controller-manager.log" 2>&1 &
PIDS+=($!)

k() { "$KUBECTL" --kubeconfig="$TMP/kubeconfig" "$@"; }
wait_for 60 "ServiceAccount default/default" k get serviceaccount default
wait_for 30 "ConfigMap default/kube-root-ca.crt" k get configmap kube-root-ca.crt
k create deployment x --image=nginx >/dev/null
wait_for 60 "ReplicaSet for deployment x" sh -c "'$KUBECTL' --kubeconfig='$TMP/kubeconfig' get rs -l app=x -o name | grep -q ."
wait_for 60 "Pending Pod for deployment x" sh -c "'$KUBECTL' --kubeconfig='$TMP/kubeconfig' get pods -l app=x -o jsonpath='{.items[*].status.phase}' | grep -q Pending"
k get deploy,rs,pods -o wide >&2
log "OK: control plane $K8S_VERSION smoke test passed in $((SECONDS - T0))s"
