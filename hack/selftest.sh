#!/usr/bin/env bash
# Self-tests of the machinery (tests/): unit tests, then the integration tests that need Docker and kind.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${KUBEPROOF_PREPARED:-} ]] || hack/prepare.sh  # the integration self-tests build clusters
.venv/bin/lint-imports
.venv/bin/pytest tests -p no:xdist "$@"
