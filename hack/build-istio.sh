#!/usr/bin/env bash
# istiod (pilot-discovery) and istioctl from the istio.io/istio Go module, and istiod packaged as
# the image kubeproof/pilot:$ISTIO_VERSION (the chart's <hub>/pilot:<tag>) from a tiny rootfs.
# Istio tags have no `v`, so the module is pinned by pseudo-version (ISTIO_PSEUDO_VERSION).
source "$(dirname "$0")/lib/common.sh"
go_toolchain_check
[[ "${ISTIO_PSEUDO_VERSION:-}" =~ ^v0\.0\.0-[0-9]{14}-([0-9a-f]{12})$ ]] \
  || die "ISTIO_PSEUDO_VERSION='${ISTIO_PSEUDO_VERSION:-}' in hack/versions.env is not a Go pseudo-version v0.0.0-<14 digits>-<12 hex>"
ISTIO_COMMIT="${BASH_REMATCH[1]}"
[[ "$ISTIO_VERSION" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?(-[0-9A-Za-z.]+)?$ ]] || die "ISTIO_VERSION=$ISTIO_VERSION is not an Istio version (1.30.3, 1.30-dev)"
# Istio binaries do not depend on the Kubernetes pin: their own cache, keyed by the Istio pins.
ICACHE="$CACHE_ROOT/istio-$ISTIO_VERSION-$ISTIO_COMMIT"
IBIN="$ICACHE/bin"
LOGS="$ICACHE/logs"
IMAGE="$ISTIO_LOCAL_HUB/pilot:$ISTIO_VERSION"
mkdir -p "$IBIN" "$LOGS" "$ICACHE/src"

resolve_module() {
  cd "$ICACHE/src"  # outside any Go module: a plain module download
  go mod download -json "istio.io/istio@$ISTIO_PSEUDO_VERSION" >"$ICACHE/src/istio.json.tmp" || {
    cat "$ICACHE/src/istio.json.tmp" >&2
    die "istio.io/istio@$ISTIO_PSEUDO_VERSION is not on the Go module proxy ($(go env GOPROXY)); list the commits it serves (Istio has no v-tags, so they are all pseudo-versions): curl $(go env GOPROXY | cut -d, -f1)/istio.io/istio/@v/list"
  }
  mv "$ICACHE/src/istio.json.tmp" "$ICACHE/src/istio.json"
}

build_all() {
  local v=istio.io/istio/pkg/version ld
  # Without buildHub+buildVersion istioctl keeps the module's hub/tag (registry.istio.io/testing:latest).
  ld="-s -w -X $v.buildVersion=$ISTIO_VERSION -X $v.buildGitRevision=$ISTIO_COMMIT -X $v.buildStatus=Clean"
  ld+=" -X $v.buildTag=$ISTIO_VERSION -X $v.buildHub=$ISTIO_LOCAL_HUB -X $v.buildOS=linux -X $v.buildArch=$(go env GOARCH)"
  rm -rf "$ICACHE/out.tmp" && mkdir -p "$ICACHE/out.tmp"
  # Built inside the module so istio's own go.sum (itself verified by the checksum DB on download)
  # authenticates the dependencies: the checksum DB here lacks some of them, so `go install pkg@v` fails.
  local dir; dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$ICACHE/src/istio.json")
  (cd "$dir" && go build -mod=readonly -trimpath -tags=vtprotobuf,disable_pgv -ldflags="$ld" -o "$ICACHE/out.tmp/" \
    ./pilot/cmd/pilot-discovery ./istioctl/cmd/istioctl)
  for b in pilot-discovery istioctl; do atomic_install "$ICACHE/out.tmp/$b" "$IBIN/$b"; done
  rm -rf "$ICACHE/out.tmp"
}

verify_binaries() {
  local got; got=$("$IBIN/istioctl" version --remote=false --short 2>/dev/null || true)
  [[ "$got" == *"$ISTIO_VERSION"* ]] || die "$IBIN/istioctl reports '$got', not $ISTIO_VERSION"
  "$IBIN/pilot-discovery" version --short 2>/dev/null | grep -qF "$ISTIO_VERSION" || die "$IBIN/pilot-discovery does not report $ISTIO_VERSION"
}

image_id_label() { docker image inspect -f '{{index .Config.Labels "kubeproof.binary-sha256"}}' "$IMAGE" 2>/dev/null || true; }

build_image() {
  # Upstream's Dockerfile.pilot is base + the static binary + USER 1337; the chart runs it
  # runAsNonRoot with a read-only root, so a numeric USER and no writable paths are all it needs.
  local root="$ICACHE/rootfs.tmp"
  rm -rf "$root" && mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/istio"
  install -m 0755 "$IBIN/pilot-discovery" "$root/usr/local/bin/pilot-discovery"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nistio-proxy:x:1337:1337:istio-proxy:/home/istio-proxy:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nistio-proxy:x:1337:\n' >"$root/etc/group"
  tar -C "$root" --numeric-owner --owner=0 --group=0 -c . | docker import \
    --change 'USER 1337:1337' \
    --change 'ENTRYPOINT ["/usr/local/bin/pilot-discovery"]' \
    --change "LABEL kubeproof.binary-sha256=$BIN_SHA kubeproof.istio-module=istio.io/istio@$ISTIO_PSEUDO_VERSION" \
    - "$IMAGE"
  rm -rf "$root"
}

STEPS_TOTAL=3
step istio-resolve "$ICACHE/src/istio.json" resolve_module
step istio-build "$IBIN/istioctl" build_all
verify_binaries
log "istioctl and pilot-discovery $ISTIO_VERSION (istio.io/istio@$ISTIO_PSEUDO_VERSION) in $IBIN"
[[ "${1:-}" == "--binaries-only" ]] && exit 0

docker info >/dev/null 2>&1 || die "docker is not reachable: binaries are built; run hack/setup-docker.sh (or start dockerd) and re-run for the image $IMAGE"
BIN_SHA=$(sha256sum "$IBIN/pilot-discovery" | cut -c1-64)
# rebuild the image only when the binary changed
if [[ "$(image_id_label)" == "$BIN_SHA" ]]; then step istio-image /dev/null true; else step istio-image "" build_image; fi
[[ "$(image_id_label)" == "$BIN_SHA" ]] || die "image $IMAGE does not carry the built pilot-discovery"
log "image $IMAGE ready (load it with: kind load docker-image $IMAGE --name <cluster>)"
