#!/usr/bin/env bash
# Builds (once) the real Kubernetes control-plane binaries, etcd, helm 3, helm 4 and the Argo Rollouts controller
# that the e2e tests run, from the Go module proxy, and caches them outside the repo:
#
#   ${GHOSTWIRE_TOOLS_CACHE:-$HOME/.cache/ghostwire-tools}/<component>-<version>/bin/
#
# A warm cache returns in about a second. A cold build of everything on 2 cores took 14-42 minutes depending on the
# load (README.md has the measured figures per component). Builds are atomic: each component is built into a temporary
# directory that is renamed into place only when its binaries report the expected version.
#
# Usage: test/e2e/tools/build-tools.sh [--force] [kubernetes|etcd|helm3|helm4|rollouts ...]
#   --force   rebuild the selected components even when cached (same as GHOSTWIRE_TOOLS_FORCE=1)
#   GHOSTWIRE_K8S_VERSION=v1.35.4 builds another supported Kubernetes release (and the etcd it pins);
#   versions.env has the default, modules/kubernetes-<version>/ the releases that can be built.
#
# Prints KUBE_APISERVER=..., KUBE_CONTROLLER_MANAGER=..., KUBECTL=..., ETCD=..., HELM3=..., HELM4=...,
# HELM=... (helm 4), ROLLOUTS_CONTROLLER=..., ROLLOUTS_CRDS=... on stdout (progress goes to stderr) and writes
# $CACHE/env-<k8s version>.sh, which exports the same variables (for every component that is cached).
#
# Never writes inside the repository: the wrapper modules' go.mod/go.sum are committed tidy and are used
# read-only (-mod=readonly, so every module is checked against the committed go.sum); regenerate them with
# update-wrappers.sh when bumping versions.
set -euo pipefail

# ----------------------------------------------------------------- versions
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$HERE/versions.env"
log() { echo "[build-tools] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# GHOSTWIRE_K8S_VERSION picks another supported release (one with a folder under modules/).
K8S_VERSION="${GHOSTWIRE_K8S_VERSION:-$K8S_VERSION}"
HAVE_K8S="$(cd "$HERE/modules" && ls -d kubernetes-v* | sed 's/^kubernetes-//' | sort -V | tr '\n' ' ')"
[[ "$K8S_VERSION" =~ ^v1\.[0-9]+\.[0-9]+$ ]] && [ -d "$HERE/modules/kubernetes-$K8S_VERSION" ] ||
  die "GHOSTWIRE_K8S_VERSION: \"${K8S_VERSION:0:40}\" has no wrapper module; allowed: ${HAVE_K8S% }"
# etcd: the client version that this Kubernetes release pins.
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/client/v3" { print $2; exit }' "$HERE/modules/kubernetes-$K8S_VERSION/go.mod")"
[ -n "$ETCD_VERSION" ] && [ -d "$HERE/modules/etcd-$ETCD_VERSION" ] ||
  die "Kubernetes $K8S_VERSION pins etcd client '${ETCD_VERSION}', but there is no modules/etcd-${ETCD_VERSION}: run update-wrappers.sh kubernetes $K8S_VERSION"
CACHE="${GHOSTWIRE_TOOLS_CACHE:-${HOME:-/root}/.cache/ghostwire-tools}"
FORCE="${GHOSTWIRE_TOOLS_FORCE:-0}"

COMPONENTS=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    kubernetes|etcd|helm3|helm4|rollouts) COMPONENTS+=("$arg") ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (expected --force, kubernetes, etcd, helm3, helm4 or rollouts)" ;;
  esac
done
[ "${#COMPONENTS[@]}" -gt 0 ] || COMPONENTS=(kubernetes etcd helm3 helm4 rollouts)

# ------------------------------------------------------------ go environment
# go_line <module dir>: the Go version its go.mod asks for (e.g. 1.26.0).
go_line() { awk '$1 == "go" { print $2; exit }' "$1/go.mod"; }
# version_ge A B: A >= B for dotted versions.
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

NEED_GO="$(go_line "$HERE/modules/kubernetes-$K8S_VERSION")"
command -v go >/dev/null 2>&1 || die "go is not on PATH (Kubernetes $K8S_VERSION needs Go >= $NEED_GO)"
# Build with the installed toolchain (the rollouts controller excepted, see build_rollouts), for this machine,
# statically, and never touch go.mod/go.sum. The module and build caches stay in their default places
# (GOMODCACHE, GOCACHE), outside the repo.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
unset GOOS GOARCH GOBIN
GO_VERSION="$(go env GOVERSION)"
version_ge "${GO_VERSION#go}" "$NEED_GO" || die "$GO_VERSION is too old: modules/kubernetes-$K8S_VERSION/go.mod needs Go >= $NEED_GO"

CACHE="$(realpath -m "$CACHE")"
REPO="$(cd "$HERE/../../.." && pwd -P)"
case "$CACHE/" in "$REPO/"*) die "GHOSTWIRE_TOOLS_CACHE=$CACHE is inside the repository; use a directory outside it" ;; esac
mkdir -p "$CACHE"
# Serialise concurrent runs (e.g. two test processes warming the cache at once).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another build-tools run holds $CACHE/.lock; waiting..."; flock 9; }
fi
# Leftovers of runs that were killed (SIGKILL skips the cleanup trap); nobody else uses them while we hold the lock.
for stale in "$CACHE"/.tmp-* "$CACHE"/.old-* "$CACHE"/.env.sh.*; do
  [ -e "$stale" ] || continue
  log "removing $(basename "$stale") left by an interrupted run"
  rm -rf "$stale"
done

TMP_DIRS=()
HEARTBEAT_PID=""
CHILD_PID=""
cleanup() {
  [ -z "$HEARTBEAT_PID" ] || kill "$HEARTBEAT_PID" 2>/dev/null || true
  if [ -n "$CHILD_PID" ]; then kill "$CHILD_PID" 2>/dev/null || true; wait "$CHILD_PID" 2>/dev/null || true; fi
  local d
  for d in ${TMP_DIRS[@]+"${TMP_DIRS[@]}"}; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_child <command...>: runs a long command so that SIGINT/SIGTERM stop it at
# once (bash defers traps while a foreground child runs, but not during `wait`).
run_child() {
  local rc=0
  # 9>&-: a child that outlives a killed script must not keep the cache lock.
  "$@" 9>&- &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Prints a line every minute while a long build runs (keeps CI logs alive).
heartbeat_start() {
  local what="$1" start="$SECONDS"
  (
    # The sleeper must not hold the lock fd or our stdout/stderr after we stop it.
    exec 9>&-
    local sleeper=""
    trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM
    trap - EXIT INT
    while :; do
      sleep 60 >/dev/null 2>&1 &
      sleeper=$!
      wait "$sleeper" || true
      # $$ is the script: after a SIGKILL of it (no cleanup trap) the heartbeat must not outlive it.
      kill -0 $$ 2>/dev/null || exit 0
      log "  ... still building $what ($(fmt_secs $((SECONDS - start))) elapsed)"
    done
  ) &
  HEARTBEAT_PID=$!
}
heartbeat_stop() {
  [ -z "$HEARTBEAT_PID" ] || { kill "$HEARTBEAT_PID" 2>/dev/null || true; wait "$HEARTBEAT_PID" 2>/dev/null || true; }
  HEARTBEAT_PID=""
}

# version_ok <binary> <expected substring> <args...>: the binary runs and reports the expected version.
version_ok() {
  local bin="$1" want="$2" out
  shift 2
  [ -x "$bin" ] || return 1
  out="$("$bin" "$@" 2>&1)" || return 1
  [[ "$out" == *"$want"* ]]
}

# --------------------------------------------------------------- components
# Each component: <name>-<version>/bin/<binaries>; check_<name> validates a
# bin dir, build_<name> fills a (temporary) bin dir.

check_kubernetes() {
  version_ok "$1/kube-apiserver" "$K8S_VERSION" --version &&
    version_ok "$1/kube-controller-manager" "$K8S_VERSION" --version &&
    version_ok "$1/kubectl" "$K8S_VERSION" version --client
}
build_kubernetes() {
  local out="$1" cmd start
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  log "downloading Go modules for k8s.io/kubernetes $K8S_VERSION (verified against the committed go.sum)..."
  start=$SECONDS
  run_child go -C "$HERE/modules/kubernetes-$K8S_VERSION" mod download
  log "downloaded modules in $(fmt_secs $((SECONDS - start)))"
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    case "$cmd" in
      kube-apiserver) log "building $cmd $K8S_VERSION (cold: 5-11 min on 2 cores)..." ;;
      kube-controller-manager) log "building $cmd $K8S_VERSION (2-7 min after kube-apiserver on 2 cores)..." ;;
      *) log "building $cmd $K8S_VERSION (about 1 min after kube-apiserver on 2 cores)..." ;;
    esac
    start=$SECONDS
    heartbeat_start "$cmd"
    run_child go -C "$HERE/modules/kubernetes-$K8S_VERSION" build -trimpath -tags selinux,notest -ldflags "$ldflags" \
      -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    heartbeat_stop
    log "built $cmd in $(fmt_secs $((SECONDS - start)))"
  done
}

check_etcd() {
  version_ok "$1/etcd" "etcd Version: ${ETCD_VERSION#v}" --version
}
build_etcd() {
  local out="$1" start
  log "downloading Go modules for go.etcd.io/etcd/server/v3 $ETCD_VERSION (verified against the committed go.sum)..."
  run_child go -C "$HERE/modules/etcd-$ETCD_VERSION" mod download
  log "building etcd $ETCD_VERSION (about 1 min on 2 cores)..."
  start=$SECONDS
  heartbeat_start etcd
  run_child go -C "$HERE/modules/etcd-$ETCD_VERSION" build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
  heartbeat_stop
  log "built etcd in $(fmt_secs $((SECONDS - start)))"
}

# helm_kube_version <bin dir>: the Kubernetes version helm assumes when it renders without a cluster
# (.Capabilities.KubeVersion under `helm template`), which a chart's kubeVersion range is checked against.
# The probe chart goes into the component's temporary directory (<tmp>/bin/..), removed with it.
helm_kube_version() {
  local chart="$1/../probe-chart"
  mkdir -p "$chart/templates"
  printf 'apiVersion: v2\nname: probe\nversion: 0.0.1\n' > "$chart/Chart.yaml"
  printf '# {{ .Capabilities.KubeVersion.Version }}\n' > "$chart/templates/probe.yaml"
  { "$1/helm" template probe "$chart" 9>&- || true; } | sed -n 's/^# \(v[0-9][0-9.]*\)$/\1/p'
  rm -rf "$chart"
}

# helm_client_go_minor <major>: the minor of the k8s.io/client-go that helm's go.mod requires (v0.37.0 -> 37).
helm_client_go_minor() {
  local var="HELM${1}_VERSION" gomod minor version
  version="${!var}"
  # Outside any module (GOFLAGS cleared), so the current directory cannot change what is resolved.
  gomod="$(cd "$CACHE" && GOFLAGS= go mod download -json "helm.sh/helm/v$1@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  minor="$([ -f "$gomod" ] && awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "$gomod")"
  [[ "$minor" =~ ^[0-9]+$ ]] || die "helm $version: cannot read the k8s.io/client-go version from its go.mod ('$gomod')"
  echo "$minor"
}

# build_helm <major> <out> <ldflags>: go install helm.sh/helm/v<major>/cmd/helm@<version> (helm's go.mod has no
# replace directives, so it builds with its own go.mod/go.sum; the module itself is checked against the checksum
# database), then checks which Kubernetes version the binary assumes: the minor of the client-go it was built with.
build_helm() {
  local major="$1" out="$2" ldflags="$3" var="HELM${1}_VERSION" version minor start assumed
  version="${!var}"
  minor="$(helm_client_go_minor "$major")"
  log "building helm $version (cold: 1-5 min on 2 cores, with its downloads)..."
  start=$SECONDS
  heartbeat_start "helm$major"
  run_child env -C "$CACHE" GOBIN="$out" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v$major/cmd/helm@$version"
  heartbeat_stop
  assumed="$(helm_kube_version "$out")"
  [[ "$assumed" == "v1.$minor."* ]] || die "helm $version assumes Kubernetes '${assumed}' without a cluster, expected v1.$minor.x (its client-go)"
  log "built helm $version in $(fmt_secs $((SECONDS - start))); it assumes Kubernetes $assumed without a cluster"
}

check_helm3() {
  version_ok "$1/helm" "$HELM3_VERSION" version --short
}
build_helm3() {
  local out="$1" minor v ldflags
  # helm 3 defaults Capabilities.KubeVersion to v1.20 unless its Makefile's -X stamps the client-go minor in.
  minor="$(helm_client_go_minor 3)"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for v in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $v.k8sVersionMajor=1 -X $v.k8sVersionMinor=$minor"
  done
  build_helm 3 "$out" "$ldflags"
}

check_helm4() {
  version_ok "$1/helm" "$HELM4_VERSION" version --short
}
build_helm4() {
  # helm 4 reads its Kubernetes version from the build info (the client-go it was built with); only its own
  # version needs stamping.
  build_helm 4 "$1" "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM4_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
}

# The Argo Rollouts controller, run out of cluster against the e2e control plane, and its CRDs.
ROLLOUTS_MODULE="$HERE/modules/argo-rollouts-$ROLLOUTS_VERSION"
check_rollouts() {
  version_ok "$1/rollouts-controller" "$ROLLOUTS_VERSION" --version && [ -f "$1/../crds/rollout-crd.yaml" ]
}
build_rollouts() {
  local out="$1" start toolchain dir
  # Its go line names a newer Go patch release than may be installed: that toolchain comes from the module proxy.
  toolchain="go$(go_line "$ROLLOUTS_MODULE")"
  BUILT_WITH="$toolchain"
  log "downloading Go modules for argo-rollouts $ROLLOUTS_VERSION with $toolchain (verified against the committed go.sum)..."
  run_child env GOTOOLCHAIN="$toolchain" go -C "$ROLLOUTS_MODULE" mod download
  log "building rollouts-controller $ROLLOUTS_VERSION (cold: 4-14 min on 2 cores)..."
  start=$SECONDS
  heartbeat_start rollouts-controller
  run_child env GOTOOLCHAIN="$toolchain" go -C "$ROLLOUTS_MODULE" build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${ROLLOUTS_VERSION#v}" \
    -o "$out/rollouts-controller" github.com/argoproj/argo-rollouts/cmd/rollouts-controller
  heartbeat_stop
  dir="$(GOTOOLCHAIN="$toolchain" go -C "$ROLLOUTS_MODULE" list -m -f '{{.Dir}}' github.com/argoproj/argo-rollouts)"
  mkdir -p "$out/../crds"
  cp "$dir"/manifests/crds/*-crd.yaml "$out/../crds/"
  chmod 644 "$out/../crds/"*
  log "built rollouts-controller in $(fmt_secs $((SECONDS - start)))"
}

# ensure <component> <version>: makes $CACHE/<component>-<version>/bin valid.
ensure() {
  local name="$1" version="$2"
  local dir="$CACHE/$name-$version" tmp start
  if [ "$FORCE" != 1 ] && [ -d "$dir/bin" ] && "check_$name" "$dir/bin"; then
    log "$name $version: cached in $dir"
    return 0
  fi
  if [ -e "$dir" ]; then
    if [ "$FORCE" = 1 ]; then log "$name $version: --force, rebuilding"; else log "$name $version: cache at $dir is incomplete or broken, rebuilding"; fi
  fi
  start=$SECONDS
  BUILT_WITH="$GO_VERSION"
  tmp="$(mktemp -d "$CACHE/.tmp-$name-$version.XXXXXX")"
  TMP_DIRS+=("$tmp")
  chmod 755 "$tmp"
  mkdir -p "$tmp/bin"
  "build_$name" "$tmp/bin"
  "check_$name" "$tmp/bin" || die "$name $version: the freshly built binaries do not report version $version"
  printf '%s %s built %s with %s in %ss\n' "$name" "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BUILT_WITH" "$((SECONDS - start))" > "$tmp/BUILD_INFO"
  # Swap into place: the old dir (if any) is moved aside first, so that the
  # final rename is atomic and readers never see a half-filled directory.
  if [ -e "$dir" ]; then
    local old="$CACHE/.old-$name-$version.$$"
    mv "$dir" "$old"
    TMP_DIRS+=("$old")
  fi
  mv "$tmp" "$dir"
  log "$name $version: built in $(fmt_secs $((SECONDS - start))), cached in $dir"
}

TOTAL_START=$SECONDS
log "cache: $CACHE (go: $GO_VERSION, GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE))"
for c in "${COMPONENTS[@]}"; do
  case "$c" in
    kubernetes) ensure kubernetes "$K8S_VERSION" ;;
    etcd) ensure etcd "$ETCD_VERSION" ;;
    helm3) ensure helm3 "$HELM3_VERSION" ;;
    helm4) ensure helm4 "$HELM4_VERSION" ;;
    rollouts) ensure rollouts "$ROLLOUTS_VERSION" ;;
  esac
done

# --------------------------------------------------------------------- output
K8S_BIN="$CACHE/kubernetes-$K8S_VERSION/bin"
VARS=(
  "KUBE_APISERVER=$K8S_BIN/kube-apiserver"
  "KUBE_CONTROLLER_MANAGER=$K8S_BIN/kube-controller-manager"
  "KUBECTL=$K8S_BIN/kubectl"
  "ETCD=$CACHE/etcd-$ETCD_VERSION/bin/etcd"
  "HELM3=$CACHE/helm3-$HELM3_VERSION/bin/helm"
  "HELM4=$CACHE/helm4-$HELM4_VERSION/bin/helm"
  "HELM=$CACHE/helm4-$HELM4_VERSION/bin/helm"
  "ROLLOUTS_CONTROLLER=$CACHE/rollouts-$ROLLOUTS_VERSION/bin/rollouts-controller"
  "ROLLOUTS_CRDS=$CACHE/rollouts-$ROLLOUTS_VERSION/crds"
)
ENV_FILE="$CACHE/env-$K8S_VERSION.sh"
ENV_TMP="$(mktemp "$CACHE/.env.sh.XXXXXX")"
TMP_DIRS+=("$ENV_TMP")
{
  echo "# Generated by test/e2e/tools/build-tools.sh; source it to find the e2e tool binaries."
  for kv in "${VARS[@]}"; do
    if [ ! -e "${kv#*=}" ]; then continue; fi
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
} > "$ENV_TMP"
chmod 644 "$ENV_TMP"
mv "$ENV_TMP" "$ENV_FILE"
for kv in "${VARS[@]}"; do
  if [ -e "${kv#*=}" ]; then echo "$kv"; fi
done
log "wrote $ENV_FILE; done in $(fmt_secs $((SECONDS - TOTAL_START)))"
