"""Writing a result's reports, then uploading them: the last step of every auditing command."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.model import AuditResult, Written
from auditor.report.render import FILE_NAMES, write_reports
from auditor.settings import ReportSettings


def finish(result: AuditResult, report: ReportSettings) -> Written:
    """Write the reports (then upload them); the CLI layer prints the outcome (`terminal.present`)."""
    paths = write_reports(result, report.output_dir, report.formats, report_url=report.report_url)
    urls: list[str] = []
    failure = None
    if report.upload:  # only once the local files are safely written
        from auditor.report.share import UploadError, upload_reports
        try:
            urls = _upload(result, report, paths, upload_reports)
        except UploadError as exc:
            failure = exc
    return Written(result, tuple(paths), tuple(urls), failure)


def _upload(result: AuditResult, report: ReportSettings, paths: list[Path], upload: Any) -> list[str]:
    """Upload the reports. Without --report-url, report.md goes last, rewritten to link the uploaded
    report.html, so a PR comment made from it points at the full report."""
    md = next((p for p in paths if p.name == FILE_NAMES["md"]), None)
    html = next((p for p in paths if p.name == FILE_NAMES["html"]), None)
    if report.report_url or md is None or html is None:
        return list(upload(paths, report.upload))
    first = [p for p in paths if p != md]
    urls = dict(zip(first, upload(first, report.upload), strict=True))
    write_reports(result, report.output_dir, ("md",), report_url=urls[html])
    urls[md] = upload([md], report.upload)[0]
    return [urls[p] for p in paths]
