"""kube-proxy's IPVS mode, and the document's hand-built IPVS Service, on a kernel that has IPVS.

Seed 001 「手动实现 IPVS SVC」 (ipvsadm DNAT, the VIP on a dummy interface, SNAT by an ipset-matched mark) and seed 002
「kube-proxy」 and 「Service的实现」 (IPVS mode: kube-ipvs0, rr, ipsets, NAT forwarding only). kind nodes share this
host's kernel, which has no ip_vs: the ipvs-node add-on runs this Kubernetes version's kube-proxy --proxy-mode=ipvs in
a qemu guest with Debian's kernel, named after a worker and driven by this cluster's Services and EndpointSlices. Pod
IPs are not routed to the guest, so traffic goes to real servers inside it (named by an EndpointSlice, or by the
document's ipvsadm commands). IPVS mode is deprecated since Kubernetes 1.35 (KEP-5495) and still served.
"""
import pytest

from fixtures.addons.ipvs_node import UNMANAGED, real_servers
from fixtures.addons.ipvs_node import scheduler as ipvs_scheduler
from fixtures.addons.ipvs_tables import (addresses, get, idle_timeouts, ipset_members, link_kind, nat_rules, sysctl,
                                         virtual_servers)
from fixtures.pods import wait_ready
from fixtures.polling import eventually
from fixtures.reporting import step
from fixtures.workloads import scale

pytestmark = [pytest.mark.area("networking"), pytest.mark.requires(ipvs_node=True, images=["agnhost"]),
              pytest.mark.xdist_group("ipvs-node")]


def _service(cluster, ns, name):
    svc = cluster.core.read_namespaced_service(name, ns.name)
    return svc.spec.cluster_ip, svc.spec.ports[0].port


def _table_entry(guest, vip, port, timeouts, *, until, desc):
    """The guest's virtual server TCP vip:port once `until(entry)` holds (None while kube-proxy has not made it)."""
    return eventually(lambda: virtual_servers(guest).get(f"TCP {vip}:{port}"), until=until, timeout=timeouts.ipvs_sync,
                      desc=desc)


@pytest.mark.claim("S002-181", "S001-07")
def test_ipvs_mode_binds_each_cluster_ip_to_kube_ipvs0_and_balances_its_endpoints_with_rr(ns, cluster, ipvs_node, timeouts):
    """In IPVS mode kube-proxy binds every ClusterIP to the dummy interface kube-ipvs0, makes one IPVS virtual server
    per Service port with scheduler rr whose real servers are the ready endpoints (kept in step as they change), and
    lists VIP,proto:port in ipset KUBE-CLUSTER-IP; a deleted Service leaves no trace."""
    guest = ipvs_node.guest
    with step("Given Service web with 2 ready pods"):
        ns.apply("networking/services/backends.yaml", name="web", replicas=2)
        pods = wait_ready(cluster, ns.name, "app=web", 2, timeouts)
        vip, port = _service(cluster, ns, "web")
    with step(f"Then the guest's kube-proxy makes virtual server {vip}:{port}, scheduler rr, the two pods as real servers"):
        want = sorted(f"{p.ip}:8080" for p in pods)
        vs = _table_entry(guest, vip, port, timeouts, until=lambda v: v is not None and v.endpoints == want,
                          desc=f"TCP {vip}:{port} -> {want}")
        assert vs.scheduler == "rr", vs
    with step("And the ClusterIP is bound to kube-ipvs0, a dummy interface, and ipset KUBE-CLUSTER-IP holds VIP,tcp:port"):
        # one sync writes all three; the ipsets last, after every virtual server
        eventually(lambda: (link_kind(guest, "kube-ipvs0"), f"{vip}/32" in addresses(guest, "kube-ipvs0"),
                            f"{vip},tcp:{port}" in ipset_members(guest, "KUBE-CLUSTER-IP")),
                   until=lambda got: got == ("dummy", True, True), timeout=timeouts.ipvs_sync,
                   desc="(kube-ipvs0 kind, VIP bound, ipset entry)")
    with step("When the Deployment scales to 3, the real servers follow"):
        scale(cluster, ns.name, "web", 3)
        pods = wait_ready(cluster, ns.name, "app=web", 3, timeouts)
        want = sorted(f"{p.ip}:8080" for p in pods)
        _table_entry(guest, vip, port, timeouts, until=lambda v: v is not None and v.endpoints == want,
                     desc=f"TCP {vip}:{port} -> 3 real servers")
    with step("When the Service is deleted, its virtual server, address and ipset entry go"):
        cluster.core.delete_namespaced_service("web", ns.name)
        _table_entry(guest, vip, port, timeouts, until=lambda v: v is None, desc=f"TCP {vip}:{port} gone")
        eventually(lambda: (addresses(guest, "kube-ipvs0"), ipset_members(guest, "KUBE-CLUSTER-IP")),
                   until=lambda got: f"{vip}/32" not in got[0] and f"{vip},tcp:{port}" not in got[1],
                   timeout=timeouts.ipvs_sync, desc=f"{vip} off kube-ipvs0 and out of KUBE-CLUSTER-IP")


@pytest.mark.claim("S002-181")
def test_the_ipvs_scheduler_is_rr_by_default_and_configurable(cluster, ipvs_node, timeouts):
    """rr is kube-proxy's default IPVS scheduler; ipvs.scheduler picks another (lc, dh, sh, sed, nq, ...), applied to
    every virtual server, and rr comes back with the default."""
    guest = ipvs_node.guest
    dns = cluster.core.read_namespaced_service("kube-dns", "kube-system").spec.cluster_ip
    key = f"TCP {dns}:53"
    with step(f"Given the cluster DNS Service's virtual server {key}, scheduler rr"):
        eventually(lambda: virtual_servers(guest).get(key), until=lambda v: v is not None and v.scheduler == "rr",
                   timeout=timeouts.ipvs_sync, desc=f"{key} rr")
    with step("When kube-proxy restarts with ipvs.scheduler: lc"):
        with ipvs_scheduler(ipvs_node, cluster, "lc", timeouts):
            with step("Then every virtual server it keeps uses lc"):
                table = eventually(lambda: virtual_servers(guest),
                                   until=lambda t: key in t and all(v.scheduler == "lc" for k, v in t.items()
                                                                    if not k.split()[1].startswith(VIP)),
                                   timeout=timeouts.ipvs_sync, desc="every virtual server lc")
                assert table[key].reals, table[key]
    with step("And with the default again, rr"):
        eventually(lambda: virtual_servers(guest).get(key), until=lambda v: v is not None and v.scheduler == "rr",
                   timeout=timeouts.ipvs_sync, desc=f"{key} rr again")


@pytest.mark.claim("S002-189", "S001-07")
def test_ipvs_mode_forwards_only_by_masquerading_and_marks_service_traffic_0x4000_for_snat(ns, cluster, ipvs_node, timeouts):
    """IPVS offers NAT, direct routing and tunnelling; kube-proxy uses only NAT: every real server it programs is Masq.
    Traffic to a ClusterIP is DNATed round-robin to the endpoints, and traffic from outside the cluster CIDR is
    marked 0x4000/0x4000 (matched by ipset KUBE-CLUSTER-IP) and masqueraded: the server sees the node's address."""
    guest = ipvs_node.guest
    servers = real_servers(guest)
    with step(f"Given a Service whose EndpointSlice names two servers inside the guest ({servers})"):
        ns.apply("networking/ipvs/guest-servers.yaml", name="guest", ip1=servers[0], ip2=servers[1])
        vip, port = _service(cluster, ns, "guest")
        _table_entry(guest, vip, port, timeouts, until=lambda v: v is not None and len(v.reals) == 2,
                     desc=f"TCP {vip}:{port} with 2 real servers")
    with step("Then every real server of every virtual server kube-proxy made forwards by Masq (NAT)"):
        table = virtual_servers(guest)
        forwards = {(key, r.forward) for key, vs in table.items() for r in vs.reals}
        assert forwards and {f for _, f in forwards} == {"Masq"}, sorted(forwards)
    with step(f"When the guest asks {vip}:{port} four times"):
        answers = [get(guest, f"http://{vip}:{port}/cgi-bin/who") for _ in range(4)]
    with step("Then the answers alternate between the two servers (DNAT, rr)"):
        names = [a.split()[0] for a in answers]
        assert names in (["rs1", "rs2", "rs1", "rs2"], ["rs2", "rs1", "rs2", "rs1"]), answers
    with step("And each server saw the guest's address on its own link, not the ClusterIP: masqueraded"):
        seen = {a.split()[0]: a.split()[1].strip("[]").removeprefix("::ffff:") for a in answers}
        assert seen == {"rs1": "10.250.1.1", "rs2": "10.250.2.1"}, answers
    with step("And the rules doing it: KUBE-CLUSTER-IP matches mark 0x4000/0x4000, KUBE-POSTROUTING masquerades it"):
        rules = nat_rules(guest)
        assert any("--match-set KUBE-CLUSTER-IP dst,dst" in r and "KUBE-MARK-MASQ" in r for r in rules), rules
        assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in rules, [r for r in rules if "MARK-MASQ" in r]
        assert any(r.startswith("-A KUBE-POSTROUTING") and "MASQUERADE" in r for r in rules), rules


@pytest.mark.claim("S001-08")
@pytest.mark.requires(node_access=True)
def test_ipvs_keeps_idle_tcp_900_s_and_kube_proxy_sets_vs_conntrack(cluster, ipvs_node):
    """The document's sysctl block: IPVS drops an idle TCP connection after 900 s (`ipvsadm -L --timeout`: 900 120 300,
    which kube-proxy keeps unless ipvs.tcpTimeout is set), sooner than the kernel's default keepalive starts (7200 s):
    hence the document's tcp_keepalive_time=600. net.ipv4.vs.conntrack=1 is set by kube-proxy itself (it is 0 at
    boot), and the nodes forward (ip_forward=1)."""
    guest = ipvs_node.guest
    with step("Then the guest's IPVS timeouts are 900 s tcp, 120 s tcpfin, 300 s udp, with kube-proxy running"):
        assert idle_timeouts(guest) == (900, 120, 300)
    with step("And the kernel's own keepalive starts after 7200 s, later than IPVS forgets: the document's reason for 600"):
        assert ipvs_node.sysctls_at_boot["net.ipv4.tcp_keepalive_time"] == "7200", ipvs_node.sysctls_at_boot
    with step("And net.ipv4.vs.conntrack was 0 at boot and is 1 since kube-proxy started"):
        assert ipvs_node.sysctls_at_boot["net.ipv4.vs.conntrack"] == "0", ipvs_node.sysctls_at_boot
        assert sysctl(guest, "net.ipv4.vs.conntrack") == "1"
    with step("And the cluster's own nodes forward IPv4 (ip_forward=1)"):
        for node in [n.metadata.name for n in cluster.core.list_node().items]:
            out = cluster.node_exec(node, "cat", "/proc/sys/net/ipv4/ip_forward")
            assert out.stdout.strip() == "1", (node, out.stdout, out.stderr)


@pytest.mark.claim("S001-08")
def test_an_idle_connection_outlives_the_ipvs_tcp_timeout_only_with_keepalives_shorter_than_it(ns, cluster, ipvs_node, timeouts):
    """Why the document sets tcp_keepalive_time=600 under IPVS's 900 s: IPVS forgets a TCP connection idle longer than
    its tcp timeout, and the next packet is answered with a reset; keepalive probes sent sooner keep it. Scaled: an IPVS
    tcp timeout of 3 s, 6 s of idleness, keepalive after 1 s, through kube-proxy's virtual server for a ClusterIP."""
    guest = ipvs_node.guest
    servers = real_servers(guest)
    with step("Given a ClusterIP whose endpoints are the guest's two real servers"):
        ns.apply("networking/ipvs/guest-servers.yaml", name="idle", ip1=servers[0], ip2=servers[1])
        vip, port = _service(cluster, ns, "idle")
        _table_entry(guest, vip, port, timeouts, until=lambda v: v is not None and len(v.reals) == 2,
                     desc=f"TCP {vip}:{port} with 2 real servers")
    before = (idle_timeouts(guest), sysctl(guest, "net.ipv4.tcp_keepalive_time"),
              sysctl(guest, "net.ipv4.tcp_keepalive_intvl"))
    try:
        with step("When IPVS's tcp timeout is 3 s (ipvsadm --set 3 120 300; the kernel's 900 s, scaled)"):
            guest.check("ipvsadm --set 3 120 300")
        with step("Then a request after 1 s of idleness is answered"):
            assert guest.run(f"idle-request {vip} {port} 1").out.startswith("rs"), "idle 1 s"
        with step("And after 6 s of idleness the connection is gone: reset"):
            late = guest.run(f"idle-request {vip} {port} 6").out
            assert late.startswith("failed:") and "reset" in late, late
        with step("When keepalive probes start after 1 s (tcp_keepalive_time=1, intvl 1) on a socket that asks for them"):
            guest.check("echo 1 > /proc/sys/net/ipv4/tcp_keepalive_time && echo 1 > /proc/sys/net/ipv4/tcp_keepalive_intvl")
            kept = guest.run(f"idle-request {vip} {port} 6 keepalive").out
        with step("Then the request after 6 s of idleness is answered"):
            assert kept.startswith("rs"), kept
        with step("And a socket without SO_KEEPALIVE is still reset: the sysctl alone changes nothing"):
            bare = guest.run(f"idle-request {vip} {port} 6").out
            assert bare.startswith("failed:") and "reset" in bare, bare
    finally:
        guest.run(f"ipvsadm --set {' '.join(map(str, before[0]))} && echo {before[1]} > /proc/sys/net/ipv4/tcp_keepalive_time"
                  f" && echo {before[2]} > /proc/sys/net/ipv4/tcp_keepalive_intvl")


# The document's commands (seed 001), its addresses swapped for the guest's real servers; VIP in the range kube-proxy
# leaves alone. SNAT by mark: an ipset of VIP,proto:port feeds a mark 0x2000 that POSTROUTING masquerades.
VIP = UNMANAGED.replace("0/24", "2")
DOCUMENT_DNAT = [
    f"ipvsadm --add-service --tcp-service {VIP}:80 --scheduler rr",
    f"ipvsadm --add-server --tcp-service {VIP}:80 --real-server 10.250.1.2:8080 --masquerading --weight 1",
    f"ipvsadm --add-server --tcp-service {VIP}:80 --real-server 10.250.2.2:8080 --masquerading --weight 1",
    "/sbin/ip link add svc type dummy", f"/sbin/ip addr add {VIP}/32 dev svc", "/sbin/ip link set svc up",
]
DOCUMENT_SNAT = [
    "iptables -t nat -N SVC-SERVICES",
    "iptables -t nat -A PREROUTING -m comment --comment 'SVC service portals' -j SVC-SERVICES",
    "iptables -t nat -N SVC-MARK-MASQ",
    "ipset create SVC-CLUSTER-IP hash:ip,port -exist",
    "iptables -t nat -A SVC-SERVICES -m set --match-set SVC-CLUSTER-IP dst,dst -j SVC-MARK-MASQ",
    "iptables -t nat -A SVC-MARK-MASQ -j MARK --set-xmark 0x2000/0x2000",
    "iptables -t nat -N SVC-POSTROUTING",
    "iptables -t nat -A POSTROUTING -m comment --comment 'SVC postrouting rules' -j SVC-POSTROUTING",
    "iptables -t nat -A SVC-POSTROUTING -m mark --mark 0x2000/0x2000 -j MASQUERADE",
    "iptables -t nat -A OUTPUT -m comment --comment 'SVC service portals' -j SVC-SERVICES",
]
DOCUMENT_UNDO = [
    "iptables -t nat -D OUTPUT -m comment --comment 'SVC service portals' -j SVC-SERVICES",
    "iptables -t nat -D POSTROUTING -m comment --comment 'SVC postrouting rules' -j SVC-POSTROUTING",
    "iptables -t nat -D PREROUTING -m comment --comment 'SVC service portals' -j SVC-SERVICES",
    "iptables -t nat -F SVC-SERVICES", "iptables -t nat -F SVC-MARK-MASQ", "iptables -t nat -F SVC-POSTROUTING",
    "iptables -t nat -X SVC-SERVICES", "iptables -t nat -X SVC-MARK-MASQ", "iptables -t nat -X SVC-POSTROUTING",
    "ipset destroy SVC-CLUSTER-IP", f"ipvsadm --delete-service --tcp-service {VIP}:80", "/sbin/ip link del svc",
    "echo 1 > /proc/sys/net/ipv4/vs/conntrack",
]


def _ask_twice(guest):
    """Two requests to the hand-built VIP: [(server, client address it saw), ...]."""
    out = []
    for _ in range(2):
        answer = get(guest, f"http://{VIP}/cgi-bin/who").split()
        out.append((answer[0], answer[-1].strip("[]").removeprefix("::ffff:")))
    return out


@pytest.mark.claim("S001-07", "S001-08")
def test_the_documents_hand_built_ipvs_service_dnats_round_robin_and_snats_by_ipset_mark(ipvs_node):
    """The document's steps on a kernel with IPVS: ipvsadm makes VIP:80 an rr virtual server over two masqueraded
    real servers and the VIP sits on a dummy interface: requests alternate between the servers, which see the VIP
    as client (DNAT only). The mark chain alone changes nothing; once the ipset holds VIP,tcp:80 the servers see the
    director's address (SNAT by mark 0x2000), and only while net.ipv4.vs.conntrack=1 (the document's sysctl)."""
    guest = ipvs_node.guest
    real_servers(guest)
    try:
        with step(f"When the document's DNAT steps run: virtual server {VIP}:80 rr, two Masq real servers, VIP on dummy svc"):
            for command in DOCUMENT_DNAT:
                guest.check(command)
        with step("Then requests alternate rs1, rs2 and each server sees the VIP as client: DNAT, no SNAT"):
            assert _ask_twice(guest) in ([("rs1", VIP), ("rs2", VIP)], [("rs2", VIP), ("rs1", VIP)])
        with step("When the mark chains are added but the ipset is still empty: nothing changes"):
            for command in DOCUMENT_SNAT:
                guest.check(command)
            assert {c for _, c in _ask_twice(guest)} == {VIP}
        with step(f"When the ipset gets {VIP},tcp:80: the servers see the director's address on their link (SNAT)"):
            guest.check(f"ipset add SVC-CLUSTER-IP {VIP},tcp:80 -exist")
            assert sorted(_ask_twice(guest)) == [("rs1", "10.250.1.1"), ("rs2", "10.250.2.1")]
        with step("And with net.ipv4.vs.conntrack=0 the MASQUERADE no longer applies to IPVS traffic: the VIP again"):
            guest.check("echo 0 > /proc/sys/net/ipv4/vs/conntrack")
            assert {c for _, c in _ask_twice(guest)} == {VIP}
    finally:
        for command in DOCUMENT_UNDO:
            guest.run(command)
