#!/usr/bin/env bash
# One entry point for the offline cluster image: checks the inputs first (pins, Go, Docker, disk),
# then runs every build stage. Each stage caches its artefacts, so a warm run only verifies.
source "$(dirname "$0")/lib/common.sh"
go_toolchain_check
check_pins
docker_check
[[ $(id -u) == 0 ]] || die "building root filesystems (debootstrap, chroot) needs root: run as root"
disk_check "${KUBEPROOF_MIN_FREE_GIB:-15}"
# $CACHE/complete marks a cache whose every stage succeeded (written last); a run in progress or
# one that failed leaves none, so nothing reading the cache trusts a half-built version
rm -f "$CACHE/complete"
t0=$(date +%s)
for stage in build-kubernetes build-rootfs build-addons build-images build-node-image; do
  s=$(date +%s)
  "$HACK_DIR/$stage.sh"
  log "== $stage: $(( $(date +%s) - s ))s"
done
log "== all done in $(( $(date +%s) - t0 ))s: node image kubeproof/node:$KUBERNETES_VERSION, kind $BIN/kind, kubectl $BIN/kubectl"
printf '%s node image %s, built %s in %ss\n' "$KUBERNETES_VERSION" "$(docker image inspect -f '{{.Id}}' "kubeproof/node:$KUBERNETES_VERSION")" \
  "$(date -u +%FT%TZ)" "$(( $(date +%s) - t0 ))" >"$CACHE/complete.tmp" && mv -f "$CACHE/complete.tmp" "$CACHE/complete"
