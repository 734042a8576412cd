"""ingress-nginx behaviours: every test here needs the controller (the add-on installs it on first use) and
talks to it through the ingress-ready node's host ports (fixtures/addons/ingress_http.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ingress(ingress_nginx):
    """The controller under test (facts: node, node IP, pod, offline build or official image)."""
    return ingress_nginx
