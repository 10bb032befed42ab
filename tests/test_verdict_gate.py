"""The verdict (`converged`, a fact) and the gate (the exit code, policy) over command x fail-on x baseline x outage
x rules that did not run: the table README's exit codes describe."""
from __future__ import annotations

import pytest

from auditor.engine import verdict
from auditor.model import AuditResult, BaselineInfo, Finding, Gate, ObjectRef, Severity, Written
from auditor.report.terminal import exit_code
from auditor.report.view import verdict_detail

STALE = Finding(rule="stale-endpointslice", severity=Severity.ERROR,
                object=ObjectRef("EndpointSlice", "shop", "cart-x8k2p"), message="stale")
OUTAGE = Finding(rule="service-outage", severity=Severity.ERROR, object=ObjectRef("Service", "shop", "cart"),
                 message="down 6s")
WARN = Finding(rule="endpoints-without-readiness-probe", severity=Severity.WARNING,
               object=ObjectRef("Service", "shop", "web"), message="no probe")


def _result(mode: str, findings: tuple[Finding, ...], *, fail_on: Severity | None = Severity.ERROR,
            known: tuple[Finding, ...] = (), outage_flag: bool = False, unrun: tuple[str, ...] = ()) -> AuditResult:
    converged = verdict.converged(findings, unrun) if mode != "audit" else None
    baseline = BaselineInfo(path="base.json", known=frozenset(f.fingerprint for f in known)) if known else None
    return AuditResult(mode=mode, inputs=(), findings=findings, suppressed=(), fail_on=fail_on, rules=(),
                       converged=converged, baseline=baseline, fail_on_outage=outage_flag)


def test_converged_counts_every_reconvergence_finding_and_says_unknown_when_a_rule_did_not_run() -> None:
    assert verdict.converged([]) is True
    assert verdict.converged([WARN]) is True  # not a convergence rule
    assert verdict.converged([STALE]) is False
    assert verdict.converged([OUTAGE]) is True  # an outage is history, not the state now
    assert verdict.converged([], ("stale-endpointslice",)) is None  # could not see: unknown
    assert verdict.converged([STALE], ("stale-endpointslice",)) is False  # what it saw already holds it back


def test_run_converged() -> None:
    """The whole state's strict comparison is the verdict: converged at the end is converged, settled or not
    (issue 19 item 2: the settle window is a note)."""
    assert verdict.run_converged(True) is True
    assert verdict.run_converged(False) is False
    assert verdict.run_converged(None) is None


W, E, NEVER = Severity.WARNING, Severity.ERROR, None
CASES = [
    # mode, findings, fail_on, known, --fail-on-outage, unrun, gate
    ("audit", (), E, (), False, (), Gate.PASS),
    ("audit", (WARN,), E, (), False, (), Gate.PASS),
    ("audit", (WARN,), W, (), False, (), Gate.FAIL),
    ("audit", (STALE,), NEVER, (), False, (), Gate.PASS),
    ("audit", (STALE,), E, (STALE,), False, (), Gate.PASS),  # the baseline knows it
    ("compare", (), E, (), False, (), Gate.PASS),
    ("compare", (STALE,), E, (), False, (), Gate.FAIL),
    ("compare", (STALE,), NEVER, (), False, (), Gate.PASS),  # policy: never fail
    ("compare", (STALE, WARN), E, (STALE, WARN), False, (), Gate.PASS),  # the baseline accepted every error
    ("compare", (STALE, WARN), E, (WARN,), False, (), Gate.FAIL),
    ("compare", (), E, (), False, ("stale-endpointslice",), Gate.UNKNOWN),
    ("compare", (), NEVER, (), False, ("stale-endpointslice",), Gate.UNKNOWN),  # could not see: never a pass
    ("compare", (WARN,), W, (), False, ("stale-endpointslice",), Gate.FAIL),  # a known failure wins
    ("verify", (OUTAGE,), E, (), False, (), Gate.FAIL),  # the "PASS (converged)" over an outage
    ("verify", (OUTAGE,), NEVER, (), False, (), Gate.PASS),
    ("verify", (OUTAGE,), NEVER, (), True, (), Gate.FAIL),  # --fail-on-outage: whatever --fail-on says
    ("verify", (OUTAGE,), E, (OUTAGE,), False, (), Gate.PASS),  # known to the baseline
    ("verify", (WARN,), W, (), False, (), Gate.FAIL),  # --fail-on applies to verify
    ("verify", (WARN,), E, (), False, (), Gate.PASS),
    ("verify", (STALE,), E, (), False, (), Gate.FAIL),
    ("verify", (), E, (), False, ("stale-endpointslice",), Gate.UNKNOWN),
]


@pytest.mark.parametrize(("mode", "findings", "fail_on", "known", "outage_flag", "unrun", "gate"), CASES)
def test_gate(mode: str, findings: tuple[Finding, ...], fail_on: Severity | None, known: tuple[Finding, ...],
              outage_flag: bool, unrun: tuple[str, ...], gate: Gate) -> None:
    r = _result(mode, findings, fail_on=fail_on, known=known, outage_flag=outage_flag, unrun=unrun)
    assert r.gate is gate
    assert r.passed is (gate is Gate.PASS)
    assert exit_code(Written(r, ()), lambda line: None) == gate.value


def test_not_converged_without_a_finding_fails_verify_unless_never() -> None:
    """A run whose whole-state comparison says not converged fails, even with no finding to show for it."""
    notyet = AuditResult(mode="verify", inputs=(), findings=(), suppressed=(), fail_on=E, rules=(),
                         converged=verdict.run_converged(False))
    assert notyet.gate is Gate.FAIL
    from dataclasses import replace
    assert replace(notyet, fail_on=None).gate is Gate.PASS


def test_baseline_known_findings_hold_convergence_back() -> None:
    r = _result("compare", (STALE,), known=(STALE,))
    assert r.converged is False and r.gate is Gate.PASS
    assert verdict_detail(r) == "no finding at or above error · not converged"


def test_verdict_detail_says_unknown_and_outages() -> None:
    assert verdict_detail(_result("compare", (), unrun=("stale-endpointslice",))) == \
        "no finding at or above error · convergence unknown"
    assert verdict_detail(_result("verify", (OUTAGE,), fail_on=NEVER, outage_flag=True)) == \
        "fail-on never · 1 outage (--fail-on-outage) · converged"


@pytest.mark.parametrize(("gate_findings", "fail_on", "code"), [((STALE,), E, 1), ((STALE,), NEVER, 3), ((), E, 3)])
def test_exit_precedence_with_a_failed_upload(gate_findings: tuple[Finding, ...], fail_on: Severity | None,
                                             code: int) -> None:
    from auditor.report.share import UploadError

    said: list[str] = []
    r = _result("audit", gate_findings, fail_on=fail_on)
    assert exit_code(Written(r, (), upload_error=UploadError("upload to s3://b failed: \x1b]0;x\x07")),
                     said.append) == code
    assert len(said) == 1 and said[0].startswith("error: upload to s3://b failed") and "\x1b" not in said[0]
