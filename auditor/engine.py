"""The engine: runs each rule in isolation, then applies config and suppressions in one place."""
from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from typing import Iterable

from auditor.index import ClusterIndex
from auditor.model import Finding, NotRun, ObjectRef, RuleRun, Severity, Suppressed
from auditor.objects import ANN_IGNORE
from auditor.rules.base import Context, Rule, RuleNotRun
from auditor.settings import Config

LOG = logging.getLogger(__name__)
INTERNAL_ERROR = "internal-error"


class EngineRun:
    """The outcome of one engine pass, before it becomes an AuditResult."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.suppressed: list[Suppressed] = []
        self.notices: list[str] = []
        self.ran: list[Rule] = []
        self.runs: list[RuleRun] = []


def run_rules(rules: Iterable[Rule], index: ClusterIndex, config: Config, *,
              before: ClusterIndex | None = None, command: str | None = None) -> EngineRun:
    """Run each rule in isolation; record for every rule whether it ran, or why not (`EngineRun.runs`)."""
    out = EngineRun()
    raw: list[Finding] = []
    for r in rules:
        if command is not None and command not in r.commands:
            out.runs.append(RuleRun(r.id, False, NotRun.MODE, f"runs only in {', '.join(sorted(r.commands))}"))
            continue
        override = config.rules.get(r.id)
        if override is not None and not override.enabled:
            out.runs.append(RuleRun(r.id, False, NotRun.DISABLED, "disabled in the config"))
            continue
        if r.mode == "pair" and before is None:
            out.runs.append(RuleRun(r.id, False, NotRun.NEEDS_BEFORE, "needs a BEFORE state (compare or verify)"))
            continue
        if r.mode == "eks" and not index.eks:
            out.runs.append(RuleRun(r.id, False, NotRun.NO_EKS_DATA,
                                    "the state has no EKS data (snapshot with --eks-cluster)"))
            continue
        lacking = sorted(k for k in r.needs if not index.has(k) or (before is not None and r.mode == "pair"
                                                                     and not before.has(k)))
        if lacking:
            out.notices.append(f"rule {r.id} did not run: the state has no {', '.join(lacking)}")
            out.runs.append(RuleRun(r.id, False, NotRun.KIND_MISSING, f"the state has no {', '.join(lacking)}"))
            continue
        ctx = Context(index=index, options=config.options, before=before if r.mode == "pair" else None, rule=r)
        try:
            produced = list(r.check(ctx))
        except RuleNotRun as why:
            out.runs.append(RuleRun(r.id, False, NotRun.NO_DATA, str(why)))
            out.notices.append(f"rule {r.id} did not run: {why}")
            continue
        except Exception as exc:  # one rule's bug must not hide every other result
            LOG.debug("rule %s crashed:\n%s", r.id, traceback.format_exc())
            produced = [Finding(rule=INTERNAL_ERROR, severity=Severity.ERROR, object=ObjectRef("Cluster", "", r.id),
                                message=f"rule {r.id} crashed: {type(exc).__name__}: {exc}",
                                remediation="Report this as a bug in eks-upgrade-auditor, with the input if "
                                            "you can share it; the other rules' results are unaffected.",
                                evidence={"rule": r.id})]
        out.ran.append(r)
        out.runs.append(RuleRun(r.id, True, findings=sum(1 for f in produced if f.rule == r.id)))
        if override is not None and override.severity is not None:
            produced = [replace(f, severity=override.severity) if f.rule == r.id else f for f in produced]
        raw.extend(produced)
    for f in raw:
        reason = _suppression(f, index, before, config)
        if reason is None:
            out.findings.append(f)
        else:
            out.suppressed.append(Suppressed(f, reason))
    out.findings.sort(key=lambda f: f.sort_key)
    out.suppressed.sort(key=lambda s: s.finding.sort_key)
    return out


def _suppression(f: Finding, index: ClusterIndex, before: ClusterIndex | None, config: Config) -> str | None:
    """The reason a finding is suppressed (annotation or config exclude), or None."""
    obj = index.lookup(f.object)
    if obj is None and before is not None:
        obj = before.lookup(f.object)
    labels = obj.labels if obj is not None else {}
    if obj is not None:
        ignore = obj.annotations.get(ANN_IGNORE)
        if ignore:
            wanted = {p.strip() for p in ignore.split(",")}
            if f.rule in wanted or "*" in wanted or "all" in wanted:
                return f"annotation {ANN_IGNORE}: {ignore!r} on {f.object}"
    for ex in config.excludes:
        if ex.matches(f.rule, f.object.kind, f.object.namespace, f.object.name, labels):
            return ex.reason
    return None
