"""The convergence verdict, in one place: which findings mean "the endpoints did not follow the Pods"."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from auditor.model import UNRUN_PREFIX, Finding, Severity
from auditor.rules import ALL_RULES, convergence_rules
from auditor.rules.base import Rule
from auditor.settings import Config

Key = tuple[str, str]  # a Service: (namespace, name)

#: The rules whose error findings mean "not converged": the `convergence` flag on each rule.
CONVERGENCE_RULES: frozenset[str] = convergence_rules()

#: What the live follower re-runs on the Services a change touched: the convergence rules that read one state
#: or a pair (EKS rules read the AWS side, which a watch never changes).
FOLLOWED_RULES: tuple[Rule, ...] = tuple(r for r in ALL_RULES if r.convergence and r.mode in ("single", "pair"))


def holds_back(f: Finding) -> bool:
    """An error of a convergence rule: the one kind of finding that keeps a state from being converged."""
    return f.rule in CONVERGENCE_RULES and f.severity >= Severity.ERROR


def converged(findings: Iterable[Finding], unrun: tuple[str, ...] = ()) -> bool | None:
    """Whether a state (or a before/after pair) is converged: a fact about the cluster, so every finding counts,
    in a baseline or not (suppressed ones never reach here: a suppression is a decision about the object).
    False when a finding holds it back; else None (unknown) when an enabled convergence rule could not run
    (`unrun`: a kind missing from a state proves nothing); else True."""
    if any(holds_back(f) for f in findings):
        return False
    return None if unrun else True


def unrun_rules(rules: Iterable[Rule], config: Config, ran: Iterable[Rule]) -> tuple[str, ...]:
    """The convergence rules of this run, enabled in the config, that did not run (sorted ids)."""
    enabled = {r.id for r in rules if (o := config.rules.get(r.id)) is None or o.enabled}
    return tuple(sorted((CONVERGENCE_RULES & enabled) - {r.id for r in ran}))


def unrun_notice(rule_ids: Iterable[str]) -> str:
    return f"{UNRUN_PREFIX}{', '.join(rule_ids)} could not run on these inputs"


def services_held_back(findings: Iterable[Finding]) -> list[str]:
    """`namespace/name` of each Service a finding holds back: the Service itself, or the one named in the
    evidence of a finding on its slices or Endpoints."""
    bad: set[str] = set()
    for f in findings:
        if not holds_back(f):
            continue
        if f.object.kind == "Service":
            bad.add(f"{f.object.namespace}/{f.object.name}")
        elif "service" in f.evidence and f.evidence["service"]:
            bad.add(f"{f.object.namespace}/{f.evidence['service']}")
    return sorted(bad)


def run_converged(whole_state: bool | None) -> bool | None:
    """verify's and replay's verdict: the whole state's comparison at the end of the run, judged strictly (no
    grace period: the follower saw every change). Whether it had held for the settle window is a note, not the
    verdict: a cluster converged when the run ends is converged. None (unknown) when the comparison could not
    tell."""
    return whole_state


@dataclass
class Verdict:
    """The live per-Service verdict: the Services the last evaluations found not converged, with the findings
    that hold each back."""

    not_converged: dict[Key, list[Finding]] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return not self.not_converged

    def update(self, wanted: Iterable[Key], findings: Iterable[Finding],
               service_of: Callable[[Finding], Key | None]) -> Verdict:
        """Re-judge the Services `wanted` from the findings of the rules just re-run on them; the others keep
        their verdict."""
        wanted = set(wanted)
        found: dict[Key, list[Finding]] = {}
        for f in findings:
            if not holds_back(f):
                continue
            key = service_of(f)
            if key is not None and key in wanted:
                found.setdefault(key, []).append(f)
        for key in wanted:
            if key in found:
                self.not_converged[key] = found[key]
            else:
                self.not_converged.pop(key, None)
        return self
