#!/usr/bin/env bash
# The kind node image kubeproof/node:$KUBERNETES_VERSION, assembled like kind's own buildImage()
# but offline: node rootfs + kubeadm/kubelet/kubectl + /kind/version + CNI (flannel) and storage
# (local-path) manifests + every component, add-on and workload image preloaded (pinned) in
# containerd's k8s.io namespace, so `kind create cluster` pulls nothing and needs no `kind load`.
source "$(dirname "$0")/lib/common.sh"
docker_check
NODE_IMAGE="kubeproof/node:$KUBERNETES_VERSION"
GOMODCACHE="$(go env GOMODCACHE)"
WORK="$CACHE/node-build"
ENTRY='ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]'
for b in kubeadm kubelet kubectl; do [[ -x $BIN/$b ]] || die "$BIN/$b missing: run hack/build-kubernetes.sh"; done
[[ -f $ROOTFS/node.tar ]] || die "$ROOTFS/node.tar missing: run hack/build-rootfs.sh"

PAUSE=$("$BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" | grep /pause:)
PRELOAD=( $("$BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION")
  "kubeproof/flannel:$FLANNEL_VERSION" "kubeproof/flannel-cni-plugin:$CNI_PLUGINS_FLANNEL_VERSION"
  "kubeproof/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"
  "$(images_yaml offline agnhost)" "$(images_yaml offline busybox)" "$(images_yaml offline nginx)"
  "$(images_yaml offline sample-device-plugin)" )

# the add-on manifests, derived at build time from the upstream modules (nothing vendored)
cni_manifest() {  # flannel's own kube-flannel.yml with our image names
  local y="$GOMODCACHE/github.com/flannel-io/flannel@$FLANNEL_VERSION/Documentation/kube-flannel.yml"
  [[ -f $y ]] || die "$y missing: run hack/build-addons.sh"
  # the v0.9.1 flannel CNI plugin speaks CNI spec <= 0.4.0
  sed -e "s#image: .*/flannel-cni-plugin:.*#image: kubeproof/flannel-cni-plugin:$CNI_PLUGINS_FLANNEL_VERSION#" \
      -e "s#image: .*/flannel:.*#image: kubeproof/flannel:$FLANNEL_VERSION#" \
      -e 's#"cniVersion": "1.0.0"#"cniVersion": "0.4.0"#' "$y"
}
storage_manifest() {  # kind's default storage manifest (a Go constant in the kind module) with our images
  local src="$GOMODCACHE/sigs.k8s.io/kind@$KIND_VERSION/pkg/build/nodeimage/const_storage.go" d
  [[ -f $src ]] || die "$src missing: run hack/build-rootfs.sh"
  d=$(mktemp -d)
  sed -e 's/^package nodeimage/package main/' \
      -e "s#^const storageProvisionerImage = .*#const storageProvisionerImage = \"kubeproof/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION\"#" \
      -e "s#^const storageHelperImage = .*#const storageHelperImage = \"$(images_yaml offline busybox)\"#" "$src" >"$d/storage.go"
  printf 'package main\n\nimport "fmt"\n\nfunc main() { _ = defaultStorageImages; fmt.Print(defaultStorageManifest) }\n' >"$d/main.go"
  (cd "$d" && go mod init kubeproof.local/storage >/dev/null 2>&1 && go run .) || die "cannot extract kind's storage manifest from $src"
  rm -rf "$d"
}

inputs() {  # everything the node image is made of
  local f
  for f in "$ROOTFS/node.tar" "$BIN"/{kubeadm,kubelet,kubectl} "$HACK_DIR/build-node-image.sh" "$HACK_DIR/lib/common.sh"; do
    echo "${f##*/} $(stat -c '%s %Y' "$f")"
  done
  for i in "${PRELOAD[@]}"; do echo "$i $(docker image inspect -f '{{.Id}}' "$i")"; done
  echo "$PAUSE $KIND_VERSION"
}

build() {
  rm -rf "$WORK" && mkdir -p "$WORK/kind/manifests"
  local base="kubeproof/node-base:build" tmp="kubeproof/node-build:tmp" cid
  cni_manifest >"$WORK/kind/manifests/default-cni.yaml"
  storage_manifest >"$WORK/kind/manifests/default-storage.yaml"
  grep -q 'kubeproof/local-path-provisioner' "$WORK/kind/manifests/default-storage.yaml" || die "storage manifest lacks our provisioner image"
  # an upstream manifest change must not slip through: every image ours, CNI spec what the plugin speaks
  ! grep -E 'image: ' "$WORK/kind/manifests/default-cni.yaml" | grep -vq 'image: kubeproof/' \
    && grep -q '"cniVersion": "0.4.0"' "$WORK/kind/manifests/default-cni.yaml" \
    || die "flannel $FLANNEL_VERSION's kube-flannel.yml changed shape: adapt cni_manifest in $0"
  echo "$KUBERNETES_VERSION" >"$WORK/kind/version"
  log "saving ${#PRELOAD[@]} images for preloading"
  docker save -o "$WORK/preload.tar" "${PRELOAD[@]}"
  docker import --change 'ENV container=docker' --change "$ENTRY" "$ROOTFS/node.tar" "$base" >/dev/null
  cid=$(docker run -d --privileged --entrypoint=sleep -v "$WORK:/build:ro" "$base" infinity)
  trap 'docker rm -f -v '"$cid"' >/dev/null 2>&1 || true' EXIT
  docker cp "$BIN/kubeadm" "$cid:/usr/bin/kubeadm"
  docker cp "$BIN/kubelet" "$cid:/usr/bin/kubelet"
  docker cp "$BIN/kubectl" "$cid:/usr/bin/kubectl"
  docker exec "$cid" sh -euc "
    cp /build/kind/version /kind/version && mkdir -p /kind/manifests && cp /build/kind/manifests/* /kind/manifests/
    chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl
    sed -i 's#^\( *sandbox_image = \).*#\1\"$PAUSE\"#' /etc/containerd/config.toml
    grep -q 'sandbox_image = \"$PAUSE\"' /etc/containerd/config.toml
    containerd >/tmp/containerd.log 2>&1 & pid=\$!
    for i in \$(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
    ctr -n k8s.io images import --no-unpack --digests --all-platforms /build/preload.tar
    ctr -n k8s.io images ls -q > /kind/images.txt
    # pinned: the kubelet's image GC never removes them (Debian's ctr 1.6 import has no --label)
    while read -r ref; do ctr -n k8s.io images label \"\$ref\" io.cri-containerd.pinned=pinned >/dev/null; done < /kind/images.txt
    kill \$pid; wait \$pid || true
    rm -rf /tmp/* /var/log/*.log"
  for i in "${PRELOAD[@]}"; do
    n=$i; [[ $n == */*/* || $n == *.*/* ]] || n="docker.io/$n"; [[ $n == */* ]] || n="docker.io/library/$n"
    docker exec "$cid" grep -qx "$n" /kind/images.txt || die "image $i was not preloaded in the node"
  done
  docker commit --change "$ENTRY" --change 'ENV container=docker' "$cid" "$tmp" >/dev/null
  # docker 20.10's commit rejects STOPSIGNAL: a two-line classic build adds it and the input label
  printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL kubeproof.input=%s\n' "$tmp" "$1" | DOCKER_BUILDKIT=0 docker build -q -t "$NODE_IMAGE" - >>"$LOGS/docker-build.log" 2>&1 \
    || die "tagging $NODE_IMAGE failed (log $LOGS/docker-build.log)"
  docker rm -f -v "$cid" >/dev/null
  docker rmi "$tmp" "$base" >/dev/null
  rm -rf "$WORK"
}

for i in "${PRELOAD[@]}"; do docker image inspect "$i" >/dev/null 2>&1 || die "image $i missing: run hack/build-images.sh"; done
h=$(inputs | sha256sum | cut -c1-16)
if [[ $(image_input "$NODE_IMAGE") == "$h" ]]; then
  log "node image $NODE_IMAGE: up to date"
else
  STEPS_TOTAL=1
  old=$(docker image inspect -f '{{.Id}}' "$NODE_IMAGE" 2>/dev/null || true)
  step node-image "" build "$h"
  # the previous build, unless a node container still uses it
  [[ -z $old ]] || docker rmi "$old" >/dev/null 2>&1 || true
  log "node image $NODE_IMAGE: built ($(docker image inspect -f '{{.Size}}' "$NODE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
fi
