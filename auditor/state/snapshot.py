"""Snapshot format v1: load snapshots and kubectl dumps (JSON/YAML, optionally gzip); write atomically."""
from __future__ import annotations

import gc
import gzip
import json
import logging
import os
import re
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterator, Optional

import msgspec
import yaml

from auditor import TOOL_NAME, __version__
from auditor.errors import InputError
from auditor.model import InputInfo
from auditor.state import eksdata, kinds
from auditor.state.clusterstate import ClusterState, MissingResource, format_time, parse_time
from auditor.state.inputs import Source, expand, nested_too_deep, read_input
from auditor.state.labels import ANN_TRIGGER_TIME
from auditor.state.objects import KubeObject
from auditor.state.safeyaml import YAMLLimitError, load_all_no_timestamps

LOG = logging.getLogger(__name__)

API_VERSION = "upgrade-auditor.io/v1"
SNAPSHOT_KIND = "ClusterSnapshot"
EKS_MAX_DEPTH = 32  # deeper than anything the EKS API returns; orjson stops encoding at 255
KUBECTL_HINT = ("capture the cluster state with `upgrade-auditor snapshot` or "
                "`kubectl get nodes,namespaces,pods,services,endpoints,endpointslices -A -o json`")


class SnapshotMeta(msgspec.Struct, rename="camel", omit_defaults=True):
    taken_at: str = ""
    started_at: str = ""
    label: str = ""
    complete: bool = True
    source: dict[str, Any] = msgspec.field(default_factory=dict)
    tool: dict[str, Any] = msgspec.field(default_factory=dict)
    kinds: Optional[list[str]] = None
    missing: list[dict[str, Any]] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    # One cut of the cluster (every kind at `resourceVersion`), else each kind's own read (CONTRACT 'Snapshot').
    consistent: bool = True
    resource_version: str = ""
    kind_reads: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    inconsistency: str = ""
    # Optional kinds the cluster does not serve (a CRD not installed): {kind: why}; not in `kinds`, never missing.
    not_served: dict[str, str] = msgspec.field(default_factory=dict)


class _Envelope(msgspec.Struct, rename="camel"):
    """Top level of any input: a snapshot, a List, or (items absent) a single object."""

    kind: str = ""
    api_version: str = ""
    metadata: msgspec.Raw = msgspec.Raw()  # empty Raw when absent (Optional[Raw] is not supported)
    items: Optional[list[KubeObject]] = None
    eks: msgspec.Raw = msgspec.Raw()


class _LooseEnvelope(msgspec.Struct, rename="camel"):
    """The same top level with items left undecoded: the slow path for Lists holding kinds of other shapes."""

    kind: str = ""
    api_version: str = ""
    metadata: msgspec.Raw = msgspec.Raw()
    items: Optional[list[msgspec.Raw]] = None
    eks: msgspec.Raw = msgspec.Raw()


class _KindOnly(msgspec.Struct, rename="camel"):
    kind: str = ""
    api_version: str = ""


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_LOOSE = msgspec.json.Decoder(_LooseEnvelope)
_KIND_ONLY = msgspec.json.Decoder(_KindOnly)
_OBJECT = msgspec.json.Decoder(KubeObject)
_META = msgspec.json.Decoder(SnapshotMeta)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding allocates millions of objects; the cyclic GC re-scanning them triples parse time.

    Afterwards the decoded objects are frozen out of the collector's reach (`gc.freeze`): they hold no
    reference cycles, and a full collection walking millions of label dicts in the middle of the
    rules would cost seconds. Reference counting still frees them as usual.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def read_bytes(path: Path) -> bytes | bytearray:
    """A file's bytes (gunzipped), bounded by the input size limit; refuses FIFOs and devices."""
    return read_input(Source(Path(path)))


def load(path: str | Path) -> ClusterState:
    """Load one input file on its own into a ClusterState; every problem is an InputError naming the file."""
    return finalise(_load_source(Source(Path(path))))


def load_inputs(specs: list[str]) -> ClusterState:
    """Load INPUT arguments (files, folders of dumps, `-` for stdin), merge them, then judge completeness.

    Per-kind kubectl dumps (one file of Pods, one of Services, ...) are only a state together: a kind
    is missing when no input holds it, never because one file lacks it.
    """
    sources = [src for spec in specs for src in expand(spec)]
    if sum(1 for s in sources if s.path is None) > 1:
        raise InputError("-", "standard input can be read only once")
    state = ClusterState.merge([_load_source(s) for s in sources])
    require_some_required_kind(state, [s.name for s in sources])
    return finalise(state)


def _load_source(src: Source) -> ClusterState:
    data = read_input(src)
    m = _FIRST.search(data)
    if m is None:
        raise InputError(src.name, "is empty")
    head = m.group()
    with _gc_paused():
        if head in (b"{", b"["):
            env, single = _decode_json(src.name, data)
        else:
            env, single = _decode_yaml(src.name, bytes(data) if isinstance(data, bytearray) else data)
    del data
    return _to_state(src.name, env, single)


_FIRST = re.compile(rb"\S")


def finalise(state: ClusterState) -> ClusterState:
    """Judge a (merged) state's completeness: kubectl dumps lack a kind only when no input holds it."""
    dump_inputs = [i for i in state.inputs if i.format == "kubectl"]
    if not dump_inputs:
        return state
    absent = [k for k in kinds.REQUIRED if k not in state.present and not any(m.kind == k for m in state.missing)]
    where = dump_inputs[0].path if len(state.inputs) == 1 else f"{len(state.inputs)} inputs"
    reason = "not in this kubectl dump" if len(state.inputs) == 1 else "in none of the inputs"
    added = [MissingResource(kind=k, reason=reason, source=where) for k in absent]
    inputs = [replace(i, complete=not added, missing=tuple(m.as_dict() for m in added))
              if i.format == "kubectl" else i for i in state.inputs]
    return replace(state, missing=state.missing + added, inputs=inputs)


def _decode_json(p: str, data: bytes | bytearray) -> tuple[_Envelope, KubeObject | None]:
    if _FIRST.search(data).group() == b"[":  # type: ignore[union-attr]
        raise InputError(p, "is a JSON array; expected a snapshot, a kubectl List or one object")
    try:
        env = _ENVELOPE.decode(data)
    except msgspec.ValidationError:
        # Some item does not fit the structs: most often a kind the auditor does not read, whose fields
        # clash with ours (`kubectl get all` holds Deployments, HPAs, CronJobs...). Decode item by item and
        # skip the kinds we do not read, whatever their shape; a kind we read with a bad field is an error.
        env = _decode_loose(p, data)
    except msgspec.DecodeError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise InputError(p, "JSON is truncated (the file ends early: was the dump or the copy "
                                "interrupted?)") from None
        raise InputError(p, f"not valid JSON ({msg})") from None
    except RecursionError:
        raise InputError(p, "JSON is nested too deeply to be a Kubernetes object") from None
    single = None
    if env.items is None and env.kind != SNAPSHOT_KIND:
        if env.kind and not kinds.known(env.kind):
            return _Envelope(kind=env.kind, items=[]), None
        try:
            single = _OBJECT.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InputError(p, f"not a valid Kubernetes object: {exc}") from None
        except RecursionError:
            raise InputError(p, "JSON is nested too deeply to be a Kubernetes object") from None
    return env, single


def _decode_loose(p: str, data: bytes | bytearray) -> _Envelope:
    try:
        loose = _LOOSE.decode(data)
    except msgspec.ValidationError as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    items = None
    if loose.items is not None:
        items = []
        default_kind = _item_kind(loose.kind)
        for n, raw in enumerate(loose.items):
            try:
                head = _KIND_ONLY.decode(raw)
            except msgspec.ValidationError as exc:
                raise InputError(p, f"item {n}: not a Kubernetes object: {exc}") from None
            kind = head.kind or default_kind
            if not kinds.known(kind):
                continue
            try:
                items.append(_OBJECT.decode(raw))
            except msgspec.ValidationError as exc:
                raise InputError(p, f"item {n} ({kind}): not a valid {kind}: {exc}") from None
    return _Envelope(kind=loose.kind, api_version=loose.api_version, metadata=loose.metadata, items=items,
                     eks=loose.eks)


def _convert_items(p: str, docs: list[Any], default_kind: str = "") -> list[KubeObject]:
    """YAML documents to structs, skipping kinds the auditor does not read whatever their shape."""
    out: list[KubeObject] = []
    for n, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise InputError(p, f"item {n}: not a Kubernetes object (not a mapping)")
        kind = str(doc.get("kind") or default_kind)
        if not kinds.known(kind):
            continue
        try:
            obj = msgspec.convert(doc, KubeObject, str_keys=True)
        except msgspec.ValidationError as exc:
            raise InputError(p, f"item {n} ({kind}): not a valid {kind}: {exc}") from None
        if not obj.kind:
            obj.kind = kind
        out.append(obj)
    return out


def _decode_yaml(p: str, data: bytes) -> tuple[_Envelope, KubeObject | None]:
    try:
        docs = [d for d in load_all_no_timestamps(data) if d is not None]
    except YAMLLimitError as exc:
        raise InputError(p, f"YAML {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(p, f"neither JSON nor valid YAML{where}") from None
    except UnicodeDecodeError:
        raise InputError(p, "is binary, not JSON or YAML") from None
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise InputError(p, "is not a Kubernetes object, List or snapshot (no mapping at the top level)")
    try:
        if len(docs) > 1:
            return _Envelope(kind="List", api_version="v1", items=_convert_items(p, docs)), None
        doc = docs[0]
        meta = doc.get("metadata")
        env = _Envelope(
            kind=str(doc.get("kind", "")),
            api_version=str(doc.get("apiVersion", "")),
            metadata=msgspec.Raw(msgspec.json.encode(meta)) if doc.get("kind") == SNAPSHOT_KIND else msgspec.Raw(),
            items=(_convert_items(p, list(doc["items"] or []), _item_kind(str(doc.get("kind", ""))))
                   if "items" in doc else None),
            eks=msgspec.Raw(msgspec.json.encode(doc["eks"])) if doc.get("eks") is not None else msgspec.Raw(),
        )
        single = None
        if env.items is None and env.kind != SNAPSHOT_KIND:
            if env.kind and not kinds.known(env.kind):
                return _Envelope(kind=env.kind, items=[]), None
            single = msgspec.convert(doc, KubeObject, str_keys=True)
        return env, single
    except msgspec.ValidationError as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    except RecursionError:
        raise InputError(p, "YAML is nested too deeply to be a Kubernetes object") from None


def _item_kind(list_kind: str) -> str:
    return list_kind[:-4] if list_kind.endswith("List") and list_kind != "List" else ""


def _to_state(p: str, env: _Envelope, single: KubeObject | None) -> ClusterState:
    objects: dict[str, list[KubeObject]] = {k: [] for k in kinds.ALL}
    ignored: dict[str, int] = {}
    if env.kind == SNAPSHOT_KIND:
        if env.api_version != API_VERSION:
            raise InputError(
                p, f"unknown snapshot apiVersion {env.api_version!r} (this version reads {API_VERSION!r}; "
                "take the snapshot again with this version of upgrade-auditor)")
        items = env.items or []
    elif env.items is not None:
        items = env.items
    elif single is not None:
        items = [single]
    else:
        items = []
    default_kind = _item_kind(env.kind)
    for i, obj in enumerate(items):
        kind = obj.kind or default_kind
        if kind in objects:
            if not obj.kind:
                obj.kind = kind
            _check_identity(p, i, kind, obj, single is not None)
            objects[kind].append(obj)
        else:
            ignored[kind or "(no kind)"] = ignored.get(kind or "(no kind)", 0) + 1
    total = sum(len(v) for v in objects.values())
    if env.kind == SNAPSHOT_KIND:
        return _snapshot_state(p, env, objects)
    if total == 0:
        if set(ignored) == {"(no kind)"}:
            raise InputError(p, f"is not a Kubernetes object, List or snapshot (no 'kind' field); {KUBECTL_HINT}")
        if env.items == [] and env.kind and env.kind != "List" and not _item_kind(env.kind):
            ignored[env.kind] = 1
        if ignored:
            found = ", ".join(sorted(ignored))
            raise InputError(p, f"holds no objects of the kinds the auditor reads ({', '.join(kinds.ALL)}); "
                                f"found only: {found}; {KUBECTL_HINT}")
        raise InputError(p, f"holds no Kubernetes objects; {KUBECTL_HINT}")
    if ignored:
        LOG.info("%s: ignored %d objects of other kinds (%s)", p, sum(ignored.values()), ", ".join(sorted(ignored)))
    taken = _latest_timestamp(objects)
    present = {k for k, v in objects.items() if v}
    # Only required kinds make a dump incomplete, and only when no input of the merge holds them: finalise().
    info = InputInfo(path=str(p), label="", taken_at=format_time(taken), complete=True, format="kubectl")
    return ClusterState(objects=objects, taken_at=taken, inputs=[info], present=present, missing=[])


def _check_identity(p: str, i: int, kind: str, obj: KubeObject, single: bool) -> None:
    """Rules key everything on names: an object without one would become findings about ''."""
    where = kind if single else f"items[{i}] ({kind})"
    if not obj.metadata.name:
        raise InputError(p, f"{where} has no metadata.name; the input must hold objects as the API serves them")
    if kind in kinds.NAMESPACED and not obj.metadata.namespace:
        raise InputError(p, f"{where} {obj.metadata.name!r} has no metadata.namespace ({kind} is a namespaced "
                            "kind; the API always sets it)")


def require_some_required_kind(state: ClusterState, paths: list[Path] | list[str]) -> None:
    """A kubectl dump (or several merged) holding only optional kinds is no cluster state to audit."""
    if any(state.objects.get(k) for k in kinds.REQUIRED) or any(i.source for i in state.inputs):
        return
    found = sorted(k for k, v in state.objects.items() if v)
    if found:
        where = paths[0] if len(paths) == 1 else ", ".join(map(str, paths))
        raise InputError(where, f"holds no objects of the kinds the auditor needs ({', '.join(kinds.REQUIRED)}); "
                                f"found only: {', '.join(found)}; {KUBECTL_HINT}")


def _snapshot_state(p: str, env: _Envelope, objects: dict[str, list[KubeObject]]) -> ClusterState:
    try:
        meta = _META.decode(env.metadata) if len(env.metadata) else SnapshotMeta()
        eks = msgspec.json.decode(env.eks) if len(env.eks) else None
        if eks is not None and not isinstance(eks, dict):
            raise InputError(p, "snapshot 'eks' section is not a mapping")
        if eks is not None and nested_too_deep(eks, EKS_MAX_DEPTH):  # reports could not encode it
            raise InputError(p, f"snapshot 'eks' section is nested more than {EKS_MAX_DEPTH} levels deep")
        if eks is not None:
            try:
                eksdata.decode(eks)
            except msgspec.ValidationError as exc:
                raise InputError(p, f"snapshot 'eks' section is invalid: {exc}") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InputError(p, f"snapshot metadata is invalid: {exc}") from None
    except RecursionError:
        raise InputError(p, "snapshot 'eks' section is nested too deeply") from None
    taken = parse_time(meta.taken_at)
    if taken is None:
        raise InputError(p, "snapshot has no valid metadata.takenAt")
    missing = [MissingResource(kind=str(m.get("kind", "?")), reason=str(m.get("reason", "")),
                               permission=str(m.get("permission", "")),
                               namespace=str(m.get("namespace", "") or ""), source=str(p))
               for m in meta.missing]
    collected = set(meta.kinds) if meta.kinds is not None else set(kinds.REQUIRED) | {"Namespace"}
    # an optional kind the cluster does not serve (a CRD not installed) is recorded apart: never missing
    optional_absent = [m for m in missing if not kinds.is_required(m.kind) and kinds.known(m.kind)]
    missing = [m for m in missing if m not in optional_absent]
    missing_kinds = {m.kind for m in missing} | {m.kind for m in optional_absent}
    present = {k for k in collected if kinds.known(k) and k not in missing_kinds}
    for k in kinds.REQUIRED:
        if k not in collected and k not in missing_kinds:
            missing.append(MissingResource(kind=k, reason="not collected in this snapshot", source=str(p)))
    complete = (meta.complete or all(not kinds.is_required(str(m.get("kind", ""))) and
                                     kinds.known(str(m.get("kind", ""))) for m in meta.missing)) and not missing
    src = meta.source or {}
    version = src.get("serverVersion") or {}
    server_version = version.get("gitVersion") if isinstance(version, dict) else None
    info = InputInfo(path=str(p), label=meta.label, taken_at=meta.taken_at, complete=complete, source=src,
                     missing=tuple(m.as_dict() for m in missing), warnings=tuple(meta.warnings))
    return ClusterState(objects=objects, taken_at=taken, inputs=[info], present=present, missing=missing,
                        server_version=server_version, eks=eks, context=str(src.get("context", "")),
                        server=str(src.get("server", "")), label=meta.label, warnings=list(meta.warnings),
                        consistent=meta.consistent, kind_reads=_kind_reads(meta.kind_reads))


def _kind_reads(records: dict[str, dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    """metadata.kindReads -> {kind: (read started, read finished)}; malformed entries are skipped."""
    out: dict[str, tuple[datetime, datetime]] = {}
    for kind, rec in records.items():
        if not isinstance(rec, dict):
            continue
        start = parse_time(str(rec.get("startedAt") or "")) if rec.get("startedAt") else None
        end = parse_time(str(rec.get("finishedAt") or "")) if rec.get("finishedAt") else None
        if start is not None:
            out[kind] = (start, end if end is not None and end >= start else start)
    return out


def _latest_timestamp(objects: dict[str, list[KubeObject]]) -> datetime:
    """A kubectl dump has no time of its own: the latest timestamp inside it stands in."""
    best = ""
    for objs in objects.values():
        for o in objs:
            m = o.metadata
            t = m.creation_timestamp
            if t and t[:19] > best:
                best = t[:19]
            if m.deletion_timestamp and not m.deletion_grace_period_seconds:
                # deletionTimestamp is 'deleted at + grace period': only a graceless one is a past moment
                if m.deletion_timestamp[:19] > best:
                    best = m.deletion_timestamp[:19]
            if m.annotations:
                t = m.annotations.get(ANN_TRIGGER_TIME)
                if t and t[:19] > best:
                    best = t[:19]
            st = o.status
            if st is not None and st.conditions:
                for c in st.conditions:
                    for t in (c.last_transition_time, c.last_heartbeat_time):
                        if t and t[:19] > best:
                            best = t[:19]
    parsed = parse_time(best + "Z") if best else None
    return parsed or datetime(1970, 1, 1, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------
# Writing


def incomplete_path(path: Path) -> Path:
    """Where an incomplete snapshot goes when a complete one is at `path`: `NAME.incomplete.json[.gz]`."""
    name = path.name
    for suffix in (".json.gz", ".json", ".gz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(name[: -len(suffix)] + ".incomplete" + suffix)
    return path.with_name(name + ".incomplete")


def is_incomplete_snapshot(path: Path) -> bool:
    """Whether `path` holds a snapshot this tool wrote that says `complete: false` (only those may be replaced
    by another incomplete one). Reads the file's tail, decompressing a `.gz` as a stream."""
    window = 8 << 20
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            if gz:
                tail = b""
                with gzip.GzipFile(fileobj=fh) as z:
                    while chunk := z.read(1 << 20):
                        tail = (tail + chunk)[-window:]
            else:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - window))
                tail = fh.read()
    except (OSError, EOFError, zlib.error):
        return False
    at = tail.rfind(b'\n],"metadata":')
    if at < 0:
        return False
    try:
        meta, _ = json.JSONDecoder().raw_decode(tail[at + len(b'\n],"metadata":'):].decode("utf-8", "replace"))
    except ValueError:
        return False
    return isinstance(meta, dict) and meta.get("complete") is False


class SnapshotWriter:
    """Streams a snapshot to a temporary file beside the target and renames it only when complete.

    Items are written as they arrive (raw JSON bytes, one object each), so memory stays flat
    whatever the cluster size; a `.gz` target is compressed as it is written. A crash, Ctrl-C or a
    full disk leaves the previous file untouched. An incomplete snapshot never replaces a complete
    one: it goes to `incomplete_path(path)` instead (`written` says where). Files are created 0600.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.written = self.path
        self.compress = self.path.suffix == ".gz"
        self._tmp: str | None = None
        self._fh: IO[bytes] | None = None
        self._first = True
        self.counts: dict[str, int] = {}

    def __enter__(self) -> SnapshotWriter:
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise InputError(self.path, f"directory {directory} does not exist")
        # mkstemp creates the file 0600; it is never widened (snapshots describe the whole cluster).
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        fh: IO[bytes] = (gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5)  # type: ignore[assignment]
                         if self.compress else raw)
        self._fh = fh
        fh.write(b'{"apiVersion":"' + API_VERSION.encode() + b'","kind":"' + SNAPSHOT_KIND.encode()
                       + b'","items":[\n')
        return self

    def add_raw(self, kind: str, item: bytes) -> None:
        """Append one object already encoded as JSON (it must carry `kind` and `apiVersion`)."""
        assert self._fh is not None
        if not self._first:
            self._fh.write(b",\n")
        self._first = False
        self._fh.write(item)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add(self, obj: dict[str, Any]) -> None:
        self.add_raw(str(obj.get("kind", "")), msgspec.json.encode(obj))

    def finish(self, meta: dict[str, Any], eks: dict[str, Any] | None = None) -> None:
        """Write the metadata, flush to disk and atomically replace the target (or go beside it, see above)."""
        assert self._fh is not None and self._tmp is not None
        meta = dict(meta)
        meta.setdefault("tool", {"name": TOOL_NAME, "version": __version__})
        meta["counts"] = dict(self.counts)
        tail = b'\n],"metadata":' + msgspec.json.encode(meta)
        if eks is not None:
            tail += b',"eks":' + msgspec.json.encode(eks)
        self._fh.write(tail + b"}\n")
        if self.compress:
            self._fh.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        target = self.path
        if meta.get("complete") is False and self.path.exists() and not is_incomplete_snapshot(self.path):
            target = incomplete_path(self.path)
        os.replace(self._tmp, target)
        self.written = target
        self._tmp = None
        self._fh = None

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:  # not finished: leave the old file alone, remove ours
            try:
                self._raw.close()
            except OSError:
                pass
            try:
                os.unlink(self._tmp)
            except OSError:
                pass


def now_utc() -> str:
    return format_time(datetime.now(timezone.utc))
