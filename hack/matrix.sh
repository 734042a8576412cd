#!/usr/bin/env bash
# The nightly regression across versions: the main job once per Kubernetes version, each on its own
# fresh cluster, then reports/matrix.{json,md} (one row per claim, one column per version).
#   VERSIONS="v1.34.4 v1.35.4" hack/matrix.sh [pytest args]   (VERSIONS empty: every version built here)
# A version that fails to build is a column of errors naming why; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${VERSIONS:-} ]]; then
  VERSIONS=$(docker images kubeproof/node --format '{{.Tag}}' | grep -E '^v1\.[0-9]+\.[0-9]+$' | sort -uV | tr '\n' ' ')
  [[ -n $VERSIONS ]] || { echo "ERROR: no node image built here (kubeproof/node:*): set VERSIONS or run make cluster-image" >&2; exit 2; }
  echo "== VERSIONS (every node image built here): $VERSIONS"
fi
read -r -a versions <<<"$VERSIONS"
files=()
for v in "${versions[@]}"; do
  out="reports/versions/$v"
  rm -rf "$out" && mkdir -p "$out"
  echo "== $v: build"
  if ! KUBERNETES_VERSION="$v" hack/prepare.sh >"$out/prepare.log" 2>&1; then
    reason=$(grep -m1 -E "ERROR|error|die" "$out/prepare.log" | cut -c1-400 | tr '"\\' "''")
    printf '{"environment": {"server_version": "%s", "error": "build failed: %s (%s)"}, "tests": {}}\n' \
      "$v" "${reason:-see prepare.log}" "$out/prepare.log" >"$out/outcomes.json"
  else
    echo "== $v: main job"
    KUBERNETES_VERSION="$v" .venv/bin/pytest suites -n "${WORKERS:-6}" --dist loadgroup --with-istio \
      --reports-dir "$out" --bench "$@" >"$out/pytest.log" 2>&1
    tail -n 1 "$out/pytest.log"
    [[ -f $out/outcomes.json ]] || printf '{"environment": {"server_version": "%s", "error": "the run wrote no outcomes (%s)"}, "tests": {}}\n' \
      "$v" "$out/pytest.log" >"$out/outcomes.json"
  fi
  files+=("$out/outcomes.json")
done
.venv/bin/python -m fixtures.matrix "${files[@]}" --out reports
