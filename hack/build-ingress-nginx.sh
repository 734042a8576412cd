#!/usr/bin/env bash
# The ingress-nginx controller image kubeproof/ingress-nginx-controller:$INGRESS_NGINX_VERSION, offline:
# the real controller (nginx-ingress-controller, dbg, wait-shutdown) built from the Go module
# k8s.io/ingress-nginx@$INGRESS_NGINX_PSEUDO_VERSION, its own Lua and nginx.tmpl from the module cache,
# on Debian bookworm's nginx 1.22 with the lua/ndk/headers-more/set-misc modules, plus the project's
# Lua shims (hack/ingress-nginx/lua) and three template edits (hack/ingress-nginx/edit-template.py).
# Nothing of upstream's repository is committed. Caveats against the official image: docs/ingress.md.
source "$(dirname "$0")/lib/common.sh"
go_toolchain_check
[[ "${INGRESS_NGINX_PSEUDO_VERSION:-}" =~ ^v0\.0\.0-[0-9]{14}-([0-9a-f]{12})$ ]] \
  || die "INGRESS_NGINX_PSEUDO_VERSION='${INGRESS_NGINX_PSEUDO_VERSION:-}' in hack/versions.env is not a Go pseudo-version v0.0.0-<14 digits>-<12 hex>"
COMMIT="${BASH_REMATCH[1]}"
[[ "${INGRESS_NGINX_VERSION:-}" =~ ^v[0-9]+\.[0-9]+(\.[0-9]+)?(-[0-9A-Za-z.]+)?$ ]] \
  || die "INGRESS_NGINX_VERSION='${INGRESS_NGINX_VERSION:-}' is not an ingress-nginx version (v1.11.0, v1.11-dev)"
[[ -n "${INGRESS_NGINX_LOCAL_IMAGE:-}" ]] || die "hack/versions.env lacks INGRESS_NGINX_LOCAL_IMAGE"
# Its own cache, keyed by the ingress-nginx pins and the Debian suite (not by the Kubernetes pin).
ICACHE="$CACHE_ROOT/ingress-nginx-$INGRESS_NGINX_VERSION-$COMMIT-$DEBIAN_SUITE"
IBIN="$ICACHE/bin"
LOGS="$ICACHE/logs"
IMAGE="$INGRESS_NGINX_LOCAL_IMAGE:$INGRESS_NGINX_VERSION"
BASE="kubeproof/ingress-nginx-base:$DEBIAN_SUITE"
OWN="$HACK_DIR/ingress-nginx"
# Debian's nginx and the modules the template needs (§2a of ../shared/notes/ingress-offline.md)
PKGS=nginx,libnginx-mod-http-ndk,libnginx-mod-http-lua,libnginx-mod-http-headers-more-filter,libnginx-mod-http-set-misc
PKGS+=,lua-resty-core,lua-resty-lrucache,lua-cjson,lua-nginx-dns,lua-nginx-cookie,dumb-init,procps,ca-certificates,bash
mkdir -p "$IBIN" "$LOGS" "$ICACHE/src"

module_dir() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$ICACHE/src/module.json"; }

resolve_module() {
  cd "$ICACHE/src"  # outside any Go module: a plain module download
  go mod download -json "k8s.io/ingress-nginx@$INGRESS_NGINX_PSEUDO_VERSION" >module.json.tmp || {
    cat module.json.tmp >&2
    die "k8s.io/ingress-nginx@$INGRESS_NGINX_PSEUDO_VERSION is not on the Go module proxy ($(go env GOPROXY)); the versions it serves: curl $(go env GOPROXY | cut -d, -f1)/k8s.io/ingress-nginx/@v/list"
  }
  mv module.json.tmp module.json
}

build_binaries() {
  # as upstream's build/build.sh: static, trimmed, version stamped; inside the module (its go.sum
  # authenticates the dependencies), without its go.work (the nested modules are not in the zip)
  local p=k8s.io/ingress-nginx/version ld
  ld="-s -w -X $p.RELEASE=$INGRESS_NGINX_VERSION -X $p.COMMIT=$COMMIT -X $p.REPO=k8s.io/ingress-nginx@$INGRESS_NGINX_PSEUDO_VERSION"
  rm -rf "$ICACHE/out.tmp" && mkdir -p "$ICACHE/out.tmp"
  (cd "$(module_dir)" && GOWORK=off go build -mod=readonly -trimpath -ldflags="$ld" -o "$ICACHE/out.tmp/" \
    ./cmd/nginx ./cmd/dbg ./cmd/waitshutdown)
  "$ICACHE/out.tmp/nginx" --version 2>&1 | grep -qF "$INGRESS_NGINX_VERSION" || die "the built controller does not report $INGRESS_NGINX_VERSION"
  for b in dbg waitshutdown nginx; do atomic_install "$ICACHE/out.tmp/$b" "$IBIN/$b"; done
  rm -rf "$ICACHE/out.tmp"
}

rootfs() {
  need debootstrap "apt-get install debootstrap"
  [[ $(id -u) == 0 ]] || die "debootstrap needs root: run as root"
  local r="$ICACHE/rootfs.tmp" mirror
  mirror="${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
  rm -rf "$r" && mkdir -p "$CACHE_ROOT/debs"
  debootstrap --cache-dir="$CACHE_ROOT/debs" --variant=minbase --include="$PKGS" "$DEBIAN_SUITE" "$r" "${mirror:-http://deb.debian.org/debian}"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/{doc,man,info,locale}/* "$r"/var/log/*.log
  rm -f "$r"/etc/nginx/sites-enabled/* "$r"/etc/nginx/modules-enabled/*
  "$r/usr/sbin/nginx" -V 2>&1 | grep -q 'nginx/1\.' || die "the rootfs has no runnable nginx"
  tar --numeric-owner -C "$r" -cf "$ICACHE/rootfs.tar.tmp" . && mv -f "$ICACHE/rootfs.tar.tmp" "$ICACHE/rootfs.tar"
  rm -rf "$r"
}

base_image() {
  local h; h=$(stat -c '%s %Y' "$ICACHE/rootfs.tar" | sha256sum | cut -c1-16)
  if [[ "$(image_input "$BASE")" == "$h" ]]; then log "image $BASE: up to date"; return 0; fi
  docker import --change "LABEL kubeproof.input=$h" "$ICACHE/rootfs.tar" "$BASE" >/dev/null
}

controller_image() {
  # upstream's rootfs/Dockerfile on Debian: /etc/nginx (lua, template, placeholder nginx.conf), the binaries at /, uid 101
  # owning what the controller and nginx write; nginx binds 80/443 through the pod's
  # net.ipv4.ip_unprivileged_port_start sysctl (manifests/addons/ingress-nginx.yaml)
  local mod ctx h df prev
  mod=$(module_dir)
  df="FROM $BASE
COPY nginx /nginx-ingress-controller
COPY dbg /dbg
COPY waitshutdown /wait-shutdown
COPY lua /etc/nginx/lua/
COPY shims /usr/local/share/lua/5.1/resty/
COPY nginx.tmpl /etc/nginx/template/nginx.tmpl
COPY nginx.conf /etc/nginx/nginx.conf
RUN groupadd -g 101 www-ingress && useradd -u 101 -g 101 -M -d /nonexistent -s /usr/sbin/nologin www-ingress \\
 && mkdir -p /etc/ingress-controller/ssl /etc/ingress-controller/auth /etc/ingress-controller/geoip /etc/ingress-controller/telemetry \\
    /tmp/nginx /var/lib/nginx/body /var/lib/nginx/proxy /var/lib/nginx/fastcgi /var/lib/nginx/uwsgi /var/lib/nginx/scgi /var/log/nginx \\
 && ln -sf /usr/sbin/nginx /usr/bin/nginx && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \\
 && chown -R 101:101 /etc/nginx /etc/ingress-controller /tmp/nginx /var/lib/nginx /var/log/nginx /run && chmod -R u+w /etc/nginx
USER 101
ENTRYPOINT [\"/usr/bin/dumb-init\", \"--\"]
CMD [\"/nginx-ingress-controller\"]"
  ctx=$(mktemp -d)
  cp "$IBIN/nginx" "$IBIN/dbg" "$IBIN/waitshutdown" "$ctx/"
  cp -r "$mod/rootfs/etc/nginx/lua" "$ctx/lua" && chmod -R u+w "$ctx/lua" && rm -rf "$ctx/lua/test"
  cp -r "$OWN/lua/resty" "$ctx/shims"
  cp "$mod/rootfs/etc/nginx/nginx.conf" "$ctx/nginx.conf"  # upstream's placeholder: nginx starts with its pid path
  python3 "$OWN/edit-template.py" "$mod/rootfs/etc/nginx/template/nginx.tmpl" "$ctx/nginx.tmpl"
  h=$( { echo "$df"; (cd "$ctx" && find . -type f | sort | xargs sha256sum); docker image inspect -f '{{.Id}}' "$BASE"; } | sha256sum | cut -c1-16)
  if [[ "$(image_input "$IMAGE")" == "$h" ]]; then rm -rf "$ctx"; log "image $IMAGE: up to date"; return 0; fi
  printf '%s\nLABEL kubeproof.input=%s kubeproof.ingress-nginx-module=k8s.io/ingress-nginx@%s kubeproof.build=offline-debian-nginx\n' \
    "$df" "$h" "$INGRESS_NGINX_PSEUDO_VERSION" >"$ctx/Dockerfile"
  prev=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
  [[ -z $prev || $prev == "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]] || docker rmi "$prev" >/dev/null 2>&1 || true
  smoke_test
  log "image $IMAGE: built"
}

smoke_test() {
  # the controller's own Lua loads on this nginx and the edited template's modules load: nginx -t on a
  # config that runs the template's init_by_lua requires (what the controller does before its first sync)
  docker run --rm --entrypoint /bin/bash "$IMAGE" -c '
    /nginx-ingress-controller --version >/dev/null 2>&1 || /nginx-ingress-controller --version
    cat >/tmp/nginx/t.conf <<EOF
pid /tmp/nginx/t.pid;
error_log stderr notice;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
load_module /usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so;
load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;
events {}
http {
  lua_package_path "/etc/nginx/lua/?.lua;;";
  lua_shared_dict configuration_data 1M; lua_shared_dict certificate_data 1M; lua_shared_dict certificate_servers 1M;
  lua_shared_dict ocsp_response_cache 1M; lua_shared_dict balancer_ewma 1M; lua_shared_dict balancer_ewma_last_touched_at 1M;
  lua_shared_dict balancer_ewma_locks 1M; lua_shared_dict global_throttle_cache 1M;
  init_by_lua_block {
    for _, m in ipairs({"lua_ingress", "configuration", "balancer", "certificate", "plugins", "monitor"}) do
      local ok, res = pcall(require, m)
      if not ok then error("require " .. m .. " failed: " .. tostring(res)) end
    end
  }
}
EOF
    nginx -t -c /tmp/nginx/t.conf' >"$LOGS/smoke.log" 2>&1 || { cat "$LOGS/smoke.log" >&2; die "$IMAGE: the controller's Lua does not load on Debian's nginx (log $LOGS/smoke.log)"; }
}

docker_check
STEPS_TOTAL=5
step ingress-nginx-resolve "$ICACHE/src/module.json" resolve_module
step ingress-nginx-build "$IBIN/nginx" build_binaries
step ingress-nginx-rootfs "$ICACHE/rootfs.tar" rootfs
step ingress-nginx-base-image "" base_image
step ingress-nginx-image "" controller_image
log "image $IMAGE ready: ingress-nginx $INGRESS_NGINX_VERSION (k8s.io/ingress-nginx@$INGRESS_NGINX_PSEUDO_VERSION) on Debian $DEBIAN_SUITE nginx"
