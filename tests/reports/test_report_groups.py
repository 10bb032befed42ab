"""What to do first (auditor.report.groups): at one severity, a Service that lost every ready endpoint comes before
one with a stale entry, and a user-facing one (behind an Ingress, route, load balancer or webhook) before an
internal one; severity still comes first; every finding lands in exactly one group."""
from __future__ import annotations

import report_fixture as F

from auditor.model import Finding, ObjectRef, Severity
from auditor.report import groups


def _f(rule: str, name: str, sev: Severity = Severity.ERROR, **evidence: object) -> Finding:
    return Finding(rule, sev, ObjectRef("Service", "shop", name), f"{rule} on {name}", evidence=dict(evidence))


def _traffic(*names: str) -> dict[str, object]:
    return {"services": [{"namespace": "shop", "name": n, "userFacing": True,
                          "entries": [{"kind": "Ingress", "namespace": "shop", "name": "storefront"}]} for n in names]}


def _order(findings: tuple[Finding, ...], **changes: object) -> list[str]:
    services, others = groups.groups(F.result(findings=findings, rotation=None, **changes))
    return [g.name for g in groups.focus(services, others)]


def test_at_one_severity_lost_everything_then_user_facing_then_the_rest() -> None:
    findings = (
        _f("stale-endpointslice", "internal-stale"), _f("stale-endpointslice", "internal-stale"),  # more findings
        _f("stale-endpointslice", "public-stale"),
        _f("service-lost-endpoints", "internal-down", readyBefore=2, readyAfter=0),
        _f("service-lost-endpoints", "public-down", readyBefore=3, readyAfter=0),
    )
    assert _order(findings, traffic=_traffic("public-stale", "public-down")) == [
        "public-down", "internal-down", "public-stale", "internal-stale"]
    # without the traffic view, only the loss counts; then the number of findings
    assert _order(findings) == ["internal-down", "public-down", "internal-stale", "public-stale"]


def test_severity_comes_before_impact_and_counts_decide_a_lost_service() -> None:
    findings = (_f("service-capacity-dropped", "public-warn", Severity.WARNING, readyBefore=4, readyAfter=0),
                _f("stale-endpointslice", "internal-error"))
    assert _order(findings, traffic=_traffic("public-warn")) == ["internal-error", "public-warn"]
    services, _ = groups.groups(F.result(findings=findings, rotation=None))
    assert {g.name: g.down for g in services} == {"internal-error": False, "public-warn": True}


def test_a_user_facing_group_carries_its_entries() -> None:
    services, _ = groups.groups(F.result(traffic=_traffic("cart")))
    cart = next(g for g in services if g.name == "cart")
    assert cart.user_facing and cart.traffic == [{"kind": "Ingress", "namespace": "shop", "name": "storefront"}]
    assert all(not g.user_facing and not g.traffic for g in services if g.name != "cart")
    assert sum(len(g.findings) for g in services + groups.groups(F.result())[1]) == len(F.FINDINGS)
