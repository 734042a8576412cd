"""kubeproof's pytest entry: all machinery lives in fixtures/ and is registered here."""
# fixtures.plugin imports extra_clusters: registered first, its asserts are still rewritten
pytest_plugins = ["fixtures.extra_clusters", "fixtures.plugin", "fixtures.session", "fixtures.per_test",
                  "fixtures.addons.istio_fixtures", "fixtures.addons.kube_router",
                  "fixtures.addons.ingress_nginx", "fixtures.addons.metrics_server",
                  "fixtures.addons.csi_mock", "fixtures.addons.ipvs_node"]
