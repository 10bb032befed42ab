"""The engine: runs each rule in isolation, then applies config and suppressions in one place."""
from __future__ import annotations

import difflib
import logging
import traceback
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Iterable

from auditor.analysis.index import ClusterIndex
from auditor.model import Finding, NotRun, ObjectRef, RuleRun, Severity, Suppressed
from auditor.rules.base import Context, Rule, RuleNotRun
from auditor.settings import Config, Exclude
from auditor.state.labels import ANN_IGNORE, ANN_IGNORE_REASON
from auditor.state.objects import KubeObject

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
        self.warnings: list[str] = []  # about the user's own settings (expired excludes, typos): also notices


def run_rules(rules: Iterable[Rule], index: ClusterIndex, config: Config, *,
              before: ClusterIndex | None = None, command: str | None = None, today: date | None = None,
              known_rules: Iterable[str] | None = None) -> EngineRun:
    """Run each rule in isolation; record for every rule whether it ran, or why not (`EngineRun.runs`).
    Then decide suppressions: `today` (UTC, default now) decides which excludes have expired."""
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
    today = today or datetime.now(timezone.utc).date()
    active = tuple(ex for ex in config.excludes if not ex.expired(today))
    for f in raw:
        reason = _suppression(f, index, before, active)
        if reason is None:
            out.findings.append(f)
        else:
            out.suppressed.append(Suppressed(f, reason))
    for ex in config.excludes:
        if ex.expired(today):
            hits = sum(1 for f in out.findings if _matches(ex, f, index, before))
            out.warnings.append(f"{ex.describe()} expired on {ex.expires} and no longer applies"
                                + (f": {hits} finding(s) it matched are reported" if hits else ""))
    if known_rules is None:
        from auditor.rules import ALL_RULES
        known_rules = [r.id for r in ALL_RULES]
    out.warnings.extend(_unknown_ignores(set(known_rules) | {INTERNAL_ERROR}, index, before))
    out.notices.extend(out.warnings)
    out.findings.sort(key=lambda f: f.sort_key)
    out.suppressed.sort(key=lambda s: s.finding.sort_key)
    return out


def _object(f: Finding, index: ClusterIndex, before: ClusterIndex | None) -> KubeObject | None:
    obj = index.lookup(f.object)
    if obj is None and before is not None:
        obj = before.lookup(f.object)
    return obj


def _matches(ex: Exclude, f: Finding, index: ClusterIndex, before: ClusterIndex | None) -> bool:
    obj = _object(f, index, before)
    return ex.matches(f.rule, f.object.kind, f.object.namespace, f.object.name, obj.labels if obj else {})


def _suppression(f: Finding, index: ClusterIndex, before: ClusterIndex | None,
                 excludes: Iterable[Exclude]) -> str | None:
    """The reason a finding is suppressed (annotation or config exclude), or None."""
    obj = _object(f, index, before)
    labels = obj.labels if obj is not None else {}
    if obj is not None:
        ignore = obj.annotations.get(ANN_IGNORE)
        if ignore:
            wanted = {p.strip() for p in ignore.split(",")}
            if f.rule in wanted or "*" in wanted or "all" in wanted:
                why = obj.annotations.get(ANN_IGNORE_REASON, "").strip()
                return (f"annotation {ANN_IGNORE}: {ignore!r} on {f.object}"
                        + (f": {why}" if why else f" (no {ANN_IGNORE_REASON} given)"))
    for ex in excludes:
        if ex.matches(f.rule, f.object.kind, f.object.namespace, f.object.name, labels):
            return ex.reason + (f" (until {ex.expires})" if ex.expires else "")
    return None


def _unknown_ignores(known: set[str], *indexes: ClusterIndex | None) -> list[str]:
    """An ignore annotation naming no rule (a typo) would silently suppress nothing: say so, once per object."""
    out: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for index in indexes:
        if index is None:
            continue
        for kind, objs in index.state.objects.items():
            for o in objs:
                ann = o.metadata.annotations
                value = ann.get(ANN_IGNORE) if ann else None
                if not value:
                    continue
                ref = ObjectRef(kind, o.metadata.namespace, o.metadata.name)
                for rid in (p.strip() for p in value.split(",")):
                    if not rid or rid in known or rid in ("*", "all") or (kind, str(ref), rid) in seen:
                        continue
                    seen.add((kind, str(ref), rid))
                    close = difflib.get_close_matches(rid, sorted(known), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else " (see `upgrade-auditor rules`)"
                    out.append(f"{ref}: annotation {ANN_IGNORE} names unknown rule {rid!r}{hint}")
    return out
