"""The report formats: each one's renderer (`RENDERERS`, the one registry) and file name, rendering the asked-for
formats in memory, and writing them as a set."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from auditor.errors import ConfigError
from auditor.model import AuditResult
from auditor.report.files import write_set
from auditor.report.html_report import render_html
from auditor.report.json_report import render_json
from auditor.report.junit_report import render_junit
from auditor.report.md_report import render_md
from auditor.report.prepared import READS_BLOCKS, READS_VIEW, Prepared

FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json", "junit": "report.junit.xml"}

RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "html": render_html, "md": render_md, "json": render_json, "junit": render_junit,
}


def render_all(result: AuditResult, formats: tuple[str, ...], report_url: str | None = None) -> dict[str, str]:
    """Every asked-for format rendered in memory, in the order asked, from one `Prepared` (what they share)."""
    prep = Prepared(result)
    rendered = {}
    for i, fmt in enumerate(formats):
        later = set(formats[i + 1:])
        prep.keep_blocks = bool(later & READS_BLOCKS)
        if fmt == "md":
            others = [FILE_NAMES[f] for f in ("html", "json") if f in formats]
            where = f"{' and '.join(others)} in the report directory" if others else "the HTML report (--format html)"
            rendered[fmt] = render_md(result, full_report=where, report_url=report_url, prep=prep)
        elif fmt == "html":
            rendered[fmt] = render_html(result, prep)
        elif fmt == "junit":
            rendered[fmt] = render_junit(result, prep)
        else:
            rendered[fmt] = RENDERERS[fmt](result)
        prep.drop(blocks=not later & READS_BLOCKS, view=not later & READS_VIEW)
    return rendered


def write_reports(result: AuditResult, output_dir: Path, formats: tuple[str, ...],
                  report_url: str | None = None) -> list[Path]:
    """Render every format, then write them as a set: all new files or, on any failure, all old ones."""
    rendered = render_all(result, formats, report_url)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {output_dir}: cannot create it ({exc.strerror or exc})") from None
    return write_set(output_dir, {FILE_NAMES[fmt]: text for fmt, text in rendered.items()})
