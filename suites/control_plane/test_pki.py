"""The cluster PKI: which certificate each component serves and presents, who signed it, how long it lives,
and the CSR API that issues new ones (kube-controller-manager's signer).

Source: seed 000, 2021-02-18~21 › kubernetes 中主要使用到的证书 (items 1-12, Kubernetes 证书签发, TLS bootstrapping);
seed 001, 2021-03-15~21 › k8s 认证方式 (证书认证). Upstream: https://kubernetes.io/docs/setup/best-practices/certificates/,
https://kubernetes.io/docs/reference/access-authn-authz/certificate-signing-requests/, kubeadm certs defaults.
"""
import secrets

import pytest
from kubernetes import client

from fixtures import apiserver, auth, certificates as certs
from fixtures.nodes import control_plane, workers
from fixtures.pods import is_ready, wait_pod
from fixtures.polling import consistently, eventually
from fixtures.reporting import step

pytestmark = [pytest.mark.area("control-plane")]

PKI = certs.PKI
YEAR_DAYS = 365
CA_DAYS = 3650


def _issue(cluster, cluster_objects, timeouts, cn: str, orgs: tuple[str, ...], directory):
    """Submit a kube-apiserver-client CSR for CN/O, approve it, wait for the certificate; write key+cert files."""
    name = f"kp-{cn}"
    key_pem, csr_pem = certs.new_key_and_csr(cn, orgs)
    certs.submit_csr(cluster, name, csr_pem)
    cluster_objects.track("certificates.k8s.io/v1", "CertificateSigningRequest", name)
    certs.approve_csr(cluster, name)
    state = eventually(lambda: certs.csr_state(cluster, name), until=certs.issued, timeout=timeouts.controller_sync,
                       desc=f"CSR {name} signed")
    cert_path, key_path = directory / f"{cn}.crt", directory / f"{cn}.key"
    cert_path.write_text(state["certificate"])
    key_path.write_bytes(key_pem)
    return cert_path, key_path, certs.view(state["certificate"])


@pytest.mark.claim("S000-30")
@pytest.mark.requires(node_access=True)
def test_apiserver_serves_a_one_year_certificate_signed_by_the_kubeconfig_ca_for_its_service_names(cluster):
    """kube-apiserver's serving certificate (item 4) chains to the kubeconfig's CA, names the in-cluster
    Service (kubernetes.default.svc.cluster.local and its ClusterIP), lives one year; the CA lives ten."""
    with step("Given the certificate the API server presents on its endpoint, and the kubeconfig's CA"):
        served = certs.presented_by(*certs.apiserver_endpoint(cluster))
        ca = certs.kubeconfig_ca(cluster)
        etcd_ca = certs.view(certs.node_file(cluster, control_plane(cluster), f"{PKI}/etcd/ca.crt"))
        service_ip = cluster.core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    with step("Then it is a server certificate signed by the kubeconfig CA, and not by the etcd CA (control)"):
        assert served.server_auth and not served.is_ca, f"not a leaf server certificate: {served}"
        assert certs.signed_by(served.cert, ca.cert), f"{served.issuer_cn} is not the kubeconfig CA {ca.subject_cn}"
        assert not certs.signed_by(served.cert, etcd_ca.cert), "the etcd CA must not verify the apiserver certificate"
    with step("And it names the in-cluster Service by DNS name and ClusterIP"):
        assert "kubernetes.default.svc.cluster.local" in served.dns_names, served.dns_names
        assert service_ip in served.ip_addresses, f"{service_ip} not in {served.ip_addresses}"
    with step("And the leaf lives one year, the CA ten years (kubeadm defaults)"):
        assert YEAR_DAYS - 2 <= served.lifetime_days <= YEAR_DAYS + 2, served.lifetime_days
        assert ca.is_ca and ca.self_signed and CA_DAYS - 2 <= ca.lifetime_days <= CA_DAYS + 2, ca


@pytest.mark.claim("S000-30")
def test_admin_kubeconfig_authenticates_with_a_client_certificate_in_the_cluster_admins_group(cluster, server_version):
    """The administrator's kubectl credential (item 9) is a client certificate signed by the cluster CA; the API
    server derives the user from CN and the groups from O. kubeadm >= 1.29 puts it in kubeadm:cluster-admins
    (bound to cluster-admin) instead of system:masters."""
    with step("Given the kubeconfig's client certificate"):
        mine = certs.kubeconfig_client_cert(cluster)
        ca = certs.kubeconfig_ca(cluster)
    with step("Then it is a client certificate signed by the cluster CA"):
        assert mine.client_auth and certs.signed_by(mine.cert, ca.cert), mine
    with step("And the API server sees CN as the user and O as the groups"):
        who = auth.whoami(cluster.api)
        assert who.username == mine.subject_cn == "kubernetes-admin", (who, mine)
        expected = "kubeadm:cluster-admins" if server_version >= (1, 29, 0) else "system:masters"
        assert expected in who.groups and expected in mine.subject_orgs, (
            f"[behaviour-changed] admin groups {who.groups}, certificate O={mine.subject_orgs}")


@pytest.mark.claim("S000-30")
@pytest.mark.requires(node_access=True, images=["busybox"])
def test_apiserver_reaches_kubelets_with_its_kubelet_client_certificate(ns, cluster, timeouts):
    """The API server presents apiserver-kubelet-client.crt (item 11) to kubelets, so logs and exec work;
    etcd's peer certificate is both server and client (item 1), signed by the separate etcd CA."""
    cp = control_plane(cluster)
    line = f"hello-{secrets.token_hex(3)}"
    with step("Given the control plane's kubelet-client and etcd peer certificates"):
        kc = certs.view(certs.node_file(cluster, cp, f"{PKI}/apiserver-kubelet-client.crt"))
        ca = certs.view(certs.node_file(cluster, cp, f"{PKI}/ca.crt"))
        peer = certs.view(certs.node_file(cluster, cp, f"{PKI}/etcd/peer.crt"))
        etcd_ca = certs.view(certs.node_file(cluster, cp, f"{PKI}/etcd/ca.crt"))
        flags = apiserver.static_pod_flags(cluster, "kube-apiserver")
    with step("Then the kubelet-client certificate is a client certificate of the cluster CA, configured on the API server"):
        assert kc.client_auth and not kc.server_auth and certs.signed_by(kc.cert, ca.cert), kc
        assert flags.get("--kubelet-client-certificate") == f"{PKI}/apiserver-kubelet-client.crt", flags
    with step("And etcd's peer certificate serves and presents (both usages), signed by the etcd CA only"):
        assert peer.server_auth and peer.client_auth, peer
        assert certs.signed_by(peer.cert, etcd_ca.cert) and not certs.signed_by(peer.cert, ca.cert), peer
    with step("When a pod's logs are read through the API server"):
        ns.apply("control_plane/pki/logger.yaml", name="logger", line=line)
        wait_pod(cluster, ns.name, "logger", is_ready, timeouts)
        logs = eventually(lambda: cluster.core.read_namespaced_pod_log("logger", ns.name), until=lambda t: line in t,
                          timeout=timeouts.pod_start, desc="the pod's log line through the API server")
    with step("Then the kubelet answered the API server's client certificate"):
        assert line in logs


@pytest.mark.claim("S000-31")
@pytest.mark.requires(node_access=True, multinode=True)
def test_kubelet_serves_a_self_signed_certificate_that_the_apiserver_does_not_verify(cluster):
    """Claim: the kubelet's serving certificate (item 10) is signed by the cluster CA and verified through
    --kubelet-certificate-authority. On kubeadm/kind (serverTLSBootstrap: false) the kubelet makes its own: a
    certificate signed by a self-signed "<node>-ca@<time>" CA of its own, and kube-apiserver runs without that
    flag: the hardened setup is not the default."""
    node = workers(cluster)[0]
    with step(f"Given the certificate the kubelet on {node} presents on :10250 and the bundle in its pki directory"):
        address = next(a.address for a in cluster.core.read_node(node).status.addresses if a.type == "InternalIP")
        served = certs.presented_by(address, 10250)
        bundle = certs.chain(certs.node_file(cluster, node, "/var/lib/kubelet/pki/kubelet.crt"))
        ca = certs.kubeconfig_ca(cluster)
    with step("Then it was made by the kubelet itself: signed by a throwaway self-signed CA of its own, not the cluster CA"):
        assert served.cert == bundle[0].cert, "the kubelet serves another certificate than /var/lib/kubelet/pki/kubelet.crt"
        own_ca = bundle[-1]
        assert len(bundle) == 2 and own_ca.is_ca and own_ca.self_signed and own_ca.subject_cn.startswith(f"{node}-ca@"), bundle
        assert certs.signed_by(served.cert, own_ca.cert) and not certs.signed_by(served.cert, ca.cert), (
            f"[behaviour-changed] kubelet serving certificate issued by {served.issuer_cn}")
    with step("And kube-apiserver has no --kubelet-certificate-authority: it does not verify kubelets"):
        flags = apiserver.static_pod_flags(cluster, "kube-apiserver")
        assert "--kubelet-certificate-authority" not in flags, flags


@pytest.mark.claim("S000-34")
def test_an_approved_csr_is_signed_by_the_cluster_ca_and_authenticates_as_its_subject(cluster, cluster_objects, timeouts, tmp_path):
    """A CertificateSigningRequest for signer kubernetes.io/kube-apiserver-client stays unsigned until approved;
    then kube-controller-manager signs it with the cluster CA, and the certificate authenticates as CN / O."""
    cn, org = f"alice-{secrets.token_hex(3)}", "kp-devs"
    name = f"kp-{cn}"
    with step(f"Given a CSR for CN={cn}, O={org}, expirationSeconds 600"):
        key_pem, csr_pem = certs.new_key_and_csr(cn, (org,))
        certs.submit_csr(cluster, name, csr_pem, expiration_seconds=600)
        cluster_objects.track("certificates.k8s.io/v1", "CertificateSigningRequest", name)
    with step("Then, not approved, it stays unsigned"):
        consistently(lambda: certs.csr_state(cluster, name), holds=lambda s: not certs.issued(s),
                     duration=timeouts.short_hold, desc="unapproved CSR unsigned")
    with step("When it is approved"):
        certs.approve_csr(cluster, name)
        state = eventually(lambda: certs.csr_state(cluster, name), until=certs.issued,
                           timeout=timeouts.controller_sync, desc="approved CSR signed")
    with step("Then the certificate is signed by the kubeconfig's CA, for client auth, expiring in about 600 s"):
        issued = certs.view(state["certificate"])
        assert certs.signed_by(issued.cert, certs.kubeconfig_ca(cluster).cert), issued
        assert issued.client_auth and (issued.subject_cn, issued.subject_orgs) == (cn, (org,)), issued
        assert (issued.not_after - issued.not_before).total_seconds() <= 600 + 5 * 60 + 60, issued  # 5 min backdating
    with step("And it authenticates as the CN, with O as a group"):
        cert_path, key_path = tmp_path / "c.crt", tmp_path / "c.key"
        cert_path.write_text(state["certificate"])
        key_path.write_bytes(key_pem)
        who = auth.whoami(auth.cert_client(cluster, cert_path, key_path))
        assert who.username == cn and org in who.groups and "system:authenticated" in who.groups, who


@pytest.mark.claim("S001-26")
def test_a_client_certificate_user_is_forbidden_until_rbac_grants_pod_read(ns, cluster, cluster_objects, timeouts, tmp_path):
    """A user certificate with CN=test authenticates as user `test`; without a binding reading pods is Forbidden;
    after binding the document's pods-read role, get/list/watch pods are allowed and other verbs still denied."""
    user = f"test-{secrets.token_hex(3)}"
    with step(f"Given a client certificate for CN={user} issued through the CSR API"):
        cert, key, _ = _issue(cluster, cluster_objects, timeouts, user, (), tmp_path)
        api = auth.cert_client(cluster, cert, key)
        pods = client.CoreV1Api(api)
        kubeconfig = auth.kubeconfig_file(cluster, tmp_path, cert=cert, key=key, user=user)
    with step("Then the API server knows it as that user, and listing pods is Forbidden"):
        assert auth.whoami(api).username == user
        assert auth.status_of(lambda: pods.list_namespaced_pod(ns.name)) == 403
    with step("When the pods-read ClusterRole is bound to the user in the namespace"):
        ns.apply("control_plane/rbac/pods-read-clusterrole.yaml", name=f"kp-pods-read-{user}")
        cluster_objects.track("rbac.authorization.k8s.io/v1", "ClusterRole", f"kp-pods-read-{user}")
        ns.apply("control_plane/rbac/binding.yaml", name="read-pods", role_kind="ClusterRole", role=f"kp-pods-read-{user}",
                 **auth.subject("User", user))
    with step("Then listing pods is allowed with the certificate alone (no impersonation)"):
        eventually(lambda: auth.status_of(lambda: pods.list_namespaced_pod(ns.name)), until=lambda s: s == 200,
                   timeout=timeouts.apply, desc="list pods allowed after the binding")
        can = {verb: cluster.kubectl(f"--kubeconfig={kubeconfig}", "auth", "can-i", verb, "pods", "-n", ns.name,
                                     check=False).stdout.strip() for verb in ("get", "list", "watch", "create", "delete")}
        assert can == {"get": "yes", "list": "yes", "watch": "yes", "create": "no", "delete": "no"}, can
    with step("And other verbs and other namespaces stay Forbidden"):
        assert auth.status_of(lambda: pods.delete_collection_namespaced_pod(ns.name)) == 403
        assert auth.status_of(lambda: pods.list_namespaced_pod("default")) == 403


@pytest.mark.claim("S000-35")
def test_a_bootstrap_token_authenticates_as_system_bootstrap_in_the_bootstrappers_group(cluster, timeouts):
    """TLS bootstrapping's first step: a bootstrap token (a kube-system Secret) authenticates as
    system:bootstrap:<token-id> in group system:bootstrappers; a wrong secret is refused with 401."""
    with step("Given a fresh bootstrap token expiring in a minute"):
        with auth.bootstrap_token(cluster, ttl_seconds=120) as token:
            token_id = token.split(".")[0]
            with step("Then it authenticates as system:bootstrap:<id>"):
                api = auth.token_client(cluster, token)
                eventually(lambda: auth.status_of(lambda: auth.whoami(api)), until=lambda s: s == 200,
                           timeout=timeouts.apply, desc="bootstrap token accepted (the authenticator reads an informer)")
                who = auth.whoami(api)
                assert who.username == f"system:bootstrap:{token_id}" and "system:bootstrappers" in who.groups, who
            with step("And the same id with a wrong secret is refused with 401 (control)"):
                wrong = auth.token_client(cluster, f"{token_id}.{'0' * 16}")
                assert auth.status_of(lambda: auth.whoami(wrong)) == 401


@pytest.mark.claim("S000-35")
@pytest.mark.requires(node_access=True, multinode=True)
def test_a_joined_kubelet_holds_a_node_client_certificate_and_no_bootstrap_kubeconfig(cluster):
    """After TLS bootstrapping a worker's kubelet authenticates with kubelet-client-current.pem
    (CN=system:node:<node>, O=system:nodes, signed by the cluster CA); the bootstrap kubeconfig is gone
    (kubeadm removes it after join, not the kubelet as the document says)."""
    node = workers(cluster)[0]
    with step(f"Given {node}'s kubelet credentials"):
        pem = certs.node_file(cluster, node, "/var/lib/kubelet/pki/kubelet-client-current.pem")
        kubelet_conf = certs.node_file(cluster, node, "/etc/kubernetes/kubelet.conf")
        current = certs.view(pem)
    with step("Then its client certificate names the node in system:nodes, signed by the cluster CA"):
        assert (current.subject_cn, current.subject_orgs) == (f"system:node:{node}", ("system:nodes",)), current
        assert current.client_auth and certs.signed_by(current.cert, certs.kubeconfig_ca(cluster).cert), current
        assert "/var/lib/kubelet/pki/kubelet-client-current.pem" in kubelet_conf, kubelet_conf
    with step("And the bootstrap kubeconfig no longer exists"):
        assert not certs.node_has(cluster, node, "/etc/kubernetes/bootstrap-kubelet.conf")
        assert certs.node_has(cluster, node, "/etc/kubernetes/kubelet.conf"), "control: the probe sees existing files"
