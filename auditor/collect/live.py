"""Take a snapshot of a live cluster: every kind listed in parallel (`auditor.collect.listing`), streamed to disk,
honest about gaps."""
from __future__ import annotations

import errno
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from auditor.collect.failures import Stopped, printable
from auditor.collect.heartbeat import Heartbeat, elapsed_text, pulse
from auditor.collect.kube import Cluster
from auditor.collect.listing import KindResult, Spool, anchor, collect_kind
from auditor.collect.options import ClusterOptions
from auditor.errors import CollectionError, InputError
from auditor.interrupts import terminate_as_interrupt
from auditor.state import kinds as _kinds
from auditor.state.objects import KINDS
from auditor.state.writer import SnapshotWriter, now_utc

LOG = logging.getLogger(__name__)

__all__ = ["ClusterOptions", "SnapshotOutcome", "take_snapshot"]

# Pods dominate every cluster: copying them last lets the small kinds reach the file while Pods are still read.
COPY_ORDER = tuple(sorted(KINDS, key=lambda kind: kind == "Pod"))


@dataclass
class SnapshotOutcome:
    """What `take_snapshot` wrote; `complete` is False when any kind (or namespace) could not be read."""

    path: Path
    complete: bool
    counts: dict[str, int]
    missing: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    taken_at: str = ""
    consistent: bool = True
    requested: Path | None = None  # the path asked for; `path` differs when an incomplete file went beside it

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        return f"wrote {self.path}: {counts}" + ("" if self.complete else " (INCOMPLETE)")

    @property
    def beside(self) -> bool:
        """An incomplete snapshot written beside the complete one already at the requested path."""
        return self.requested is not None and self.path != self.requested

    def cause(self) -> str:
        """One line naming what could not be read, and why (the gaps that make the snapshot incomplete)."""
        return _describe(blocking(self.missing))

    def optional_gaps(self) -> str:
        """One line naming the optional kinds that could not be read (never incomplete), or ""."""
        return _describe([m for m in self.missing if m not in blocking(self.missing)])


def _describe(missing: list[dict[str, Any]]) -> str:
    parts = [f"{m['kind']}: {m['reason']}" + (f" (needs {m['permission']})" if m.get("permission") else "")
             for m in missing]
    return "; ".join(parts)


@dataclass
class _Status:
    """What the snapshot is doing, for the lines that say so: the list threads count objects (`counts`) and
    mark their kind done; the main thread names its step."""

    path: Path
    counts: dict[str, int]
    done: set[str] = field(default_factory=set)
    step: str = "connecting"
    written: int = 0  # kinds written to the file

    def describe(self) -> str:
        """One plain line: the step; while listing, the kinds still being read and their counts so far."""
        if self.step != "listing":
            return self.step
        reading = sorted((k for k in list(self.counts) if k not in self.done), key=lambda k: -self.counts[k])
        shown = ", ".join(f"{k}: {self.counts[k]}" for k in reading[:3])
        more = f" (and {len(reading) - 3} more kinds)" if len(reading) > 3 else ""
        what = f"listing {shown} objects so far{more}" if reading else f"writing {self.path}"
        return (f"{what}; {len(self.done)} of {len(self.counts)} kinds read, {self.written} written to "
                f"{self.path.name}")


def _guarded(cluster: Cluster, kind: str, spool: Spool, status: _Status,
             resource_version: str) -> KindResult:
    try:
        return collect_kind(cluster, kind, spool, status.counts, resource_version)
    except BaseException:
        cluster.stop.set()  # a fatal error (401, TLS...) ends every other list too
        raise
    finally:
        status.done.add(kind)


def _in_thread(name: str, fn: Callable[[], KindResult]) -> Future[KindResult]:
    """Run `fn` in a daemon thread: one stuck in a read never keeps the process from exiting on a signal."""
    fut: Future[KindResult] = Future()

    def run() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            fut.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


def _first_failure(futures: dict[str, Future[KindResult]]) -> BaseException:
    """The error that stopped the collection, rather than the `Stopped` it caused elsewhere."""
    for fut in futures.values():
        exc = fut.exception() if fut.done() else None
        if exc is not None and not isinstance(exc, Stopped):
            return exc
    return CollectionError("collection stopped")


def _read_eks(eks: Callable[[], dict[str, Any] | None], missing: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Call the EKS reader; what it could not read (or a fatal AWS fault) joins `missing`, the rest is kept."""
    from auditor.collect.eks import missing_as_resources  # boto3 loads only with --eks-cluster

    try:
        data = eks()
    except CollectionError as exc:  # the Kubernetes side already read is still worth writing
        missing.append({"kind": "EKS", "reason": str(exc)})
        return None
    missing.extend(missing_as_resources(data))
    return data


def blocking(missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What makes a snapshot incomplete: every gap but those of optional kinds (forbidden or not served)."""
    return [m for m in missing if _kinds.is_required(str(m.get("kind"))) or not _kinds.known(str(m.get("kind")))]


def take_snapshot(opts: ClusterOptions, output: str | Path, label: str = "",
                  progress: bool | None = None,
                  eks: Callable[[], dict[str, Any] | None] | None = None,
                  kinds: tuple[str, ...] | None = None) -> SnapshotOutcome:
    """Read the cluster and write `output` atomically; raise CollectionError when it cannot be read at all.

    `eks`, when given, is called once and its result written as the snapshot's `eks` section. `kinds`
    limits the read to these kinds (verify's polls: the ones endpoints depend on); default every kind.
    The outcome says whether the snapshot is complete; an incomplete one is still written, beside a
    complete file already at `output` rather than over it (`SnapshotOutcome.path` says where).

    `progress`: None shows it on stderr as a terminal or a CI log wants it (a line redrawn in place on a
    terminal, else a plain line at least every 5 s: `auditor.collect.heartbeat`); True always redraws;
    False says nothing (fleet's concurrent snapshots).
    """
    path = Path(output)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(path, f"directory {directory} does not exist")
    started = now_utc()
    cluster = Cluster(opts)
    wanted = tuple(k for k in KINDS if kinds is None or k in kinds)
    status = _Status(path, {k: 0 for k in wanted}, step=f"connecting to {cluster.server}")
    missing: list[dict[str, Any]] = []
    with terminate_as_interrupt(), _progress(status, progress):
        version = cluster.server_version()
        rv, no_rv = anchor(cluster)
        with _disk_errors(path), SnapshotWriter(path) as writer:
            status.step = "listing"
            results = _copy_kinds(cluster, wanted, rv, writer, status, missing)
            taken = now_utc()
            eks_data = None
            if eks is not None:
                status.step = "reading the EKS side"
                eks_data = _read_eks(eks, missing)
            consistent = bool(rv) and all(r.exact for r in results.values())
            meta: dict[str, Any] = {
                "label": label, "takenAt": taken, "startedAt": started, "complete": not blocking(missing),
                "consistent": consistent, "resourceVersion": rv if consistent else "",
                "kindReads": {k: _read_record(r) for k, r in results.items() if r.started and not r.not_served},
                "kinds": [k for k in wanted if not results[k].not_served], "missing": missing,
                "warnings": list(cluster.warnings),
                "notServed": {k: r.not_served for k, r in results.items() if r.not_served},
                "source": {"context": cluster.context, "server": cluster.server, "serverVersion": version,
                           "namespaces": list(opts.namespaces), "inCluster": cluster.in_cluster},
            }
            if not consistent:
                reasons = [f"{k}: {r.fallback}" for k, r in results.items() if not r.exact and r.fallback]
                meta["inconsistency"] = no_rv or "; ".join(dict.fromkeys(reasons))
            status.step = f"writing {path}: metadata, then to disk"
            writer.finish(meta, eks=eks_data)
    cluster.close()
    final = {k: writer.counts.get(k, 0) for k in wanted if not results[k].not_served}
    LOG.info("snapshot %s: %s", writer.written, final)
    return SnapshotOutcome(path=writer.written, complete=not blocking(missing), counts=final, missing=missing,
                           warnings=list(cluster.warnings), taken_at=taken, consistent=consistent,
                           requested=path)


def _copy_kinds(cluster: Cluster, wanted: tuple[str, ...], rv: str, writer: SnapshotWriter, status: _Status,
                missing: list[dict[str, Any]]) -> dict[str, KindResult]:
    """List every kind in its own thread into a spool beside the output, then copy the spools into the snapshot
    in a fixed order (the same state, the same file); what could not be read joins `missing`. A spool holds
    its objects in the file's own form (compressed once, for a `.gz`): they are copied, never decoded again."""
    directory = writer.path.parent if str(writer.path.parent) else Path(".")
    futures: dict[str, Future[KindResult]] = {}
    results: dict[str, KindResult] = {}
    try:
        for kind in wanted:
            spool = Spool(directory, f".{writer.path.name}.{kind}.", writer.compress)
            futures[kind] = _in_thread(f"list-{kind}", partial(_guarded, cluster, kind, spool, status, rv))
        for kind in (k for k in COPY_ORDER if k in futures):
            try:
                result = futures[kind].result()
            except Stopped:
                raise _first_failure(futures) from None
            results[kind] = result
            missing.extend(result.missing)
            for segment in result.spool.segments:
                writer.add_encoded(kind, result.spool.file, *segment)
            result.spool.close()
            status.written += 1
    except BaseException:
        cluster.stop.set()  # the others stop at their next request or backoff; none is waited for
        raise
    finally:
        for fut in futures.values():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().spool.close()
    return results


def _read_record(result: KindResult) -> dict[str, Any]:
    return {"resourceVersion": result.resource_version, "startedAt": result.started,
            "finishedAt": result.finished or result.started}


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.EFBIG}


@contextmanager
def _disk_errors(path: Path) -> Iterator[None]:
    """A full disk or a read-only directory is one line naming the file, not a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _DISK_ERRNOS:
            raise
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None


@contextmanager
def _progress(status: _Status, progress: bool | None) -> Iterator[None]:
    """What the snapshot is doing on stderr: on a terminal (or `progress=True`) the objects read per kind, redrawn
    in place; otherwise (a CI log) a plain line at least every 5 s (`Heartbeat`); nothing with `progress=False`."""
    if progress is False:
        yield
    elif progress or sys.stderr.isatty():
        with _redrawn(status.counts):
            yield
    else:
        beat = Heartbeat(_say_line)
        with pulse(beat, lambda: printable(f"snapshot {elapsed_text(beat.elapsed())}: {status.describe()}")):
            yield


def _say_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@contextmanager
def _redrawn(counts: dict[str, int]) -> Iterator[None]:
    """Objects read per kind on stderr, redrawn in place (a terminal)."""
    done = threading.Event()

    def draw() -> None:
        line = "  ".join(f"{k} {n}" for k, n in counts.items() if n or _kinds.is_required(k))
        sys.stderr.write(f"\rreading: {line}\x1b[K")
        sys.stderr.flush()

    def loop() -> None:
        while not done.wait(0.25):
            draw()

    t = threading.Thread(target=loop, name="progress", daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()
        draw()
        sys.stderr.write("\r\x1b[K")  # clear the progress line: the summary follows on a clean line
        sys.stderr.flush()
