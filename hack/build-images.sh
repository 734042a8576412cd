#!/usr/bin/env bash
# Docker images from the cached rootfs tarballs and binaries, with no registry: the Kubernetes
# component images under the names kubeadm expects, the add-ons (flannel, local-path) and the
# workload images named in manifests/images.yaml. Each image carries a label hashing its inputs,
# so a warm run only compares labels.
source "$(dirname "$0")/lib/common.sh"
docker_check
export DOCKER_BUILDKIT=0  # the classic builder works offline with FROM scratch and local images

# img TAG DOCKERFILE [FILE...]: build TAG from DOCKERFILE with FILEs (by basename) in the context,
# unless TAG already carries the same input hash
img() {
  local tag="$1" df="$2"; shift 2
  local base h f
  base=$(awk '/^FROM / && $2 != "scratch" {print $2}' <<<"$df")
  h=$( { echo "$df"; for f in "$@"; do echo "${f##*/} $(stat -Lc '%s %Y' "$f")"; done
         [[ -z $base ]] || docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)
  if [[ $(image_input "$tag") == "$h" ]]; then log "image $tag: up to date"; return 0; fi
  local ctx; ctx=$(mktemp -d)
  for f in "$@"; do cp -L "$f" "$ctx/"; done
  printf '%s\nLABEL kubeproof.input=%s\n' "$df" "$h" >"$ctx/Dockerfile"
  local prev; prev=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  dbuild "$tag" "$ctx"
  rm -rf "$ctx"
  drop_previous "$tag" "$prev"
  log "image $tag: built"
}

# rootfs_img TAG TARBALL DOCKERFILE-LINES: docker import TARBALL, then apply the config lines
rootfs_img() {
  local tag="$1" tar="$ROOTFS/$2.tar" lines="$3"
  [[ -f $tar ]] || die "$tar missing: run hack/build-rootfs.sh"
  local tmp="kubeproof/rootfs-import:$2"
  local h; h=$( { echo "${tar##*/} $(stat -c '%s %Y' "$tar")"; echo "$lines"; } | sha256sum | cut -c1-16)
  if [[ $(image_input "$tag") == "$h" ]]; then log "image $tag: up to date"; return 0; fi
  local prev; prev=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  docker import "$tar" "$tmp" >/dev/null
  local ctx; ctx=$(mktemp -d)
  printf 'FROM %s\n%s\nLABEL kubeproof.input=%s\n' "$tmp" "$lines" "$h" >"$ctx/Dockerfile"
  dbuild "$tag" "$ctx"
  docker rmi "$tmp" >/dev/null; rm -rf "$ctx"
  drop_previous "$tag" "$prev"
  log "image $tag: built from $2.tar"
}

# drop_previous TAG OLD-ID: remove the image TAG pointed to before a rebuild (kept while in use)
drop_previous() {
  [[ -n $2 && $2 != "$(docker image inspect -f '{{.Id}}' "$1")" ]] || return 0
  docker rmi "$2" >/dev/null 2>&1 || true
}
bin() { echo "$BIN/$1"; }
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubeadm etcd coredns pause \
         flanneld flannel-install-conf flannel-cni local-path-provisioner agnhost sample-device-plugin kube-router metrics-server \
         csi-mock-driver csi-attacher; do
  [[ -x $BIN/$b ]] || die "$BIN/$b missing: run hack/build-kubernetes.sh and hack/build-addons.sh (or make cluster-image)"
done
mkdir -p "$LOGS"
BUILD_LOG="$LOGS/docker-build.log"
# dbuild TAG CONTEXT: a quiet classic build; its output goes to $BUILD_LOG, shown on failure
dbuild() {
  docker build -q -t "$1" "$2" >>"$BUILD_LOG" 2>&1 || { tail -n 20 "$BUILD_LOG" >&2; die "docker build of $1 failed (log $BUILD_LOG)"; }
}

AGNHOST=$(images_yaml offline agnhost); BUSYBOX=$(images_yaml offline busybox); NGINX=$(images_yaml offline nginx)
DEVICE_PLUGIN=$(images_yaml offline sample-device-plugin)
[[ -n $AGNHOST && -n $BUSYBOX && -n $NGINX && -n $DEVICE_PLUGIN ]] \
  || die "manifests/images.yaml lacks offline agnhost/busybox/nginx/sample-device-plugin"
NET=kubeproof/debian-net:$DEBIAN_SUITE
PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

rootfs_img "$NET" debian-net "CMD [\"bash\"]"
rootfs_img "$BUSYBOX" busybox "$PATH_ENV
CMD [\"sh\"]"
rootfs_img "$NGINX" nginx "EXPOSE 80
STOPSIGNAL SIGQUIT
CMD [\"nginx\", \"-g\", \"daemon off;\"]"

# component images: exactly the names `kubeadm config images list` prints for this version
while read -r ref; do
  name=${ref##*/}; name=${name%%:*}
  case $name in
    kube-proxy) img "$ref" "FROM $NET
COPY kube-proxy /usr/local/bin/kube-proxy" "$(bin kube-proxy)" ;;
    kube-*) img "$ref" "FROM scratch
$PATH_ENV
COPY $name /usr/local/bin/$name
ENTRYPOINT [\"/usr/local/bin/$name\"]" "$(bin "$name")" ;;
    etcd) img "$ref" "FROM scratch
$PATH_ENV
COPY etcd /usr/local/bin/etcd
CMD [\"/usr/local/bin/etcd\"]" "$(bin etcd)" ;;
    coredns) img "$ref" "FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT [\"/coredns\"]" "$(bin coredns)" ;;
    pause) img "$ref" "FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT [\"/pause\"]" "$(bin pause)" ;;
    *) die "kubeadm asks for an image this script does not know how to build: $ref" ;;
  esac
done < <("$(bin kubeadm)" config images list --kubernetes-version "$KUBERNETES_VERSION")

# add-ons: the CNI (flannel) and the default storage (local-path-provisioner, helper = busybox)
img "kubeproof/flannel:$FLANNEL_VERSION" "FROM $NET
COPY flanneld flannel-install-conf /opt/bin/
RUN mv /opt/bin/flannel-install-conf /opt/bin/install-conf
ENTRYPOINT [\"/opt/bin/flanneld\"]" "$(bin flanneld)" "$(bin flannel-install-conf)"
img "kubeproof/flannel-cni-plugin:$CNI_PLUGINS_FLANNEL_VERSION" "FROM $BUSYBOX
COPY flannel-cni /flannel" "$(bin flannel-cni)"
img "kubeproof/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION" "FROM $BUSYBOX
COPY local-path-provisioner /usr/local/bin/local-path-provisioner
ENTRYPOINT [\"/usr/local/bin/local-path-provisioner\"]" "$(bin local-path-provisioner)"

# agnhost as upstream's image has it (entrypoint, porter certs, users), on Debian instead of Alpine
PORTER="$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBERNETES_VERSION/test/images/agnhost/porter"
img "$AGNHOST" "FROM $NET
COPY agnhost localhost.crt localhost.key /
RUN ln -s agnhost /agnhost-2 && mkdir /uploads \\
 && useradd -u 1000 user-defined-in-image && groupadd -g 50000 group-defined-in-image \\
 && usermod -aG group-defined-in-image user-defined-in-image
EXPOSE 80 8080 8081 9376 5000
ENTRYPOINT [\"/agnhost\"]
CMD [\"pause\"]" "$(bin agnhost)" "$PORTER/localhost.crt" "$PORTER/localhost.key"
# the sample device plugin as upstream's image has it (its binary as entrypoint), on busybox instead of Alpine
img "$DEVICE_PLUGIN" "FROM $BUSYBOX
COPY sample-device-plugin /sampledeviceplugin
ENTRYPOINT [\"/sampledeviceplugin\", \"-alsologtostderr\"]" "$(bin sample-device-plugin)"
# kube-router, the NetworkPolicy add-on (loaded by fixtures/addons/kube_router.py when a test needs it):
# its firewall controller execs ipset, which debian-net lacks; Debian's packages, unpacked in the image
KR_DEBS="$CACHE/debs/kube-router"
if ! ls "$KR_DEBS"/ipset_*.deb "$KR_DEBS"/libipset13_*.deb >/dev/null 2>&1; then
  mkdir -p "$KR_DEBS" && (cd "$KR_DEBS" && apt-get download ipset libipset13 >/dev/null 2>&1) \
    || die "apt-get download ipset libipset13 failed (the kube-router image needs Debian's ipset)"
fi
img "kubeproof/kube-router:$KUBE_ROUTER_VERSION" "FROM $NET
COPY kube-router /usr/local/bin/kube-router
COPY *.deb /tmp/
RUN dpkg -i /tmp/*.deb && rm /tmp/*.deb
ENTRYPOINT [\"/usr/local/bin/kube-router\"]" "$(bin kube-router)" "$KR_DEBS"/ipset_*.deb "$KR_DEBS"/libipset13_*.deb
# metrics-server, the resource metrics API (loaded by fixtures/addons/metrics_server.py when a test needs it): a static
# binary, as upstream's distroless image has it (non-root; its self-signed serving certificate goes to an emptyDir)
img "kubeproof/metrics-server:$METRICS_SERVER_VERSION" "FROM scratch
COPY metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT [\"/metrics-server\"]" "$(bin metrics-server)"
# the attachable CSI driver add-on (loaded by fixtures/addons/csi_mock.py when a test needs it): upstream's CSI mock under
# our main, tagged by the Kubernetes version whose module it was built from, and csi-attacher, static binaries as
# upstream's distroless images have them (the node plugin runs privileged, as root)
img "kubeproof/csi-mock-driver:$KUBERNETES_VERSION" "FROM scratch
COPY csi-mock-driver /csi-mock-driver
ENTRYPOINT [\"/csi-mock-driver\"]" "$(bin csi-mock-driver)"
img "kubeproof/csi-attacher:$CSI_ATTACHER_VERSION" "FROM scratch
COPY csi-attacher /csi-attacher
ENTRYPOINT [\"/csi-attacher\"]" "$(bin csi-attacher)"
log "images ready"
