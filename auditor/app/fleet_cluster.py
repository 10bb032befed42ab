"""One cluster of `fleet audit`, in a process of its own: snapshot, audit and reports into DIR/<context>/, and the
entry the fleet report shows; whatever happens there (unreachable, denied, crashed) ends as that cluster's entry."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.collect.options import ClusterOptions
from auditor.errors import AuditorError, CollectionError, ExitCode
from auditor.report.fleet import ClusterEntry, entry_from_report
from auditor.settings import ReportSettings

SNAPSHOT_NAME = "snapshot.json.gz"
_REPORT_FILES = ("report.html", "report.md", "report.json", "report.junit.xml")
_ARN = re.compile(r"^arn:aws[a-z-]*:eks:([a-z0-9-]+):\d{12}:cluster/([A-Za-z0-9][A-Za-z0-9_-]*)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 96  # well under every file system's 255 bytes, room for a hash suffix


def eks_of(context: str) -> tuple[str, str] | None:
    """(cluster name, region) when the context is named by its EKS ARN (`aws eks update-kubeconfig` does)."""
    m = _ARN.match(context)
    return (m.group(2), m.group(1)) if m else None


def folder_names(contexts: list[str]) -> dict[str, str]:
    """Each context's folder name: only letters, digits, `.`, `_` and `-`, never hidden or empty; names that would
    clash (also where case is ignored) get a short hash of the context, so no cluster overwrites another."""
    base = {c: _safe(c) for c in contexts}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    return {c: f"{n}-{_digest(c)}" if counts[n.casefold()] > 1 else n for c, n in base.items()}


def _safe(context: str) -> str:
    name = _UNSAFE.sub("_", context).strip("._") or "context"
    return f"{name[:_MAX_NAME]}-{_digest(context)}" if len(name) > _MAX_NAME else name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


@dataclass(frozen=True)
class ClusterJob:
    """Everything one cluster's process needs, picklable: the parent's environment and folder go with it, since a
    worker process may have been started before the parent changed either."""

    context: str
    folder: str  # DIR/<safe name>, absolute
    link_base: str  # the folder relative to the fleet report
    cluster: ClusterOptions
    report: ReportSettings
    config: str | None
    target: str | None
    rotating: tuple[str, ...]
    eks: tuple[str, str] | None  # (name, region)
    profile: str | None
    env: dict[str, str]
    cwd: str
    max_input_size: int | None = None


def audit_cluster(job: ClusterJob) -> ClusterEntry:
    """Snapshot the cluster, audit the snapshot, write its reports; the entry says how it went."""
    from auditor.collect.eks import collect_eks
    from auditor.collect.live import take_snapshot

    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _REPORT_FILES:  # a report left from an earlier run must never pass for this run's
        (folder / name).unlink(missing_ok=True)
    eks = job.eks
    reader = (lambda: collect_eks(eks[0], region=eks[1], profile=job.profile)) if eks is not None else None
    try:
        outcome = take_snapshot(job.cluster, folder / SNAPSHOT_NAME, job.context, progress=False, eks=reader)
    except CollectionError as exc:
        return ClusterEntry(job.context, "unreachable", int(exc.exit_code), error=str(exc))
    incomplete = None if outcome.complete else f"snapshot incomplete: {outcome.cause()}"
    try:
        written = _audit(job, outcome.path)
    except AuditorError as exc:  # e.g. a target below this cluster's control plane: it ran, it cannot pass
        verdict = "incomplete" if incomplete else "fail"
        return ClusterEntry(job.context, verdict, int(exc.exit_code), error=incomplete or str(exc))
    from auditor.report.json_report import to_dict

    entry = entry_from_report(job.context, to_dict(written.result), _link(job, written.paths), job.report.fail_on)
    verdict = "incomplete" if incomplete else "pass" if written.result.passed else "fail"
    code = {"incomplete": ExitCode.COLLECTION, "pass": ExitCode.OK, "fail": ExitCode.FINDINGS}[verdict]
    error = incomplete
    if written.upload_error is not None:  # the verdict stands; the exit says the upload failed unless findings do
        error = error or str(written.upload_error)
        code = ExitCode.COLLECTION if code == ExitCode.OK else code
    return replace(entry, verdict=verdict, exit=int(code), error=error)


def _audit(job: ClusterJob, snapshot: Path) -> Any:
    from auditor.app import audit as audit_app
    from auditor.app.inputs import load_config
    from auditor.state.inputs import set_max_input_size

    set_max_input_size(job.max_input_size)
    settings = audit_app.AuditSettings(inputs=(str(snapshot),), config=load_config(job.config), report=job.report,
                                       target=job.target, rotating=job.rotating)
    return audit_app.audit(settings)


def _link(job: ClusterJob, paths: tuple[Any, ...]) -> str | None:
    names = {Path(p).name for p in paths}
    first = next((n for n in ("report.html", "report.md", "report.json") if n in names), None)
    return f"{job.link_base}/{first}" if first else None


def run_in_worker(job: ClusterJob, conn: Any) -> None:
    """A worker process's body: the parent's environment and folder, the cluster, the entry sent back."""
    os.environ.clear()
    os.environ.update(job.env)
    os.chdir(job.cwd)
    try:
        entry = audit_cluster(job)
    except KeyboardInterrupt:
        entry = ClusterEntry(job.context, "incomplete", 130, error="interrupted")
    except BaseException as exc:  # noqa: BLE001 - one cluster's bug must not end the fleet: it is its entry
        entry = ClusterEntry(job.context, "incomplete", int(ExitCode.COLLECTION),
                             error=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
    conn.send(entry)
    conn.close()
