#!/usr/bin/env bash
# Kubernetes server binaries from the k8s.io/kubernetes Go module through a wrapper module that
# replaces every staging module (k8s.io/kubernetes itself refuses `go install`).
source "$(dirname "$0")/lib/common.sh"
go_toolchain_check
[[ "$KUBERNETES_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "KUBERNETES_VERSION=$KUBERNETES_VERSION is not vX.Y.Z"
MINOR="${BASH_REMATCH[1]}"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)
WRAP="$CACHE/src/kubernetes"

resolve_module() {  # written aside and renamed: a failed download leaves no marker a later run would trust
  go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >"$CACHE/src/kubernetes.json.tmp" \
    || die "k8s.io/kubernetes@$KUBERNETES_VERSION is not on the Go module proxy: is KUBERNETES_VERSION a real release?"
  mv -f "$CACHE/src/kubernetes.json.tmp" "$CACHE/src/kubernetes.json"
}

write_wrapper() {
  local PKGS=(); for c in "${COMPONENTS[@]}"; do PKGS+=("k8s.io/kubernetes/cmd/$c@$KUBERNETES_VERSION"); done
  local dir; dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$CACHE/src/kubernetes.json")
  rm -rf "$WRAP.tmp" && mkdir -p "$WRAP.tmp"
  {
    echo "module kubeproof.local/kubernetes-build"
    grep -E '^(go|godebug) ' "$dir/go.mod"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    # every staging module, at the matching v0.Y.Z
    grep -E '=> \./staging/' "$dir/go.mod" | awk -v v="v0.$MINOR.${KUBERNETES_VERSION##*.}" '{print "replace " $1 " => " $1 " " v}'
  } >"$WRAP.tmp/go.mod"
  (cd "$WRAP.tmp" && go get "${PKGS[@]}")
  rm -rf "$WRAP" && mv "$WRAP.tmp" "$WRAP"
}

build_all() {
  # the release's own tag time keeps the binaries reproducible
  local date; date=$(python3 -c 'import json,sys; print(json.load(open(json.load(open(sys.argv[1]))["Info"]))["Time"])' "$CACHE/src/kubernetes.json")
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=go-module-$KUBERNETES_VERSION"
  done
  mkdir -p "$CACHE/out.tmp"
  (cd "$WRAP" && go build -trimpath -tags=selinux,notest -ldflags="-s -w $ld" -o "$CACHE/out.tmp/" \
     "${COMPONENTS[@]/#/k8s.io/kubernetes/cmd/}")
  for c in "${COMPONENTS[@]}"; do atomic_install "$CACHE/out.tmp/$c" "$BIN/$c"; done
  rm -rf "$CACHE/out.tmp"
}

verify() {
  local c out
  for c in "${COMPONENTS[@]}"; do
    case $c in
      kubeadm) out=$("$BIN/kubeadm" version -o short 2>&1) ;;
      kubectl) out=$("$BIN/kubectl" version --client 2>&1) ;;
      *) out=$("$BIN/$c" --version 2>&1) ;;
    esac
    [[ $out == *"$KUBERNETES_VERSION"* ]] || die "$BIN/$c does not report $KUBERNETES_VERSION (got: ${out%%$'\n'*}); delete it and rerun"
  done
}

mkdir -p "$CACHE/src"
STEPS_TOTAL=3
step k8s-resolve "$CACHE/src/kubernetes.json" resolve_module
step k8s-wrapper "$WRAP/go.sum" write_wrapper
step k8s-build "$BIN/${COMPONENTS[-1]}" build_all  # the last one installed
verify
log "kubernetes $KUBERNETES_VERSION binaries ready in $BIN"
