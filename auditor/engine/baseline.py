"""Baselines: a previous report.json whose findings are known (reported, not gating); new ones gate.

A finding is the same finding across runs when its fingerprint (rule + object + key, see
`Finding.fingerprint`) is the same. `--baseline PREVIOUS/report.json` marks the current findings
whose fingerprint the baseline lists as known, and lists the baseline findings that are gone as
fixed (only for rules that ran this time: a rule that could not run fixed nothing).
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from auditor.errors import InputError
from auditor.model import AuditResult, BaselineInfo
from auditor.state.inputs import Source, max_input_size, read_input

_FP_CHARS = frozenset("0123456789abcdef")


class Baseline(msgspec.Struct, frozen=True):
    path: str
    entries: tuple[dict[str, Any], ...]  # rule, severity, object, message, fingerprint of each baseline finding

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(e["fingerprint"] for e in self.entries)


def load_baseline(path: str | Path) -> Baseline:
    """Read a report.json as a baseline; anything else is an InputError naming the file (exit 2)."""
    return _load(str(path))


@lru_cache(maxsize=4)
def _load(path: str) -> Baseline:
    p = Path(path)
    data = read_input(Source(p), max_input_size())
    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise InputError(p, f"baseline is not valid JSON ({exc}); pass a report.json written by "
                            "`upgrade-auditor audit|compare|verify`") from None
    except RecursionError:
        raise InputError(p, "baseline JSON is nested too deeply to be a report.json") from None
    if not isinstance(doc, dict) or "findings" not in doc or "schemaVersion" not in doc:
        raise InputError(p, "is not a report.json (no schemaVersion and findings); pass the report.json of "
                            "a previous run as --baseline")
    if doc.get("schemaVersion") != 1:
        raise InputError(p, f"baseline has schemaVersion {doc.get('schemaVersion')!r}; this version reads 1")
    findings = doc.get("findings")
    if not isinstance(findings, list):
        raise InputError(p, "baseline 'findings' is not a list")
    entries = []
    for i, f in enumerate(findings):
        if not isinstance(f, dict):
            raise InputError(p, f"baseline findings[{i}] is not an object")
        fp = f.get("fingerprint")
        if not isinstance(fp, str) or not fp or not set(fp) <= _FP_CHARS:
            raise InputError(p, f"baseline findings[{i}] has no valid fingerprint (a report from an older "
                                "version? run once without --baseline to make a new one)")
        obj = f.get("object")
        entries.append({"rule": str(f.get("rule", "")), "severity": str(f.get("severity", "")),
                        "object": obj if isinstance(obj, dict) else {}, "message": str(f.get("message", "")),
                        "fingerprint": fp})
    return Baseline(path=str(p), entries=tuple(entries))


def apply(result: AuditResult, baseline: Baseline | None) -> AuditResult:
    """The result with known findings marked and fixed ones listed; the gate then counts new findings only."""
    if baseline is None:
        return result
    known_fps = baseline.fingerprints
    now = {f.fingerprint for f in result.findings}
    still = now | {s.finding.fingerprint for s in result.suppressed}  # suppressed now is not fixed
    ran = {r.rule for r in result.runs if r.ran}
    fixed = tuple(e for e in baseline.entries if e["fingerprint"] not in still
                  and (not result.runs or e["rule"] in ran))
    info = BaselineInfo(path=baseline.path, known=frozenset(now & known_fps), fixed=fixed)
    return replace(result, baseline=info)
