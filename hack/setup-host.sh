#!/usr/bin/env bash
# Host tools the offline build needs, from Debian's packages; installs only what is missing.
set -euo pipefail
need=()
# cpio, zstd and qemu (below): the ipvs-node guest (hack/build-ipvs-node.sh), a kernel with IPVS beside kind's nodes
for tool_pkg in debootstrap:debootstrap jq:jq gcc:gcc make:make cpio:cpio zstd:zstd; do
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
# qemu without its recommends (GUI front ends, firmware for other machines): the guest boots its kernel directly
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  [[ $(id -u) == 0 ]] || { echo "ERROR: missing qemu-system-x86_64: run as root, or apt-get install qemu-system-x86" >&2; exit 1; }
  echo "installing from Debian: qemu-system-x86" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
