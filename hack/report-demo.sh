#!/usr/bin/env bash
# The rendered Allure report, checked by eye without a cluster: tests/report_demo/demo_results.py (a pass, a
# strict xfail, an Envoy-missing skip, a deliberate failure, a wait that times out, a hang stopped by its
# ceiling; failures with their namespace's diagnostics) run twice under the suite's own hooks, rendered with
# the repository's categories (allurerc.mjs) and a history of its own, then screenshotted with Debian's
# chromium (apt-get install chromium). Everything lands in reports/report-demo/ (ignored by git):
#   overview.png, categories.png, failure.png (error, steps, diagnostics), history.png, trend.png
source "$(dirname "$0")/lib/common.sh"
DEMO="${1:-$ROOT_DIR/reports/report-demo}"
need chromium "apt-get install chromium (Debian's headless-capable build)"
need curl "apt-get install curl"
rm -rf "$DEMO" && mkdir -p "$DEMO"
cd "$ROOT_DIR"

# the repository's categories, expanded so a screenshot shows the tests in each; history kept apart from
# the real one (reports/history.jsonl)
cat >"$DEMO/allurerc.mjs" <<EOF
import base from "$ROOT_DIR/allurerc.mjs";
export default {
  ...base,
  name: "kubeproof report demo",
  historyPath: "$DEMO/history.jsonl",
  categories: { ...base.categories, rules: base.categories.rules.map((rule) => ({ ...rule, expand: true })) },
};
EOF

# --noconftest: the root conftest.py would load the add-on plugins, which install add-ons on first use
PLUGINS=(--noconftest -p fixtures.plugin -p fixtures.session -p fixtures.per_test -p fixtures.addons.istio_fixtures)
for run in 1 2; do
  log "run $run of 2: tests/report_demo/demo_results.py"
  rm -rf "$DEMO/allure-results"
  rc=0
  KUBEPROOF_REPORT_DEMO_RUN=$run .venv/bin/pytest "${PLUGINS[@]}" tests/report_demo/demo_results.py -q \
    -o cache_dir="$DEMO/.pytest_cache" --alluredir "$DEMO/allure-results" >"$DEMO/pytest-run$run.log" 2>&1 || rc=$?
  # exit 1 = tests failed, as they must here; anything else is a broken demo
  (( rc == 1 )) || die "run $run: pytest exit $rc (expected 1); see $DEMO/pytest-run$run.log"
  tail -n 1 "$DEMO/pytest-run$run.log" >&2
  ALLURE_CONFIG="$DEMO/allurerc.mjs" hack/render-report.sh "$DEMO/allure-results" "$DEMO/allure-report"
done
rm -rf "${TMPDIR:-/tmp}/kubeproof-cluster-kubeproof-report-demo"  # the fake cluster's lock directory

# the report loads its data with fetch(), which file:// refuses: serve it on a free local port
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server "$port" --bind 127.0.0.1 --directory "$DEMO/allure-report" >"$DEMO/http.log" 2>&1 &
server=$!
profile=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done

id_of() {  # the report's id of a test result, by test name
  jq -r --arg name "$1" '.byId[] | select(.name == $name) | .id' "$DEMO/allure-report/test-results.json"
}
shot() {  # shot FILE HEIGHT ROUTE
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --window-size="1600,$2" --virtual-time-budget=10000 --screenshot="$DEMO/$1" "http://127.0.0.1:$port/#/$3" \
    >>"$DEMO/chromium.log" 2>&1 || die "chromium could not take $1; see $DEMO/chromium.log"
  log "$DEMO/$1"
}
failure=$(id_of test_a_deliberate_failure)
[[ -n $failure ]] || die "test_a_deliberate_failure is not in the report"
shot overview.png 1000 ""
shot categories.png 1300 categories
shot failure.png 2000 "$failure"
shot history.png 1000 "$failure/history"
shot trend.png 1300 charts
log "report: $DEMO/allure-report (history of both runs: $DEMO/history.jsonl)"
