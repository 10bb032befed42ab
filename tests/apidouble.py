"""A Kubernetes API double on 127.0.0.1: discovery, /version, paged lists, watches, SSAR and injectable faults.

Watches behave as a real API server's: every `set_state` is diffed against the previous state and
appended to an event log (ADDED, MODIFIED, DELETED, each at its own resourceVersion, which the served
object carries); `?watch=1` streams chunked JSON lines after the resourceVersion asked for, then new
events as they come, BOOKMARKs when allowed, and ends after `timeoutSeconds`; a resourceVersion older
than the kept history gets one `ERROR` event with a 410 Status. `drop_watches()` cuts every open watch
and `deny_watch()` forbids watching while lists stay allowed.

For event rates a benchmark needs (tens of thousands a second), `prepare()` encodes a sequence of changes
ahead of time and `publish()` then serves each prepared batch in microseconds: its events go to the log at
once, and the lists of the kinds it touched are rebuilt only when someone lists them.
"""
from __future__ import annotations

import base64
import bisect
import collections
import datetime
import ipaddress
import re
import select
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml

from tests.waiting import wait_until

ENDPOINTS_WARNING = "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
# kind -> (group/version, plural, namespaced)
RESOURCES = {
    "Namespace": ("v1", "namespaces", False), "Node": ("v1", "nodes", False), "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True), "Endpoints": ("v1", "endpoints", True),
    "EndpointSlice": ("discovery.k8s.io/v1", "endpointslices", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "Deployment": ("apps/v1", "deployments", True), "StatefulSet": ("apps/v1", "statefulsets", True),
    "DaemonSet": ("apps/v1", "daemonsets", True), "ReplicaSet": ("apps/v1", "replicasets", True),
    # CRDs (Karpenter, Gateway API, the AWS Load Balancer Controller): served only with `crds=True` (else 404).
    "NodePool": ("karpenter.sh/v1", "nodepools", False), "NodeClaim": ("karpenter.sh/v1", "nodeclaims", False),
    "Gateway": ("gateway.networking.k8s.io/v1", "gateways", True),
    "HTTPRoute": ("gateway.networking.k8s.io/v1", "httproutes", True),
    "GRPCRoute": ("gateway.networking.k8s.io/v1", "grpcroutes", True),
    "TargetGroupBinding": ("elbv2.k8s.aws/v1beta1", "targetgroupbindings", True),
    # Built in (the traffic path): always served.
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "IngressClass": ("networking.k8s.io/v1", "ingressclasses", False),
    "ValidatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
}
CUSTOM = frozenset({"NodePool", "NodeClaim", "Gateway", "HTTPRoute", "GRPCRoute", "TargetGroupBinding"})
_BY_PATH = {(gv, plural): kind for kind, (gv, plural, _) in RESOURCES.items()}
_LIST = re.compile(r"^/(?:api/(v1)|apis/([a-z0-9.]+/v1(?:beta1)?))(?:/namespaces/([^/]+))?/([a-z]+)$")


@dataclass
class Fault:
    """Answer matching requests with `status` (or a reset, or after `delay`), `times` times (None: always)."""

    path: str  # regex searched in the path
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    reset: bool = False  # close the connection with a TCP RST instead of answering
    delay: float = 0.0  # sleep first (then answer normally unless status/reset is set)
    trickle: float = 0.0  # send the answer one byte every `trickle` seconds (headers first unless trickle_head)
    trickle_head: bool = False  # trickle the status line and headers too
    times: int | None = 1
    method: str = "GET"
    on_continue: bool = False  # only requests that carry a continue token
    watch: bool | None = None  # True: only watch requests; False: only lists and other requests; None: both
    # A hostile server: write the whole answer (status line included) to the handler's wfile, then close.
    respond: Callable[[BaseHTTPRequestHandler], None] | None = None
    hits: int = 0


@dataclass
class _State:
    version: int
    lists: dict[tuple[str, str | None], list[bytes]]  # (kind, namespace or None) -> encoded items
    rv: int = 0  # its resourceVersion: above every event that led to it


@dataclass(frozen=True)
class Event:
    """One entry of the event log, as a watch serves it (`line` is the JSON line, newline included)."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    kind: str
    namespace: str
    name: str
    line: bytes


Key = tuple[str, str, str]  # (kind, namespace or "", name)


@dataclass(frozen=True)
class Batch:
    """Changes encoded by `ApiDouble.prepare()`, served by `publish()`: the events, at resourceVersions `base + 1`
    to `after` (each object is kept once, in its event's line, however long the script)."""

    events: list[Event]
    base: int  # the resourceVersion the double must be at when it is published
    after: int


class ApiDouble:
    """Start with `with ApiDouble(objects) as api:`; `api.url`, `api.write_kubeconfig(path)`."""

    def __init__(self, objects: Iterable[dict[str, Any]] = (), version: str = "1.33", token: str | None = "t0ken",
                 tls: bool = True, crds: bool = False) -> None:
        """HTTPS with a bearer token by default, as a real API server; `tls=False` serves plain HTTP, where
        `token=None` lets anonymous requests in (a client must never send its token over plain HTTP).
        `crds=True` serves the CRD kinds (Karpenter, Gateway API, TargetGroupBinding); without it they are 404."""
        self.crds = crds
        self.git_version = f"v{version}.2-eks-4a5b6c7" if version.count(".") == 1 else f"v{version}"
        self.token = token
        self.faults: list[Fault] = []
        self.denied: set[tuple[str, str | None]] = set()  # (plural, namespace or None for cluster-wide)
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request ("" when none)
        # Older resourceVersions are compacted: lists at them get 410 Expired, and so do watches from before
        # the oldest kept state (their events are forgotten with it).
        self.keep_states = 5
        self.bookmark_every = 1.0  # seconds between BOOKMARKs on a watch that allows them (a real server: ~60)
        self.watch_chunk = 0  # >0: cut watch output into HTTP chunks of this many bytes, mid-line (0: per batch)
        self.watch_denied: set[tuple[str, str | None]] = set()
        # Called as on_request(method, path) before each request is answered (e.g. to change the state).
        self.on_request: Callable[[str, str], None] | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # notified on every new event, drop and shutdown
        self._set_lock = threading.Lock()  # one set_state at a time (the diff reads the previous state)
        self._states: dict[int, _State] = {}
        self._current = 0
        self._served: list[dict[str, Any]] = []
        # (kind, namespace or "", name) -> (item as listed, its metadata.resourceVersion)
        self._objects: dict[tuple[str, str, str], tuple[bytes, str]] = {}
        self._log: list[Event] = []
        self._horizon = 0  # history before this resourceVersion is forgotten: watches from before it get 410
        self._forgotten: dict[str, int] = {}  # kind -> its newest forgotten event (an open watch behind it: 410)
        self._drops = 0  # bumped by drop_watches(): open watches started under an older count are cut
        self._closing = False
        self._watch_socks: set[Any] = set()
        self._sent: dict[Any, tuple[str, str | None, int]] = {}  # open watch -> (kind, namespace, log position sent)
        # publish(): kinds whose lists lag the published events (rebuilt on the next list), and how many events of
        # each kind a watch may be behind (None: until compaction, as with set_state), like the API server's
        # watch cache, past which a watch gets 410 Expired.
        self._stale: set[str] = set()
        self._unlisted: list[Event] = []  # published, not yet in `_objects`
        self._kept: dict[str, collections.deque[int]] = {}  # kind -> the resourceVersions of its kept events
        self._newest: dict[str, int] = {}  # kind -> the resourceVersion of its newest published event
        self.history: int | None = None
        self._tls = _make_tls() if tls else None
        self.set_state(objects)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        if self._tls is not None:
            self._server.socket = self._tls.context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._cut_watches()
        self._server.shutdown()
        self._server.server_close()

    def write_kubeconfig(self, path: str | Path, context: str = "double", token: str | None = None,
                         ca: bool = True) -> Path:
        cluster: dict[str, Any] = {"server": self.url}
        if self._tls is not None and ca:
            cluster["certificate-authority-data"] = base64.b64encode(self._tls.ca_pem).decode()
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": context,
               "clusters": [{"name": "double", "cluster": cluster}],
               "users": [{"name": "tester", "user": {} if (token or self.token) is None
                          else {"token": self.token if token is None else token}}],
               "contexts": [{"name": context, "context": {"cluster": "double", "user": "tester"}}]}
        Path(path).write_text(yaml.safe_dump(doc))
        return Path(path)

    @property
    def ca_pem(self) -> bytes:
        """The PEM certificate to trust (TLS doubles only)."""
        assert self._tls is not None, "started without tls=True"
        return self._tls.ca_pem

    # -- state -----------------------------------------------------------------------------

    def set_state(self, objects: Iterable[dict[str, Any]], keep: bool = True, compact: bool = False) -> None:
        """Serve these objects from now on; pages of lists already started still come from the old state.

        The difference from the previous state goes to the event log (and to open watches): an object new
        by (kind, namespace, name) is ADDED, one whose content changed is MODIFIED, one absent is DELETED,
        each at the next resourceVersion, which it then carries in `metadata.resourceVersion` (an object's
        own resourceVersion is kept until the double first changes it). The state's resourceVersion is the
        next multiple of 1000 above its events. `keep=False` keeps only the encoded items (for large
        benchmark clusters); `served()` is then empty. `compact=True` then forgets every older version at
        once, as `compact()` does, before any open watch could send the new events (they get 410).
        """
        with self._set_lock:
            with self._cond:
                self._refresh_lists()  # after publish(): the state to diff against is the published one
            self._set_state(objects, keep, compact)

    def update(self, objects: Iterable[dict[str, Any]] = (), delete: Iterable[tuple[str, str, str]] = (),
               keep: bool = True) -> None:
        """Like `set_state`, for a part of the cluster: create or replace `objects`, delete the (kind, namespace,
        name) keys in `delete` ("" as the namespace of cluster-scoped kinds), keep everything else. Encodes only
        what it is given (0.4 s for 1,000 Pods of a 100k-Pod cluster, where set_state takes 1.5 s)."""
        with self._set_lock:
            with self._cond:
                self._refresh_lists()
            previous = self._objects
            current = dict(previous)
            next_rv = self._states[self._current].rv
            events: list[Event] = []
            upserted: dict[tuple[str, str, str], dict[str, Any]] = {}
            for obj in objects:
                key, entry, next_rv, event = self._diffed(obj, previous.get(_key(obj)), next_rv)
                current[key] = entry
                upserted[key] = obj
                if event is not None:
                    events.append(event)
            gone = set()
            for key in delete:
                old = current.pop(key, None)
                if old is not None:
                    gone.add(key)
                    next_rv += 1
                    events.append(_deleted(next_rv, key, old[0]))
            served = [o for o in self._served if _key(o) not in upserted and _key(o) not in gone] + \
                list(upserted.values()) if keep else []
            self._commit(current, events, next_rv, served, {e.kind for e in events}, compact=False)

    def prepare(self, steps: Iterable[Iterable[dict[str, Any] | Key]]) -> Iterator[Batch]:
        """Encode changes now, to be served later by `publish()`, in the same order and with nothing else changing
        the double in between (a benchmark encodes its whole script before the timed part).

        Each step is a sequence of objects to create or replace and (kind, namespace, name) keys to delete, in the
        order their events are to come; it becomes one Batch (steps are read one at a time, so the objects of a
        long script need never all exist at once). As with `update()`, an object whose content does not change
        makes no event, nor does deleting what is not there. For states set with `keep=False` only (`served()`
        does not follow published changes)."""
        with self._set_lock:
            with self._cond:
                self._refresh_lists()
                rv = self._top_rv()
            if self._served:
                raise ValueError("prepare()/publish() need states set with keep=False")
            objects = self._objects
        overlay: dict[Key, Event] = {}  # the last event the prepared steps gave each key they touched
        for step in steps:
            base = rv
            events: list[Event] = []
            for change in step:
                key = change if isinstance(change, tuple) else _key(change)
                last = overlay.get(key)
                old = objects.get(key) if last is None else None if last.type == "DELETED" else \
                    (_item(last), str(last.rv))
                if isinstance(change, tuple):
                    if old is None:
                        continue
                    rv += 1
                    event = _deleted(rv, key, old[0])
                else:
                    _, _, rv, changed = self._diffed(change, old, rv)
                    if changed is None:
                        continue
                    event = changed
                overlay[key] = event
                events.append(event)
            yield Batch(events, base, rv)

    def publish(self, batch: Batch) -> None:
        """Serve a prepared batch now: its events go to the log and to open watches at once (no list is rebuilt:
        the lists of the kinds it touches are, when someone next lists them). With `history` set, each kind keeps
        that many of its newest events, as the API server's watch cache does per resource: a watch further
        behind, or one started from before them, gets 410 Expired."""
        if self.history is not None and self.history < 1:
            raise ValueError("history must keep at least the newest event")
        with self._set_lock, self._cond:
            top = self._top_rv()
            if batch.base != top:
                raise ValueError(f"a batch prepared at resourceVersion {batch.base}; the double is at {top}")
            self._unlisted.extend(batch.events)  # into the served objects when next listed
            self._log.extend(batch.events)
            for e in batch.events:
                self._stale.add(e.kind)
                self._newest[e.kind] = e.rv
                if self.history is not None:
                    kept = self._kept.setdefault(e.kind, collections.deque())
                    kept.append(e.rv)
                    if len(kept) > self.history:
                        self._forgotten[e.kind] = kept.popleft()
            self._cond.notify_all()

    def _top_rv(self) -> int:
        """Under the lock: the newest resourceVersion (published events can be newer than the listed state)."""
        rv = self._states[self._current].rv
        return max(rv, self._log[-1].rv) if self._log else rv

    def _refresh_lists(self) -> None:
        """Under the lock, after publish(): a state whose lists hold every published change, at the newest
        resourceVersion, for lists, watches from "now" and the next set_state()/update(). Older states go as
        `keep_states` says; the events stay (publish's `history` decides what a watch can still catch up on)."""
        if not self._stale:
            return
        for e in self._unlisted:
            if e.type == "DELETED":
                self._objects.pop((e.kind, e.namespace, e.name), None)
            else:
                self._objects[(e.kind, e.namespace, e.name)] = (_item(e), str(e.rv))
        self._unlisted = []
        stale, self._stale = self._stale, set()
        rv, previous = self._top_rv(), self._states[self._current]
        self._current += 1
        self._states[self._current] = _State(self._current, _lists(self._objects, stale, previous.lists), rv)
        for old in [v for v in self._states if v <= self._current - self.keep_states]:
            del self._states[old]

    def _set_state(self, objects: Iterable[dict[str, Any]], keep: bool, compact: bool = False) -> None:
        first = not self._states
        previous = self._objects
        next_rv = self._states[self._current].rv if self._states else 0
        served: list[dict[str, Any]] = []
        current: dict[tuple[str, str, str], tuple[bytes, str]] = {}
        events: list[Event] = []
        for obj in objects:
            if keep:
                served.append(obj)
            if first:
                item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}  # as a list item
                current[_key(obj)] = (orjson.dumps(item), str(obj["metadata"].get("resourceVersion", "")))
                continue
            key, entry, next_rv, event = self._diffed(obj, previous.get(_key(obj)), next_rv)
            current[key] = entry
            if event is not None:
                events.append(event)
        if not first:
            for key, (data, _) in previous.items():
                if key not in current:
                    next_rv += 1
                    events.append(_deleted(next_rv, key, data))
        self._commit(current, events, next_rv, served, None if first else {e.kind for e in events}, compact)

    @staticmethod
    def _diffed(obj: dict[str, Any], old: tuple[bytes, str] | None,
                next_rv: int) -> tuple[tuple[str, str, str], tuple[bytes, str], int, Event | None]:
        """One object of a new state against its previous entry: (key, entry, next_rv, its event or None)."""
        key = _key(obj)
        meta = obj["metadata"]
        item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}  # as a list item
        if old is not None:  # compared at the version it is served with: only content counts
            item["metadata"] = ({**meta, "resourceVersion": old[1]} if old[1] else
                                {k: v for k, v in meta.items() if k != "resourceVersion"})
            if orjson.dumps(item) == old[0]:
                return key, old, next_rv, None
        next_rv += 1
        item["metadata"] = {**meta, "resourceVersion": str(next_rv)}
        entry = (orjson.dumps(item), str(next_rv))
        return key, entry, next_rv, _event(next_rv, "MODIFIED" if old is not None else "ADDED", key, entry[0])

    def _commit(self, current: dict[tuple[str, str, str], tuple[bytes, str]], events: list[Event], next_rv: int,
                served: list[dict[str, Any]], changed: set[str] | None, compact: bool) -> None:
        """Make `current` the served state. Lists of kinds not in `changed` (None: every kind) are the previous
        state's (their items are the same)."""
        first = not self._states
        old_lists = self._states[self._current].lists if self._states else {}
        new_lists = _lists(current, changed, old_lists)
        rv = (next_rv // 1000 + 1) * 1000
        with self._cond:
            self._current += 1
            self._states[self._current] = _State(self._current, new_lists, rv)
            self._objects = current
            self._log.extend(events)
            if first:
                self._horizon = rv  # nothing before the first state is known
            self._compact()
            if compact:
                self._compact_all()
            self._served = served
            self._cond.notify_all()

    def _compact(self) -> None:
        for old in [v for v in self._states if v <= self._current - self.keep_states]:  # like etcd compaction
            del self._states[old]
        self._forget(min(s.rv for s in self._states.values()))

    def _forget(self, horizon: int) -> None:
        """Drop the events at or before `horizon` (the kept history starts after it)."""
        if horizon > self._horizon:
            self._horizon = horizon
            cut = bisect.bisect_right(self._log, horizon, key=lambda e: e.rv)
            for e in self._log[:cut]:
                self._forgotten[e.kind] = e.rv
            del self._log[:cut]

    def compact(self) -> None:
        """Forget every resourceVersion but the current one: lists at older versions get 410, and so do watches
        from them (an open watch that has not yet sent a forgotten event gets an ERROR 410 and ends)."""
        with self._cond:
            self._refresh_lists()
            self._compact_all()
            self._cond.notify_all()

    def _compact_all(self) -> None:
        for old in [v for v in self._states if v != self._current]:
            del self._states[old]
        self._forget(self._states[self._current].rv)

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._top_rv())

    def served(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The objects of the current state as listed: with the resourceVersion the double gave them."""
        out = []
        for o in self._served:
            if kind is not None and o["kind"] != kind:
                continue
            meta = o["metadata"]
            ns = (meta.get("namespace") or "") if RESOURCES[o["kind"]][2] else ""
            entry = self._objects.get((o["kind"], ns, meta["name"]))
            if entry is not None and entry[1] != str(meta.get("resourceVersion", "")):
                o = {**o, "metadata": {**meta, "resourceVersion": entry[1]}}
            out.append(o)
        return out

    def events(self, kind: str | None = None) -> list[Event]:
        """The event log still kept (after compaction), oldest first."""
        with self._lock:
            return [e for e in self._log if kind is None or e.kind == kind]

    def drop_watches(self) -> None:
        """Cut every open watch stream mid-stream (the connection closes without the chunked terminator)."""
        with self._cond:
            self._drops += 1
            self._cond.notify_all()
        self._cut_watches()

    def deny_watch(self, plural: str, namespace: str | None = None) -> None:
        """RBAC allows listing `plural` but not watching it (403 to `?watch=1` only)."""
        self.watch_denied.add((plural, namespace))

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._watch_socks)

    def wait_watches(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least `count` watch streams are open (True) or `timeout` passes (False)."""
        return wait_until(lambda: self.open_watches >= count, timeout)

    def watches_caught_up(self) -> bool:
        """Every open watch has sent every event of its kind so far: what its client can have read by now."""
        with self._cond:
            started = len(self._sent) == len(self._watch_socks)  # each has sent what it starts with
            return started and not any(self._watch_next(kind, ns, sent)[0] for kind, ns, sent in self._sent.values())

    def published_written(self) -> bool:
        """Every open watch has written the newest published event of its kind: watches_caught_up() for
        publish(), in constant time per watch however far behind one is (a benchmark polls it while its client
        catches up)."""
        with self._cond:
            started = len(self._sent) == len(self._watch_socks)
            return started and all(sent >= self._newest.get(kind, 0) for kind, _, sent in self._sent.values())

    def _cut_watches(self) -> None:
        with self._lock:
            socks = list(self._watch_socks)
        for sock in socks:
            try:  # the plain socket call: SSLSocket.shutdown would tear down TLS state under the writing thread
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def add_fault(self, path: str, **kwargs: Any) -> Fault:
        fault = Fault(path=path, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def deny(self, plural: str, namespace: str | None = None) -> None:
        """RBAC says no (SSAR, list and watch) to `plural`, cluster-wide or in one namespace."""
        self.denied.add((plural, namespace))

    def calls(self, path_regex: str, method: str = "GET") -> list[dict[str, list[str]]]:
        return [q for m, p, q in list(self.requests) if m == method and re.search(path_regex, p)]

    def _fault_for(self, method: str, path: str, query: dict[str, list[str]]) -> Fault | None:
        watching = _is_watch(query)
        with self._lock:
            for f in self.faults:
                if f.method == method and re.search(f.path, path) and (not f.on_continue or "continue" in query) \
                        and (f.watch is None or f.watch == watching) and (f.times is None or f.hits < f.times):
                    f.hits += 1
                    return f
        return None

    def _allowed(self, plural: str, namespace: str | None, verb: str = "list") -> bool:
        denied = self.denied | self.watch_denied if verb == "watch" else self.denied
        return (plural, None) not in denied and (namespace is None or (plural, namespace) not in denied)

    def _watch_start(self, kind: str, ns: str | None, rv: str) -> tuple[list[bytes], int] | None:
        """Under the lock: what a new watch sends first, and the log position it continues after.

        No resourceVersion (or "0"): every current object as ADDED, then what follows. A version older than
        the kept history: one ERROR event with a 410 Status (the caller ends the watch after it). None: not a
        resourceVersion at all (400)."""
        self._refresh_lists()
        current = self._states[self._current]
        if rv in ("", "0"):
            gv = RESOURCES[kind][0]
            head = b'{"type":"ADDED","object":{"kind":"%s","apiVersion":"%s",' % (kind.encode(), gv.encode())
            return [head + item[1:] + b"}\n" for item in current.lists.get((kind, ns), [])], current.rv
        try:
            wanted = int(rv)
        except ValueError:
            return None
        if wanted < self._horizon or wanted < self._forgotten.get(kind, 0):
            return [_expired(rv, current.rv)], -1
        return [], wanted

    def _watch_next(self, kind: str, ns: str | None, cursor: int) -> tuple[list[bytes], int, bool]:
        """Under the lock: the event lines after `cursor` for this watch, the new cursor, and whether the watch
        must end with them (its next events were forgotten: an ERROR 410)."""
        if cursor < self._forgotten.get(kind, 0):
            return [_expired(str(cursor), self._states[self._current].rv)], cursor, True
        log = self._log
        i = bisect.bisect_right(log, cursor, key=lambda e: e.rv)
        out = [e.line for e in log[i:] if e.kind == kind and (ns is None or e.namespace == ns)]
        return out, (log[-1].rv if i < len(log) else cursor), False

    def _bookmark(self, kind: str) -> tuple[bytes, int]:
        """Under the lock: a BOOKMARK at the current resourceVersion (every event up to it was sent)."""
        rv = self._top_rv()
        obj: dict[str, Any] = {"kind": kind, "apiVersion": RESOURCES[kind][0],
                               "metadata": {"resourceVersion": str(rv), "creationTimestamp": None}}
        if kind == "Pod":  # what a real server's empty Pod encodes to
            obj.update(spec={"containers": None}, status={})
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n", rv

    def _page(self, kind: str, ns: str | None, query: dict[str, list[str]]) -> tuple[int, bytes]:
        """One page, with the API server's resourceVersion semantics for lists (and its errors)."""
        limit = int(query.get("limit", ["0"])[0] or 0)
        token = query.get("continue", [""])[0]
        rv = query.get("resourceVersion", [""])[0]
        match = query.get("resourceVersionMatch", [""])[0]
        with self._lock:
            if not token:  # a continue token reads the state its first page did (it is not rebuilt under it)
                self._refresh_lists()
            if token:
                if rv or match:
                    return 400, _status(400, "BadRequest", "specifying resource version is not allowed when using "
                                        "continue")
                try:
                    version, offset = (int(x) for x in base64.urlsafe_b64decode(token).decode().split(":"))
                except ValueError:
                    return 400, _status(400, "BadRequest", "invalid continue token")
                state = self._states.get(version)
                if state is None:
                    return 410, _status(410, "Expired", "The provided continue parameter is too old to display a "
                                        "consistent list result. You can start a new list without the continue "
                                        "parameter.")
            elif match and not rv:
                return 400, _status(400, "BadRequest", "resourceVersionMatch is forbidden unless resourceVersion "
                                    "is provided")
            elif match not in ("", "Exact", "NotOlderThan"):
                return 400, _status(400, "BadRequest", f"unsupported resourceVersionMatch {match!r}")
            elif rv and rv != "0" and (match == "Exact" or (not match and limit)):
                # An exact version (legacy: a non-zero resourceVersion with a limit is exact too).
                try:
                    wanted = int(rv)
                except ValueError:
                    return 400, _status(400, "BadRequest", f"invalid resourceVersion {rv!r}")
                # The state at that version (the double keeps whole states: a version between two states
                # reads the earlier one).
                at = [s for s in self._states.values() if s.rv <= wanted]
                state, offset = (max(at, key=lambda s: s.rv) if at and wanted <= self._states[self._current].rv
                                 else None), 0
                if state is None:
                    return 410, _status(410, "Expired", f"too old resource version: {rv} "
                                        f"({self._states[self._current].rv})")
            else:
                state, offset = self._states[self._current], 0
        items = state.lists.get((kind, ns), [])
        end = len(items) if limit <= 0 else min(len(items), offset + limit)
        meta: dict[str, Any] = {"resourceVersion": str(state.rv)}
        if end < len(items):
            meta["continue"] = base64.urlsafe_b64encode(f"{state.version}:{end}".encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        gv = RESOURCES[kind][0]
        head = orjson.dumps({"kind": f"{kind}List", "apiVersion": gv, "metadata": meta})
        return 200, head[:-1] + b',"items":[' + b",".join(items[offset:end]) + b"]}"


def _lists(current: dict[Key, tuple[bytes, str]], changed: set[str] | None,
           old_lists: dict[tuple[str, str | None], list[bytes]]) -> dict[tuple[str, str | None], list[bytes]]:
    """The served lists of `current`, sorted by (namespace, name): of the kinds in `changed` (None: all), the
    others taken from `old_lists` (their items are the same)."""
    by_kind: dict[str, list[tuple[str, str, bytes]]] = {}
    for (kind, ns, name), (data, _) in current.items():
        if changed is None or kind in changed:
            by_kind.setdefault(kind, []).append((ns, name, data))
    new_lists: dict[tuple[str, str | None], list[bytes]] = {}
    for kind, entries in by_kind.items():
        entries.sort()  # by (namespace, name): unique, so the data is never compared
        new_lists[(kind, None)] = [data for _, _, data in entries]
        for ns, _, data in entries:  # in order: each namespace's list comes out sorted too
            if ns:
                new_lists.setdefault((kind, ns), []).append(data)
    if changed is not None:
        new_lists.update({key: v for key, v in old_lists.items() if key[0] not in changed})
    return new_lists


def _event(rv: int, type_: str, key: tuple[str, str, str], item: bytes) -> Event:
    kind, ns, name = key
    head = b'{"type":"%s","object":{"kind":"%s","apiVersion":"%s"' % (
        type_.encode(), kind.encode(), RESOURCES[kind][0].encode())
    return Event(rv, type_, kind, ns, name, head + (b"," + item[1:] if item != b"{}" else b"}") + b"}\n")


def _item(event: Event) -> bytes:
    """The object of an ADDED or MODIFIED event as a list item (what `_event` was given)."""
    head = len(b'{"type":"","object":{"kind":"","apiVersion":""') + len(event.type) + len(event.kind) + \
        len(RESOURCES[event.kind][0])
    return b"{" + event.line[head + 1:-2]


def _expired(rv: str, current: int) -> bytes:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": f"too old resource version: {rv} ({current})", "reason": "Expired", "code": 410}
    return orjson.dumps({"type": "ERROR", "object": status}) + b"\n"


def _client_gone(sock: Any) -> bool:
    """During a watch the client sends nothing: a readable socket means it closed (EOF, or a TLS alert)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], (meta.get("namespace") or "") if RESOURCES[obj["kind"]][2] else "", meta["name"]


def _deleted(rv: int, key: tuple[str, str, str], data: bytes) -> Event:
    item = orjson.loads(data)
    item.setdefault("metadata", {})["resourceVersion"] = str(rv)  # a deleted object carries the deletion's version
    return _event(rv, "DELETED", key, orjson.dumps(item))


def _is_watch(query: dict[str, list[str]]) -> bool:
    return query.get("watch", [""])[0].lower() in ("1", "true")


def _status(code: int, reason: str, message: str) -> bytes:
    return orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": code})


def _discovery(path: str, host: str, crds: bool = False) -> dict[str, Any] | None:
    def resources(gv: str) -> list[dict[str, Any]]:
        return [{"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["get", "list", "watch"]}
                for kind, (g, plural, namespaced) in RESOURCES.items() if g == gv]

    groups = {"discovery.k8s.io": "v1", "authorization.k8s.io": "v1", "policy": "v1", "apps": "v1",
              "networking.k8s.io": "v1", "admissionregistration.k8s.io": "v1", "rbac.authorization.k8s.io": "v1"}
    if crds:
        groups.update({"karpenter.sh": "v1", "gateway.networking.k8s.io": "v1", "elbv2.k8s.aws": "v1beta1"})
    served = {f"{g}/{v}" for g, v in groups.items() if g != "authorization.k8s.io"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups.items()]}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources("v1")}
    if path.startswith("/apis/") and path[len("/apis/"):] in served:
        gv = path[len("/apis/"):]
        return {"kind": "APIResourceList", "groupVersion": gv, "resources": resources(gv)}
    if path == "/apis/authorization.k8s.io/v1":
        return {"kind": "APIResourceList", "groupVersion": "authorization.k8s.io/v1", "resources": [
            {"name": "selfsubjectaccessreviews", "namespaced": False, "kind": "SelfSubjectAccessReview",
             "verbs": ["create"]}]}
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None,
              trickle: Fault | None = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if trickle is None:
                self.end_headers()
                self.wfile.write(body)
                return
            if trickle.trickle_head:
                head, self._headers_buffer = b"".join(self._headers_buffer) + b"\r\n", []
                body = head + body
            else:
                self.end_headers()
                self.wfile.flush()
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(trickle.trickle)
        except OSError:  # the client gave up (timeout) first
            self.close_connection = True

    def _handle(self, method: str) -> None:
        api: ApiDouble = self.server.api  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with api._lock:
            api.requests.append((method, path, query))
            api.authorizations.append(self.headers.get("Authorization") or "")
        if api.on_request is not None:
            api.on_request(method, path)
        fault = api._fault_for(method, path, query)
        trickle = fault if fault is not None and fault.trickle else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.respond is not None:
                try:
                    fault.respond(self)
                except OSError:  # the client stopped reading (a cap, a deadline)
                    pass
                self.close_connection = True
                return
            if fault.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if fault.status:
                reason = {401: "Unauthorized", 403: "Forbidden", 410: "Expired", 429: "TooManyRequests"}.get(
                    fault.status, "InternalError")
                self._send(fault.status, _status(fault.status, reason, fault.message or reason), fault.headers)
                return
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        if api.token is not None and (scheme.lower() != "bearer" or credential != api.token):  # case-insensitive
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        if path == "/version" and method == "GET":
            major, minor = api.git_version[1:].split(".")[:2]
            self._send(200, orjson.dumps({"major": major, "minor": minor, "gitVersion": api.git_version,
                                          "gitCommit": "0" * 40, "gitTreeState": "clean",
                                          "buildDate": "2025-05-20T10:00:00Z", "goVersion": "go1.24.2",
                                          "compiler": "gc", "platform": "linux/amd64"}), trickle=trickle)
            return
        if method == "POST" and path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            review = orjson.loads(body)
            attrs = review.get("spec", {}).get("resourceAttributes", {})
            verb = attrs.get("verb", "")
            allowed = verb in ("list", "watch") and api._allowed(attrs.get("resource", ""), attrs.get("namespace"),
                                                                 verb)
            review["status"] = {"allowed": allowed} if allowed else {"allowed": False, "reason": ""}
            self._send(201, orjson.dumps(review))
            return
        doc = _discovery(path, self.headers.get("Host", ""), api.crds)
        if doc is not None and method == "GET":
            self._send(200, orjson.dumps(doc))
            return
        m = _LIST.match(path)
        kind = _BY_PATH.get((m.group(1) or m.group(2), m.group(4))) if m else None
        if m is None or kind is None or method != "GET" or (m.group(3) and not RESOURCES[kind][2]) \
                or (kind in CUSTOM and not api.crds):
            self._send(404, _status(404, "NotFound", f"the server could not find the requested resource ({path})"))
            return
        ns, plural = m.group(3), m.group(4)
        verb = "watch" if _is_watch(query) else "list"
        if not api._allowed(plural, ns, verb):
            where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            group = RESOURCES[kind][0].rpartition("/")[0]
            self._send(403, _status(403, "Forbidden", f'{plural}{"." + group if group else ""} is forbidden: User '
                                    f'"tester" cannot {verb} resource "{plural}" in API group "{group}" {where}'))
            return
        headers = {}
        if kind == "Endpoints" and int(api.git_version[1:].split(".")[1]) >= 33:
            headers["Warning"] = f'299 - "{ENDPOINTS_WARNING}"'
        if verb == "watch":
            self._watch(api, kind, ns, query, headers)
            return
        code, page = api._page(kind, ns, query)
        self._send(code, page, headers, trickle=trickle)

    def _watch(self, api: ApiDouble, kind: str, ns: str | None, query: dict[str, list[str]],
               headers: dict[str, str]) -> None:
        """Stream the events of one kind (in one namespace) as chunked JSON lines until the timeout."""
        rv = query.get("resourceVersion", [""])[0]
        try:
            timeout = float(query.get("timeoutSeconds", ["1800"])[0] or 1800)
        except ValueError:
            self._send(400, _status(400, "BadRequest", "invalid timeoutSeconds"))
            return
        if query.get("resourceVersionMatch"):
            self._send(400, _status(400, "BadRequest", "resourceVersionMatch is forbidden for watch"))
            return
        bookmarks = query.get("allowWatchBookmarks", [""])[0].lower() in ("1", "true")
        with api._cond:
            start = api._watch_start(kind, ns, rv)
            drops = api._drops
            if start is not None and not api._closing:
                api._watch_socks.add(self.connection)
        if start is None:
            self._send(400, _status(400, "BadRequest", f"invalid resourceVersion {rv!r}"))
            return
        first, cursor = start
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if cursor < 0:  # too old: one ERROR event, then the end
                self._chunks(api, first)
                self.wfile.write(b"0\r\n\r\n")
                return
            self._chunks(api, first)
            with api._cond:
                api._sent[self.connection] = (kind, ns, cursor)
            now = time.monotonic()
            deadline, next_bookmark = now + timeout, now + api.bookmark_every
            while True:
                end = cut = False
                with api._cond:
                    while True:
                        if api._closing or api._drops != drops or _client_gone(self.connection):
                            cut = True
                            break
                        out, cursor, end = api._watch_next(kind, ns, cursor)
                        if out:
                            break
                        now = time.monotonic()
                        if now >= deadline or (bookmarks and now >= next_bookmark):
                            end = now >= deadline  # a real server sends a last bookmark just before the timeout
                            if bookmarks:
                                line, cursor = api._bookmark(kind)
                                out = [line]
                                next_bookmark = now + api.bookmark_every
                            break
                        # Short waits: a client that went away is noticed within 0.1 s, as a real server's
                        # closed-connection notification would.
                        api._cond.wait(min(0.1, (min(deadline, next_bookmark) if bookmarks else deadline) - now))
                if cut:  # abruptly: no terminating chunk, the connection is gone
                    self.close_connection = True
                    return
                self._chunks(api, out)
                with api._cond:
                    api._sent[self.connection] = (kind, ns, cursor)
                if end:
                    self.wfile.write(b"0\r\n\r\n")
                    return
        except OSError:  # the client went away, or drop_watches() shut the socket
            self.close_connection = True
        finally:
            with api._cond:
                api._watch_socks.discard(self.connection)
                api._sent.pop(self.connection, None)

    def _chunks(self, api: ApiDouble, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        size = api.watch_chunk or len(data)
        for i in range(0, len(data), size):
            piece = data[i:i + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))


@dataclass
class _Tls:
    context: Any
    ca_pem: bytes


def _make_tls() -> _Tls:
    """A self-signed CA-and-server certificate for 127.0.0.1 (trusted only through the kubeconfig)."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api-double")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "c.pem").write_bytes(pem)
        (Path(tmp) / "k.pem").write_bytes(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(Path(tmp) / "c.pem"), str(Path(tmp) / "k.pem"))
    return _Tls(ctx, pem)


def fast_client_settings(monkeypatch: Any, *, max_retry_after: float, connect_timeout: float) -> None:
    """Backoff in milliseconds and short timeouts for tests against the double; no ambient kubeconfig."""
    from auditor.collect import options

    monkeypatch.setattr(options, "DEFAULT_RETRY",
                        options.RetryPolicy(attempts=4, base=0.01, cap=0.05, max_retry_after=max_retry_after))
    monkeypatch.setattr(options, "REQUEST_TIMEOUT", 1.0)
    monkeypatch.setattr(options, "CONNECT_TIMEOUT", connect_timeout)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
