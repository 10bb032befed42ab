"""The short summary on stdout: verdict, counts, the worst findings, where the reports are."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from auditor.model import AuditResult, Severity

_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def summary(result: AuditResult, paths: list[Path], stream: TextIO | None = None, top: int = 10) -> str:
    stream = stream or sys.stdout
    colour = use_colour(stream)

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour else text

    c = result.counts()
    verdict = "PASS" if result.passed else "FAIL"
    head = paint(verdict, "32;1" if result.passed else "31;1")
    threshold = result.fail_on.label if result.fail_on else "never"
    lines = [f"{head}  {result.mode}: {c['error']} error, {c['warning']} warning, {c['info']} info, "
             f"{c['suppressed']} suppressed (fail-on: {threshold})"]
    if result.converged is not None:
        lines.append("converged: " + ("yes" if result.converged else "no"))
    for notice in result.notices:
        lines.append(f"note: {notice}")
    worst = list(result.findings[:top])
    if worst:
        w_sev = max(len(f.severity.label) for f in worst)
        w_rule = max(len(f.rule) for f in worst)
        w_obj = min(60, max(len(str(f.object)) for f in worst))
        lines.append("")
        for f in worst:
            sev = paint(f.severity.label.ljust(w_sev), _COLOURS[f.severity])
            obj = str(f.object)
            obj = obj if len(obj) <= w_obj else obj[: w_obj - 1] + "…"
            msg = f.message if len(f.message) <= 120 else f.message[:119] + "…"
            lines.append(f"  {sev}  {f.rule.ljust(w_rule)}  {obj.ljust(w_obj)}  {msg}")
        if len(result.findings) > top:
            lines.append(f"  … and {len(result.findings) - top} more in the reports")
    if paths:
        lines.append("")
        lines.append("reports:")
        lines += [f"  {p}" for p in paths]
    return "\n".join(lines)
