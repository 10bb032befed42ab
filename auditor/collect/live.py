"""Take a snapshot of a live cluster: every kind listed in parallel, streamed to disk, honest about gaps."""
from __future__ import annotations

import errno
import gzip
import logging
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import IO, Any

import msgspec

from auditor.collect.kube import Cluster, Forbidden, Gone, NotFound, Refused, RequestFailed, Stopped
from auditor.collect.options import ClusterOptions
from auditor.collect.project import project
from auditor.errors import CollectionError, InputError
from auditor.interrupts import terminate_as_interrupt
from auditor.state import kinds as _kinds
from auditor.state.objects import KINDS, NAMESPACED
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


def permission(kind: str, namespace: str | None) -> str:
    """The RBAC permission a list needs, as people write it: `list endpointslices.discovery.k8s.io, cluster-wide`."""
    api_version, plural = KINDS[kind]
    resource = f"{plural}.{api_version.split('/')[0]}" if "/" in api_version else plural
    return f"list {resource}, " + (f"in namespace {namespace}" if namespace else "cluster-wide")


def list_path(kind: str, namespace: str | None) -> str:
    api_version, plural = KINDS[kind]
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


class _Spool:
    """A kind's objects on disk while the other kinds are read: one JSON object per line.

    Each attempt at a list is one segment that can be rolled back (a 410 discards what was read).
    With a `.gz` output the segments are gzip members too (level 1), so the spools never need the
    uncompressed cluster's size on disk.
    """

    def __init__(self, directory: Path, prefix: str, compress: bool) -> None:
        # Anonymous (already unlinked) files beside the output: disk-backed, never left behind.
        self.file = tempfile.TemporaryFile(dir=directory, prefix=prefix)  # noqa: SIM115
        self.compress = compress
        self._z: Any = None
        self._mark = 0

    def begin(self) -> None:
        self._mark = self.file.tell()
        self._z = zlib.compressobj(1, zlib.DEFLATED, 31) if self.compress else None

    def write(self, data: bytes) -> None:
        self.file.write(self._z.compress(data) if self._z is not None else data)

    def commit(self) -> None:
        if self._z is not None:
            self.file.write(self._z.flush())
        self._z = None

    def rollback(self) -> None:
        self.file.seek(self._mark)
        self.file.truncate()
        self._z = None

    def lines(self) -> Iterator[bytes]:
        self.file.seek(0)
        source: IO[bytes] = gzip.GzipFile(fileobj=self.file, mode="rb") if self.compress else self.file  # type: ignore[assignment]
        for line in source:
            yield line[:-1]

    def close(self) -> None:
        self.file.close()


@dataclass
class _KindResult:
    spool: _Spool
    count: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    resource_version: str = ""
    exact: bool = True  # every scope was read at the snapshot's resourceVersion
    fallback: str = ""  # why not, when not
    not_served: str = ""  # the cluster does not serve this (optional) kind: why
    started: str = ""
    finished: str = ""


def _collect_kind(cluster: Cluster, kind: str, spool: _Spool, progress: dict[str, int],
                  resource_version: str = "") -> _KindResult:
    """List one kind (per namespace when asked) into its spool file, at `resource_version` when the server allows.

    A 410 on the first page at that version (compacted) reads the latest instead; a 410 during a paginated
    list (the continue token expired) restarts it once, then falls back to one unpaginated list, as
    client-go's pager does.
    """
    result = _KindResult(spool, exact=bool(resource_version))
    if not resource_version:
        result.fallback = "no common resourceVersion"
    api_version, plural = KINDS[kind]
    group = api_version.split("/")[0] if "/" in api_version else ""
    scopes: list[str | None] = list(cluster.opts.namespaces) if kind in NAMESPACED and cluster.opts.namespaces \
        else [None]
    for ns in scopes:
        need = permission(kind, ns)
        allowed, why = cluster.can_list(group, plural, ns)
        if allowed is False:
            reason = "forbidden by RBAC (SelfSubjectAccessReview says no" + (f": {why})" if why else ")")
            result.missing.append(_missing(kind, reason, need, ns))
            continue
        result.started = result.started or _now_precise()
        start = result.count
        version, restarts, unpaginated = resource_version, 0, False
        while True:
            spool.begin()
            pages = 0
            try:
                for page in cluster.pages(list_path(kind, ns), version, limit=0 if unpaginated else None):
                    if not pages and page.resource_version:
                        result.resource_version = page.resource_version
                    pages += 1
                    spool.write(_encode_page(page.items, kind, api_version))
                    result.count += len(page.items)
                    progress[kind] = result.count
                spool.commit()
                break
            except (Gone, Refused) as exc:
                # What we read of this list is from an older version or another attempt: discard it.
                spool.rollback()
                result.count = progress[kind] = start
                if version:  # that version is gone (or not served exactly): read this kind at the latest
                    what = "expired" if isinstance(exc, Gone) else "refused"
                    result.exact, result.fallback = False, f"resourceVersion {version} {what}: {exc}"
                    LOG.info("%s: resourceVersion %s %s (%s); reading the latest", kind, version, what, exc)
                    version = ""
                    if not pages:
                        continue
                if unpaginated or isinstance(exc, Refused):
                    result.missing.append(_missing(kind, f"list kept expiring (410 Gone): {exc}", need, ns))
                    break
                restarts += 1
                if restarts > cluster.opts.retry.restarts:
                    LOG.info("%s: list expired again; reading it in one unpaginated request", kind)
                    unpaginated = True
                else:
                    LOG.info("%s: continue token expired, listing again (%d)", kind, restarts)
            except NotFound as exc:
                spool.rollback()
                result.count = progress[kind] = start
                spec = _kinds.BY_NAME[kind]
                reason = (f"not served by this cluster ({spec.api_version} not installed)" if spec.custom
                          else f"not served by this cluster: {exc}")
                result.not_served = reason
                break
            except (Forbidden, RequestFailed) as exc:
                spool.rollback()
                result.count = progress[kind] = start
                reason = f"forbidden: {exc}" if isinstance(exc, Forbidden) else str(exc)
                result.missing.append(_missing(kind, reason, need if isinstance(exc, Forbidden) else "", ns))
                break
        result.finished = _now_precise()
    return result


def _anchor(cluster: Cluster) -> tuple[str, str]:
    """The resourceVersion every kind is read at: the first list's (one item of the first listable kind).

    Returns (resourceVersion, "") or ("", why there is none).
    """
    why = "no kind could be listed"
    for kind in KINDS:
        ns = cluster.opts.namespaces[0] if kind in NAMESPACED and cluster.opts.namespaces else None
        try:
            pages = cluster.pages(list_path(kind, ns), limit=1)
            first = next(pages)
            pages.close()
        except (Forbidden, NotFound):
            continue
        except (RequestFailed, Gone, Refused) as exc:
            return "", f"the first list failed: {exc}"
        if first.resource_version:
            return first.resource_version, ""
        why = "the server gave no resourceVersion"
    return "", why


def _guarded(cluster: Cluster, kind: str, spool: _Spool, progress: dict[str, int],
             resource_version: str) -> _KindResult:
    try:
        return _collect_kind(cluster, kind, spool, progress, resource_version)
    except BaseException:
        cluster.stop.set()  # a fatal error (401, TLS...) ends every other list too
        raise


def _in_thread(name: str, fn: Callable[[], _KindResult]) -> Future[_KindResult]:
    """Run `fn` in a daemon thread: one stuck in a read never keeps the process from exiting on a signal."""
    fut: Future[_KindResult] = Future()

    def run() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            fut.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


def _first_failure(futures: dict[str, Future[_KindResult]]) -> BaseException:
    """The error that stopped the collection, rather than the `Stopped` it caused elsewhere."""
    for fut in futures.values():
        exc = fut.exception() if fut.done() else None
        if exc is not None and not isinstance(exc, Stopped):
            return exc
    return CollectionError("collection stopped")


def _encode_page(items: list[msgspec.Raw], kind: str, api_version: str) -> bytes:
    """One line per item: its projection (auditor.collect.project), `kind` and `apiVersion` first."""
    lines = [project(kind, api_version, item) for item in items]
    lines.append(b"")
    return b"\n".join(lines)


def _now_precise() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


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


def _missing(kind: str, reason: str, need: str, namespace: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "reason": reason}
    if need:
        entry["permission"] = need
    if namespace:
        entry["namespace"] = namespace
    return entry


def take_snapshot(opts: ClusterOptions, output: str | Path, label: str = "",
                  progress: bool | None = None,
                  eks: Callable[[], dict[str, Any] | None] | None = None,
                  kinds: tuple[str, ...] | None = None) -> SnapshotOutcome:
    """Read the cluster and write `output` atomically; raise CollectionError when it cannot be read at all.

    `eks`, when given, is called once and its result written as the snapshot's `eks` section. `kinds`
    limits the read to these kinds (verify's polls: the ones endpoints depend on); default every kind.
    The outcome says whether the snapshot is complete; an incomplete one is still written, beside a
    complete file already at `output` rather than over it (`SnapshotOutcome.path` says where).
    """
    path = Path(output)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(path, f"directory {directory} does not exist")
    started = now_utc()
    cluster = Cluster(opts)
    show = sys.stderr.isatty() if progress is None else progress
    wanted = tuple(k for k in KINDS if kinds is None or k in kinds)
    counts: dict[str, int] = {k: 0 for k in wanted}
    missing: list[dict[str, Any]] = []
    with terminate_as_interrupt():
        version = cluster.server_version()
        rv, no_rv = _anchor(cluster)
        with _disk_errors(path), SnapshotWriter(path) as writer, _progress(counts, show):
            futures: dict[str, Future[_KindResult]] = {}
            results: dict[str, _KindResult] = {}
            try:
                for kind in wanted:
                    spool = _Spool(directory, f".{path.name}.{kind}.", writer.compress)
                    futures[kind] = _in_thread(f"list-{kind}", partial(_guarded, cluster, kind, spool, counts, rv))
                for kind in (k for k in COPY_ORDER if k in futures):  # a fixed order: same state, same file
                    try:
                        result = futures[kind].result()
                    except Stopped:
                        raise _first_failure(futures) from None
                    results[kind] = result
                    missing.extend(result.missing)
                    for line in result.spool.lines():
                        writer.add_raw(kind, line)
                    result.spool.close()
            except BaseException:
                cluster.stop.set()  # the others stop at their next request or backoff; none is waited for
                raise
            finally:
                for fut in futures.values():
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        fut.result().spool.close()
            taken = now_utc()
            eks_data = _read_eks(eks, missing) if eks is not None else None
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
            writer.finish(meta, eks=eks_data)
    cluster.close()
    final = {k: writer.counts.get(k, 0) for k in wanted if not results[k].not_served}
    LOG.info("snapshot %s: %s", writer.written, final)
    return SnapshotOutcome(path=writer.written, complete=not blocking(missing), counts=final, missing=missing,
                           warnings=list(cluster.warnings), taken_at=taken, consistent=consistent,
                           requested=path)


def _read_record(result: _KindResult) -> dict[str, Any]:
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
def _progress(counts: dict[str, int], show: bool) -> Iterator[None]:
    """Objects read per kind on stderr, redrawn in place; only on a terminal."""
    if not show:
        yield
        return
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
