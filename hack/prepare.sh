#!/usr/bin/env bash
# Everything a run needs on this machine, built or verified (warm: seconds): Docker with its
# capability fix, the Python environment, the offline cluster image and workload images, istiod, the
# ingress-nginx controller image.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup-host.sh
hack/setup-docker.sh
hack/setup-python.sh
hack/build-all.sh
hack/build-istio.sh
hack/build-ingress-nginx.sh
hack/build-ipvs-node.sh
