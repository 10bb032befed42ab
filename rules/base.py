"""The rule type, the context a rule sees, and the parser for a rule's documentation."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable

from auditor.model import Finding, ObjectRef, RuleInfo, Severity

if TYPE_CHECKING:
    from auditor.analysis.index import ClusterIndex

DOC_SECTIONS = ("What it does", "Why it matters", "Example", "How to fix")


@dataclass(frozen=True)
class Options:
    """Rule options from config and flags; rules read nothing else from the outside world."""

    grace_seconds: int = 120
    target_version: str | None = None
    capacity_tolerance: float = 0.0  # absolute endpoints, or a fraction when capacity_tolerance_is_ratio
    capacity_tolerance_is_ratio: bool = False
    third_party_managers: tuple[str, ...] = ()
    outage_tolerance_seconds: float = 0.0  # service-outage: seconds at zero ready endpoints that are tolerated
    #: --rotating / `rotating:`: node groups (`karpenter:POOL` for Karpenter node pools) the upgrade replaces
    rotating: tuple[str, ...] = ()


@dataclass
class Context:
    """What a rule's check() receives: the state (and, for pair rules, the BEFORE state), and options."""

    index: ClusterIndex
    options: Options
    before: ClusterIndex | None = None
    rule: Rule | None = None

    @property
    def now(self) -> datetime:
        """The state's own time: rules never read the clock."""
        return self.index.taken_at

    @property
    def cutoff(self) -> datetime:
        """Changes after this moment are within the grace period: in flight, not findings."""
        return self.index.taken_at - timedelta(seconds=self.options.grace_seconds)

    def recent(self, t: datetime | None) -> bool:
        """True when t lies within the grace period before the state was taken (a change in flight)."""
        return t is not None and t > self.cutoff

    def finding(self, obj: ObjectRef, message: str, *, severity: Severity | None = None, key: str = "",
                fix: Iterable[str] = (), **evidence: Any) -> Finding:
        """A finding of this rule; `key` separates several findings on one object (fingerprint), `fix` holds
        ready-to-paste commands with the real names filled in."""
        assert self.rule is not None
        return Finding(rule=self.rule.id, severity=severity or self.rule.severity, object=obj,
                       message=message, remediation=self.rule.remediation,
                       evidence={k: v for k, v in evidence.items() if v is not None}, key=key, fix=tuple(fix))


Check = Callable[[Context], Iterable[Finding]]

COMMANDS = frozenset({"audit", "compare", "verify"})


class RuleNotRun(Exception):
    """Raised by a check that cannot judge this state (for example no data for the target version): the rule
    is reported as not run, with this reason, never as passed."""


@dataclass(frozen=True)
class Rule:
    """A rule and its metadata: the family (`mode`: single | pair | eks), the kinds it needs, the commands it
    runs in, whether its error findings mean "not converged", and the config options it reads."""

    id: str
    severity: Severity
    title: str
    check: Check
    mode: str = "single"  # single | pair | eks
    needs: frozenset[str] = field(default_factory=frozenset)
    commands: frozenset[str] = COMMANDS
    convergence: bool = False
    options: tuple[str, ...] = ()

    @cached_property
    def docs(self) -> dict[str, str]:
        return parse_doc(inspect.getdoc(self.check) or "")

    @cached_property  # read by every finding (Context.finding): parse the docstring once
    def remediation(self) -> str:
        """The first paragraph of 'How to fix': short enough for a finding."""
        fix = self.docs.get("How to fix", "")
        return fix.split("\n\n")[0].replace("\n", " ").strip()

    def info(self) -> RuleInfo:
        return RuleInfo(id=self.id, severity=self.severity, title=self.title, docs=self.docs,
                        remediation=self.remediation)


def rule(id: str, severity: Severity, title: str, *, mode: str = "single", needs: Iterable[str] = (),
         commands: Iterable[str] = COMMANDS, convergence: bool = False,
         options: Iterable[str] = ()) -> Callable[[Check], Rule]:
    """Build a Rule from a check function; registration stays explicit in ALL_RULES."""

    def wrap(fn: Check) -> Rule:
        return Rule(id=id, severity=severity, title=title, check=fn, mode=mode, needs=frozenset(needs),
                    commands=frozenset(commands), convergence=convergence, options=tuple(options))

    return wrap


_HEADER = re.compile(r"^## (.+)$", re.M)


def parse_doc(doc: str) -> dict[str, str]:
    """Split a docstring into its '## Section' parts (What it does, Why it matters, Example, How to fix)."""
    parts = _HEADER.split(doc)
    out: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        out[parts[i].strip()] = parts[i + 1].strip()
    return out
