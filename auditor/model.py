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
    rule: str
    severity: Severity
    object: ObjectRef
    message: str
    remediation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def sort_key(self) -> tuple[int, str, str, str, str, str]:
        return (-self.severity, self.rule, self.object.namespace, self.object.name, self.object.kind,
                self.message)

    @property
    def fingerprint(self) -> str:
        """Stable across runs for the same rule and object: usable as a baseline key."""
        raw = f"{self.rule}|{self.object.kind}|{self.object.namespace}|{self.object.name}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "object": self.object.as_dict(),
            "message": self.message,
            "remediation": self.remediation,
            "evidence": self.evidence,
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

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity.label] += 1
        out["suppressed"] = len(self.suppressed)
        return out

    @property
    def failed(self) -> bool:
        if self.fail_on is None:
            return False
        return any(f.severity >= self.fail_on for f in self.findings)

    @property
    def passed(self) -> bool:
        if self.mode == "verify":  # verify's verdict is convergence alone (CONTRACT.md exit codes)
            return self.converged is True
        # audit and compare: findings at or above --fail-on decide (CONTRACT.md); `converged` is reported
        # beside the verdict, and slices that did not reconverge are error findings in their own right
        return not self.failed
