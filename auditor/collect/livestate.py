"""What following a live cluster knows, in memory: the objects of each kind (projected lines, or their digests),
the queue of changes for the consumer, the counters, the notices said once, and where each feed's watch stands.

One lock guards all of it: the watch threads write under it, the consumer reads under it (`LiveState.lock`).
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from auditor.collect.stream import DECODE_ERRORS, HEAD
from auditor.errors import CollectionError
from auditor.state.objects import KubeObject

LOG = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
SKIPPED_KEPT = 20  # mistyped objects named one by one; beyond that, counted


@dataclass(frozen=True)
class Change:
    """One object that changed, as the tool learned it (from a watch event, or a relist or poll diff)."""

    kind: str  # "Pod", "EndpointSlice", ...
    type: str  # ADDED | MODIFIED | DELETED
    namespace: str  # "" for cluster-scoped kinds
    name: str
    line: bytes  # the projected object (one JSON line, kind and apiVersion first); for DELETED the last known
    at: float  # time.time() when the tool received it
    resource_version: str = ""  # the object's metadata.resourceVersion ("" when unknown)
    obj: KubeObject | None = None  # `line` decoded as the auditor reads it, when the watch already did


@dataclass
class WatchStats:
    """Counters over the whole run (read them without the lock: they only grow)."""

    events: int = 0  # ADDED/MODIFIED/DELETED events received from watches
    bookmarks: int = 0
    duplicates: int = 0  # events that changed nothing (an object already as received, a delete of an unknown one)
    changes: int = 0  # Changes queued
    watches: int = 0  # watch requests made
    resumes: int = 0  # watch requests after the first, per kind
    relists: int = 0  # lists after a 410
    polls: int = 0  # lists of kinds polled because their watch is forbidden
    failures: int = 0  # watch or list attempts that failed (dropped, refused, 5xx...)


@dataclass
class Feed:
    """One kind in one scope (a namespace, or the whole cluster) and where its watch stands."""

    kind: str
    namespace: str | None
    path: str
    api_version: str
    plural: str
    rv: str = ""
    exact: bool = True  # listed at the common resourceVersion
    polling: bool = False
    relist: bool = False  # the last relist failed: list again before watching
    watched: bool = False  # a watch was opened before (the next one is a resume)
    conn: Any = None  # the connection of the open watch: close() shuts it
    thread: threading.Thread | None = None
    error: str = ""  # why it is not following right now ("" when healthy)


#: one watch event to apply: (ADDED | MODIFIED | DELETED, (namespace, name), projected line, resourceVersion,
#: the line decoded)
Event = tuple[str, tuple[str, str], bytes, str, KubeObject | None]


def _digest(line: bytes, rv: str = "") -> bytes:
    """What is kept of an object once its line is let go: its resourceVersion (the API server gives each version
    of an object its own, so an equal one is the same object: no hashing), or for an object without one a
    16-byte hash of its line."""
    if not rv:
        try:
            rv = HEAD.decode(line).metadata.resource_version
        except DECODE_ERRORS:
            rv = ""
    return b"rv:" + rv.encode() if rv else hashlib.blake2b(line, digest_size=16).digest()


class LiveState:
    """The objects, change queue, counters and notices of one followed cluster, under one lock."""

    def __init__(self, say: Callable[[str], None], stop: threading.Event) -> None:
        self.objects: dict[str, dict[tuple[str, str], bytes]] = {}
        self.digests = False  # after forget_lines(): `objects` holds a digest per object, not its line
        self.stats = WatchStats()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._say = say
        self._stop = stop  # set: a consumer waiting for changes returns at once
        self._queue: list[Change] = []
        self._notices: list[str] = []
        self._said: set[str] = set()
        self.fatal = ""  # a feed that died (a cap hit, a bug): the run cannot go on saying anything true
        self.first: dict[str, dict[tuple[str, str], KubeObject]] = {}  # the first lists, decoded (drain_objects)
        self.skipped_count = 0
        self.skipped: list[str] = []  # mistyped objects left out (one line each): the state is incomplete

    # -- the consumer's side -----------------------------------------------------------------

    def changes(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` seconds for a change; return it with everything queued by then ([] on timeout).
        Raises CollectionError once a feed has died: its kind is no longer followed, so no verdict can hold."""
        with self.cond:
            if not self._queue and not self.fatal:
                self.cond.wait_for(lambda: bool(self._queue) or self._stop.is_set() or bool(self.fatal),
                                   max(0.0, timeout))
            if self.fatal:
                raise CollectionError(self.fatal)
            out, self._queue = self._queue, []
        return out

    def snapshot(self) -> dict[str, list[bytes]]:
        """A consistent copy of `objects`: kind -> projected lines (empty after `forget_lines()`)."""
        with self.lock:
            if self.digests:
                return {}
            return {kind: list(store.values()) for kind, store in self.objects.items()}

    def notices(self) -> list[str]:
        """What was said once (watch forbidden -> polling, relists after 410, lasting failures), in order."""
        with self.lock:
            return list(self._notices)

    def forget_lines(self) -> None:
        """Keep a 16-byte digest of each object instead of its line (what a reader that decoded the first lists
        needs no more): changes are still told from duplicates, at a fraction of the memory. `snapshot()` is
        then empty."""
        with self.cond:
            self.digests = True
            for store in self.objects.values():
                for key, line in store.items():
                    store[key] = _digest(line)

    def drain_lines(self, chunk: int = 2000) -> Iterator[tuple[str, list[bytes]]]:
        """The first lists as (kind, lines) chunks, each object's line replaced by its digest (`forget_lines`).
        Each chunk is let go once handed out (the caller decodes them, so the JSON never coexists whole with its
        decoded form). The lock is held only to swap the lines out, never across a yield: a caller that fails
        while decoding must not leave the watches (and `close()`) waiting for it forever."""
        for kind, keyed in self._drain_keyed(chunk):
            yield kind, [line for _, line in keyed]

    def drain_objects(self, chunk: int = 2000) -> Iterator[tuple[str, list[bytes], list[KubeObject | None]]]:
        """`drain_lines` with each line's object as the check decoded it (None where it was not kept): the
        first lists are decoded once. The decoded objects are handed over, not kept."""
        first, self.first = self.first, {}
        for kind, lines_and_keys in self._drain_keyed(chunk):
            objs = first.get(kind, {})
            yield kind, [line for _, line in lines_and_keys], [objs.pop(key, None) for key, _ in lines_and_keys]

    def _drain_keyed(self, chunk: int) -> Iterator[tuple[str, list[tuple[tuple[str, str], bytes]]]]:
        chunks: deque[tuple[str, list[tuple[tuple[str, str], bytes]]]] = deque()
        with self.cond:
            self.digests = True
            for kind, store in self.objects.items():
                out: list[tuple[tuple[str, str], bytes]] = []
                for key, line in store.items():
                    store[key] = _digest(line)
                    out.append((key, line))
                    if len(out) >= chunk:
                        chunks.append((kind, out))
                        out = []
                if out:
                    chunks.append((kind, out))
        while chunks:
            yield chunks.popleft()

    # -- the watches' side -------------------------------------------------------------------

    def replace(self, feed: Feed, lines: dict[tuple[str, str], bytes], rv: str, at: float,
                objs: dict[tuple[str, str], KubeObject] | None = None) -> None:
        """A fresh list of the feed's scope: queue the difference from what was known, and keep the new.
        `objs`: the lines' objects as the list decoded them (their resourceVersions are read there, and the
        changes carry them: nothing is decoded again). Otherwise the changes' resourceVersions are decoded with
        the lock released (this feed's thread alone queues its changes, so their order holds)."""
        objs = objs or {}
        found: list[tuple[str, tuple[str, str], bytes, KubeObject | None]] = []
        with self.cond:
            store = self.objects.setdefault(feed.kind, {})
            for key in [k for k in store if feed.namespace is None or k[0] == feed.namespace]:
                if key not in lines:
                    found.append((DELETED, key, self._gone_line(feed, key, store.pop(key)), None))
            for key, line in lines.items():
                old = store.get(key)
                obj = objs.get(key)
                kept = self._kept(line, obj.metadata.resource_version if obj is not None else "")
                if old != kept:
                    store[key] = kept
                    found.append((ADDED if old is None else MODIFIED, key, line, obj))
            feed.rv, feed.error = rv, ""
        changes = [self._change(feed.kind, type_, key, line, at, obj.metadata.resource_version if obj else "", obj)
                   for type_, key, line, obj in found]
        with self.cond:
            self._queue_locked(changes)

    def apply(self, feed: Feed, batch: list[Event], rv: str, bookmarks: int, at: float) -> None:
        """Some watch events of the feed: objects first, then their changes queued (an event that changes
        nothing is a duplicate); the feed's resume point moves to `rv` when given."""
        # Hashed before the lock is taken: the other feeds' threads and the consumer never wait for it.
        digests = [_digest(e[2], e[3]) if e[0] != DELETED else b"" for e in batch]
        changes = []
        with self.cond:
            store = self.objects.setdefault(feed.kind, {})
            for (type_, key, line, obj_rv, obj), digest in zip(batch, digests, strict=True):
                if type_ == DELETED:
                    if store.pop(key, None) is None:
                        self.stats.duplicates += 1
                        continue
                else:
                    kept = digest if self.digests else line
                    if store.get(key) == kept:
                        self.stats.duplicates += 1
                        continue
                    store[key] = kept
                changes.append(Change(feed.kind, type_, key[0], key[1], line, at, obj_rv, obj))
            if rv:
                feed.rv = rv
            self.stats.events += len(batch)
            self.stats.bookmarks += bookmarks
            self._queue_locked(changes)

    def fail(self, feed: Feed, cause: str) -> None:
        """The feed's thread is ending on an error nothing will cure: the consumer's next `changes()` raises."""
        text = f"following {feed.plural} stopped: {cause}"
        LOG.info("%s", text)
        with self.cond:
            feed.error = text
            self.fatal = self.fatal or text
            self.cond.notify_all()

    def skip(self, why: str) -> None:
        """A served object left out because its fields have the wrong types: named once, and kept in `skipped`
        (the first SKIPPED_KEPT of them; the count goes on)."""
        with self.lock:
            self.skipped_count += 1
            named = len(self.skipped) < SKIPPED_KEPT and why not in self.skipped
            if named:
                self.skipped.append(why)
        if named:
            self.note(f"skip:{why}", why)

    def note(self, key: str, text: str) -> None:
        """Say `text` once per `key` (through `say`, and in `notices()`)."""
        with self.lock:
            if key in self._said:
                return
            self._said.add(key)
            self._notices.append(text)
        LOG.info("%s", text)
        try:
            self._say(text)
        except Exception:  # noqa: BLE001 - a broken stderr must not stop the watches
            pass

    def _kept(self, line: bytes, rv: str = "") -> bytes:
        return _digest(line, rv) if self.digests else line

    def _gone_line(self, feed: Feed, key: tuple[str, str], kept: bytes) -> bytes:
        """The line a DELETED change carries: the last known object, or (digests only) its identity."""
        if not self.digests:
            return kept
        meta = {"name": key[1], **({"namespace": key[0]} if key[0] else {})}
        return orjson.dumps({"kind": feed.kind, "apiVersion": feed.api_version, "metadata": meta})

    @staticmethod
    def _change(kind: str, type_: str, key: tuple[str, str], line: bytes, at: float, rv: str = "",
                obj: KubeObject | None = None) -> Change:
        if not rv:
            try:
                rv = HEAD.decode(line).metadata.resource_version
            except DECODE_ERRORS:
                rv = ""
        return Change(kind, type_, key[0], key[1], line, at, rv, obj)

    def _queue_locked(self, changes: list[Change]) -> None:
        if changes:
            self.stats.changes += len(changes)
            self._queue.extend(changes)
            self.cond.notify_all()
