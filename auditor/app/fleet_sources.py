"""The clusters of a `fleet report`: every report.json found under folders (recursively) or S3 prefixes, each one
entry named after its cluster; a report that cannot be read is an entry that says why, never the end of the run."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from auditor.errors import InputError
from auditor.model import Severity
from auditor.report.fleet import ClusterEntry, entry_from_report
from auditor.state.inputs import Source, read_input

REPORT_NAME = "report.json"
# The page a reader wants first, beside each report.json.
_LINKED = ("report.html", "report.md", REPORT_NAME)


@dataclass(frozen=True)
class Found:
    """One report.json: where it is (for its name and its link), its bytes or why there are none."""

    folder: str  # relative to its source, posix; "" at the source itself
    source: str  # the SOURCE argument it was found under
    data: bytes | None
    link: str | None  # the report to link from the fleet page: a path relative to the output folder, or a URL
    problem: str = ""


def find_reports(sources: tuple[str, ...], output_dir: Path) -> list[Found]:
    """Every report.json under each SOURCE; a missing source or one without a report is exit 2, naming it."""
    found: list[Found] = []
    for spec in sources:
        here = _from_s3(spec) if spec.startswith("s3://") else _from_folder(Path(spec), output_dir)
        if not here:
            raise InputError(spec, "holds no report.json (looked recursively); pass folders or s3:// prefixes "
                                   "where `upgrade-auditor audit` wrote its reports")
        found.extend(here)
    return found


def _from_folder(root: Path, output_dir: Path) -> list[Found]:
    if not root.exists():
        raise InputError(root, "no such file or folder")
    if root.is_file():
        return [_read_file(root, root.parent, str(root), output_dir)]
    out = []
    # Symlinked folders are not followed: a link back up the tree would list the same reports forever.
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if REPORT_NAME in files:
            out.append(_read_file(Path(here) / REPORT_NAME, root, str(root), output_dir))
    return out


def _read_file(path: Path, root: Path, source: str, output_dir: Path) -> Found:
    folder = path.parent.relative_to(root).as_posix() if path.parent != root else ""
    target = next((path.with_name(n) for n in _LINKED if path.with_name(n).is_file()), path)
    link = Path(os.path.relpath(target.resolve(), output_dir.resolve())).as_posix()
    try:
        return Found(folder, source, bytes(read_input(Source(path))), link)
    except InputError as exc:
        return Found(folder, source, None, link, exc.problem)


def _from_s3(spec: str) -> list[Found]:
    from auditor.collect.s3 import parse_prefix, read_reports
    from auditor.report.share import object_url

    where = parse_prefix(spec)
    reports, region = read_reports(where)
    out = []
    for r in reports:
        base = r.key[: -len(REPORT_NAME)]
        name = next((n for n in _LINKED if n in r.siblings), REPORT_NAME)
        out.append(Found(r.folder, spec, r.data, object_url(where.bucket, region, base + name), r.problem))
    return out


def entries(found: list[Found], fail_on: Severity | None) -> list[ClusterEntry]:
    """One entry per report, named after the context it audited (not an in-cluster one), else its folder; reports
    that would share a name are named by their folders, or by source and folder when those clash too."""
    made = [_entry(f, fail_on) for f in found]
    for rename in (lambda f: f.folder or _where(f), _where):
        names = [e.name for e in made]
        made = [replace(e, name=rename(f)) if names.count(e.name) > 1 else e
                for e, f in zip(made, found, strict=True)]
    return made


def _where(f: Found) -> str:
    base = f.source.rstrip("/") if f.source.startswith("s3://") else Path(f.source).name or f.source
    return f"{base}/{f.folder}" if f.folder else base


def _entry(f: Found, fail_on: Severity | None) -> ClusterEntry:
    fallback = f.folder.rsplit("/", 1)[-1] if f.folder else _where(f)
    if f.data is None:
        return ClusterEntry(name=fallback, verdict="incomplete", exit=2, report=f.link,
                            error=f"report.json {f.problem}")
    doc = _decode(f.data)
    if isinstance(doc, str):
        return ClusterEntry(name=fallback, verdict="incomplete", exit=2, report=f.link, error=f"report.json {doc}")
    cluster = doc.get("cluster")
    context = cluster.get("context") if isinstance(cluster, dict) else None
    name = context if isinstance(context, str) and context and context != "in-cluster" else fallback
    return entry_from_report(name, doc, f.link, fail_on)


def _decode(data: bytes) -> dict[str, Any] | str:
    """The report as a dict, or what is wrong with it."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return f"is not valid JSON ({exc})"
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or "schemaVersion" not in doc:
        return "is not a report.json written by upgrade-auditor (no schemaVersion and findings)"
    if doc.get("schemaVersion") != 1:
        return f"has schemaVersion {doc.get('schemaVersion')!r}; this version reads 1"
    return doc
