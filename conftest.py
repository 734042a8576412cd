"""kubeproof's pytest entry: all machinery lives in fixtures/ and is registered here."""
pytest_plugins = ["fixtures.plugin", "fixtures.session", "fixtures.per_test", "fixtures.extra_clusters",
                  "fixtures.addons.istio_fixtures", "fixtures.addons.kube_router",
                  "fixtures.addons.ingress_nginx", "fixtures.addons.metrics_server",
                  "fixtures.addons.csi_mock"]
