"""The engine: runs each rule in isolation (a crash is a finding), then hands the findings to `suppress`."""
from __future__ import annotations

import logging
import traceback
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Iterable

from auditor.analysis.index import ClusterIndex
from auditor.engine import suppress
from auditor.model import Finding, NotRun, ObjectRef, RuleRun, Severity, Suppressed
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
        self.warnings: list[str] = []  # about the user's own settings (expired excludes, typos): also notices


def run_rules(rules: Iterable[Rule], index: ClusterIndex, config: Config, *,
              before: ClusterIndex | None = None, command: str | None = None, today: date | None = None,
              known_rules: Iterable[str] | None = None, name_unknown_ignores: bool = True) -> EngineRun:
    """Run each rule in isolation; record for every rule whether it ran, or why not (`EngineRun.runs`).
    Then decide suppressions: `today` (UTC, default now) decides which excludes have expired.
    `name_unknown_ignores`: warn of ignore annotations naming no rule (a pass over every object of both
    states; verify's live re-judging, which keeps only the findings, leaves it to the final comparison)."""
    out = EngineRun()
    raw: list[Finding] = []
    for r in rules:
        skipped = _not_run(r, index, config, before, command)
        if skipped is not None:
            out.runs.append(skipped)
            if skipped.reason == NotRun.KIND_MISSING:
                out.notices.append(f"rule {r.id} did not run: {skipped.detail}")
            continue
        raw.extend(_run_one(r, index, config, before, out))
    today = today or datetime.now(timezone.utc).date()
    out.findings, out.suppressed, out.warnings = suppress.decide(raw, index, before, config.excludes, today)
    if name_unknown_ignores:
        if known_rules is None:
            from auditor.rules import ALL_RULES
            known_rules = [r.id for r in ALL_RULES]
        out.warnings.extend(suppress.unknown_ignores(set(known_rules) | {INTERNAL_ERROR}, index, before))
    out.notices.extend(out.warnings)
    out.findings.sort(key=lambda f: f.sort_key)
    out.suppressed.sort(key=lambda s: s.finding.sort_key)
    return out


def _not_run(r: Rule, index: ClusterIndex, config: Config, before: ClusterIndex | None,
             command: str | None) -> RuleRun | None:
    """Why the rule does not run on this input (its command, the config, a missing state, kind or EKS data)."""
    if command is not None and command not in r.commands:
        return RuleRun(r.id, False, NotRun.MODE, f"runs only in {', '.join(sorted(r.commands))}")
    override = config.rules.get(r.id)
    if override is not None and not override.enabled:
        return RuleRun(r.id, False, NotRun.DISABLED, "disabled in the config")
    if r.mode == "pair" and before is None:
        return RuleRun(r.id, False, NotRun.NEEDS_BEFORE, "needs a BEFORE state (compare or verify)")
    if r.mode == "eks" and not index.eks:
        return RuleRun(r.id, False, NotRun.NO_EKS_DATA, "the state has no EKS data (snapshot with --eks-cluster)")
    lacking = sorted(k for k in r.needs if not index.has(k) or (before is not None and r.mode == "pair"
                                                                 and not before.has(k)))
    if lacking:
        return RuleRun(r.id, False, NotRun.KIND_MISSING, f"the state has no {', '.join(lacking)}")
    return None


def _run_one(r: Rule, index: ClusterIndex, config: Config, before: ClusterIndex | None,
             out: EngineRun) -> list[Finding]:
    """The rule's findings (its severity overridden by the config); a crash is an internal-error finding and a
    rule that finds it has no data to judge is recorded as not run."""
    ctx = Context(index=index, options=config.options, before=before if r.mode == "pair" else None, rule=r)
    try:
        produced = list(r.check(ctx))
    except RuleNotRun as why:
        out.runs.append(RuleRun(r.id, False, NotRun.NO_DATA, str(why)))
        out.notices.append(f"rule {r.id} did not run: {why}")
        return []
    except Exception as exc:  # one rule's bug must not hide every other result
        LOG.debug("rule %s crashed:\n%s", r.id, traceback.format_exc())
        produced = [Finding(rule=INTERNAL_ERROR, severity=Severity.ERROR, object=ObjectRef("Cluster", "", r.id),
                            message=f"rule {r.id} crashed: {type(exc).__name__}: {exc}",
                            remediation="Report this as a bug in eks-upgrade-auditor, with the input if "
                                        "you can share it; the other rules' results are unaffected.",
                            evidence={"rule": r.id})]
    out.ran.append(r)
    out.runs.append(RuleRun(r.id, True, findings=sum(1 for f in produced if f.rule == r.id)))
    override = config.rules.get(r.id)
    if override is not None and override.severity is not None:
        produced = [replace(f, severity=override.severity) if f.rule == r.id else f for f in produced]
    return produced
