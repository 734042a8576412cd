#!/usr/bin/env bash
# Host tools the offline build needs, from Debian's packages; installs only what is missing.
set -euo pipefail
need=()
for tool_pkg in debootstrap:debootstrap jq:jq gcc:gcc make:make; do
  command -v "${tool_pkg%%:*}" >/dev/null 2>&1 || need+=("${tool_pkg#*:}")
done
# pause.c is linked statically: it needs libc's static archive
[[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || need+=(libc6-dev)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if ((${#need[@]})); then
  [[ $(id -u) == 0 ]] || { echo "ERROR: missing ${need[*]}: run as root, or apt-get install ${need[*]}" >&2; exit 1; }
  echo "installing from Debian: ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
