"""resourceVersion semantics: optimistic concurrency (409 on a stale write), what a LIST's and a GET's
resourceVersion mean, reads at a given resourceVersion, watches from a resourceVersion, and the watch
protocol on the wire (chunked HTTP/1.1, HTTP/2, WebSocket).

Source: seed 002 «资源创建流程» (GET, Watch), «控制器的原理». Upstream:
https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
"""
import time

import pytest
from kubernetes import client

from fixtures import apiserver, auth
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]

WATCH_SECONDS = 2  # how long a test watch stays open (the server closes it): a behaviour parameter
# a resourceVersion no etcd here will reach: "too large" for the cache
FAR_AHEAD = 10**12


OURS = "kubeproof.io/probe=resource-version"  # the test's own ConfigMaps (istiod writes its CA ConfigMaps into every namespace)


def _cm(cluster, namespace: str, name: str, value: str = "0") -> client.V1ConfigMap:
    key, _, val = OURS.partition("=")
    return cluster.core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={key: val}), data={"v": value}))


def _cms(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


@pytest.mark.claim("S002-065")
def test_every_change_moves_the_resource_version_and_a_stale_write_is_refused_with_409(ns, cluster):
    """Every update changes metadata.resourceVersion; an update that changes nothing does not; an update carrying
    an older resourceVersion fails with 409 Conflict (optimistic concurrency)."""
    core = cluster.core
    first = _cm(cluster, ns.name, "rv")
    r1 = first.metadata.resource_version
    with step("When the object is PUT back unchanged"):
        same = core.replace_namespaced_config_map("rv", ns.name, first)
    with step("Then its resourceVersion did not move"):
        assert same.metadata.resource_version == r1
    with step("When its data changes"):
        first.data = {"v": "1"}
        changed = core.replace_namespaced_config_map("rv", ns.name, first)
    with step("Then the resourceVersion changed"):
        assert changed.metadata.resource_version != r1
    with step("And a write carrying the old resourceVersion is refused with 409, leaving the object as it was"):
        first.metadata.resource_version, first.data = r1, {"v": "stale"}
        assert auth.status_of(lambda: core.replace_namespaced_config_map("rv", ns.name, first)) == 409
        assert core.read_namespaced_config_map("rv", ns.name).data == {"v": "1"}


@pytest.mark.claim("S002-066")
def test_reads_at_a_resource_version_the_cache_has_not_reached_time_out_with_504(ns, cluster):
    """resourceVersion unset: the most recent data; "0": any data (from the watch cache); N with
    resourceVersionMatch=NotOlderThan: at least as new as N, and when N is ahead of the cache the server waits
    about 3 s, then fails with 504 "Too large resource version"."""
    created = _cm(cluster, ns.name, "fresh")
    with step("Then an unset resourceVersion LIST includes the object just written (a consistent read)"):
        names = [i["metadata"]["name"] for i in apiserver.get(cluster.api, _cms(ns.name)).json()["items"]]
        assert "fresh" in names, names
    with step("And resourceVersion=0 is served"):
        assert apiserver.get(cluster.api, _cms(ns.name), [("resourceVersion", "0")]).status == 200
    with step("And NotOlderThan the object's own version is served and includes it"):
        ok = apiserver.get(cluster.api, _cms(ns.name), [("resourceVersion", created.metadata.resource_version),
                                                         ("resourceVersionMatch", "NotOlderThan")])
        assert ok.status == 200 and "fresh" in ok.body, ok.status
    with step("When a LIST asks for a resourceVersion far ahead of the store"):
        t0 = time.monotonic()
        ahead = apiserver.get(cluster.api, _cms(ns.name), [("resourceVersion", str(FAR_AHEAD)),
                                                            ("resourceVersionMatch", "NotOlderThan")])
        waited = time.monotonic() - t0
    with step("Then the server waited about 3 s and answered 504 Too large resource version"):
        assert ahead.status == 504 and "Too large resource version" in ahead.body, ahead
        assert 2.5 <= waited <= 6, f"waited {waited:.2f}s"


@pytest.mark.claim("S002-067")
def test_a_lists_resource_version_covers_its_items_and_starts_a_watch_after_them(ns, cluster):
    """A LIST's metadata.resourceVersion is at least every item's (etcd revision; numeric comparison is
    implementation knowledge, valid here) and a watch started from it sees only later changes; a GET's
    resourceVersion is the object's last modification."""
    a, _ = _cm(cluster, ns.name, "a"), _cm(cluster, ns.name, "b")
    a.data = {"v": "1"}
    a = cluster.core.replace_namespaced_config_map("a", ns.name, a)
    listed = cluster.core.list_namespaced_config_map(ns.name, label_selector=OURS)
    items = {i.metadata.name: i.metadata.resource_version for i in listed.items}
    with step("Then the list's resourceVersion is >= every item's, and a GET returns the item's version"):
        assert int(listed.metadata.resource_version) >= max(int(v) for v in items.values()), (listed.metadata.resource_version, items)
        assert cluster.core.read_namespaced_config_map("a", ns.name).metadata.resource_version == items["a"] == a.metadata.resource_version
    with step("When a watch starts at the list's resourceVersion and a third configmap is created"):
        status, events = apiserver.watch_while(cluster.api, _cms(ns.name), WATCH_SECONDS, lambda: _cm(cluster, ns.name, "c"),
                                               resourceVersion=listed.metadata.resource_version, labelSelector=OURS)
    with step("Then the watch reports only the new object"):
        assert status == 200 and [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "c")], events


@pytest.mark.claim("S002-068")
def test_a_watch_from_a_version_sends_only_later_changes_and_a_too_old_version_is_gone(ns, cluster, network_crd):
    """A watch with resourceVersion unset or "0" first sends synthetic ADDED events for existing objects; from
    an exact version N it sends only changes after N (strictly greater, not >= as the document says); from a
    version older than the server can serve from (its watch cache's window, etcd's compaction) it ends with an
    ERROR event 410 Gone."""
    created = _cm(cluster, ns.name, "w")
    path = _cms(ns.name)
    with step("Then watches without a version, or from 0, start with ADDED for the existing object"):
        for query in ({}, {"resourceVersion": "0"}):
            _, events = apiserver.watch_events(cluster.api, path, 1, **query)  # kube-root-ca.crt may be there too
            initial = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
            assert ("ADDED", "w") in initial and {t for t, _ in initial} == {"ADDED"}, (query, initial)

    def update():
        created.data = {"v": "1"}
        cluster.core.replace_namespaced_config_map("w", ns.name, created)

    with step("When a watch starts at the object's own version and the object is updated"):
        _, events = apiserver.watch_while(cluster.api, path, WATCH_SECONDS, update, fieldSelector="metadata.name=w",
                                          resourceVersion=created.metadata.resource_version)
    with step("Then only the MODIFIED event arrives: the change at N itself is not replayed"):
        assert [e["type"] for e in events] == ["MODIFIED"], events
    with step("And a watch from resourceVersion 1 on a resource type younger than that version ends with ERROR 410 Gone"):
        # a fresh CRD's watch cache starts at its creation, far past 1 (a configmap watch from 1 may still be replayed:
        # on a young cluster the configmap cache's history reaches back to its first revisions until it evicts)
        networks = f"/apis/{network_crd().group}/v1/namespaces/{ns.name}/networks"
        status, events = apiserver.watch_events(cluster.api, networks, 1, resourceVersion="1")
        errors = [e["object"] for e in events if e["type"] == "ERROR"]
        assert status == 410 or (errors and errors[0]["code"] == 410), (status, events)


@pytest.mark.claim("S002-171")
def test_a_single_watch_delivers_changes_in_the_order_they_happened(ns, cluster):
    """Clients may only compare resourceVersions for equality (API conventions: opaque); what the document's
    ordering really gives is that one watch delivers an object's changes in order, each with a new version."""
    created = _cm(cluster, ns.name, "seq")

    def five_updates():
        obj = created
        for i in range(1, 6):
            obj.data = {"v": str(i)}
            obj = cluster.core.replace_namespaced_config_map("seq", ns.name, obj)

    with step("When the object is updated five times while a watch from its creation is open"):
        _, events = apiserver.watch_while(cluster.api, _cms(ns.name), WATCH_SECONDS, five_updates,
                                          fieldSelector="metadata.name=seq", resourceVersion=created.metadata.resource_version)
    with step("Then the watch delivered the five values in order, each under a distinct resourceVersion"):
        assert [e["object"]["data"]["v"] for e in events] == ["1", "2", "3", "4", "5"], events
        versions = [e["object"]["metadata"]["resourceVersion"] for e in events]
        assert len(set(versions)) == 5 and created.metadata.resource_version not in versions, versions


@pytest.mark.claim("S002-170")
def test_a_watch_is_a_chunked_http1_stream_an_http2_stream_or_a_websocket(ns, cluster):
    """A watch is one long-lived 200 response: over HTTP/1.1 with Transfer-Encoding: chunked, one JSON event
    per line; over TLS the server negotiates h2 (ALPN) and the same watch runs as an HTTP/2 stream; a WebSocket
    watch works too."""
    created = _cm(cluster, ns.name, "wire")
    path = f"{_cms(ns.name)}?watch=1&fieldSelector=metadata.name%3Dwire&resourceVersion={created.metadata.resource_version}"
    with step("Given a raw HTTP/1.1 watch"):
        http1 = apiserver.http1_watch(cluster, path, WATCH_SECONDS)
        http1.ready.wait(WATCH_SECONDS + 10)
    with step("When the object changes twice"):
        for v in ("1", "2"):
            created.data = {"v": v}
            created = cluster.core.replace_namespaced_config_map("wire", ns.name, created)
        http1.done.wait(WATCH_SECONDS + 10)
    with step("Then the response is 200, chunked, with one JSON event per line"):
        assert http1.error is None and http1.status == 200, http1
        assert http1.headers.get("transfer-encoding") == "chunked", http1.headers
        assert [e["type"] for e in http1.events] == ["MODIFIED", "MODIFIED"], http1.events
        assert b"".join(http1.chunks).count(b"\n") == 2, http1.chunks
    with step("And the server negotiates HTTP/2 by ALPN, and a watch over it streams the events"):
        assert apiserver.negotiated_protocol(cluster, ["h2", "http/1.1"]) == "h2"
        h2 = apiserver.curl_watch(cluster, f"{_cms(ns.name)}?watch=1&resourceVersion={created.metadata.resource_version}&timeoutSeconds=1",
                                  seconds=5, http2=True)
        assert "< HTTP/2 200" in h2.stderr, h2.stderr[-1500:]
    with step("And a WebSocket watch (from version 0) receives the object"):
        # only `wire`: other controllers (kube-root-ca.crt, Istio's CA ConfigMaps) write into every namespace
        events = apiserver.websocket_watch_events(cluster, f"{_cms(ns.name)}?watch=1&fieldSelector=metadata.name%3Dwire&resourceVersion=0",
                                                  seconds=10, expect=1)
        assert [e["object"]["metadata"]["name"] for e in events] == ["wire"], events
