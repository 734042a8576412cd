#!/usr/bin/env bash
# Every other binary the node and workload images need, from Go modules (plus pause.c, compiled
# from the k8s.io/kubernetes module): etcd, coredns, flannel (+ its CNI plugin), local-path-provisioner,
# kind, agnhost, the sample device plugin and the test add-ons kube-router, metrics-server and the attachable CSI
# driver (upstream's CSI mock driver under our main, hack/csi-mock-driver/, and csi-attacher). Each lands in $BIN atomically; a warm run only checks the files exist.
source "$(dirname "$0")/lib/common.sh"
go_toolchain_check
GOMODCACHE="$(go env GOMODCACHE)"
K8S_DIR="$GOMODCACHE/k8s.io/kubernetes@$KUBERNETES_VERSION"
SRC="$CACHE/src"
mkdir -p "$SRC"

# gobuild NAME MODULE@VERSION PKG [LDFLAGS]: build PKG inside a throw-away module that requires
# MODULE (so modules with replace directives build too) and install it as $BIN/NAME
gobuild() {
  local name="$1" modver="$2" pkg="$3" ld="${4:-}" w="$SRC/$1"
  rm -rf "$w" && mkdir -p "$w"
  (cd "$w" && go mod init "kubeproof.local/$name" >/dev/null 2>&1 && go get "$pkg@${modver#*@}" \
     && go build -trimpath -ldflags="-s -w $ld" -o "$w/$name.out" "$pkg") \
    || die "building $name from $modver failed (is ${modver#*@} on the Go module proxy?)"
  atomic_install "$w/$name.out" "$BIN/$name"
  rm -rf "$w"
}

etcd() {
  # go.etcd.io/etcd/server/v3 has replace directives, so it cannot be `go install`ed: a 3-line main
  local w="$SRC/etcd"
  rm -rf "$w" && mkdir -p "$w"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >"$w/main.go"
  (cd "$w" && go mod init kubeproof.local/etcd >/dev/null 2>&1 && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
     && go mod tidy && go build -trimpath -ldflags="-s -w" -o etcd.out .) || die "building etcd $ETCD_VERSION failed"
  atomic_install "$w/etcd.out" "$BIN/etcd"
  rm -rf "$w"
}

coredns() { gobuild coredns "github.com/coredns/coredns@$COREDNS_VERSION" github.com/coredns/coredns; }
flanneld() {
  # flannel's main.go links every backend: tencentvpc's SDK is not on the Go module proxy and udp
  # needs cgo, so build that main.go (from the module cache) without them. We use vxlan.
  local w="$SRC/flanneld" dir
  rm -rf "$w" && mkdir -p "$w"
  dir=$(go mod download -json "github.com/flannel-io/flannel@$FLANNEL_VERSION" | jq -r '.Dir // empty')
  [[ -n $dir ]] || die "github.com/flannel-io/flannel@$FLANNEL_VERSION is not on the Go module proxy"
  grep -vE 'flannel/pkg/backend/(tencentvpc|udp)"' "$dir/main.go" >"$w/main.go"
  (cd "$w" && go mod init kubeproof.local/flanneld >/dev/null 2>&1 \
     && go mod edit -require="github.com/flannel-io/flannel@$FLANNEL_VERSION" && go mod tidy && go build -trimpath -o flanneld.out \
     -ldflags="-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" .) || die "building flanneld failed"
  atomic_install "$w/flanneld.out" "$BIN/flanneld"
  rm -rf "$w"
}
flannel_install_conf() {
  gobuild flannel-install-conf "github.com/flannel-io/flannel@$FLANNEL_VERSION" github.com/flannel-io/flannel/cmd/install_conf
}
flannel_cni() {
  gobuild flannel-cni "github.com/containernetworking/plugins@$CNI_PLUGINS_FLANNEL_VERSION" \
    github.com/containernetworking/plugins/plugins/meta/flannel
}
local_path() {
  gobuild local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" \
    github.com/rancher/local-path-provisioner "-X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION"
}
kind() { gobuild kind "sigs.k8s.io/kind@$KIND_VERSION" sigs.k8s.io/kind; }
kube_router() {
  gobuild kube-router "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
}
# stamped as upstream's Makefile does (client-go's version package), so `metrics-server --version` names the pin
metrics_server() {
  gobuild metrics-server "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server/cmd/metrics-server \
    "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
}

# wrapper_copy NAME: a fresh module $SRC/NAME reusing the Kubernetes wrapper module's go.mod (its replace
# directives for the staging modules), to build code of the k8s.io/kubernetes module in
wrapper_copy() {
  [[ -f $SRC/kubernetes/go.mod ]] || die "run hack/build-kubernetes.sh first (its wrapper module builds $1)"
  rm -rf "${SRC:?}/$1" && mkdir -p "$SRC/$1" && cp "$SRC/kubernetes/go.mod" "$SRC/kubernetes/go.sum" "$SRC/$1/"
  sed -i "s#^module .*#module kubeproof.local/$1#" "$SRC/$1/go.mod"
}
# k8s_test_image NAME: a test image's binary from k8s.io/kubernetes/test/images/NAME
k8s_test_image() {
  local name="$1" w="$SRC/$1"
  wrapper_copy "$name"
  (cd "$w" && go get "k8s.io/kubernetes/test/images/$name@$KUBERNETES_VERSION" \
     && go build -trimpath -ldflags="-s -w" -o "$name.out" "k8s.io/kubernetes/test/images/$name") \
    || die "building $name from k8s.io/kubernetes@$KUBERNETES_VERSION failed"
  atomic_install "$w/$name.out" "$BIN/$name"
  rm -rf "$w"
}
agnhost() { k8s_test_image agnhost; }
# an attachable CSI driver (claim S002-131): upstream's CSI mock driver (the library Kubernetes' own e2e storage tests
# run, k8s.io/kubernetes/test/e2e/storage/drivers/csi-test/mock) served by our main (hack/csi-mock-driver/main.go, which
# also registers it with the kubelet), built like a test image in a copy of the wrapper module, so it is the mock
# of the Kubernetes version under test
csi_mock_driver() {
  local w="$SRC/csi-mock-driver"
  wrapper_copy csi-mock-driver && cp "$HACK_DIR/csi-mock-driver/main.go" "$w/"
  (cd "$w" && go build -mod=mod -trimpath -ldflags="-s -w" -o csi-mock-driver.out .) \
    || die "building csi-mock-driver against k8s.io/kubernetes@$KUBERNETES_VERSION failed"
  atomic_install "$w/csi-mock-driver.out" "$BIN/csi-mock-driver"
  rm -rf "$w"
}
# the sidecar that turns a VolumeAttachment into ControllerPublishVolume and status.attached (stamped like upstream's
# Makefile: main.version, printed by --version)
csi_attacher() {
  gobuild csi-attacher "github.com/kubernetes-csi/external-attacher/v4@$CSI_ATTACHER_VERSION" \
    github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher "-X main.version=$CSI_ATTACHER_VERSION"
}
# the device plugin upstream's e2e tests use: two fake devices of example.com/resource (claim S002-009)
sample_device_plugin() { k8s_test_image sample-device-plugin; }

pause() {
  need gcc "apt-get install gcc libc6-dev (pause is C, from the k8s.io/kubernetes module)"
  local v; v=$(grep -oE 'TAG \?= [0-9.]+' "$K8S_DIR/build/pause/Makefile" | awk '{print $3}')
  [[ -n $v ]] || die "cannot read pause's TAG from $K8S_DIR/build/pause/Makefile"
  gcc -Os -Wall -Werror -static -DVERSION="v$v-kubeproof" -o "$SRC/pause.out" "$K8S_DIR/build/pause/linux/pause.c"
  atomic_install "$SRC/pause.out" "$BIN/pause"
  rm -f "$SRC/pause.out"
}

[[ -d $K8S_DIR ]] || go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION" \
  || die "k8s.io/kubernetes@$KUBERNETES_VERSION is not on the Go module proxy: check KUBERNETES_VERSION"
# etcd and CoreDNS: the versions this Kubernetes' kubeadm asks for (etcd:3.7.0-0 -> v3.7.0), so every
# minor gets its own; ETCD_VERSION / COREDNS_VERSION in the environment override that for one run
[[ -x $BIN/kubeadm ]] || die "$BIN/kubeadm missing: run hack/build-kubernetes.sh first (it names etcd's and CoreDNS's versions)"
KUBEADM_IMAGES=$("$BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION")
ETCD_VERSION=${ETCD_VERSION:-v$(sed -n 's#.*/etcd:\([0-9.]*\)-[0-9]*$#\1#p' <<<"$KUBEADM_IMAGES")}
COREDNS_VERSION=${COREDNS_VERSION:-$(sed -n 's#.*/coredns:\(v[0-9.]*\)$#\1#p' <<<"$KUBEADM_IMAGES")}
[[ $ETCD_VERSION =~ ^v3\.[0-9]+\.[0-9]+$ && $COREDNS_VERSION =~ ^v1\.[0-9]+\.[0-9]+$ ]] \
  || die "cannot read etcd's and CoreDNS's versions from kubeadm's image list: $(tr '\n' ' ' <<<"$KUBEADM_IMAGES")"
# a cached binary of another version (an older cache, an override) is rebuilt, not trusted
[[ ! -e $BIN/etcd ]] || "$BIN/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${ETCD_VERSION#v}" || rm -f "$BIN/etcd"
[[ ! -e $BIN/coredns ]] || "$BIN/coredns" -version 2>/dev/null | grep -qx "CoreDNS-${COREDNS_VERSION#v}" || rm -f "$BIN/coredns"
[[ ! -e $BIN/csi-attacher ]] || "$BIN/csi-attacher" --version 2>/dev/null | grep -q " $CSI_ATTACHER_VERSION\$" || rm -f "$BIN/csi-attacher"
[[ ! -e $BIN/metrics-server ]] || "$BIN/metrics-server" --version 2>/dev/null | grep -qx "$METRICS_SERVER_VERSION" || rm -f "$BIN/metrics-server"
log "etcd $ETCD_VERSION, CoreDNS $COREDNS_VERSION (what kubeadm $KUBERNETES_VERSION asks for)"
STEPS_TOTAL=14
step pause "$BIN/pause" pause
step etcd "$BIN/etcd" etcd
step coredns "$BIN/coredns" coredns
step flanneld "$BIN/flanneld" flanneld
step flannel-install-conf "$BIN/flannel-install-conf" flannel_install_conf
step flannel-cni "$BIN/flannel-cni" flannel_cni
step local-path-provisioner "$BIN/local-path-provisioner" local_path
step kind "$BIN/kind" kind
step agnhost "$BIN/agnhost" agnhost
step sample-device-plugin "$BIN/sample-device-plugin" sample_device_plugin
step kube-router "$BIN/kube-router" kube_router
step metrics-server "$BIN/metrics-server" metrics_server
step csi-mock-driver "$BIN/csi-mock-driver" csi_mock_driver
step csi-attacher "$BIN/csi-attacher" csi_attacher
log "addon binaries ready in $BIN"
