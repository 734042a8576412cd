"""The documents' Istio manifests as drift detectors (seeds 000 and 002): which still validate, which are rejected.

Each manifest is applied exactly as the document wrote it (only the namespace is ours) with
`kubectl apply --dry-run=server`, i.e. through kubectl's parser, the CRD schema with strict field
validation, and istiod's validation webhook. The recorded verdict is today's truth; a change in it
(a field removed, a deprecation turned into an error) fails here by name.

Acceptance is all these rows prove: the seed 000 manifests carry no claim id here. Their behaviours
(delay, timeout, retries, circuit breaker, abort, source-scoped fault) are proven by traffic in
test_traffic_faults.py and test_traffic_policies.py. The seed 002 rows do carry ids: the claims include
"the block as written does not parse" (S002-261) and "consecutiveErrors is deprecated" (S002-266).
"""
import pytest

from fixtures.addons.dry_run import dry_run_apply
from fixtures.reporting import attach_text, step

pytestmark = [pytest.mark.area("istio"), pytest.mark.requires(istio=True)]

# file, verdict, substring expected in the warnings (accepted) or the error (rejected)
RECORDED = [
    pytest.param("s000-ratings-fault-delay.yaml", "accepted", None),
    pytest.param("s000-reviews-timeout.yaml", "accepted", None),
    pytest.param("s000-httpbin-retries.yaml", "accepted", None),
    pytest.param("s000-httpbin-circuit-breaker.yaml", "accepted", None),
    pytest.param("s000-ratings-abort.yaml", "accepted", None),
    pytest.param("s000-reviews-source-labels-delay.yaml", "accepted", None),
    # a TAB before `# 路由匹配` in the VirtualService: kubectl cannot parse the block as written
    pytest.param("s002-order-gateway-routing.yaml", "rejected", "cannot start any token", marks=pytest.mark.claim("S002-261")),
    # consecutiveErrors is deprecated in favour of consecutive5xxErrors / consecutiveGatewayErrors
    pytest.param("s002-httpbin-outlier-detection.yaml", "accepted with warnings", "consecutive errors is deprecated",
                 marks=pytest.mark.claim("S002-266")),
]


@pytest.mark.parametrize("manifest, verdict, detail", RECORDED)
def test_document_manifest_gets_its_recorded_verdict_when_applied_with_server_dry_run(mesh_ns, cluster, manifest, verdict, detail):
    """The document's manifest still gets the verdict recorded for today's Istio (accepted, warned about, or rejected)."""
    with step(f"When the document's {manifest} is applied as written with kubectl apply --dry-run=server"):
        got = dry_run_apply(cluster, f"istio/documents/{manifest}", mesh_ns.name)
        attach_text("kubectl's verdict", f"{got.verdict}\nwarnings: {got.warnings}\nerror: {got.error}")
    with step(f"Then it is {verdict}" + (f", mentioning {detail!r}" if detail else "")):
        assert got.verdict == verdict, f"[behaviour-changed] {manifest}: {got}"
        if detail:
            assert detail in (got.error if verdict == "rejected" else " ".join(got.warnings)), got
