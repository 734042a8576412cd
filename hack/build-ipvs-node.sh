#!/usr/bin/env bash
# The ipvs-node add-on's guest: Debian's kernel (ip_vs, ip_set, netfilter as modules) and a busybox userland with
# ipvsadm, ipset, iptables (legacy) and iproute2, packed as an initramfs with this Kubernetes version's kube-proxy.
# kind nodes share this host's kernel, which has no IPVS; under qemu the guest has its own (fixtures/addons/ipvs_node.py).
# Nothing is committed from Debian: the packages come from the archive at build time; the kernel is whatever
# bookworm's linux-image-amd64 names today (the cache is keyed by it).
source "$(dirname "$0")/lib/common.sh"
need qemu-system-x86_64 "hack/setup-host.sh installs qemu-system-x86"
need cpio "hack/setup-host.sh installs cpio"
need zstd "hack/setup-host.sh installs zstd"
need gcc "hack/setup-host.sh installs gcc (and libc6-dev: the guest's idle-request is linked statically)"
[[ -x $BIN/kube-proxy ]] || die "no $BIN/kube-proxy: run hack/build-all.sh first"

kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
KERNEL_PKG=$(kernel_pkg)
[[ -n $KERNEL_PKG ]] || { apt-get update -qq && KERNEL_PKG=$(kernel_pkg); }
[[ -n $KERNEL_PKG ]] || die "apt-cache names no kernel for linux-image-amd64: is Debian's archive reachable (apt-get update)?"
KVER=${KERNEL_PKG#linux-image-}
BASE="$CACHE_ROOT/ipvs-node-$KVER"   # kernel + userland: shared by every Kubernetes version
OUT="$CACHE/ipvs-node"               # + this version's kube-proxy
GUEST_DIR="$HACK_DIR/ipvs-node"
# the userland from Debian (ipvsadm, ipset and the libraries they need beyond what the host has), the kernel, busybox
DEBS=("$KERNEL_PKG" busybox-static ipvsadm ipset libipset13 libnl-3-200 libnl-genl-3-200 libpopt0)
# the modules the guest loads at boot (the rest of kernel/net is there for the kernel to autoload)
MODULE_DIRS=(kernel/net kernel/lib kernel/crypto kernel/arch/x86/crypto kernel/drivers/virtio)
MODULE_FILES=(kernel/drivers/net/dummy.ko kernel/drivers/net/veth.ko kernel/drivers/net/virtio_net.ko kernel/drivers/net/net_failover.ko)
# host binaries copied with their libraries (Debian bookworm's, as the guest's are)
HOST_BINS=(/usr/bin/ip /usr/sbin/xtables-legacy-multi)
STEPS_TOTAL=2

fetch_and_unpack() {
  local tmp="$BASE.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/x" "$tmp/root"
  (cd "$tmp/debs" && apt-get download "${DEBS[@]}")
  for d in "$tmp"/debs/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
  cp "$tmp/x/boot/vmlinuz-$KVER" "$tmp/vmlinuz"
  local r="$tmp/root" m="lib/modules/$KVER"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib64,lib/x86_64-linux-gnu,etc,proc,sys,dev,tmp,run,var/run/netns,"$m"}
  cp "$tmp/x/bin/busybox" "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [[ -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"; done
  for d in "${MODULE_DIRS[@]}"; do mkdir -p "$r/$m/$(dirname "$d")" && cp -a "$tmp/x/$m/$d" "$r/$m/$d"; done
  for f in "${MODULE_FILES[@]}"; do mkdir -p "$r/$m/$(dirname "$f")" && cp "$tmp/x/$m/$f" "$r/$m/$f"; done
  cp "$tmp/x/$m"/modules.{order,builtin,builtin.modinfo} "$r/$m/"
  "$r/bin/busybox" depmod -b "$r" "$KVER"
  cp -a "$tmp/x/sbin/ipvsadm" "$tmp/x/usr/sbin/ipset" "$r/sbin/"
  cp -a "$tmp"/x/{lib,usr/lib}/x86_64-linux-gnu/lib{ipset,nl-3,nl-genl-3,popt}.so* "$r/lib/x86_64-linux-gnu/" 2>/dev/null || true
  cp /usr/bin/ip "$r/sbin/ip"
  cp /usr/sbin/xtables-legacy-multi "$r/sbin/"
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-legacy-multi "$r/sbin/$t"
  done
  mkdir -p "$r/usr/lib/x86_64-linux-gnu" && cp -a /usr/lib/x86_64-linux-gnu/xtables "$r/usr/lib/x86_64-linux-gnu/"
  # every library any guest binary or iptables extension needs: the guest's own first, else the host's
  local lib
  for bin in "$r/sbin/ipvsadm" "$r/sbin/ipset" "${HOST_BINS[@]}" "$r"/usr/lib/x86_64-linux-gnu/xtables/*.so; do
    LD_LIBRARY_PATH="$r/lib/x86_64-linux-gnu" ldd "$bin" | awk '$3 ~ /^\// {print $3} $1 ~ /^\/lib64/ {print $1}'
  done | sort -u | while read -r lib; do
    [[ $lib == "$r"/* ]] && continue
    [[ $lib == /lib64/* ]] && { cp -L "$lib" "$r$lib"; continue; }
    [[ -e $r/lib/x86_64-linux-gnu/$(basename "$lib") ]] || cp -L "$lib" "$r/lib/x86_64-linux-gnu/"
  done
  install -m 0755 "$GUEST_DIR/init" "$r/init"
  install -m 0755 "$GUEST_DIR/run" "$GUEST_DIR/real-server" "$r/usr/local/bin/"
  gcc -static -O2 -Wall -o "$r/usr/local/bin/idle-request" "$GUEST_DIR/idle-request.c"
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$r/etc/passwd"
  cp /etc/protocols "$r/etc/protocols"   # ipset and iptables name protocols (tcp, udp, sctp)
  # every guest binary finds its libraries in the guest (the host's kernel cannot run them for real: no IPVS)
  for bin in "$r"/sbin/{ipvsadm,ipset,ip,xtables-legacy-multi}; do
    if "$r/lib64/ld-linux-x86-64.so.2" --library-path "$r/lib/x86_64-linux-gnu" --list "$bin" | grep "not found"; then
      echo "$bin: a library is missing from the guest" >&2; return 1
    fi
  done
  (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | zstd -q -3 -T0 >"$tmp/base.cpio.zst"
  rm -rf "$tmp/debs" "$tmp/x" "$tmp/root"
  rm -rf "$BASE" && mv "$tmp" "$BASE"
}

with_kube_proxy() {
  local tmp="$OUT.tmp" stage
  rm -rf "$tmp" && mkdir -p "$tmp"
  stage=$(mktemp -d) && mkdir -p "$stage/usr/local/bin" && cp "$BIN/kube-proxy" "$stage/usr/local/bin/"
  # the kernel unpacks concatenated archives in order: the base, then kube-proxy on top
  (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | zstd -q -3 -T0 >"$tmp/kube-proxy.cpio.zst"
  cat "$BASE/base.cpio.zst" "$tmp/kube-proxy.cpio.zst" >"$tmp/initrd" && rm -f "$tmp/kube-proxy.cpio.zst"
  rm -rf "$stage"
  ln -s "$BASE/vmlinuz" "$tmp/vmlinuz"
  printf 'kernel %s\nkube-proxy %s\n' "$KVER" "$KUBERNETES_VERSION" >"$tmp/versions"
  rm -rf "$OUT" && mv "$tmp" "$OUT"
}

# a change to the guest's scripts rebuilds the base (their digest names the marker)
DIGEST=$(cat "$GUEST_DIR"/* "$0" | sha256sum | cut -c1-12)
# (not `a && b`: that would switch off set -e inside a)
base() { fetch_and_unpack; touch "$BASE/built-$DIGEST"; }
initrd() { with_kube_proxy; touch "$OUT/built-$DIGEST"; }
step ipvs-node-base "$BASE/built-$DIGEST" base
step ipvs-node-initrd "$OUT/built-$DIGEST" initrd
log "ipvs-node: kernel $KVER, kube-proxy $KUBERNETES_VERSION: $OUT"
