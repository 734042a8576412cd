"""Self-tests of the ingress-nginx add-on's pure logic: pins, bad input (an unknown version, no ingress-ready node, an
installed controller of another class or version), and the offline template edits."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace as NS

import pytest

from fixtures.addons import ingress_nginx as addon
from fixtures.addons.ingress_nginx import IngressNginxError, Pinned
from fixtures.versions import ROOT

PINS = {"INGRESS_NGINX_VERSION": "v1.11-dev", "INGRESS_NGINX_PSEUDO_VERSION": "v0.0.0-20240708192948-52c50467d67d",
        "INGRESS_NGINX_LOCAL_IMAGE": "kubeproof/ingress-nginx-controller",
        "INGRESS_NGINX_ONLINE_IMAGE": "registry.k8s.io/ingress-nginx/controller:v1.11.0"}


@pytest.fixture
def pinned() -> Pinned:
    return Pinned.from_pins(PINS)


def test_pins_give_the_offline_and_online_images(pinned):
    assert pinned.image("offline") == "kubeproof/ingress-nginx-controller:v1.11-dev"
    assert pinned.image("online") == "registry.k8s.io/ingress-nginx/controller:v1.11.0"
    assert pinned.accepts("v1.11-dev") and pinned.accepts("v1.11.0") and not pinned.accepts("v1.14.5")


def test_the_checkouts_pins_are_complete():
    Pinned.from_pins()


def test_missing_pins_are_named():
    with pytest.raises(IngressNginxError, match="lacks INGRESS_NGINX_ONLINE_IMAGE"):
        Pinned.from_pins({k: v for k, v in PINS.items() if k != "INGRESS_NGINX_ONLINE_IMAGE"})


def test_an_unknown_version_is_refused_naming_the_pins(pinned):
    addon.check_requested(None, pinned)
    addon.check_requested("v1.11.0", pinned)
    with pytest.raises(IngressNginxError, match=r"v1\.15\.1 is unknown to this checkout: it pins v1\.11-dev .* and v1\.11\.0"):
        addon.check_requested("v1.15.1", pinned)


def _node(name: str) -> NS:
    return NS(metadata=NS(name=name))


def test_a_cluster_without_an_ingress_ready_node_is_refused_with_the_fix():
    cluster = NS(core=NS(list_node=lambda label_selector: NS(items=[])))
    with pytest.raises(IngressNginxError, match="no node is labelled ingress-ready=true.*--kind-config ingress"):
        addon.ingress_node(cluster)
    labelled = NS(core=NS(list_node=lambda label_selector: NS(items=[_node("b"), _node("a")])))
    assert addon.ingress_node(labelled) == "a"


def _cluster_with(image: str, classes: dict[str, str]) -> NS:
    deployment = NS(spec=NS(template=NS(spec=NS(containers=[NS(image=image)]))))
    items = [NS(metadata=NS(name=n), spec=NS(controller=c)) for n, c in classes.items()]
    resources = NS(get=lambda api_version, kind: NS(get=lambda: NS(items=items)))
    return NS(apps=NS(read_namespaced_deployment=lambda name, ns: deployment), dynamic=NS(resources=resources))


def test_an_installed_controller_of_another_class_is_refused(pinned):
    cluster = _cluster_with("kubeproof/ingress-nginx-controller:v1.11-dev", {"public": "k8s.io/ingress-nginx"})
    with pytest.raises(IngressNginxError, match=r"no IngressClass 'nginx' names controller k8s.io/ingress-nginx .*public"):
        addon.detect(cluster, pinned)


def test_an_installed_controller_of_another_version_is_refused_and_the_pinned_one_adopted(pinned):
    with pytest.raises(IngressNginxError, match=r"ingress-nginx v1\.14\.5 .* is installed, but this checkout pins v1\.11-dev"):
        addon.detect(_cluster_with("registry.k8s.io/ingress-nginx/controller:v1.14.5@sha256:00", {"nginx": "k8s.io/ingress-nginx"}), pinned)
    found = addon.detect(_cluster_with("registry.k8s.io/ingress-nginx/controller:v1.11.0", {"nginx": "k8s.io/ingress-nginx"}), pinned)
    assert (found["installed_by_run"], found["version"]) == (False, "v1.11.0")


def _edit_template():
    spec = importlib.util.spec_from_file_location("edit_template", ROOT / "hack" / "ingress-nginx" / "edit-template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.edit


TEMPLATE = """{{ $cfg := .Cfg }}
# setup custom paths that do not require root access
pid {{ .PID }};
http {
    server {
        {{ if $cfg.UseHTTP2 }}
            http2 on;
        {{ end }}
    }
}

stream {
    lua_package_path "x";
}

{{/* helpers */}}
"""


def test_the_template_edits_load_debians_modules_drain_the_stream_port_and_drop_http2():
    out = _edit_template()(TEMPLATE)
    assert out.index("load_module /usr/lib/nginx/modules/ndk_http_module.so;") < out.index("ngx_http_lua_module.so") < out.index("pid ")
    assert "stream {" not in out and "http2 on;" not in out and "{{/* helpers */}}" in out
    http_block = out[out.index("http {"):out.index("{{/* helpers */}}")]
    assert "listen 127.0.0.1:10247;" in http_block and http_block.rstrip().endswith("}"), http_block


def test_a_template_without_the_anchors_fails_naming_the_edit():
    with pytest.raises(SystemExit, match="no top-level 'stream \\{' line"):
        _edit_template()("http {\n}\n")


def test_the_webhook_wait_retries_a_replaced_controllers_killed_nginx_test_but_not_a_real_refusal():
    from kubernetes.client import ApiException

    def refusal(status, body):
        exc = ApiException(status=status)
        exc.body = body
        return exc
    killed = b'{"message":"admission webhook denied the request: Error: signal: terminated\\nnginx: ... syntax is ok"}'
    assert addon._webhook_not_serving_yet(refusal(400, killed))
    assert addon._webhook_not_serving_yet(refusal(503, b"no endpoints"))
    assert not addon._webhook_not_serving_yet(refusal(400, b'{"message":"nginx: [emerg] unknown directive"}'))
    assert not addon._webhook_not_serving_yet(ValueError("not an API answer"))
