#!/usr/bin/env bash
# Makes this host's Docker able to run kind nodes (idempotent): installs docker.io when absent,
# registers the runc capability wrapper as default runtime when the capability bounding set lacks
# CAP_SYS_RESOURCE (docker 20.10 --privileged fails otherwise), starts dockerd when it is not
# running (reloading it with SIGHUP when it is) and raises the inotify limits multi-node kind needs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "hack/setup-docker.sh configures the host's dockerd: run it as root (sudo hack/setup-docker.sh)"

if ! command -v dockerd >/dev/null; then
  log "installing docker.io from apt"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null \
    || die "apt-get install docker.io failed: check the apt sources, or install Docker yourself"
fi
command -v jq >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null

DAEMON_JSON=/etc/docker/daemon.json
mkdir -p /etc/docker
[[ -s $DAEMON_JSON ]] || echo '{}' >"$DAEMON_JSON"
jq -e . "$DAEMON_JSON" >/dev/null || die "$DAEMON_JSON is not valid JSON: fix or remove it"
want=$(cat "$DAEMON_JSON")

bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
if (( (bnd >> 24) & 1 )); then
  log "CAP_SYS_RESOURCE is in the bounding set: plain runc is fine"
else
  log "CAP_SYS_RESOURCE missing from the bounding set: installing runc-capfix as docker's default runtime"
  install -m 0755 "$HERE/docker/runc-capfix" /usr/local/bin/runc-capfix
  want=$(jq '.runtimes.capfix = {path: "/usr/local/bin/runc-capfix"} | ."default-runtime" = "capfix"' <<<"$want")
fi
if [[ $want != "$(cat "$DAEMON_JSON")" ]]; then
  jq . <<<"$want" >"$DAEMON_JSON.tmp" && mv -f "$DAEMON_JSON.tmp" "$DAEMON_JSON"
  changed=1
fi

# kind's known issue: 128 inotify instances are too few for several kubelets on one host
(( $(sysctl -n fs.inotify.max_user_instances) >= 512 )) || sysctl -qw fs.inotify.max_user_instances=512
(( $(sysctl -n fs.inotify.max_user_watches) >= 524288 )) || sysctl -qw fs.inotify.max_user_watches=524288

if pid=$(pidof dockerd); then
  # runtimes and default-runtime are reloadable in docker 20.10: no restart, running containers survive
  [[ -n ${changed:-} ]] && { log "reloading dockerd ($pid)"; kill -HUP "$pid"; sleep 1; }
else
  log "starting dockerd (log /var/log/dockerd.log)"
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null 2>&1 || die "dockerd did not answer within 30s: see /var/log/dockerd.log"

# prove the fix: a privileged container must start (kind runs every node with --privileged)
docker image inspect kubeproof/capcheck >/dev/null 2>&1 \
  || tar -C "$(mktemp -d)" -c . | docker import - kubeproof/capcheck >/dev/null
cid=$(docker create --privileged kubeproof/capcheck /nonexistent 2>&1) || die "docker create failed: $cid"
out=$(docker start -a "$cid" 2>&1 || true); docker rm -f "$cid" >/dev/null
[[ $out != *"unable to apply caps"* ]] || die "privileged containers still fail ($out): check $DAEMON_JSON and /usr/local/bin/runc-capfix"
log "docker ready: $(docker version -f '{{.Server.Version}}'), default runtime $(docker info -f '{{.DefaultRuntime}}')"
