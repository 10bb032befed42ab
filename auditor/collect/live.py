"""Take a snapshot of a live cluster: every kind listed in parallel, streamed to disk, honest about gaps."""
from __future__ import annotations

import errno
import logging
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from auditor.collect.kube import Cluster, Forbidden, Gone, RequestFailed, Stopped
from auditor.collect.options import ClusterOptions
from auditor.errors import CollectionError, InputError
from auditor.interrupts import terminate_as_interrupt
from auditor.objects import KINDS, NAMESPACED
from auditor.snapshot import SnapshotWriter, now_utc

LOG = logging.getLogger(__name__)

__all__ = ["ClusterOptions", "SnapshotOutcome", "take_snapshot"]

_RAW_MAP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()

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

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        return f"wrote {self.path}: {counts}" + ("" if self.complete else " (INCOMPLETE)")

    def cause(self) -> str:
        """One line naming what could not be read, and why."""
        parts = [f"{m['kind']}: {m['reason']}" + (f" (needs {m['permission']})" if m.get("permission") else "")
                 for m in self.missing]
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


@dataclass
class _KindResult:
    spool: IO[bytes]
    count: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)


def _collect_kind(cluster: Cluster, kind: str, spool: IO[bytes], progress: dict[str, int]) -> _KindResult:
    """List one kind (per namespace when asked) into its spool file: one JSON object per line."""
    result = _KindResult(spool)
    api_version, plural = KINDS[kind]
    group = api_version.split("/")[0] if "/" in api_version else ""
    scopes: list[str | None] = list(cluster.opts.namespaces) if kind in NAMESPACED and cluster.opts.namespaces \
        else [None]
    # The API omits kind/apiVersion on list items; the snapshot carries them on every object.
    kind_raw, api_version_raw = msgspec.Raw(_ENCODER.encode(kind)), msgspec.Raw(_ENCODER.encode(api_version))
    for ns in scopes:
        need = permission(kind, ns)
        allowed, why = cluster.can_list(group, plural, ns)
        if allowed is False:
            reason = "forbidden by RBAC (SelfSubjectAccessReview says no" + (f": {why})" if why else ")")
            result.missing.append(_missing(kind, reason, need, ns))
            continue
        mark, start = spool.tell(), result.count
        restarts = 0
        while True:
            try:
                for items in cluster.pages(list_path(kind, ns)):
                    spool.write(_encode_page(items, kind_raw, api_version_raw))
                    result.count += len(items)
                    progress[kind] = result.count
                break
            except Gone as exc:
                # An expired continue token: what we read of this list is from an older version; discard it.
                spool.seek(mark)
                spool.truncate()
                result.count = progress[kind] = start
                restarts += 1
                if restarts > cluster.opts.retry.restarts:
                    result.missing.append(_missing(kind, f"list kept expiring (410 Gone {restarts} times): {exc}",
                                                   need, ns))
                    break
                LOG.info("%s: continue token expired, listing again (%d)", kind, restarts)
            except (Forbidden, RequestFailed) as exc:
                spool.seek(mark)
                spool.truncate()
                result.count = progress[kind] = start
                reason = f"forbidden: {exc}" if isinstance(exc, Forbidden) else str(exc)
                result.missing.append(_missing(kind, reason, need if isinstance(exc, Forbidden) else "", ns))
                break
    return result


def _guarded(cluster: Cluster, kind: str, spool: IO[bytes], progress: dict[str, int]) -> _KindResult:
    try:
        return _collect_kind(cluster, kind, spool, progress)
    except BaseException:
        cluster.stop.set()  # a fatal error (401, TLS...) ends every other list too
        raise


def _first_failure(futures: dict[str, Future[_KindResult]]) -> BaseException:
    """The error that stopped the collection, rather than the `Stopped` it caused elsewhere."""
    for fut in futures.values():
        exc = fut.exception()
        if exc is not None and not isinstance(exc, Stopped):
            return exc
    return CollectionError("collection stopped")


def _encode_page(items: list[dict[str, Any]], kind: msgspec.Raw, api_version: msgspec.Raw) -> bytes:
    """One line per item: `kind` and `apiVersion` first, `metadata.managedFields` dropped, the rest byte for byte."""
    lines = []
    for item in items:
        raw_meta = item.get("metadata")
        if raw_meta is not None:
            try:
                meta = _RAW_MAP.decode(raw_meta)
            except msgspec.ValidationError:  # metadata: null, say; keep it as served
                meta = None
            if meta is not None and meta.pop("managedFields", None) is not None:
                item["metadata"] = meta
        item.pop("kind", None)
        item.pop("apiVersion", None)
        lines.append(_ENCODER.encode({"kind": kind, "apiVersion": api_version, **item}))
    lines.append(b"")
    return b"\n".join(lines)


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


def _missing(kind: str, reason: str, need: str, namespace: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "reason": reason}
    if need:
        entry["permission"] = need
    if namespace:
        entry["namespace"] = namespace
    return entry


def take_snapshot(opts: ClusterOptions, output: str | Path, label: str = "",
                  progress: bool | None = None,
                  eks: Callable[[], dict[str, Any] | None] | None = None) -> SnapshotOutcome:
    """Read the cluster and write `output` atomically; raise CollectionError when it cannot be read at all.

    `eks`, when given, is called once and its result written as the snapshot's `eks` section.
    The outcome says whether the snapshot is complete; an incomplete one is still written.
    """
    path = Path(output)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(path, f"directory {directory} does not exist")
    started = now_utc()
    cluster = Cluster(opts)
    version = cluster.server_version()
    show = sys.stderr.isatty() if progress is None else progress
    counts: dict[str, int] = {k: 0 for k in KINDS}
    missing: list[dict[str, Any]] = []
    with _disk_errors(path), terminate_as_interrupt(), SnapshotWriter(path) as writer, \
            ThreadPoolExecutor(max_workers=len(KINDS), thread_name_prefix="list") as pool, \
            _progress(counts, show):
        futures: dict[str, Future[_KindResult]] = {}
        try:
            for kind in KINDS:
                # Anonymous (already unlinked) files beside the output: disk-backed, never left behind.
                spool = tempfile.TemporaryFile(dir=directory, prefix=f".{path.name}.{kind}.")  # noqa: SIM115
                futures[kind] = pool.submit(_guarded, cluster, kind, spool, counts)
            for kind in COPY_ORDER:  # a fixed order, so snapshots of the same state are identical
                try:
                    result = futures[kind].result()
                except Stopped:
                    raise _first_failure(futures) from None
                missing.extend(result.missing)
                result.spool.seek(0)
                for line in result.spool:
                    writer.add_raw(kind, line[:-1])
                result.spool.close()
        except BaseException:
            cluster.stop.set()  # the others stop at their next request or backoff
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            for fut in futures.values():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    fut.result().spool.close()
        taken = now_utc()
        eks_data = _read_eks(eks, missing) if eks is not None else None
        meta: dict[str, Any] = {
            "label": label, "takenAt": taken, "startedAt": started, "complete": not missing,
            "kinds": list(KINDS), "missing": missing, "warnings": list(cluster.warnings),
            "source": {"context": cluster.context, "server": cluster.server, "serverVersion": version,
                       "namespaces": list(opts.namespaces), "inCluster": cluster.in_cluster},
        }
        writer.finish(meta, eks=eks_data)
    cluster.close()
    final = {k: writer.counts.get(k, 0) for k in KINDS}
    LOG.info("snapshot %s: %s", path, final)
    return SnapshotOutcome(path=path, complete=not missing, counts=final, missing=missing,
                           warnings=list(cluster.warnings), taken_at=taken)


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
        line = "  ".join(f"{k} {n}" for k, n in counts.items())
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
