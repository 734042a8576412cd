"""The controller's ConfigMap drives the global nginx settings: the defaults the document tunes (keepalive_requests,
the upstream keepalive pool, worker_connections, worker_rlimit_nofile), proxy-body-size, and the automatic reload on
a change. Each claim is read in the rendered /etc/nginx/nginx.conf and observed in traffic or in the nginx processes.

Source: 000_b2af30f51f81eada.txt 「Nginx Ingress 高并发实践」(nginx 配置调整); 003_d8925e36aedd8024.txt
「Nginx Ingress Controller」. Upstream: kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/configmap/.
ConfigMap changes apply to the one shared controller: those tests are serial and restore what they changed.
"""
from __future__ import annotations

import re

import pytest

from fixtures.addons import ingress_http as web
from fixtures.addons.ingress_nginx import NAMESPACE, SELECTOR
from fixtures.polling import consistently
from fixtures.reporting import step

pytestmark = [pytest.mark.area("ingress"), pytest.mark.requires(ingress=True, images=["nginx"])]


@pytest.fixture(scope="module")
def site(module_ns, ingress, cluster, timeouts):
    """Given an echo backend `app` behind an Ingress for cfg.<ns>.test, served."""
    web.deploy_echo(module_ns, cluster, timeouts, {"app": 1})
    host = f"cfg.{module_ns.name}.test"
    module_ns.apply("ingress/routing/classed.yaml", name="cfg", class_name="nginx", host=host, backend="app", service_upstream="false")
    web.wait_routed(ingress, host, "/", "app", timeouts)
    return host


def upstream_block(conf: str) -> str:
    m = re.search(r"\n\tupstream upstream_balancer \{(.*?)\n\t\}", conf, re.S)
    assert m, "no upstream upstream_balancer block in nginx.conf"
    return m.group(1)


def directive(conf: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", conf, re.M)


@pytest.mark.serial
@pytest.mark.claim("S000-43")
def test_keepalive_requests_default_to_1000_and_10000_not_100_and_cap_a_client_connection(site, ingress, cluster, timeouts):
    """The document says keepalive_requests defaults to 100 for clients and upstreams; ingress-nginx renders 1000
    (keep-alive-requests) and 10000 (upstream-keepalive-requests), and a client connection is closed after the
    configured count."""
    conf = web.nginx_conf(cluster)
    with step("Then nginx.conf has keepalive_requests 1000 in http and 10000 in the upstream_balancer"):
        assert directive(conf, "keepalive_requests")[0] == "1000", directive(conf, "keepalive_requests")
        assert directive(upstream_block(conf), "keepalive_requests") == ["10000"], upstream_block(conf)
    with step("And 8 requests fit on one client connection by default (negative control)"):
        default = web.on_one_connection(ingress, site, "/", 8)
        assert len(default) == 8 and not any(r.headers.get("connection") == "close" for r in default), [r.headers for r in default]
    with step("When keep-alive-requests is set to 5"):
        with web.configured(cluster, timeouts, {"keep-alive-requests": "5"}, rendered=r"\n\tkeepalive_requests 5;"):
            capped = web.settled(lambda: web.on_one_connection(ingress, site, "/", 8), lambda rs: len(rs) < 8, timeouts,
                                 "a client connection ended before 8 requests")
    with step("Then the 5th response on a connection says Connection: close and the connection ends there"):
        assert [r.headers.get("connection") for r in capped] == ["keep-alive"] * 4 + ["close"], [r.headers for r in capped]


@pytest.mark.serial
@pytest.mark.claim("S000-44")
def test_the_upstream_keepalive_pool_defaults_to_320_and_reuses_backend_connections(site, ingress, cluster, timeouts):
    """upstream-keepalive-connections defaults to 320 (keepalive 320 in upstream_balancer) and backend connections
    are reused (the backend sees several requests on one connection); 0 turns the pool off, 1000 renders keepalive 1000."""
    with step("Then upstream_balancer has keepalive 320 and the backend sees requests arrive on reused connections"):
        assert directive(upstream_block(web.nginx_conf(cluster)), "keepalive") == ["320"]
        reused = [int(web.get(ingress, site, "/").echo.get("conn_requests", 0)) for _ in range(20)]
        assert max(reused) > 1, reused
    with step("When upstream-keepalive-connections is 0, every request reaches the backend on a new connection"):
        with web.configured(cluster, timeouts, {"upstream-keepalive-connections": "0"},
                            rendered=r"balancer\.balance\(\)\s*\}\s*\}"):
            web.settled(lambda: web.get(ingress, site, "/"), lambda r: r.echo.get("conn_requests") == "1", timeouts, "no upstream reuse")
            fresh = [int(web.get(ingress, site, "/").echo.get("conn_requests", 0)) for _ in range(20)]
        assert fresh == [1] * 20, fresh
    with step("When it is 1000, nginx.conf renders keepalive 1000 and connections are reused again"):
        with web.configured(cluster, timeouts, {"upstream-keepalive-connections": "1000"}, rendered=r"\n\t\tkeepalive 1000;"):
            again = [int(web.get(ingress, site, "/").echo.get("conn_requests", 0)) for _ in range(20)]
        assert max(again) > 1, again


@pytest.mark.serial
@pytest.mark.claim("S000-45")
def test_max_worker_connections_defaults_to_16384_and_the_configmap_changes_it(site, ingress, cluster, timeouts):
    """max-worker-connections defaults to 16384 (worker_connections); the ConfigMap value 65536 renders 65536 and
    the reloaded nginx serves."""
    with step("Then worker_connections is 16384"):
        assert directive(web.nginx_conf(cluster), "worker_connections") == ["16384"]
    with step("When max-worker-connections is 65536, worker_connections follows and traffic is still served"):
        with web.configured(cluster, timeouts, {"max-worker-connections": "65536"}, rendered=r"worker_connections\s+65536;"):
            answered = web.wait_routed(ingress, site, "/", "app", timeouts)
        assert answered.status == 200, answered


def hard_nofile(cluster) -> int:
    return int(web.in_controller(cluster, "ulimit -Hn").strip())


def worker_nofile(cluster) -> list[int]:
    """Max open files (soft) of every nginx worker process, from /proc/<pid>/limits."""
    pids = [line.split(None, 1)[0] for line in web.in_controller(cluster, "ps -eo pid=,args=").splitlines()
            if line.split(None, 1)[1:] == ["nginx: worker process"]]
    out = web.in_controller(cluster, " ".join(f"awk '/Max open files/ {{print $4}}' /proc/{p}/limits;" for p in pids))
    return sorted({int(v) for v in out.split()})


@pytest.mark.serial
@pytest.mark.claim("S000-41")
def test_worker_rlimit_nofile_is_the_hard_nofile_limit_minus_1024_not_half_of_fs_file_max(site, ingress, cluster, timeouts):
    """The document bounds nginx's connections by fs.file-max / 2; ingress-nginx sets worker_rlimit_nofile to the
    container's hard RLIMIT_NOFILE minus 1024 (the workers run with it), and max-worker-connections 0 makes
    worker_connections 3/4 of that (fs.file-max, node-global, is not read)."""
    hard = hard_nofile(cluster)
    with step(f"Then nginx.conf has worker_rlimit_nofile {hard - 1024} (hard limit {hard} - 1024) and the workers run with it"):
        assert directive(web.nginx_conf(cluster), "worker_rlimit_nofile") == [str(hard - 1024)]
        assert worker_nofile(cluster) == [hard - 1024]
    with step("When max-worker-connections is 0, worker_connections becomes 3/4 of worker_rlimit_nofile"):
        want = int((hard - 1024) * 3 / 4)
        with web.configured(cluster, timeouts, {"max-worker-connections": "0"}, rendered=rf"worker_connections\s+{want};"):
            assert web.wait_routed(ingress, site, "/", "app", timeouts).status == 200


def nginx_processes(cluster) -> dict[str, list[str]]:
    procs: dict[str, list[str]] = {"master": [], "worker": []}  # workers: serving ones (not shutting down)
    for pid, args in (line.split(None, 1) for line in web.in_controller(cluster, "ps -eo pid=,args=").splitlines()):
        if args.startswith("nginx: master process"):
            procs["master"].append(pid)
        elif args == "nginx: worker process":
            procs["worker"].append(pid)
    return procs


@pytest.mark.serial
@pytest.mark.claim("S000-46", "S003-111")
def test_a_configmap_change_is_rendered_and_reloaded_without_a_restart_and_another_configmap_is_ignored(site, ingress, cluster, timeouts, ns):
    """The controller watches the ConfigMap its --configmap flag names (ingress-nginx/ingress-nginx-controller) and
    reloads nginx on a change: proxy-body-size 1k renders client_max_body_size 1k in /etc/nginx/nginx.conf and a
    4 KiB body is refused with 413, by new workers of the same master, the pod not restarted. A ConfigMap of another
    name (the document's nginx-configuration) is ignored."""
    body = b"x" * 4096
    pod = cluster.core.list_namespaced_pod(NAMESPACE, label_selector=SELECTOR).items[0]
    restarts = pod.status.container_statuses[0].restart_count
    before = nginx_processes(cluster)
    with step("Given a 4 KiB POST is accepted (default proxy-body-size 1m)"):
        assert web.get(ingress, site, "/", method="POST", body=body).status == 200
    with step("When proxy-body-size is set to 1k in the controller's ConfigMap"):
        with web.configured(cluster, timeouts, {"proxy-body-size": "1k"}, rendered=r"client_max_body_size\s+1k;"):
            refused = web.settled(lambda: web.get(ingress, site, "/", method="POST", body=body), lambda r: r.status == 413,
                                  timeouts, "4 KiB POST refused with 413")
            after = nginx_processes(cluster)
    with step("Then the POST was refused with 413 by reloaded workers of the same master, in the same pod"):
        assert refused.status == 413, refused
        assert after["master"] == before["master"] and not set(after["worker"]) & set(before["worker"]), (before, after)
        now = cluster.core.read_namespaced_pod(pod.metadata.name, NAMESPACE)
        assert now.status.container_statuses[0].restart_count == restarts
    with step("When a ConfigMap named nginx-configuration sets keep-alive-requests 7"):
        ns.apply("ingress/configmap/decoy.yaml", value=7)
    with step("Then nginx.conf never renders keepalive_requests 7"):
        consistently(lambda: web.nginx_conf(cluster), holds=lambda c: "keepalive_requests 7;" not in c,
                     duration=timeouts.short_hold, desc="nginx.conf ignoring nginx-configuration")
