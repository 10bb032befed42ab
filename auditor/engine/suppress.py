"""Suppressions decided in one place: object annotations and config excludes (each with its reason), expired
excludes and ignore annotations naming no rule (both told to the user)."""
from __future__ import annotations

import difflib
from datetime import date
from typing import Iterable

from auditor.analysis.index import ClusterIndex
from auditor.model import Finding, ObjectRef, Suppressed
from auditor.settings import Exclude
from auditor.state.labels import ANN_IGNORE, ANN_IGNORE_REASON
from auditor.state.objects import KubeObject


def decide(raw: Iterable[Finding], index: ClusterIndex, before: ClusterIndex | None, excludes: Iterable[Exclude],
           today: date) -> tuple[list[Finding], list[Suppressed], list[str]]:
    """(reported findings, suppressed findings with their reasons, warnings about expired excludes), unsorted.

    An exclude past its `expires` date (`today`, UTC) no longer applies: its warning counts the findings it
    would have matched."""
    excludes = tuple(excludes)
    active = tuple(ex for ex in excludes if not ex.expired(today))
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    for f in raw:
        reason = _suppression(f, index, before, active)
        if reason is None:
            findings.append(f)
        else:
            suppressed.append(Suppressed(f, reason))
    warnings = []
    for ex in excludes:
        if ex.expired(today):
            hits = sum(1 for f in findings if _matches(ex, f, index, before))
            warnings.append(f"{ex.describe()} expired on {ex.expires} and no longer applies"
                            + (f": {hits} finding(s) it matched are reported" if hits else ""))
    return findings, suppressed, warnings


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


def unknown_ignores(known: set[str], *indexes: ClusterIndex | None) -> list[str]:
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
