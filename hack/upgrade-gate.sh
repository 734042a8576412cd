#!/usr/bin/env bash
# The upgrade gate on a real in-place upgrade: a fresh cluster at FROM runs the suite; the same cluster is
# upgraded to TO the way an operator does it (python -m fixtures.upgrade: kubeadm upgrade apply, then each node
# drained, its kubelet replaced, uncordoned) while a PDB-guarded Service is probed; the suite runs again; the two
# runs are compared (python -m fixtures.outcomes: exit 1 on a changed outcome or on any failure after).
#   FROM=v1.36.3 TO=v1.37.2 hack/upgrade-gate.sh [pytest args]     (SUITES=suites/pods narrows both runs)
# Output in reports/upgrade/: before/, after/ (outcomes, JUnit, Allure results), upgrade.json, gate.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${FROM:?set FROM, e.g. FROM=v1.36.3}" "${TO:?set TO, e.g. TO=v1.37.2}"
[[ -x .venv/bin/python ]] || hack/setup-python.sh >/dev/null || exit 1
.venv/bin/python -m fixtures.upgrade check "$FROM" "$TO" || exit 2
log() { printf '%s [gate] %s\n' "$(date +%H:%M:%S)" "$*"; }
log "build $FROM (cluster) and $TO (binaries and images)"
KUBERNETES_VERSION=$FROM hack/prepare.sh || exit 1
KUBERNETES_VERSION=$TO hack/build-all.sh || exit 1
# run 2 boots the ipvs-node guest with TO's kube-proxy (the upgraded API server's)
KUBERNETES_VERSION=$TO hack/build-ipvs-node.sh || exit 1
out=reports/upgrade
rm -rf "$out" && mkdir -p "$out/before" "$out/after"
name=kp-gate-$(date +%s)
kind_bin=$(KUBERNETES_VERSION=$FROM bash -c 'source hack/lib/common.sh && echo "$BIN/kind"')
# the gate's cluster and the extra clusters its runs kept beside it (named "$name-<config>")
cleanup() {
  local c
  for c in $("$kind_bin" get clusters 2>/dev/null | grep -E "^$name(-|$)"); do "$kind_bin" delete cluster --name "$c" >/dev/null 2>&1; done
}
trap cleanup EXIT
read -r -a suites <<<"${SUITES:-suites}"
common=(-n "${WORKERS:-6}" --dist loadgroup --with-istio --bench)

log "run 1 on a fresh $FROM cluster ($name)"
KUBERNETES_VERSION=$FROM .venv/bin/pytest "${suites[@]}" "${common[@]}" --cluster-name "$name" --keep-cluster \
  --reports-dir "$out/before" --alluredir "$out/before/allure-results" --junitxml "$out/before/junit.xml" "$@" \
  >"$out/before/pytest.log" 2>&1
tail -n 1 "$out/before/pytest.log"
[[ -f $out/before/outcomes.json ]] || { log "run 1 wrote no outcomes (see $out/before/pytest.log)"; exit 1; }

log "upgrade $name in place to $TO"
KUBERNETES_VERSION=$TO .venv/bin/python -m fixtures.upgrade run "$name" "$TO" --out "$out" || {
  log "the upgrade failed; the cluster's logs are in $out/kind-logs"
  "$kind_bin" export logs "$out/kind-logs" --name "$name" >/dev/null 2>&1
  exit 1
}

log "run 2 on the upgraded cluster"
KUBERNETES_VERSION=$TO .venv/bin/pytest "${suites[@]}" "${common[@]}" --reuse-cluster "$name" --allow-disruptive \
  --reports-dir "$out/after" --alluredir "$out/after/allure-results" --junitxml "$out/after/junit.xml" "$@" \
  >"$out/after/pytest.log" 2>&1
tail -n 1 "$out/after/pytest.log"

.venv/bin/python -m fixtures.outcomes "$out/before/outcomes.json" "$out/after/outcomes.json" | tee "$out/gate.txt"
rc=${PIPESTATUS[0]}
log "gate: $([[ $rc == 0 ]] && echo passed || echo FAILED) ($out/gate.txt, availability in $out/upgrade.json)"
exit "$rc"
