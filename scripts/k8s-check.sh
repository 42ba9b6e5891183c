#!/usr/bin/env bash
# k8s-check: proves deploy/k8s valid, for a human (`make k8s-check`).
#
#  1. The Go checks: every overlay rendered and decoded strictly into the
#     Kubernetes types, plus the semantic checks and the dashboard check
#     (go test ./deploy/k8s -run 'TestOverlays|TestBrokenCopies|TestDashboard').
#  2. A real kube-apiserver v1.32.3 (built once by scripts/kube-apiserver.sh)
#     with etcd on loopback: every overlay, rendered by that kubectl's
#     kustomize, goes through `kubectl apply --dry-run=server --validate=strict`.
#
# Needs go, etcd (apt-get install etcd-server), openssl and curl. The same
# dry run runs in `make test` as TestDryRunServer.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go etcd openssl curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    hint=$tool
    [ "$tool" = etcd ] && hint=etcd-server
    echo "k8s-check: $tool not found: install it (apt-get install $hint, or make test-deps)" >&2
    exit 1
  fi
done

work=$(mktemp -d)
pids=()
cleanup() {
  # Stop what this script started, by PID, the API server first.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A loopback port nothing listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# wait_for NAME PID LOG CMD...: polls CMD for up to 3 minutes.
wait_for() {
  local name=$1 pid=$2 log=$3
  shift 3
  for _ in $(seq 900); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "k8s-check: $name exited; log:" >&2
      tail -n 40 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "k8s-check: $name not ready; log:" >&2
  tail -n 40 "$log" >&2
  exit 1
}

echo "== static checks (go test ./deploy/k8s)"
if ! go test -count=1 -run 'TestOverlays|TestBrokenCopiesFailChecks|TestDashboard' -v ./deploy/k8s >"$work/static.log" 2>&1; then
  cat "$work/static.log"
  echo "k8s-check: static checks FAILED" >&2
  exit 1
fi
grep -E '^(--- |    --- |ok)' "$work/static.log"

echo "== kube-apiserver and kubectl"
bin=$(scripts/kube-apiserver.sh)
kubectl=$bin/kubectl
"$bin/kube-apiserver" --version

client=$(free_port)
peer=$(free_port)
etcd --name=k8s-check --data-dir="$work/etcd" \
  --listen-client-urls="http://127.0.0.1:$client" --advertise-client-urls="http://127.0.0.1:$client" \
  --listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
  --initial-cluster="k8s-check=http://127.0.0.1:$peer" --log-level=warn >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_for etcd "${pids[-1]}" "$work/etcd.log" curl -fsS "http://127.0.0.1:$client/health"

openssl ecparam -name prime256v1 -genkey -noout -out "$work/sa.key" 2>/dev/null
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$token,admin,admin,\"system:masters\"" >"$work/tokens.csv"
port=$(free_port)
"$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$client" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" \
  --cert-dir="$work/certs" --token-auth-file="$work/tokens.csv" --authorization-mode=AlwaysAllow \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$work/sa.key" --service-account-signing-key-file="$work/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=false \
  --enable-priority-and-fairness=false --profiling=false >"$work/kube-apiserver.log" 2>&1 &
pids+=($!)
wait_for kube-apiserver "${pids[-1]}" "$work/kube-apiserver.log" \
  curl -fsSk -H "Authorization: Bearer $token" "https://127.0.0.1:$port/readyz"
echo "kube-apiserver ready on https://127.0.0.1:$port"

export KUBECONFIG=$work/kubeconfig HOME=$work/home
cat >"$KUBECONFIG" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: k8s-check
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority: $work/certs/apiserver.crt
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: k8s-check
    context:
      cluster: k8s-check
      user: admin
current-context: k8s-check
KUBECONFIG

# The monitoring CRDs and the namespace for real: dry runs of namespaced
# objects and custom resources need them to exist.
"$kubectl" apply -f deploy/k8s/testdata/monitoring-crds.yaml >/dev/null
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/servicemonitors.monitoring.coreos.com crd/podmonitors.monitoring.coreos.com >/dev/null
"$kubectl" apply -f deploy/k8s/base/namespace.yaml >/dev/null

echo "== server-side dry run"
failed=0
for dir in deploy/k8s/overlays/*/; do
  overlay=$(basename "$dir")
  if ! "$kubectl" kustomize "$dir" >"$work/$overlay.yaml" 2>"$work/$overlay.err"; then
    echo "FAIL $overlay: kustomize:"
    sed 's/^/    /' "$work/$overlay.err"
    failed=1
    continue
  fi
  if "$kubectl" apply --dry-run=server --validate=strict -f "$work/$overlay.yaml" >"$work/$overlay.out" 2>"$work/$overlay.err"; then
    n=$(grep -c '(server dry run)' "$work/$overlay.out" || true)
    if [ -s "$work/$overlay.err" ]; then
      echo "FAIL $overlay: $n objects accepted, with warnings:"
      sed 's/^/    /' "$work/$overlay.err"
      failed=1
    else
      echo "ok   $overlay: $n objects accepted"
    fi
  else
    echo "FAIL $overlay:"
    sed 's/^/    /' "$work/$overlay.out" "$work/$overlay.err"
    failed=1
  fi
done
if [ "$failed" != 0 ]; then
  echo "k8s-check: FAILED" >&2
  exit 1
fi
echo "k8s-check: all overlays passed"
