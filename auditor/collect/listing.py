"""Listing one kind of a live cluster into a spool file: per namespace when asked, at the snapshot's
resourceVersion when the server allows, restarting as client-go's pager does when a list expires; and the
resourceVersion every kind is read at (`anchor`), once the namespaces asked for are known to exist."""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from auditor.collect.failures import Forbidden, Gone, NotFound, Refused, RequestFailed
from auditor.collect.kube import Cluster
from auditor.collect.project import project
from auditor.collect.validate import mistyped
from auditor.errors import ConfigError
from auditor.state import kinds as _kinds
from auditor.state.inputs import NAMESPACE_NAME
from auditor.state.objects import KINDS, NAMESPACED
from auditor.state.writer import gzip_compressor, join_items

LOG = logging.getLogger(__name__)

_NAME_ONLY = msgspec.json.Decoder(dict[str, Any])


def bad_namespaces(names: tuple[str, ...] | list[str]) -> list[str]:
    """The names that are not DNS-1123 labels: never put into a request path."""
    return [n for n in names if not NAMESPACE_NAME.fullmatch(n)]


def check_namespaces(cluster: Cluster) -> None:
    """`-n NS` that are not valid, or that the server does not have: ConfigError (exit 2) naming them, before
    anything is read or written (a typo must never give an empty, green snapshot). When the Namespaces cannot
    be listed (RBAC), the server cannot tell us: the per-namespace lists then say what they could not read."""
    wanted = cluster.opts.namespaces
    if not wanted:
        return
    bad = bad_namespaces(wanted)
    if bad:
        raise ConfigError(f"-n {bad[0]!r}: not a namespace name (lowercase letters, digits and '-', at most 63)")
    have: set[str] = set()
    try:
        for page in cluster.pages(list_path("Namespace", None)):
            for item in page.items:
                name = (_NAME_ONLY.decode(item).get("metadata") or {}).get("name")
                if isinstance(name, str):
                    have.add(name)
    except (Forbidden, NotFound):
        cluster.warnings.append(f"Namespaces cannot be listed: -n {', '.join(wanted)} could not be checked "
                                "against the server (a namespace it does not have reads as empty)")
        return
    except (msgspec.DecodeError, msgspec.ValidationError):
        return  # a malformed Namespace list is the snapshot's to report; this check only refuses typos
    missing = [ns for ns in wanted if ns not in have]
    if missing:
        raise ConfigError(f"-n {', '.join(missing)}: no such namespace in context {cluster.context!r} "
                          f"({cluster.server})")


def permission(kind: str, namespace: str | None) -> str:
    """The RBAC permission a list needs, as people write it: `list endpointslices.discovery.k8s.io, cluster-wide`."""
    api_version, plural = KINDS[kind]
    resource = f"{plural}.{api_version.split('/')[0]}" if "/" in api_version else plural
    return f"list {resource}, " + (f"in namespace {namespace}" if namespace else "cluster-wide")


def list_path(kind: str, namespace: str | None) -> str:
    api_version, plural = KINDS[kind]
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


class Segment(NamedTuple):
    """Where one list's objects lie in a spool file, and how many there are."""

    offset: int
    length: int
    objects: int


class Spool:
    """A kind's objects on disk while the other kinds are read, already in the snapshot's own form (items
    joined by `,\n`; for a `.gz` output each segment one gzip member at the snapshot's level), so the writer
    copies the bytes as they are (`SnapshotWriter.add_encoded`): compressed once, never read back.

    Each attempt at a list is one segment that can be rolled back (a 410 discards what was read). With a
    `.gz` output the spools never need the uncompressed cluster's size on disk.
    """

    def __init__(self, directory: Path, prefix: str, compress: bool) -> None:
        # Anonymous (already unlinked) files beside the output: disk-backed, never left behind.
        self.file = tempfile.TemporaryFile(dir=directory, prefix=prefix)  # noqa: SIM115
        self.compress = compress
        self.segments: list[Segment] = []
        self._z: Any = None
        self._mark = 0
        self._count = 0  # objects in the segment being written

    def begin(self) -> None:
        self._mark = self.file.tell()
        self._count = 0
        self._z = gzip_compressor() if self.compress else None

    def write(self, items: list[bytes]) -> None:
        data = join_items(items, self._count)
        self._count += len(items)
        self.file.write(self._z.compress(data) if self._z is not None else data)

    def commit(self) -> None:
        if self._count:
            if self._z is not None:
                self.file.write(self._z.flush())
            self.file.flush()
            end = self.file.tell()
            self.segments.append(Segment(self._mark, end - self._mark, self._count))
        else:  # nothing listed: not even an empty gzip member
            self.rollback()
        self._z = None

    def rollback(self) -> None:
        self.file.seek(self._mark)
        self.file.truncate()
        self._z = None
        self._count = 0

    def close(self) -> None:
        self.file.close()


@dataclass
class KindResult:
    spool: Spool
    count: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    resource_version: str = ""
    exact: bool = True  # every scope was read at the snapshot's resourceVersion
    fallback: str = ""  # why not, when not
    not_served: str = ""  # the cluster does not serve this (optional) kind: why
    started: str = ""
    finished: str = ""


def collect_kind(cluster: Cluster, kind: str, spool: Spool, progress: dict[str, int],
                 resource_version: str = "") -> KindResult:
    """List one kind (per namespace when asked) into its spool file, at `resource_version` when the server allows.

    A 410 on the first page at that version (compacted) reads the latest instead; a 410 during a paginated
    list (the continue token expired) restarts it once, then falls back to one unpaginated list, as
    client-go's pager does.
    """
    result = KindResult(spool, exact=bool(resource_version))
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
            result.missing.append(missing_entry(kind, reason, need, ns))
            continue
        result.started = result.started or now_precise()
        _read_scope(cluster, kind, ns, need, result, progress, resource_version)
        result.finished = now_precise()
    return result


def _read_scope(cluster: Cluster, kind: str, ns: str | None, need: str, result: KindResult,
                progress: dict[str, int], resource_version: str) -> None:
    """One kind in one scope into the spool, as one segment: what a failed attempt read is rolled back, and
    what could not be read joins `result.missing` (or `result.not_served`)."""
    spool = result.spool
    api_version = KINDS[kind][0]
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
                lines = _encode_page(page.items, kind, api_version, result.missing)
                spool.write(lines)
                result.count += len(lines)
                progress[kind] = result.count
            spool.commit()
            return
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
                result.missing.append(missing_entry(kind, f"list kept expiring (410 Gone): {exc}", need, ns))
                return
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
            result.not_served = (f"not served by this cluster ({spec.api_version} not installed)" if spec.custom
                                 else f"not served by this cluster: {exc}")
            return
        except (Forbidden, RequestFailed) as exc:
            spool.rollback()
            result.count = progress[kind] = start
            reason = f"forbidden: {exc}" if isinstance(exc, Forbidden) else str(exc)
            result.missing.append(missing_entry(kind, reason, need if isinstance(exc, Forbidden) else "", ns))
            return


def anchor(cluster: Cluster) -> tuple[str, str]:
    """The resourceVersion every kind is read at: the first list's (one item of the first listable kind).

    Returns (resourceVersion, "") or ("", why there is none). Refuses namespaces the server does not have first
    (`check_namespaces`): every command that reads the cluster anchors its lists here.
    """
    check_namespaces(cluster)
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


def _encode_page(items: list[msgspec.Raw], kind: str, api_version: str,
                 missing: list[dict[str, Any]]) -> list[bytes]:
    """Each item's projection (auditor.collect.project), `kind` and `apiVersion` first, as one line of JSON.
    An item whose fields do not have the types the auditor reads is left out and named in `missing` (the
    snapshot is then incomplete, and never replaces a complete one)."""
    lines = []
    for item in items:
        line = project(kind, api_version, item)
        why = mistyped(kind, line)
        if not why:
            lines.append(line)
            continue
        LOG.info("%s", why)
        entry = {"kind": kind, "reason": why}
        if entry not in missing:  # a list read again after a 410 meets it again
            missing.append(entry)
    return lines


def now_precise() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def missing_entry(kind: str, reason: str, need: str, namespace: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "reason": reason}
    if need:
        entry["permission"] = need
    if namespace:
        entry["namespace"] = namespace
    return entry
