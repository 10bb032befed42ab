"""Loading cluster states: snapshots and kubectl dumps (JSON or YAML, optionally gzip), one input or several merged,
each judged for completeness. Decoding is `auditor.state.decode`'s, writing `auditor.state.writer`'s."""
from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import msgspec

from auditor.errors import InputError
from auditor.model import InputInfo
from auditor.state import eksdata, kinds
from auditor.state.clusterstate import ClusterState, MissingResource, format_time, parse_time
from auditor.state.decode import Envelope, decode, decode_lines, first_byte, item_kind
from auditor.state.inputs import Source, expand, nested_too_deep, read_input, read_lines
from auditor.state.intern import Sharer
from auditor.state.labels import ANN_TRIGGER_TIME
from auditor.state.objects import KubeObject
from auditor.state.writer import API_VERSION, SNAPSHOT_KIND
from auditor.state.writer import SnapshotWriter as SnapshotWriter  # re-exported: the app imports it from here

LOG = logging.getLogger(__name__)

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
    # One cut of the cluster (every kind at `resourceVersion`), else each kind's own read (`kindReads`).
    consistent: bool = True
    resource_version: str = ""
    kind_reads: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    inconsistency: str = ""
    # Optional kinds the cluster does not serve (a CRD not installed): {kind: why}; not in `kinds`, never missing.
    not_served: dict[str, str] = msgspec.field(default_factory=dict)


_META = msgspec.json.Decoder(SnapshotMeta)


@contextmanager
def gc_paused() -> Iterator[None]:
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


def load(path: str | Path) -> ClusterState:
    """Load one input file on its own into a ClusterState; every problem is an InputError naming the file."""
    return finalise(_load_source(Source(Path(path))))


def load_inputs(specs: list[str], default_namespace: str = "default") -> ClusterState:
    """Load INPUT arguments (files, folders of dumps, `-` for stdin), merge them, then judge completeness.

    Per-kind kubectl dumps (one file of Pods, one of Services, ...) are only a state together: a kind
    is missing when no input holds it, never because one file lacks it. A namespaced object without
    metadata.namespace (a hand-written manifest) is read in `default_namespace`, as `kubectl apply` would put it,
    with a notice (`namespace_notices`).
    """
    sources = [src for spec in specs for src in expand(spec)]
    if sum(1 for s in sources if s.path is None) > 1:
        raise InputError("-", "standard input can be read only once")
    state = ClusterState.merge([_load_source(s, default_namespace) for s in sources])
    require_some_required_kind(state, [s.name for s in sources])
    return finalise(state)


def _load_source(src: Source, default_namespace: str = "default") -> ClusterState:
    if src.path is not None:
        # A snapshot (or List) written one object per line is decoded as it is read: its raw bytes are never
        # whole in memory beside its objects. Any other input, or one that does not decode so, is read whole.
        lines = read_lines(src.path)
        try:
            with gc_paused():
                env = decode_lines(lines, Sharer().share)
        finally:
            lines.close()
        if env is not None:
            return _to_state(src.name, env, None, default_namespace, shared=True)
    data = read_input(src)
    if not first_byte(data):
        raise InputError(src.name, "is empty")
    with gc_paused():
        env, single = decode(src.name, data)
    del data
    return _to_state(src.name, env, single, default_namespace)


#: How a notice about objects given a namespace begins (`namespace_notices` finds them among a state's warnings).
_DEFAULTED = "no metadata.namespace: "


def namespace_notices(warnings: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The notices about namespaced objects read in the default namespace: for stderr, as kubectl says it."""
    return tuple(w for w in warnings if w.startswith(_DEFAULTED))


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


def _to_state(p: str, env: Envelope, single: KubeObject | None, default_namespace: str = "default", *,
              shared: bool = False) -> ClusterState:
    """`shared`: the objects' repeated strings were already shared as they were decoded (`decode_lines`)."""
    defaulted: dict[str, int] = {}
    state = _objects_state(p, env, single, defaulted, default_namespace, None if shared else Sharer().share)
    if defaulted:
        what = ", ".join(f"{n} {k}" for k, n in sorted(defaulted.items()))
        state.warnings.append(f"{_DEFAULTED}{p}: {what} without metadata.namespace read in namespace "
                              f"{default_namespace!r}, where kubectl apply would create them")
    return state


def _objects_state(p: str, env: Envelope, single: KubeObject | None, defaulted: dict[str, int],
                   default_namespace: str, share: Callable[[KubeObject], None] | None) -> ClusterState:
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
    default_kind = item_kind(env.kind)
    namespaced = kinds.NAMESPACED
    for i, obj in enumerate(items):
        kind = obj.kind or default_kind
        if kind in objects:
            if not obj.kind:
                obj.kind = kind
            if share is not None:
                share(obj)
            meta = obj.metadata
            if not meta.name:
                _check_identity(p, i, kind, obj, single is not None)
            if not meta.namespace and kind in namespaced:
                meta.namespace = default_namespace
                defaulted[kind] = defaulted.get(kind, 0) + 1
            objects[kind].append(obj)
        else:
            ignored[kind or "(no kind)"] = ignored.get(kind or "(no kind)", 0) + 1
    total = sum(len(v) for v in objects.values())
    if env.kind == SNAPSHOT_KIND:
        return _snapshot_state(p, env, objects)
    if total == 0:
        if set(ignored) == {"(no kind)"}:
            raise InputError(p, f"is not a Kubernetes object, List or snapshot (no 'kind' field); {KUBECTL_HINT}")
        if env.items == [] and env.kind and env.kind != "List" and not item_kind(env.kind):
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


def require_some_required_kind(state: ClusterState, paths: list[Path] | list[str]) -> None:
    """A kubectl dump (or several merged) holding only optional kinds is no cluster state to audit."""
    if any(state.objects.get(k) for k in kinds.REQUIRED) or any(i.source for i in state.inputs):
        return
    found = sorted(k for k, v in state.objects.items() if v)
    if found:
        where = paths[0] if len(paths) == 1 else ", ".join(map(str, paths))
        raise InputError(where, f"holds no objects of the kinds the auditor needs ({', '.join(kinds.REQUIRED)}); "
                                f"found only: {', '.join(found)}; {KUBECTL_HINT}")


def _snapshot_state(p: str, env: Envelope, objects: dict[str, list[KubeObject]]) -> ClusterState:
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
    seen: set[str | None] = set()  # most objects share their times: each distinct one is compared once
    add = seen.add
    for objs in objects.values():
        for o in objs:
            m = o.metadata
            add(m.creation_timestamp)
            if m.deletion_timestamp and not m.deletion_grace_period_seconds:
                # deletionTimestamp is 'deleted at + grace period': only a graceless one is a past moment
                add(m.deletion_timestamp)
            if m.annotations:
                add(m.annotations.get(ANN_TRIGGER_TIME))
            st = o.status
            if st is not None and st.conditions:
                for c in st.conditions:
                    add(c.last_transition_time)
                    add(c.last_heartbeat_time)
    best = max((t[:19] for t in seen if t), default="")
    parsed = parse_time(best + "Z") if best else None
    return parsed or datetime(1970, 1, 1, tzinfo=timezone.utc)
