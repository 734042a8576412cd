#!/usr/bin/env bash
# Debian root filesystems (tarballs in the cache) for the kind node and the small images:
#   node.tar       systemd + containerd + runc + CNI plugins + kind's images/base/files (from the kind module)
#   debian-net.tar minbase + netfilter tools and network clients: base of kube-proxy, flannel, agnhost
#   nginx.tar      minbase + nginx-light;  busybox.tar: busybox-static only
source "$(dirname "$0")/lib/common.sh"
need debootstrap "apt-get install debootstrap"
need jq "apt-get install jq"
[[ $(id -u) == 0 ]] || die "debootstrap needs root: run as root"
mkdir -p "$ROOTFS"
MIRROR="${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
KIND_FILES="$(go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION/images/base/files"
NODE_PKGS=systemd,systemd-sysv,dbus,containerd,runc,iptables,nftables,containernetworking-plugins,ca-certificates,procps,iproute2,mount,conntrack,ethtool,socat,util-linux,kmod,jq,libseccomp2,pigz,bash,curl,e2fsprogs

# bootstrap NAME PKGS: debootstrap minbase into $ROOTFS/NAME.tmp with apt caches and docs trimmed
bootstrap() {
  local r="$ROOTFS/$1.tmp"
  rm -rf "$r"
  mkdir -p "$CACHE_ROOT/debs"  # downloaded .debs, shared by every rootfs and every version
  debootstrap --cache-dir="$CACHE_ROOT/debs" --variant=minbase --include="$2" "$DEBIAN_SUITE" "$r" "$MIRROR"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/{doc,man,info,locale}/* "$r"/var/log/*.log
}

# pack NAME: the finished tree becomes NAME.tar in one rename
pack() {
  tar --numeric-owner -C "$ROOTFS/$1.tmp" -cf "$ROOTFS/$1.tar.tmp" .
  mv -f "$ROOTFS/$1.tar.tmp" "$ROOTFS/$1.tar"
  rm -rf "$ROOTFS/$1.tmp"
}

kind_files() {
  [[ -d $KIND_FILES ]] || go mod download "sigs.k8s.io/kind@$KIND_VERSION" \
    || die "sigs.k8s.io/kind@$KIND_VERSION is not on the Go module proxy: check KIND_VERSION"
}

node_rootfs() {
  bootstrap node "$NODE_PKGS"
  local r="$ROOTFS/node.tmp" f="$KIND_FILES"
  # what kind's images/base Dockerfile does, on Debian's containerd/runc/CNI plugins
  install -m 0755 "$f"/usr/local/bin/* "$r/usr/local/bin/"
  mkdir -p "$r/kind/bin" "$r/etc/kubernetes/manifests" "$r/etc/systemd/system/kubelet.service.d"
  cp -r "$f/kind/." "$r/kind/" && chmod 0755 "$r"/kind/bin/*
  cp "$f/etc/crictl.yaml" "$r/etc/"
  cp "$f"/etc/containerd/* "$r/etc/containerd/"
  cp "$f"/etc/default/* "$r/etc/default/"
  cp "$f"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  cp "$f"/etc/systemd/system/*.{service,slice} "$r/etc/systemd/system/"
  cp "$f"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  # Debian installs containerd in /usr/bin; the CRI on a host without CAP_SYS_RESOURCE cannot
  # give sandboxes a negative oom_score_adj, so restrict it (harmless where the cap exists)
  sed -i 's#/usr/local/bin/containerd#/usr/bin/containerd#' "$r/etc/systemd/system/containerd.service"
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$r/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$r/etc/containerd/config.toml" || die "kind's containerd config changed: restrict_oom_score_adj not found"
  rm -f "$r"/etc/systemd/system/containerd-fuse-overlayfs.service
  find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$r"/lib/systemd/system/{multi-user,local-fs,basic}.target.wants/* "$r"/etc/systemd/system/*.wants/* \
        "$r"/lib/systemd/system/sockets.target.wants/*{udev,initctl}*
  echo "ReadKMsg=no" >>"$r/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
  chroot "$r" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
  chroot "$r" systemctl mask systemd-binfmt.service
  # containerd's default spec plus kind's product_uuid hook, as kind's base image has it
  chroot "$r" sh -c 'ctr oci spec' \
    | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' >"$r/etc/containerd/cri-base.json"
  mkdir -p "$r/opt/cni/bin"
  for p in "$r"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/${p##*/}" "$r/opt/cni/bin/${p##*/}"; done
  echo 'kubeproof node rootfs' >"$r/kind/kubeproof"
  pack node
}

# one shared base (its layer is stored once in the node): kube-proxy and flannel need the netfilter
# tools, agnhost the network clients upstream's Alpine image has (dig/nslookup, curl, nc, iperf)
NET_PKGS=iptables,nftables,conntrack,iproute2,ca-certificates,dnsutils,curl,netcat-openbsd,iperf,procps,bash
net_rootfs() { bootstrap debian-net "$NET_PKGS"; pack debian-net; }

nginx_rootfs() {
  bootstrap nginx nginx-light
  local r="$ROOTFS/nginx.tmp"
  ln -sf /dev/stdout "$r/var/log/nginx/access.log"
  ln -sf /dev/stderr "$r/var/log/nginx/error.log"
  pack nginx
}

busybox_rootfs() {
  local r="$ROOTFS/busybox.tmp" d; d=$(mktemp -d)
  rm -rf "$r" && mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev} && chmod 1777 "$r/tmp"
  (cd "$d" && apt-get download busybox-static)
  dpkg-deb -x "$d"/busybox-static_*.deb "$d/x" && install -m 0755 "$d/x/bin/busybox" "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [[ -e $r/bin/$a ]] || ln -s busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
  rm -rf "$d"
  pack busybox
}

STEPS_TOTAL=5
step kind-files "$KIND_FILES/etc/containerd/config.toml" kind_files
step rootfs-node "$ROOTFS/node.tar" node_rootfs
step rootfs-debian-net "$ROOTFS/debian-net.tar" net_rootfs
step rootfs-nginx "$ROOTFS/nginx.tar" nginx_rootfs
step rootfs-busybox "$ROOTFS/busybox.tar" busybox_rootfs
