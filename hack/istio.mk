# Istio targets, included by the Makefile (`include hack/istio.mk`).
.PHONY: istio-image istio-binaries
# istiod + istioctl from the pinned istio.io/istio pseudo-version, and the kubeproof/pilot image
istio-image:
	nice -n 10 hack/build-istio.sh
istio-binaries:
	nice -n 10 hack/build-istio.sh --binaries-only
