"""The short summary on stdout: verdict, counts, the worst findings, where the reports are."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Iterable, TextIO

from auditor.model import AuditResult, Severity
from auditor.reportview import other_notices, skipped_rules, verdict_detail

_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}
# Object names and messages come from the cluster: never let them drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def clean(text: object) -> str:
    """Text from the cluster made safe for a terminal (no control characters)."""
    return _CONTROL.sub("?", str(text))


_clean = clean


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(result: AuditResult, paths: Iterable[Path], stream: TextIO | None = None, top: int = 10,
            urls: Iterable[str] = ()) -> str:
    stream = stream or sys.stdout
    colour = use_colour(stream)

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour else text

    c = result.counts()
    verdict = paint("PASS" if result.passed else "FAIL", "32;1" if result.passed else "31;1")
    head = (f"{verdict}  {result.mode} ({verdict_detail(result)}): {c['error']} error, {c['warning']} warning, "
            f"{c['info']} info, {c['suppressed']} suppressed")
    lines = [head]
    if result.baseline is not None:
        lines.append(f"baseline {_clean(result.baseline.path)}: {c['new']} new, {c['known']} known "
                     f"(not gating), {c['fixed']} fixed")
    incomplete = [i for i in result.inputs if not i.complete]
    if incomplete:
        if all(i.format == "kubectl" for i in incomplete):  # dumps: what the merge of them lacks
            kinds = sorted({str(m.get("kind")) for i in incomplete for m in i.missing})
            what = f" the input(s) hold no {', '.join(kinds)}"
        else:
            what = f" {len(incomplete)} of {len(result.inputs)} input(s) could not be read whole"
        lines.append(paint("incomplete:", "33") + what + "; see the report's notices")
    skipped = skipped_rules(result.notices)
    others = other_notices(result.notices)
    if skipped:
        lines.append(f"not run: {len(skipped)} rule(s) lacked data ({', '.join(sorted(skipped))})")
    for n in others[:3]:
        lines.append(f"note: {_clean(n)}")
    if len(others) > 3:
        lines.append(f"note: … and {len(others) - 3} more in the reports")
    # With a baseline the new findings come first: they are what the gate is about.
    ordered = list(result.new_findings) + [f for f in result.findings if result.is_known(f)]
    worst = ordered[:top]
    if worst:
        w_sev = max(len(f.severity.label) for f in worst)
        w_rule = max(len(f.rule) for f in worst)
        objs = [_fit(_clean(f.object), 50) for f in worst]
        w_obj = max(len(o) for o in objs)
        lines.append("")
        for f, obj in zip(worst, objs, strict=True):
            sev = paint(f.severity.label.ljust(w_sev), _COLOURS[f.severity])
            tag = " (known)" if result.is_known(f) else ""
            lines.append(f"  {sev}  {f.rule.ljust(w_rule)}  {obj.ljust(w_obj)}  {_fit(_clean(f.message), 100)}{tag}")
        if len(result.findings) > top:
            lines.append(f"  … and {len(result.findings) - top} more in the reports")
    paths = list(paths)
    if paths:
        lines += ["", "reports:"] + [f"  {p}" for p in paths]
    urls = list(urls)
    if urls:
        lines += ["uploaded:"] + [f"  {u}" for u in urls]
    return "\n".join(lines)
