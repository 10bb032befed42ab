"""The short summary on stdout: verdict, counts, the worst findings, where the reports are.

Lines fit the terminal's width (shutil.get_terminal_size; 120 columns when stdout is not a terminal),
so nothing wraps; colour follows FORCE_COLOR, then NO_COLOR, then whether the stream is a terminal."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Iterable, TextIO

from auditor.errors import ExitCode
from auditor.model import AuditResult, Finding, Gate, Severity, Written
from auditor.report.text import one_line
from auditor.report.view import not_run, other_notices, verdict_detail

_COLOURS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}
PIPE_WIDTH = 120  # when stdout is a file or a CI log there is no width to fit: wide, but bounded
MIN_WIDTH = 40


def use_colour(stream: TextIO) -> bool:
    """FORCE_COLOR (any value but '' or '0') turns colour on even in a CI log (force-color.org), and wins
    over NO_COLOR as in Node; NO_COLOR (any value) turns it off (no-color.org); else only on a terminal."""
    force = os.environ.get("FORCE_COLOR")
    if force is not None and force != "":
        return force != "0"
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def clean(text: object) -> str:
    """Text from the cluster made safe for a terminal: one line, every unseen character shown (auditor.report.text),
    so names and messages never drive the terminal."""
    return one_line(text)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def width_of(stream: TextIO) -> int:
    """Columns to fit: COLUMNS, else the terminal's, else PIPE_WIDTH when the stream is not a terminal."""
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    if not tty and not os.environ.get("COLUMNS"):
        return PIPE_WIDTH
    return max(MIN_WIDTH, shutil.get_terminal_size((PIPE_WIDTH, 24)).columns)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def verdict_line(result: AuditResult) -> str:
    c = result.counts()
    return (f"{result.gate.label}  {result.mode} ({verdict_detail(result)}): {c['error']} error, "
            f"{c['warning']} warning, {c['info']} info, {c['suppressed']} suppressed")


def summary(result: AuditResult, paths: Iterable[Path], stream: TextIO | None = None, top: int = 10,
            urls: Iterable[str] = (), *, quiet: bool = False, verbose: bool = False, width: int | None = None) -> str:
    """The summary text. quiet: the verdict line alone; verbose: also every rule that did not run, and why."""
    stream = stream or sys.stdout
    colour = use_colour(stream)
    cols = width or width_of(stream)
    # In a CI log (not a terminal) nothing wraps badly and a cut name is a name nobody can search for.
    whole_names = width is None and not _isatty(stream)

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour else text

    verdict = result.gate.label
    painted = paint(verdict, {Gate.PASS: "32;1", Gate.FAIL: "31;1"}.get(result.gate, "33;1"))
    head = verdict_line(result)
    if quiet:
        return painted + head[len(verdict):]
    lines: list[str] = []
    if len(head) <= cols:
        lines.append(painted + head[len(verdict):])
    else:  # verdict and detail on one line, the counts on the next
        first, _, counts = head.partition("): ")
        lines += [painted + _fit(first + ")", cols)[len(verdict):], _fit("  " + counts, cols)]
    lines += _status_lines(result, cols, paint, verbose)
    # With a baseline the new findings come first: they are what the gate is about.
    ordered = list(result.new_findings) + [f for f in result.findings if result.is_known(f)]
    worst = ordered[:top]
    if worst:
        lines.append("")
        lines += _finding_rows(worst, cols, paint, known=result.is_known, whole_names=whole_names)
        if len(result.findings) > top:
            lines.append(f"  … and {len(result.findings) - top} more in the reports")
    paths = list(paths)
    if paths:
        lines += ["", "reports:"] + [f"  {p}" for p in paths]
    urls = list(urls)
    if urls:
        lines += ["uploaded:"] + [f"  {u}" for u in urls]
    return "\n".join(lines)


def _status_lines(result: AuditResult, cols: int, paint: Callable[[str, str], str], verbose: bool) -> list[str]:
    """What qualifies the verdict: the baseline, incomplete inputs, rules that did not run, the first notices."""
    lines: list[str] = []
    if result.baseline is not None:
        c = result.counts()
        lines.append(_fit(f"baseline {clean(result.baseline.path)}: {c['new']} new, {c['known']} known "
                          f"(not gating), {c['fixed']} fixed", cols))
    incomplete = [i for i in result.inputs if not i.complete]
    if incomplete:
        if all(i.format == "kubectl" for i in incomplete):  # dumps: what the merge of them lacks
            kinds = sorted({str(m.get("kind")) for i in incomplete for m in i.missing})
            what = f" the input(s) hold no {', '.join(kinds)}; see the report's notices"
        else:
            what = (f" {len(incomplete)} of {len(result.inputs)} input(s) could not be read whole; "
                    "see the report's notices")
        lines.append(paint("incomplete:", "33") + _fit(what, cols - 11))
    skipped = not_run(result)
    if skipped and verbose:
        lines.append(f"not run: {len(skipped)} rule(s):")
        w_id = max(len(r) for r in skipped)
        lines += [_fit(f"  {rid.ljust(w_id)}  {clean(why)}", cols) for rid, why in skipped.items()]
    elif skipped:
        lines.append(_fit(f"not run: {len(skipped)} rule(s), -v says why: {', '.join(sorted(skipped))}", cols))
    others = other_notices(result)
    for n in others[:3]:
        lines.append(_fit(f"note: {clean(n)}", cols))
    if len(others) > 3:
        lines.append(f"note: … and {len(others) - 3} more in the reports")
    return lines


def _finding_rows(worst: list[Finding], cols: int, paint: Callable[[str, str], str],
                  known: Callable[[Finding], bool] = lambda f: False, whole_names: bool = False) -> list[str]:
    """Aligned rows `severity  rule  object  message`, each within `cols`; on a narrow terminal the
    message goes on its own indented line. whole_names: object names are never cut (a row may pass `cols`)."""
    w_sev = max(len(f.severity.label) for f in worst)
    w_rule = max(len(f.rule) for f in worst)
    objs = [clean(f.object) for f in worst]
    fixed = 2 + w_sev + 2 + w_rule + 2
    room = cols - fixed
    narrow = room < 50
    w_obj = max(len(o) for o in objs)
    if not whole_names:
        w_obj = min(w_obj, room if narrow else max(20, room * 2 // 5))
    out = []
    for f, obj in zip(worst, objs, strict=True):
        sev = paint(f.severity.label.ljust(w_sev), _COLOURS[f.severity])
        obj = obj if whole_names else _fit(obj, w_obj)
        text = ("(known) " if known(f) else "") + clean(f.message)  # in the --baseline: not gating
        if narrow:
            head = f"{f.rule.ljust(w_rule)}  {clean(f.object)}"
            out.append(f"  {sev}  " + (head if whole_names else _fit(head, cols - 4 - w_sev)))
            out.append(_fit(f"      {text}", cols))
        else:
            msg = _fit(text, max(20, cols - fixed - w_obj - 2))
            out.append(f"  {sev}  {f.rule.ljust(w_rule)}  {obj.ljust(w_obj)}  {msg}")
    return out


def present(written: Written, *, quiet: bool = False, verbose: bool = False,
            echo: Callable[[str, bool], None] | None = None) -> int:
    """Print a command's outcome (warnings on stderr, the summary on stdout) and return its exit code."""
    def _echo(text: str, err: bool) -> None:
        print(text, file=sys.stderr if err else sys.stdout)

    out = echo or _echo
    result = written.result
    for w in result.warnings:
        out(f"warning: {clean(w)}", True)
    out(summary(result, written.paths, urls=written.urls, quiet=quiet, verbose=verbose), False)
    return exit_code(written, lambda line: out(line, True))


def exit_code(written: Written, say: Callable[[str], None]) -> int:
    """The exit code (README: exit codes): the gate's 1 wins over a failed upload's 3, which wins over a pass.
    A failed upload is one line on stderr (`say`) whatever the gate said."""
    gate = written.result.gate
    if written.upload_error is not None:
        say(f"error: {clean(written.upload_error)}")
        return int(ExitCode.FINDINGS if gate is Gate.FAIL else ExitCode.COLLECTION)
    return int(gate.value)
