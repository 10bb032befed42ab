"""Every rule's family and whether its error findings mean "not converged", stated here rule by rule."""
from __future__ import annotations

import json

from auditor.rules import ALL_RULES, convergence_rules
from click.testing import CliRunner

from auditor.cli.main import main

#: rule id -> (mode, convergence). Convergence rules judge whether EndpointSlices followed the Pods: their
#: error findings keep `verify` waiting and make `summary.converged` false (CONTRACT: verify runs "until no
#: error-level reconvergence finding remains"). Changing a flag changes every verdict: change it here too.
EXPECTED: dict[str, tuple[str, bool]] = {
    "handmade-endpointslice": ("single", False),
    "service-missing-endpointslices": ("single", True),
    "endpointslice-controller-disabled": ("single", False),  # a summary of the two slice rules above it
    "stale-endpointslice": ("single", True),
    "stale-endpoints": ("single", False),  # v1 Endpoints: legacy consumers only, not what kube-proxy reads
    "truncated-endpoints": ("single", False),
    "unmirrored-endpoints": ("single", False),
    "orphan-endpointslice": ("single", False),
    "kubelet-version-skew": ("single", False),
    "control-plane-version-mismatch": ("single", False),
    "target-version-jump": ("single", False),
    "incomplete-snapshot": ("single", False),
    "service-single-replica": ("single", False),
    "service-rotation-unprotected": ("single", False),
    "pdb-blocks-drain": ("single", False),
    "endpoints-without-readiness-probe": ("single", False),
    "service-single-zone": ("single", False),
    # The traffic path: a state fact or a risk of the rotation ahead, never "the slices did not follow the Pods"
    "ingress-backend-unavailable": ("single", False),
    "lb-target-readiness-gate-missing": ("single", False),
    "lb-drain-shorter-than-deregistration": ("single", False),
    "webhook-backend-at-risk": ("single", False),
    "rbac-endpoints-without-endpointslices": ("single", False),
    "external-traffic-local-rotation": ("single", False),
    "endpoints-on-removed-node": ("pair", True),
    "service-lost-endpoints": ("pair", True),
    "service-capacity-dropped": ("pair", False),
    "handmade-endpointslice-stale": ("pair", True),
    "handmade-endpointslice-removed": ("pair", False),
    "service-outage": ("pair", False),  # verify's own verdict on the run, apart (--fail-on-outage)
    "nodegroup-version-skew": ("eks", False),
    "nodegroup-not-active": ("eks", False),
    "addon-version-incompatible": ("eks", False),
    "upgrade-insight-failing": ("eks", False),
}


def test_every_rule_has_its_stated_family_and_convergence_flag() -> None:
    got = {r.id: (r.mode, r.convergence) for r in ALL_RULES}
    assert list(got) == list(EXPECTED), "a rule was added, removed or reordered: state it in EXPECTED"
    wrong = {rid: f"{got[rid]} (expected {want})" for rid, want in EXPECTED.items() if got[rid] != want}
    assert not wrong, wrong


def test_the_verdict_reads_the_same_rules() -> None:
    want = frozenset(rid for rid, (_, convergence) in EXPECTED.items() if convergence)
    assert convergence_rules() == want  # what the engine's verdict and the live follower read
    # only rules that judge slices can decide convergence, and every one of them is an error rule
    assert all(r.severity.label == "error" and "EndpointSlice" in r.needs for r in ALL_RULES if r.id in want)


def test_rules_json_reports_the_flag() -> None:
    """`upgrade-auditor rules --format json` tells users which rules count toward convergence (CONTRACT)."""
    result = CliRunner().invoke(main, ["rules", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = {r["id"]: (r["family"], r["convergence"]) for r in json.loads(result.output)}
    assert listed == EXPECTED
