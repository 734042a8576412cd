# Shared by hack/*.sh: pinned versions, the cache layout, and a step runner that shows
# progress, logs each step's full output and makes every artefact appear atomically.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT_DIR="$(cd "$HACK_DIR/.." && pwd)"
# Pins come from versions.env; a pin set in the environment wins (e.g. `make cluster-image
# KUBERNETES_VERSION=v1.34.5`), so trying another version needs no edit.
declare -A _env_pins=()
while IFS='=' read -r _k _; do
  [[ $_k =~ ^[A-Z][A-Z0-9_]*$ && -n ${!_k:-} ]] && _env_pins[$_k]=${!_k}
done <"$HACK_DIR/versions.env"
# shellcheck source=../versions.env
source "$HACK_DIR/versions.env"
for _k in "${!_env_pins[@]}"; do printf -v "$_k" '%s' "${_env_pins[$_k]}"; done
# metrics-server by the Kubernetes minor, as upstream's compatibility matrix says (versions.env)
if [[ -z ${_env_pins[METRICS_SERVER_VERSION]:-} && $KUBERNETES_VERSION =~ ^v1\.([0-9]+)\. ]] && (( BASH_REMATCH[1] < 34 )); then
  METRICS_SERVER_VERSION=$METRICS_SERVER_VERSION_BELOW_1_34
fi
CACHE_ROOT="${KUBEPROOF_CACHE:-$HOME/.cache/kubeproof}"
# Keyed by the pinned versions: changing a pin never reuses a stale artefact.
CACHE="$CACHE_ROOT/k8s-$KUBERNETES_VERSION-kind-$KIND_VERSION"
BIN="$CACHE/bin"
# The root filesystems depend only on the Debian suite and kind's base files, not on Kubernetes: every
# version shares one set (a cache made before this keeps using its own rootfs/)
ROOTFS="$CACHE/rootfs"
[[ -e $ROOTFS/node.tar ]] || ROOTFS="$CACHE_ROOT/rootfs-$DEBIAN_SUITE-kind-$KIND_VERSION"
LOGS="$CACHE/logs"
export PATH="$BIN:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

_step_no=0
_t_start=$(date +%s)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# step NAME MARKER CMD...: skip when MARKER exists (the artefact is complete), else run CMD
# with output to $LOGS/NAME.log; on failure name the step, show the log's tail and path.
step() {
  local name="$1" marker="$2"; shift 2
  _step_no=$((_step_no + 1))
  local tag="[$_step_no/${STEPS_TOTAL:-?}]"
  if [[ -n "$marker" && -e "$marker" ]]; then
    log "$tag $name: cached"
    return 0
  fi
  mkdir -p "$LOGS"
  local logf="$LOGS/$name.log" t0; t0=$(date +%s)
  log "$tag $name: started ($((${STEPS_TOTAL:-0} - _step_no)) steps left after this, log $logf)"
  # run in the background so `set -e` stays in force inside the step (an `if !` would disable it)
  local rc=0 pid beat=0
  ( "$@" ) >"$logf" 2>&1 &
  pid=$!
  # a heartbeat every ~30 s: elapsed time and the step's last log line, so a long compile is not silence
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( ++beat % ${HEARTBEAT_SECONDS:-30} == 0 )) && kill -0 "$pid" 2>/dev/null; then
      log "$tag $name: running for $(( $(date +%s) - t0 ))s: $(tail -n 1 "$logf" 2>/dev/null | tr -d '\r' | cut -c1-140)"
    fi
  done
  wait "$pid" || rc=$?
  if (( rc != 0 )); then
    log "$tag $name: FAILED after $(( $(date +%s) - t0 ))s; last lines of $logf:"
    tail -n 25 "$logf" | sed 's/^/    /' >&2
    exit 1
  fi
  log "$tag $name: done in $(( $(date +%s) - t0 ))s (total $(( $(date +%s) - _t_start ))s)"
}

# atomic_install SRC DEST: put a finished file in place with one rename.
atomic_install() { mkdir -p "$(dirname "$2")" && install -m 0755 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

go_toolchain_check() {
  need go "install Go >= 1.24 (https://go.dev/dl) or Debian's golang-1.2x; the build fetches modules through GOPROXY"
  local v; v=$(go env GOVERSION | sed 's/^go//')
  [[ "$(printf '%s\n1.24\n' "$v" | sort -V | head -1)" == "1.24" ]] || die "Go $v is too old: Kubernetes $KUBERNETES_VERSION needs Go >= 1.24"
}

disk_check() {  # disk_check GIB
  local free; mkdir -p "$CACHE_ROOT"; free=$(df -Pk "$CACHE_ROOT" | awk 'NR==2 {print int($4/1048576)}')
  (( free >= $1 )) || die "only ${free} GiB free under $CACHE_ROOT; the build needs ${1} GiB (set KUBEPROOF_CACHE to a larger disk)"
}

docker_check() {
  need docker "run hack/setup-docker.sh (installs and starts Docker)"
  local err; err=$(docker info 2>&1 >/dev/null) || {
    [[ $err == *"permission denied"* ]] && die "no permission to use Docker ($err): run as root or join the docker group"
    die "Docker is not answering ($err): run hack/setup-docker.sh"
  }
}

# images_yaml SECTION ROLE: one image of manifests/images.yaml (flat two-level YAML)
images_yaml() {
  awk -v s="$1:" -v r="$2:" '/^[^ #]/ {in_s = ($1 == s)} in_s && $1 == r {print $2}' "$ROOT_DIR/manifests/images.yaml"
}

# image_input TAG: the input hash an image was built from (label kubeproof.input), empty when absent
image_input() { docker image inspect -f '{{index .Config.Labels "kubeproof.input"}}' "$1" 2>/dev/null || true; }

# check_pins: fail before anything is created when a pinned version does not exist
check_pins() {
  [[ $KUBERNETES_VERSION =~ ^v1\.[0-9]+\.[0-9]+$ ]] || die "KUBERNETES_VERSION=$KUBERNETES_VERSION is not a release like v1.34.4 (hack/versions.env)"
  [[ $KIND_VERSION =~ ^v0\.[0-9]+\.[0-9]+$ ]] || die "KIND_VERSION=$KIND_VERSION is not a release like v0.32.0 (hack/versions.env)"
  [[ "$(printf '%s\n%s\n' "$KIND_MIN_KUBERNETES_VERSION" "$KUBERNETES_VERSION" | sort -V | head -1)" == "$KIND_MIN_KUBERNETES_VERSION" ]] \
    || die "KUBERNETES_VERSION=$KUBERNETES_VERSION is below $KIND_MIN_KUBERNETES_VERSION, the oldest Kubernetes kind $KIND_VERSION supports (hack/versions.env KIND_MIN_KUBERNETES_VERSION)"
  # the module path carries the major version (external-attacher/v4), so the pin must stay in it
  [[ $CSI_ATTACHER_VERSION =~ ^v4\.[0-9]+\.[0-9]+$ ]] || die "CSI_ATTACHER_VERSION=$CSI_ATTACHER_VERSION is not a v4 release like v4.13.0 (hack/versions.env; the module is github.com/kubernetes-csi/external-attacher/v4)"
  local m
  for m in "k8s.io/kubernetes@$KUBERNETES_VERSION" "sigs.k8s.io/kind@$KIND_VERSION" \
           "github.com/kubernetes-csi/external-attacher/v4@$CSI_ATTACHER_VERSION"; do
    (cd / && go list -m "$m" >/dev/null 2>&1) \
      || die "$m is not on the Go module proxy ($(go env GOPROXY)): unknown version? it serves $(proxy_releases "${m%@*}"); fix hack/versions.env or the environment override"
  done
}

# proxy_releases MODULE: the newest release (no pre-release) of each minor the Go module proxy serves, one line, oldest first
proxy_releases() {
  local v; v=$( (cd / && go list -m -versions "$1" 2>/dev/null) | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V \
    | awk -F. '{last[$1"."$2]=$0; if (!seen[$1"."$2]++) order[++n]=$1"."$2} END {for (i=1; i<=n; i++) print last[order[i]]}' | tr '\n' ' ')
  echo "${v% }" | grep . || echo "no release (is the proxy reachable?)"
}
