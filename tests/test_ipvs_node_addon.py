"""The ipvs-node add-on's pure parts: reading `ipvsadm -Ln`, and how the guest dials the API server."""
from fixtures.addons.ipvs_node import _guest_server
from fixtures.addons.ipvs_tables import RealServer, parse_virtual_servers

IPVSADM = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.1:443 rr
  -> 172.18.0.3:6443              Masq    1      0          0
TCP  10.96.0.10:53 rr
  -> 10.244.0.2:53                Masq    1      0          0
  -> 10.244.0.3:53                Masq    1      2          7
UDP  10.96.0.10:53 rr
TCP  169.254.11.2:80 sh
  -> 10.250.1.2:8080              Route   3      0          0
"""


def test_virtual_servers_are_read_with_their_real_servers():
    table = parse_virtual_servers(IPVSADM)
    assert list(table) == ["TCP 10.96.0.1:443", "TCP 10.96.0.10:53", "UDP 10.96.0.10:53", "TCP 169.254.11.2:80"]
    dns = table["TCP 10.96.0.10:53"]
    assert (dns.scheduler, dns.endpoints) == ("rr", ["10.244.0.2:53", "10.244.0.3:53"])
    assert table["UDP 10.96.0.10:53"].reals == ()
    assert table["TCP 169.254.11.2:80"].reals == (RealServer("10.250.1.2", 8080, "Route", 3),)


def test_an_empty_table_reads_as_no_virtual_servers():
    assert parse_virtual_servers(IPVSADM.split("TCP  10.96.0.1")[0]) == {}


def test_a_loopback_api_server_is_dialled_at_the_host_address_and_verified_by_its_own_name():
    assert _guest_server("https://127.0.0.1:34567") == ("https://10.0.2.2:34567", "127.0.0.1")
    assert _guest_server("https://localhost:6443/") == ("https://10.0.2.2:6443/", "localhost")
    assert _guest_server("https://172.18.0.2:6443") == ("https://172.18.0.2:6443", None)
