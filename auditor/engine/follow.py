"""The followed cluster: verify's (and replay's) in-memory state, updated change by change.

`Follower` holds the objects of the kinds endpoints depend on, decoded from the projected lines the
collector serves (`auditor.collect.watch`) or a recording replays, with the indexes an incremental
evaluation needs: slices per Service, Services per namespace, Pods per IP, Services per Node. After a batch
of changes it knows which Services the batch touched (their Pods, slices, Endpoints, Nodes, Namespace),
records their ready count in the timeline (as kube-proxy sees it) and re-evaluates only them: the
convergence rules run on a view scoped to those Services that looks everything else up in these indexes
(`auditor.engine.followindex`), against the whole BEFORE index (built once: BEFORE never changes). The final
verdict always comes from the whole state (`state()`), never from the scoped views.

Pure: no clock and no I/O; every time comes with the change that caused it.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Protocol

import msgspec

from auditor.analysis.index import ClusterIndex
from auditor.analysis.timeline import Timeline
from auditor.engine.followindex import FollowedIndex
from auditor.engine.run import run_rules
from auditor.engine.verdict import FOLLOWED_RULES, Key, Verdict
from auditor.facts.pods import pod_ips
from auditor.facts.slices import proxied_among, ready_count, ready_endpoints_in
from auditor.model import Finding, InputInfo
from auditor.settings import Config
from auditor.state.clusterstate import ClusterState, format_time
from auditor.state.labels import LABEL_SERVICE_NAME
from auditor.state.objects import KubeObject, service_selector

#: What endpoints depend on: the kinds verify reads and watches.
FOLLOWED_KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice")
_DECODE = msgspec.json.Decoder(KubeObject)


class ChangeLike(Protocol):
    """One observed change (auditor.collect.watch.Change, or a recorded one)."""

    @property
    def kind(self) -> str: ...
    @property
    def type(self) -> str: ...  # ADDED | MODIFIED | DELETED
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def line(self) -> bytes: ...
    @property
    def at(self) -> float: ...


def decode(line: bytes) -> KubeObject:
    """A projected object line as the rules' struct (the snapshot loader's decoder)."""
    return _DECODE.decode(line)


class Follower:
    """The followed cluster's objects and indexes, the timeline, and the per-Service convergence verdict."""

    def __init__(self, before: ClusterState, config: Config, *, started: float) -> None:
        self.before = before
        self.before_index = ClusterIndex(before)
        self.config = config
        self.objects: dict[str, dict[Key, KubeObject]] = {k: {} for k in FOLLOWED_KINDS}
        self.nodes: dict[str, KubeObject] = {}  # the Nodes by name, as the rules look them up
        self.namespaces: dict[str, KubeObject] = {}  # the Namespaces by name
        self.slices_of: dict[Key, dict[str, KubeObject]] = {}  # Service key -> slice name -> slice
        self._services_in: dict[str, dict[str, KubeObject]] = {}  # namespace -> name -> Service
        self.pods_at: dict[str, set[Key]] = {}  # IP -> Pods holding it
        self._pods_lbl: dict[tuple[str, str, str], set[Key]] = {}  # (namespace, label, value) -> Pods
        self._svc_lbl: dict[tuple[str, str, str], set[str]] = {}  # (namespace, label, value) -> Services selecting it
        self._selector: dict[Key, dict[str, str]] = {}  # Service key -> its selector, read once per version
        self._services_on: dict[str, set[Key]] = {}  # node name -> Services with slice endpoints on it
        self._slice_nodes: dict[Key, set[str]] = {}  # slice key -> nodes its endpoints name
        self.timeline = Timeline(start=started, end=started)
        self._ready_before: dict[Key, int] = {}
        self.verdict = Verdict()
        self.last_change = started  # the latest endpoint-relevant change seen (Pods, slices, Services)
        self.pending: set[Key] = set()  # touched since the last evaluation
        self.version = 0  # batches applied: a whole-state comparison made at one version holds until the next

    # -- applying changes ----------------------------------------------------------------------
    def load(self, kind: str, lines: Iterable[bytes], at: float,
             decoded: Iterable[KubeObject | None] | None = None) -> None:
        """The first list of a kind: every object, as one batch at time `at` (`decoded`: the lines' objects where
        the collector already decoded them)."""
        for line, obj in zip(lines, decoded or _nones(), strict=False):
            obj = obj or decode(line)
            self._put(kind, (obj.metadata.namespace, obj.metadata.name), obj, line)
        self.timeline.start = min(self.timeline.start, at)

    def start(self, at: float) -> None:
        """After the first lists: every Service's ready count as the first point of its line."""
        self.timeline.start = self.timeline.end = at
        for key in list(self._all_service_keys()):
            self._observe(key, at)
        self.pending = set(self._all_service_keys())

    def apply(self, changes: Iterable[ChangeLike]) -> set[Key]:
        """Apply a batch in order; returns the Services it touched (their ready counts are recorded)."""
        changes = list(changes)
        if changes:
            self.version += 1
        touched: set[Key] = set()
        counted: dict[Key, float] = {}
        last = self.timeline.end
        for ch in changes:
            key = (ch.namespace, ch.name)
            if ch.kind not in self.objects:
                continue
            old = self.objects[ch.kind].get(key)
            new = None if ch.type == "DELETED" else (getattr(ch, "obj", None) or decode(ch.line))
            hit = self._touches(ch.kind, old)
            if new is None:
                self._drop(ch.kind, key)
            else:
                self._put(ch.kind, key, new, ch.line)
                if old is None or not _same_reach(ch.kind, old, new):
                    hit |= self._touches(ch.kind, new)
            touched |= hit
            if ch.kind in ("Pod", "EndpointSlice", "Service", "Endpoints"):
                self.last_change = max(self.last_change, ch.at)
            last = max(last, ch.at)
            if ch.kind in ("Service", "EndpointSlice"):  # what kube-proxy's count is made of
                for svc_key in hit:
                    counted[svc_key] = max(counted.get(svc_key, ch.at), ch.at)
        # One count per Service per batch, as of its last change in it: the events of one batch arrived
        # together, and a slice replaced by another within it (delete, then create) is no outage.
        for svc_key, at in counted.items():
            self._observe(svc_key, at)
        self.timeline.end = max(self.timeline.end, last)
        self.pending |= touched
        return touched

    def _put(self, kind: str, key: Key, obj: KubeObject, line: bytes) -> None:
        self._unindex(kind, key)
        self.objects[kind][key] = obj
        ns, name = key
        if kind == "EndpointSlice":
            svc = obj.labels.get(LABEL_SERVICE_NAME)
            if svc is not None:
                self.slices_of.setdefault((ns, svc), {})[name] = obj
                nodes = {ep.node_name for ep in obj.endpoints or () if ep.node_name}
                self._slice_nodes[key] = nodes
                for n in nodes:
                    self._services_on.setdefault(n, set()).add((ns, svc))
        elif kind == "Service":
            self._services_in.setdefault(ns, {})[name] = obj
            selector = self._selector[key] = service_selector(obj)
            for k, v in selector.items():
                self._svc_lbl.setdefault((ns, k, v), set()).add(name)
        elif kind == "Node":
            self.nodes[name] = obj
        elif kind == "Namespace":
            self.namespaces[name] = obj
        elif kind == "Pod":
            for k, v in (obj.metadata.labels or {}).items():
                self._pods_lbl.setdefault((ns, k, v), set()).add(key)
            for ip in pod_ips(obj):
                self.pods_at.setdefault(ip, set()).add(key)

    def _drop(self, kind: str, key: Key) -> None:
        self._unindex(kind, key)
        self.objects[kind].pop(key, None)

    def _unindex(self, kind: str, key: Key) -> None:
        old = self.objects[kind].get(key)
        if old is None:
            return
        ns, name = key
        if kind == "EndpointSlice":
            svc = old.labels.get(LABEL_SERVICE_NAME)
            if svc is not None:
                slices = self.slices_of.get((ns, svc))
                if slices is not None:
                    slices.pop(name, None)
                    if not slices:
                        del self.slices_of[(ns, svc)]
                for n in self._slice_nodes.pop(key, set()):
                    keys = self._services_on.get(n)
                    if keys is not None:
                        keys.discard((ns, svc))
        elif kind == "Service":
            self._services_in.get(ns, {}).pop(name, None)
            for k, v in self._selector.pop(key, {}).items():
                _discard(self._svc_lbl, (ns, k, v), name)
        elif kind == "Node":
            self.nodes.pop(name, None)
        elif kind == "Namespace":
            self.namespaces.pop(name, None)
        elif kind == "Pod":
            for k, v in (old.metadata.labels or {}).items():
                _discard(self._pods_lbl, (ns, k, v), key)
            for ip in pod_ips(old):
                holders = self.pods_at.get(ip)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del self.pods_at[ip]

    def _touches(self, kind: str, obj: KubeObject | None) -> set[Key]:
        """The Services whose verdict or ready count an object of this kind can change."""
        if obj is None:
            return set()
        ns, name = obj.metadata.namespace, obj.metadata.name
        if kind in ("Service", "Endpoints"):
            return {(ns, name)}
        if kind == "EndpointSlice":
            svc = obj.labels.get(LABEL_SERVICE_NAME)
            return {(ns, svc)} if svc is not None else set()
        if kind == "Pod":
            labels = obj.metadata.labels
            if not labels:
                return set()
            candidates: set[str] = set()
            for k, v in labels.items():
                hit = self._svc_lbl.get((ns, k, v))
                if hit:
                    candidates |= hit
            selectors = self._selector
            return {(ns, s) for s in candidates if (sel := selectors.get((ns, s)))
                    and all(labels.get(k) == v for k, v in sel.items())}
        if kind == "Node":
            return set(self._services_on.get(name, ()))
        if kind == "Namespace":
            return {(name, s) for s in self._services_in.get(name, {})}
        return set()

    def _all_service_keys(self) -> Iterable[Key]:
        return self.objects["Service"].keys()

    # -- the timeline ----------------------------------------------------------------------------
    def ready_now(self, key: Key) -> int | None:
        """The Service's ready endpoints as kube-proxy sees them now; None when the Service does not exist."""
        svc = self.objects["Service"].get(key)
        if svc is None or svc.metadata.deletion_timestamp is not None:
            return None
        return ready_count(ready_endpoints_in(proxied_among(svc, self.slices_of.get(key, {}).values())))

    def ready_before(self, key: Key) -> int:
        hit = self._ready_before.get(key)
        if hit is None:
            svc = self.before_index.services.get(key)
            labelled = self.before_index.slices_by_service.get(key, ())
            hit = 0 if svc is None or svc.metadata.deletion_timestamp is not None else \
                ready_count(ready_endpoints_in(proxied_among(svc, labelled)))
            self._ready_before[key] = hit
        return hit

    def _observe(self, key: Key, at: float) -> None:
        count = self.ready_now(key)
        if count is None:
            self.timeline.deleted(key, at)
            return
        self.timeline.observe(key, at, count, self.ready_before(key))

    # -- evaluation --------------------------------------------------------------------------------
    def evaluate(self, now: float, keys: Iterable[Key] | None = None) -> Verdict:
        """Re-run the convergence rules for the touched Services (default: those pending) on a view of the
        followed cluster scoped to them (`FollowedIndex`: no state copied, no index rebuilt), against the whole
        BEFORE index: the pair rules look BEFORE up by key, and BEFORE never changes, so what they derive from
        it (each Service's ready endpoints) is computed once for the run."""
        wanted = set(self.pending if keys is None else keys)
        self.pending -= wanted
        if not wanted:
            return self.verdict
        view = FollowedIndex(self, wanted, now, FOLLOWED_KINDS)
        run = run_rules(FOLLOWED_RULES, view, self.config, before=self.before_index, command="verify",
                        name_unknown_ignores=False)
        return self.verdict.update(wanted, run.findings, self._service_of)

    def _service_of(self, f: Finding) -> Key | None:
        o = f.object
        if o.kind in ("Service", "Endpoints"):
            return (o.namespace, o.name)
        if o.kind == "EndpointSlice":
            slc = self.objects["EndpointSlice"].get((o.namespace, o.name))
            svc = slc.labels.get(LABEL_SERVICE_NAME) if slc is not None else None
            if svc is None:
                svc = f.evidence.get("service") if isinstance(f.evidence.get("service"), str) else None
            return (o.namespace, svc) if svc else None
        return None

    def selected(self, ns: str, selector: dict[str, str] | None) -> list[Key]:
        """The Pods of `ns` a Service selector matches (the label index: the smallest set, then the rest)."""
        if not selector:
            return []
        sets = sorted((self._pods_lbl.get((ns, k, v), set()) for k, v in selector.items()), key=len)
        if not sets[0]:
            return []
        return [key for key in sets[0] if all(key in other for other in sets[1:])]

    # -- the whole state ---------------------------------------------------------------------------
    def state(self, taken_at: float, info: InputInfo | None = None, **meta: Any) -> ClusterState:
        """The whole followed cluster as one state at `taken_at`, with the timeline attached."""
        taken = datetime.fromtimestamp(taken_at, timezone.utc)
        info = info or InputInfo(path="(followed live)", label="after", taken_at=format_time(taken), complete=True)
        objs = {k: list(v.values()) for k, v in self.objects.items()}
        return ClusterState(objects=objs, taken_at=taken, inputs=[info], present=set(FOLLOWED_KINDS),
                            label="after", timeline=self.timeline, **meta)


def _same_reach(kind: str, old: KubeObject, new: KubeObject) -> bool:
    """Whether a new version of an object touches the Services its old one did (`Follower._touches`): a Pod or a
    slice reaches Services through its labels (a Pod's status change, most of a rotation's events, keeps them);
    the other kinds through their key alone."""
    return kind not in ("Pod", "EndpointSlice") or old.metadata.labels == new.metadata.labels


def _nones() -> Iterable[None]:
    while True:
        yield None


def _discard(index: dict[Any, set[Any]], key: Any, value: Any) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(value)
        if not members:
            del index[key]

