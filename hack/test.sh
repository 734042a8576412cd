#!/usr/bin/env bash
# The README's test command: prepare once, then the self-tests and the main job; both always run,
# and the exit status is non-zero when either failed.
set -uo pipefail
cd "$(dirname "$0")/.."
hack/prepare.sh || exit 1
export KUBEPROOF_PREPARED=1
rc=0
hack/selftest.sh || rc=1
hack/e2e.sh || rc=1
exit "$rc"
