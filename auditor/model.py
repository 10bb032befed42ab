"""Result model: severities, object references, findings, suppressions and the audit result."""
from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that comparisons read naturally: ERROR > WARNING > INFO."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected info, warning or error)") from None


@dataclass(frozen=True, order=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind}
        if self.namespace:
            out["namespace"] = self.namespace
        out["name"] = self.name
        return out

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"


def cluster_ref(name: str = "cluster") -> ObjectRef:
    return ObjectRef("Cluster", "", name)


@dataclass(frozen=True)
class Finding:
    """One problem on one object. `key` tells two findings of one rule on one object apart (for example
    the address family) and feeds the fingerprint; `fix` holds ready-to-paste commands with real names."""

    rule: str
    severity: Severity
    object: ObjectRef
    message: str
    remediation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    key: str = ""
    fix: tuple[str, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str, str, str, str, str]:
        return (-self.severity, self.rule, self.object.namespace, self.object.name, self.object.kind,
                self.message)

    @property
    def fingerprint(self) -> str:
        """Stable across runs for the same rule and object: usable as a baseline key."""
        raw = f"{self.rule}|{self.object.kind}|{self.object.namespace}|{self.object.name}|{self.key}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "object": self.object.as_dict(),
            "message": self.message,
            "remediation": self.remediation,
            "evidence": self.evidence,
            **({"fix": list(self.fix)} if self.fix else {}),
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.finding.rule,
            "severity": self.finding.severity.label,
            "object": self.finding.object.as_dict(),
            "message": self.finding.message,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class InputInfo:
    path: str
    label: str
    taken_at: str
    complete: bool
    source: dict[str, Any] = field(default_factory=dict)
    missing: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    format: str = "snapshot"  # snapshot | kubectl (a dump: its completeness is judged on the merged inputs)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "takenAt": self.taken_at, "complete": self.complete}


@dataclass(frozen=True)
class RuleInfo:
    """What a report needs to know about a rule: its id, severity, title and documentation."""

    id: str
    severity: Severity
    title: str
    docs: dict[str, str]
    remediation: str


class NotRun(str, enum.Enum):
    """Why a rule did not run: a closed set that reports and JUnit read (never notice text)."""

    KIND_MISSING = "kind-missing"      # the state lacks (or could not read) a kind the rule needs
    NO_EKS_DATA = "no-eks-data"        # an EKS rule on a state taken without --eks-cluster
    DISABLED = "disabled"              # disabled in the config
    NEEDS_BEFORE = "needs-before"      # a before/after rule in a single-state run
    MODE = "mode"                      # the rule does not run in this command (e.g. verify-only)
    NO_DATA = "no-data"                # the data the rule needs for this run is absent (e.g. target)


@dataclass(frozen=True)
class RuleRun:
    """Whether one rule ran in this result, and if not, why (`reason`) in words a reader can act on."""

    rule: str
    ran: bool
    reason: NotRun | None = None
    detail: str = ""
    findings: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "ran": self.ran}
        if not self.ran:
            out["reason"] = self.reason.value if self.reason else ""
            out["detail"] = self.detail
        else:
            out["findings"] = self.findings
        return out


@dataclass(frozen=True)
class BaselineInfo:
    """What a --baseline said about this result: which findings it already held, which of its are gone."""

    path: str
    known: frozenset[str]  # fingerprints of this result's findings that the baseline lists
    fixed: tuple[dict[str, Any], ...] = ()  # baseline findings (rule, severity, object, ...) no longer found


class Gate(enum.Enum):
    """The outcome of the gate, and its exit code (errors.ExitCode's values)."""

    PASS = 0
    FAIL = 1
    UNKNOWN = 3  # the run could not see everything it judges: neither pass nor fail

    @property
    def label(self) -> str:
        return self.name


#: How the notice naming the convergence rules that could not run begins (auditor.engine.verdict.unrun_notice).
UNRUN_PREFIX = "convergence is unknown because "

#: The modes whose result carries a convergence verdict (replay's result is a verify result).
CONVERGENCE_MODES = frozenset({"compare", "verify"})


@dataclass(frozen=True)
class AuditResult:
    mode: str  # audit | compare | verify
    inputs: tuple[InputInfo, ...]
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...]
    fail_on: Severity | None  # None means never fail
    rules: tuple[RuleInfo, ...]
    cluster: dict[str, Any] = field(default_factory=dict)
    converged: bool | None = None
    rotation: dict[str, Any] | None = None
    eks: dict[str, Any] | None = None
    notices: tuple[str, ...] = ()
    generated_at: str = ""
    runs: tuple[RuleRun, ...] = ()
    baseline: BaselineInfo | None = None
    warnings: tuple[str, ...] = ()  # about the user's settings (expired excludes, unknown ignored rules); in notices
    timeline: dict[str, Any] | None = None  # verify/replay: each Service's ready endpoints over the run
    fail_on_outage: bool = False  # verify --fail-on-outage: a service-outage finding fails the run too
    #: the rotation plan (`auditor.analysis.plan.RotationPlan.to_json()`): audit's state, compare's BEFORE state
    plan: dict[str, Any] | None = None
    #: audit: per rotating node group, the Services at risk (auditor.analysis.blast.blast_radius)
    blast_radius: dict[str, Any] | None = None
    #: how traffic reaches each Service (auditor.analysis.traffic.traffic_view): Ingress, route, load balancer,
    #: target group binding and webhook entries, and whether users depend on it
    traffic: dict[str, Any] | None = None
    #: why convergence is unknown (converged None), when the run knows: a feed that died, objects left out
    unknown_because: str | None = None

    @property
    def unknown_reason(self) -> str | None:
        """Why the verdict is unknown, for the banner: what the run said, or the rules that could not run."""
        if self.converged is not None or self.mode not in CONVERGENCE_MODES:
            return None
        if self.unknown_because:
            return self.unknown_because
        return next((n for n in self.notices if n.startswith(UNRUN_PREFIX)), None)

    def is_known(self, f: Finding) -> bool:
        """In the baseline: reported apart, never counted against the gate."""
        return self.baseline is not None and f.fingerprint in self.baseline.known

    @property
    def new_findings(self) -> tuple[Finding, ...]:
        if self.baseline is None:
            return self.findings
        return tuple(f for f in self.findings if f.fingerprint not in self.baseline.known)

    @property
    def not_run(self) -> tuple[RuleRun, ...]:
        return tuple(r for r in self.runs if not r.ran)

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity.label] += 1
        out["suppressed"] = len(self.suppressed)
        if self.baseline is not None:
            new = len(self.new_findings)
            out["new"] = new
            out["known"] = len(self.findings) - new
            out["fixed"] = len(self.baseline.fixed)
        return out

    @property
    def failed(self) -> bool:
        """Counted findings (not in the baseline) at or above --fail-on."""
        if self.fail_on is None:
            return False
        return any(f.severity >= self.fail_on for f in self.new_findings)

    @property
    def outages(self) -> int:
        """Counted `service-outage` findings: what --fail-on-outage fails on whatever --fail-on says."""
        return sum(1 for f in self.new_findings if f.rule == "service-outage")

    @property
    def gate(self) -> Gate:
        """The exit policy of every command, in one place (README: exit codes). `converged` is the engine's fact
        (auditor.engine.verdict); this decides what it and the findings mean for the exit code:
        1. counted findings at or above --fail-on fail; so does an outage with --fail-on-outage, whatever
           --fail-on says;
        2. a compare/verify/replay that is not converged fails unless --fail-on never, or unless a --baseline
           knows every error finding (it accepted them: converged still says false);
        3. one that could not tell (converged None) is unknown, exit 3, even with --fail-on never: a gate that
           could not see must not pass."""
        if self.failed or (self.fail_on_outage and self.outages):
            return Gate.FAIL
        if self.mode in CONVERGENCE_MODES:
            if self.converged is False and self.fail_on is not None and not self._errors_accepted():
                return Gate.FAIL
            if self.converged is None:
                return Gate.UNKNOWN
        return Gate.PASS

    def _errors_accepted(self) -> bool:
        """There are error findings, and the baseline knows each of them."""
        errors = [f for f in self.findings if f.severity >= Severity.ERROR]
        return bool(errors) and all(self.is_known(f) for f in errors)

    @property
    def passed(self) -> bool:
        return self.gate is Gate.PASS


@dataclass(frozen=True)
class Written:
    """An AuditResult and where its reports went (files, uploads): what the CLI layer prints from.
    `upload_error` is raised by the CLI after the summary (the local files are written either way)."""

    result: AuditResult
    paths: tuple[Any, ...]
    urls: tuple[str, ...] = ()
    upload_error: Exception | None = None
