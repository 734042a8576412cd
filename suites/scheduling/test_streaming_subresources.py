"""Streaming subresources: exec, attach and port-forward switch protocols (101) at the API server,
which relays the stream to the kubelet; exec speaks WebSocket (v5.channel.k8s.io) to current clients
and still SPDY/3.1 to old ones; logs is a plain streaming GET.

Source: seed 002 「exec命令执行原理」 (「API-Server返回101 upgrade响应给kubectl，表示切换到 SPDY 协议…Kubelet再将
这个URL以 redirect 的方式返回给API-Server」; 「attach、port-forward、logs 等命令也是类似的模式」).
Upstream: KEP-4006 (WebSocket for exec/attach/cp beta 1.30, port-forward 1.31); the kubelet's
--redirect-container-streaming was removed in 1.20, so the API server always proxies.
"""
import pytest

from fixtures import streams
from fixtures.exclusivity import cluster_in_use
from fixtures.pods import wait_ready
from fixtures.reporting import step

pytestmark = [pytest.mark.area("scheduling"), pytest.mark.requires(images=["busybox"])]

POD = "streamed"


@pytest.fixture(scope="module")
def streamed(module_ns, cluster, timeouts):
    """Given a running busybox pod."""
    with cluster_in_use(cluster), step("Given a running busybox pod"):
        module_ns.apply("scheduling/resources/sleeper.yaml", name=POD, requests="{}", limits="{}")
        wait_ready(cluster, module_ns.name, f"app={POD}", 1, timeouts)
    return module_ns


def base(ns) -> str:
    return f"/api/v1/namespaces/{ns.name}/pods/{POD}"


def websocket_headers(protocol: str) -> dict[str, str]:
    return {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "a3ViZXByb29mLWtleS0xMg==", "Sec-WebSocket-Protocol": protocol}


def spdy_headers(protocol: str) -> dict[str, str]:
    return {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol}


@pytest.mark.claim("S002-053")
@pytest.mark.requires(min_version="1.30")
@pytest.mark.severity("critical")
def test_exec_switches_to_websocket_v5_and_the_api_server_relays_the_command_output(streamed, cluster):
    """The document: exec is upgraded to SPDY and the kubelet redirects the API server. Today a
    current client offering v5.channel.k8s.io gets 101 Switching Protocols to WebSocket v5 from the
    API server itself (no redirect), and the command's output arrives on channel 1, its status on 3."""
    with step("When exec 'echo hi' is requested over WebSocket offering v5 and v4 channel protocols"):
        answer = streams.websocket_exec(cluster, streamed.name, POD, "main", ["echo", "hi"],
                                        ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    with step("Then the API server switches protocols to WebSocket, choosing v5.channel.k8s.io"):
        assert (answer.status, answer.header("upgrade").lower()) == (101, "websocket"), answer
        assert answer.header("sec-websocket-protocol") == "v5.channel.k8s.io", answer.headers
    with step("And it relays the stream: 'hi' on stdout (channel 1) and Success on the status channel (3)"):
        assert answer.channels.get(1) == b"hi\n", answer.channels
        assert answer.status_object().get("status") == "Success", answer.channels


@pytest.mark.claim("S002-053")
def test_exec_still_switches_to_spdy_for_a_client_that_asks_for_it(streamed, cluster):
    """SPDY/3.1 remains the fallback: an exec request asking for it is upgraded (101) by the API
    server, not redirected."""
    query = [("container", "main"), ("stdout", "true"), ("command", "true")]
    with step("When exec is requested with Upgrade: SPDY/3.1 and X-Stream-Protocol-Version v4.channel.k8s.io"):
        answer = streams.request(cluster, "POST", f"{base(streamed)}/exec", query, spdy_headers("v4.channel.k8s.io"))
    with step("Then the API server answers 101 with SPDY/3.1 and the v4 stream protocol, no redirect"):
        assert (answer.status, answer.header("upgrade"), answer.header("x-stream-protocol-version")) == (
            101, "SPDY/3.1", "v4.channel.k8s.io"), answer
        assert not answer.header("location"), answer.headers


@pytest.mark.claim("S002-054")
def test_attach_and_port_forward_switch_protocols_too(streamed, cluster, server_version):
    """attach and portforward are upgraded like exec (101): attach over WebSocket, port-forward over
    SPDY and (1.31+) over WebSocket tunnelling SPDY."""
    with step("When attach is requested over WebSocket"):
        attach = streams.request(cluster, "GET", f"{base(streamed)}/attach", [("container", "main"), ("stdout", "true")],
                                 websocket_headers("v5.channel.k8s.io"))
    with step("And port-forward over SPDY"):
        forward = streams.request(cluster, "POST", f"{base(streamed)}/portforward", [("ports", "8080")],
                                  spdy_headers("portforward.k8s.io"))
    with step("Then both switch protocols"):
        assert (attach.status, attach.header("upgrade").lower()) == (101, "websocket"), attach
        assert (forward.status, forward.header("upgrade")) == (101, "SPDY/3.1"), forward
    if server_version >= (1, 31, 0):
        with step("And port-forward over WebSocket (SPDY tunnelled) switches protocols as well"):
            tunnel = streams.request(cluster, "GET", f"{base(streamed)}/portforward", [("ports", "8080")],
                                     websocket_headers("SPDY/3.1+portforward.k8s.io"))
            assert (tunnel.status, tunnel.header("sec-websocket-protocol")) == (101, "SPDY/3.1+portforward.k8s.io"), tunnel


@pytest.mark.claim("S002-054")
def test_logs_are_a_plain_streaming_get_without_protocol_switch(streamed, cluster):
    """Unlike exec/attach/port-forward, log?follow=true is an ordinary 200 response streamed in chunks."""
    with step("When the log is followed"):
        answer = streams.request(cluster, "GET", f"{base(streamed)}/log", [("follow", "true"), ("container", "main")], {})
    with step("Then the answer is 200, chunked, with no protocol upgrade"):
        assert (answer.status, answer.header("transfer-encoding"), answer.header("upgrade")) == (200, "chunked", ""), answer
