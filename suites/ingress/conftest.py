"""ingress-nginx behaviours: every test here needs the controller (the add-on installs it on first use) and
talks to it through the ingress-ready node's host ports (fixtures/addons/ingress_http.py)."""
from __future__ import annotations

import pytest

from fixtures.addons.ingress_nginx import wait_serving


@pytest.fixture(scope="module")
def ingress(ingress_nginx, cluster, timeouts):
    """The controller under test (facts: node, node IP, offline build or official image), serving now: a disruptive
    test elsewhere (a drain, a NoExecute taint) may have recreated its pod since the run began."""
    wait_serving(cluster, timeouts)
    return ingress_nginx
