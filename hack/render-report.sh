#!/usr/bin/env bash
# Render reports/allure-results into reports/allure-report with Allure 3 (npm; no Java needed).
source "$(dirname "$0")/lib/common.sh"
RESULTS="${1:-$ROOT_DIR/reports/allure-results}"
OUT="${2:-$ROOT_DIR/reports/allure-report}"
ALLURE_VERSION=3.18.0
TOOL="$CACHE_ROOT/allure-$ALLURE_VERSION"
[[ -d $RESULTS ]] || die "no allure results in $RESULTS: run the suites with --alluredir first"
need npm "install Node.js and npm (Debian: apt-get install nodejs npm)"
install_allure() {
  rm -rf "$TOOL.tmp" && mkdir -p "$TOOL.tmp"
  (cd "$TOOL.tmp" && npm install --no-audit --no-fund --loglevel=error "allure@$ALLURE_VERSION")
  rm -rf "$TOOL" && mv "$TOOL.tmp" "$TOOL"
}
STEPS_TOTAL=2
step allure-install "$TOOL/node_modules/.bin/allure" install_allure
# from the repository root, so allure reads allurerc.mjs (categories, history kept in reports/history.jsonl);
# ALLURE_CONFIG names another config (hack/report-demo.sh: the same categories, a history of its own)
render() {
  rm -rf "$OUT" && cd "$ROOT_DIR" && "$TOOL/node_modules/.bin/allure" generate "$RESULTS" --output "$OUT" ${ALLURE_CONFIG:+--config "$ALLURE_CONFIG"}
}
_step_no=1; step allure-render "" render
log "report: $OUT/index.html (open it with: $TOOL/node_modules/.bin/allure open $OUT, or any static web server)"
