# Entry points; the work is in hack/*.sh (each stage caches, so warm runs only verify).
.PHONY: help docker python cluster-image kubernetes rootfs addons images node-image cluster cluster-delete test-integration
SHELL := /bin/bash
CLUSTER ?= kubeproof-dev
CONFIG ?= manifests/cluster/three-node.yaml
KIND = $(shell bash -c 'source hack/lib/common.sh && echo $$BIN/kind')
NODE_IMAGE = $(shell bash -c 'source hack/lib/common.sh && echo kubeproof/node:$$KUBERNETES_VERSION')

help:
	@echo "make docker            set up Docker on this host (runc capability wrapper, dockerd, inotify limits)"
	@echo "make python            create/refresh .venv"
	@echo "make cluster-image     build everything offline: kubeproof/node:<k8s>, workload images, kind, kubectl"
	@echo "make cluster           kind cluster \$$CLUSTER ($(CLUSTER)) from \$$CONFIG ($(CONFIG))"
	@echo "make cluster-delete    delete it"
	@echo "make test-integration  self-tests of the offline cluster (creates and deletes clusters)"

docker:
	hack/setup-docker.sh
python:
	hack/setup-python.sh
cluster-image:
	hack/setup-host.sh && hack/setup-docker.sh && hack/build-all.sh
kubernetes:
	hack/build-kubernetes.sh
rootfs:
	hack/build-rootfs.sh
addons:
	hack/build-addons.sh
images:
	hack/build-images.sh
node-image:
	hack/build-node-image.sh
cluster:
	$(KIND) create cluster --name $(CLUSTER) --image $(NODE_IMAGE) --config $(CONFIG) --wait 3m
	@mkdir -p $(HOME)/.kube && $(KIND) get kubeconfig --name $(CLUSTER) > $(HOME)/.kube/$(CLUSTER).yaml
	@echo "kubeconfig: $(HOME)/.kube/$(CLUSTER).yaml"
cluster-delete:
	$(KIND) delete cluster --name $(CLUSTER)
test-integration: python
	.venv/bin/pytest tests/integration -m integration -p no:xdist

include hack/istio.mk
include hack/ingress.mk
include hack/suite.mk
