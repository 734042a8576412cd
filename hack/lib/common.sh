# Shared by hack/*.sh: pinned versions, the cache layout, and a step runner that shows
# progress, logs each step's full output and makes every artefact appear atomically.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT_DIR="$(cd "$HACK_DIR/.." && pwd)"
# shellcheck source=../versions.env
source "$HACK_DIR/versions.env"
CACHE_ROOT="${KUBEPROOF_CACHE:-$HOME/.cache/kubeproof}"
# Keyed by the pinned versions: changing a pin never reuses a stale artefact.
CACHE="$CACHE_ROOT/k8s-$KUBERNETES_VERSION-kind-$KIND_VERSION"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
mkdir -p "$BIN" "$LOGS"
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
  local logf="$LOGS/$name.log" t0; t0=$(date +%s)
  log "$tag $name: started ($((${STEPS_TOTAL:-0} - _step_no)) steps left after this, log $logf)"
  # run in the background so `set -e` stays in force inside the step (an `if !` would disable it)
  local rc=0
  ( "$@" ) >"$logf" 2>&1 &
  wait $! || rc=$?
  if (( rc != 0 )); then
    log "$tag $name: FAILED after $(( $(date +%s) - t0 ))s; last lines of $logf:"
    tail -n 25 "$logf" | sed 's/^/    /' >&2
    exit 1
  fi
  log "$tag $name: done in $(( $(date +%s) - t0 ))s (total $(( $(date +%s) - _t_start ))s)"
}

# atomic_install SRC DEST: put a finished file in place with one rename.
atomic_install() { install -m 0755 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

go_toolchain_check() {
  need go "install Go >= 1.24 (https://go.dev/dl) or Debian's golang-1.2x; the build fetches modules through GOPROXY"
  local v; v=$(go env GOVERSION | sed 's/^go//')
  [[ "$(printf '%s\n1.24\n' "$v" | sort -V | head -1)" == "1.24" ]] || die "Go $v is too old: Kubernetes $KUBERNETES_VERSION needs Go >= 1.24"
}

disk_check() {  # disk_check GIB
  local free; free=$(df -Pk "$CACHE_ROOT" | awk 'NR==2 {print int($4/1048576)}')
  (( free >= $1 )) || die "only ${free} GiB free under $CACHE_ROOT; the build needs ${1} GiB (set KUBEPROOF_CACHE to a larger disk)"
}
