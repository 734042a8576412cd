#!/usr/bin/env bash
# The suite's Python environment in .venv (idempotent; a no-op when pyproject.toml is unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "kubeproof needs Python >= 3.11, found " + sys.version' \
  || { echo "ERROR: set PYTHON to a Python >= 3.11 interpreter" >&2; exit 1; }
stamp=".venv/.pyproject.sha"
# the checkout's path too: the editable install points at it, so a .venv moved or shared with another checkout reinstalls
want=$({ cat pyproject.toml; pwd; } | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then exit 0; fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
# dropped dependencies would still register their pytest options (docs/kind-wrapper.md)
.venv/bin/pip uninstall -q -y pytest-kind-ng pytest-kind 2>/dev/null || true
echo "$want" >"$stamp"
