"""`fleet audit` and `fleet report`: every cluster of a kubeconfig audited in its own process (N at a time), or the
report.json files of many clusters gathered; then one fleet report (fleet.json, fleet.html, fleet.md) for all."""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from auditor.app.fleet_cluster import ClusterJob, eks_of, folder_names, run_in_worker
from auditor.app.fleet_sources import entries, find_reports
from auditor.app.inputs import load_config, output_dir
from auditor.collect.options import ClusterOptions
from auditor.errors import ConfigError, ExitCode
from auditor.interrupts import terminate_as_interrupt
from auditor.model import Severity
from auditor.report.fleet import ClusterEntry, Fleet, make_fleet, write_fleet
from auditor.settings import ReportSettings
from auditor.state.clusterstate import format_time


@dataclass(frozen=True)
class FleetAuditSettings:
    """What `fleet audit` was asked: the contexts (or all), the cluster and report options, how many at once."""

    contexts: tuple[str, ...]
    all_contexts: bool
    cluster: ClusterOptions  # kubeconfig, namespaces and timeouts; the context is set per cluster
    report: ReportSettings  # output_dir is the fleet's folder; each cluster writes into its own under it
    config: str | None = None
    target: str | None = None
    rotating: tuple[str, ...] = ()
    parallel: int | None = None
    eks: bool = True
    profile: str | None = None
    max_input_size: int | None = None


@dataclass(frozen=True)
class FleetReportSettings:
    sources: tuple[str, ...]
    output_dir: Path
    fail_on: Severity | None = Severity.ERROR


@dataclass(frozen=True)
class FleetWritten:
    """A fleet report and where it went; `code` is the command's exit code."""

    fleet: Fleet
    paths: tuple[Path, ...]
    code: int
    urls: tuple[str, ...] = ()


def pick_contexts(settings: FleetAuditSettings) -> list[str]:
    """The contexts to audit, in the kubeconfig's order; an unknown one is exit 2 naming every known one."""
    from auditor.collect.kubeconfig import contexts

    path, known = contexts(settings.cluster.kubeconfig)
    if settings.all_contexts:
        if not known:
            raise ConfigError(f"kubeconfig {path} has no contexts")
        return known
    unknown = [c for c in settings.contexts if c not in known]
    if unknown:
        raise ConfigError(f"kubeconfig {path}: no context named {', '.join(map(repr, unknown))} "
                          f"(it has: {', '.join(known) or 'none'})")
    return list(dict.fromkeys(settings.contexts))


def fleet_audit(settings: FleetAuditSettings, progress: Callable[[str], None]) -> FleetWritten:
    """Audit every context in its own process, `parallel` at a time; each cluster's outcome is its entry."""
    load_config(settings.config)  # a bad config is exit 2 before any cluster is read
    names = pick_contexts(settings)
    out = settings.report.output_dir.resolve()
    output_dir(out)
    folders = folder_names(names)
    jobs = [_job(settings, context, out, folders[context]) for context in names]
    done: list[ClusterEntry] = []

    def finished(entry: ClusterEntry) -> None:
        done.append(entry)
        progress(f"{len(done)}/{len(jobs)} done: {entry.name} ({entry.verdict})")

    with terminate_as_interrupt():  # a cancelled CI job stops every cluster's process, not only ours
        run_jobs(jobs, settings.parallel or os.cpu_count() or 1, finished)
    fleet = make_fleet(done, format_time(datetime.now(timezone.utc)))
    paths = tuple(write_fleet(fleet, out))
    urls: tuple[str, ...] = ()
    code = fleet.exit_audit
    if settings.report.upload:
        from auditor.report.share import UploadError, upload_reports
        try:
            urls = tuple(upload_reports(list(paths), settings.report.upload))
        except UploadError as exc:
            progress(f"error: {exc}")
            if code == int(ExitCode.OK):  # findings (1) win over a failed upload (3), as for every command
                code = int(ExitCode.COLLECTION)
    return FleetWritten(fleet, paths, code, urls)


def _job(settings: FleetAuditSettings, context: str, out: Path, folder: str) -> ClusterJob:
    kubeconfig = str(Path(settings.cluster.kubeconfig).expanduser().resolve()) if settings.cluster.kubeconfig \
        else None
    cluster = replace(settings.cluster, kubeconfig=kubeconfig, context=context)
    upload = f"{settings.report.upload.rstrip('/')}/{folder}" if settings.report.upload else None
    report = replace(settings.report, output_dir=out / folder, upload=upload, quiet=True)
    return ClusterJob(context=context, folder=str(out / folder), link_base=folder, cluster=cluster, report=report,
                      config=str(Path(settings.config).resolve()) if settings.config else None,
                      target=settings.target, rotating=settings.rotating,
                      eks=eks_of(context) if settings.eks else None, profile=settings.profile,
                      env=dict(os.environ), cwd=os.getcwd(), max_input_size=settings.max_input_size)


def run_jobs(jobs: list[ClusterJob], parallel: int, finished: Callable[[ClusterEntry], None]) -> None:
    """Each job in a process of its own, `parallel` at once; a process that dies is its cluster's entry. On an
    interrupt every running process is stopped before the interrupt goes on."""
    ctx = _context()
    running: set[Any] = set()
    lock = threading.Lock()

    def one(job: ClusterJob) -> ClusterEntry:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=run_in_worker, args=(job, send), name=f"fleet:{job.context}", daemon=True)
        with lock:
            proc.start()
            running.add(proc)
        send.close()  # ours: so that the worker's end closing (a crash) ends recv() with EOFError
        try:
            entry: ClusterEntry = receive.recv()
        except EOFError:
            entry = ClusterEntry(job.context, "incomplete", int(ExitCode.COLLECTION),
                                 error=f"the audit process ended without a result ({_how(proc)})")
        finally:
            receive.close()
            proc.join()
            with lock:
                running.discard(proc)
        return entry

    pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="fleet")
    try:
        for future in as_completed([pool.submit(one, job) for job in jobs]):
            finished(future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            for proc in running:
                proc.terminate()
        raise
    pool.shutdown(wait=True)


def _how(proc: Any) -> str:
    proc.join()
    code = proc.exitcode
    if code is not None and code < 0:
        import signal
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


_CTX: list[Any] = []


def _context() -> Any:
    """forkserver where there is one: each worker forks from a clean process that has the auditor imported (fast,
    and never a copy of our threads); spawn elsewhere."""
    if not _CTX:
        if "forkserver" in multiprocessing.get_all_start_methods():
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(["auditor.app.fleet_cluster", "auditor.collect.live", "auditor.app.audit"])
            _CTX.append(server)
        else:
            _CTX.append(multiprocessing.get_context("spawn"))
    return _CTX[0]


def fleet_report(settings: FleetReportSettings) -> FleetWritten:
    """The fleet report of the report.json files found under the sources."""
    out = settings.output_dir
    output_dir(out)
    found = find_reports(settings.sources, out)
    fleet = make_fleet(entries(found, settings.fail_on), format_time(datetime.now(timezone.utc)))
    paths = tuple(write_fleet(fleet, out))
    return FleetWritten(fleet, paths, fleet.exit_report)


def summary_lines(written: FleetWritten) -> list[str]:
    """The lines for stdout: the counts, who is ready for the next wave, where the fleet report is."""
    from auditor.report.fleet import shown

    s = written.fleet.summary()
    ready = written.fleet.ready()
    lines = [f"fleet: {s['clusters']} clusters: {s['pass']} pass, {s['fail']} fail, {s['incomplete']} incomplete, "
             f"{s['unreachable']} unreachable",
             f"ready for the next wave: {', '.join(shown(n) for n in ready) if ready else 'none'}"]
    for c in written.fleet.clusters:
        if c.error:
            lines.append(f"  {shown(c.name)}: {shown(c.error)}")
    lines.append("fleet report: " + ", ".join(str(p) for p in written.paths))
    lines.extend(f"uploaded: {u}" for u in written.urls)
    return lines
