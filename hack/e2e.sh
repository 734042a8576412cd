#!/usr/bin/env bash
# The main job: build what is missing, run the behaviour suites on a fresh kind cluster, render the report.
# Extra arguments go to pytest (e.g. -k pdb, --keep-cluster, --reuse-cluster NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n ${KUBEPROOF_PREPARED:-} ]] || hack/prepare.sh
rm -rf reports/allure-results && mkdir -p reports
rc=0
.venv/bin/pytest suites -n "${WORKERS:-6}" --dist loadgroup \
  --with-istio --alluredir reports/allure-results --junitxml reports/junit.xml --bench --catalogue reports/catalogue.md \
  ${E2E_ARGS:-} "$@" || rc=$?
hack/render-report.sh || echo "WARNING: the HTML report could not be rendered (results are in reports/allure-results)" >&2
exit "$rc"
