# ingress-nginx targets, included by the Makefile (`include hack/ingress.mk`).
.PHONY: ingress-nginx-image
# the controller from the pinned k8s.io/ingress-nginx pseudo-version on Debian's nginx (docs/ingress.md)
ingress-nginx-image:
	nice -n 10 hack/build-ingress-nginx.sh
