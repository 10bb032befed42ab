"""Follow a live cluster: list every kind once, then watch each from its list's resourceVersion; state in memory.

`LiveCluster.start()` lists the kinds in parallel (at one resourceVersion when the server allows, as a
snapshot does), keeps each object's projection (`auditor.collect.project`, the same lines a snapshot
writes) and starts one daemon thread per kind that watches from the list's resourceVersion. Each thread
updates `objects` under the lock, then queues a `Change`; `changes()` hands the queue out in batches.

What a real API server does to watches is absorbed here, so the consumer only ever sees changes:
- a watch that ends (the server's `timeoutSeconds`, a dropped connection, a read timeout) resumes from
  the last resourceVersion seen, BOOKMARKs included; repeated failures back off;
- `410 Expired` (an ERROR event, or the HTTP status) lists the kind again and queues the difference
  between the old and the new contents as ADDED/MODIFIED/DELETED changes;
- a watch that RBAC forbids (403) falls back to polling the list every `poll_interval`, diffed the same
  way, and says so once.

HTTP goes through the `kubernetes` client's urllib3 pool with the Cluster's auth headers and TLS
settings; watch lines are decoded with msgspec.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import urllib3

from auditor.collect import stream
from auditor.collect.deadline import shut
from auditor.collect.kube import Cluster, Forbidden, Gone, Refused, RequestFailed, Stopped, one_line
from auditor.collect.live import _anchor
from auditor.collect.project import project
from auditor.collect.stream import DECODE_ERRORS, HEAD, Expired, Failed
from auditor.errors import CollectionError
from auditor.state import kinds as registry

LOG = logging.getLogger(__name__)

__all__ = ["DEFAULT_KINDS", "Change", "LiveCluster", "WatchStats"]

DEFAULT_KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice")
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
# A real API server sends a BOOKMARK about once a minute on a watch that allows them (k/k PR #90560):
# a read that waits much longer than that is a dead connection, and resuming from the last version is cheap.
BOOKMARK_PERIOD = 60.0


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
class _Feed:
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


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line, digest_size=16).digest()


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _path(kind: str, namespace: str | None) -> str:
    k = registry.BY_NAME[kind]
    base = f"/apis/{k.api_version}" if "/" in k.api_version else f"/api/{k.api_version}"
    return f"{base}/namespaces/{namespace}/{k.plural}" if namespace else f"{base}/{k.plural}"


def _permission(kind: str, namespace: str | None) -> str:
    """The RBAC permission a list needs, as people write it: `list endpointslices.discovery.k8s.io, cluster-wide`."""
    k = registry.BY_NAME[kind]
    resource = f"{k.plural}.{k.group}" if k.group else k.plural
    return f"list {resource}, " + (f"in namespace {namespace}" if namespace else "cluster-wide")


class LiveCluster:
    """The live state of some kinds of one cluster, kept current by watches (or polls) in daemon threads."""

    def __init__(self, cluster: Cluster, kinds: Sequence[str] = DEFAULT_KINDS, *, poll_interval: float = 5.0,
                 say: Callable[[str], None] = _stderr, watch_timeout: int = 300,
                 read_timeout: float | None = None) -> None:
        unknown = [k for k in kinds if k not in registry.BY_NAME]
        if unknown:
            raise ValueError(f"unknown kinds: {', '.join(unknown)}")
        self.cluster = cluster
        self.kinds = tuple(dict.fromkeys(kinds))
        self.poll_interval = poll_interval
        self.say = say
        self.watch_timeout = int(watch_timeout)
        # No byte for this long on a watch means the connection is dead: resume (a server that sends no
        # bookmarks on a quiet kind only costs a reconnect now and then).
        self.read_timeout = read_timeout if read_timeout is not None else \
            min(float(self.watch_timeout), BOOKMARK_PERIOD) + 15.0
        self.objects: dict[str, dict[tuple[str, str], bytes]] = {}
        self._digests = False  # after forget_lines(): `objects` holds a digest per object, not its line
        self.listed_at = 0.0
        self.list_seconds = 0.0
        self.resource_versions: dict[str, str] = {}
        self.consistent = False  # every kind listed at one resourceVersion
        self.missing: dict[str, str] = {}  # optional kinds that could not be listed, and why
        self.server_version: dict[str, Any] = {}
        self.stats = WatchStats()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.lock = self._lock  # hold it to read `objects` while the watches run (or take a snapshot())
        self._queue: list[Change] = []
        self._notices: list[str] = []
        self._said: set[str] = set()
        self._stop = threading.Event()
        self._feeds: list[_Feed] = []

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """List every kind, fill `objects`, then start following each. Raises CollectionError when a required
        kind cannot be listed at all (forbidden, unreachable, failing)."""
        began = time.monotonic()
        self.server_version = self.cluster.server_version()
        anchor, _ = _anchor(self.cluster)
        namespaces = self.cluster.opts.namespaces
        feeds = []
        for kind in self.kinds:
            k = registry.BY_NAME[kind]
            for ns in (namespaces if k.namespaced and namespaces else (None,)):
                feeds.append(_Feed(kind, ns, _path(kind, ns), k.api_version, k.plural))
        results: dict[int, Any] = {}

        def read(i: int, feed: _Feed) -> None:
            try:
                results[i] = self._list(feed, anchor)
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                results[i] = exc

        threads = [threading.Thread(target=read, args=(i, f), name=f"list-{f.kind}", daemon=True)
                   for i, f in enumerate(feeds)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failures: list[tuple[_Feed, BaseException]] = [
            (f, results[i]) for i, f in enumerate(feeds) if isinstance(results[i], BaseException)]
        for _, exc in failures:
            if isinstance(exc, CollectionError) or not isinstance(exc, Exception):
                raise exc  # credentials rejected, the time limit, an interrupt...
        for feed, exc in failures:
            if isinstance(exc, Stopped):
                raise CollectionError("stopped while listing")
            reason = f"forbidden: {exc}" if isinstance(exc, Forbidden) else one_line(exc) or type(exc).__name__
            need = f" (needs {_permission(feed.kind, feed.namespace)})" if isinstance(exc, Forbidden) else ""
            where = f" in namespace {feed.namespace}" if feed.namespace else ""
            if registry.is_required(feed.kind):
                raise CollectionError(f"cannot list {feed.plural}{where}: {reason}{need}")
            self.missing[feed.kind] = reason + need
            self._note(f"missing:{feed.kind}", f"cannot list {feed.plural}{where} ({reason}); not following them")
        failed = {id(f) for f, _ in failures}
        for i, feed in enumerate(feeds):
            if id(feed) in failed or feed.kind in self.missing:
                continue
            lines, feed.rv, feed.exact = results[i]
            self.objects.setdefault(feed.kind, {}).update(lines)
            self.resource_versions.setdefault(feed.kind, feed.rv)
            self._feeds.append(feed)
        self.consistent = bool(anchor) and all(f.exact for f in self._feeds)
        self.listed_at = time.time()
        self.list_seconds = time.monotonic() - began
        for feed in self._feeds:
            feed.thread = threading.Thread(target=self._follow, args=(feed,), name=f"watch-{feed.kind}",
                                           daemon=True)
            feed.thread.start()

    def _list(self, feed: _Feed, version: str) -> tuple[dict[tuple[str, str], bytes], str, bool]:
        """One kind in one scope: (projected lines by (namespace, name), the list's resourceVersion, exact).

        At `version` when given (410 or 400 there: the latest); a continue token that expires restarts the
        list, then falls back to one unpaginated list, as the snapshot does."""
        exact = bool(version)
        restarts, unpaginated = 0, False
        while True:
            lines: dict[tuple[str, str], bytes] = {}
            list_rv = ""
            pages = 0
            try:
                for page in self.cluster.pages(feed.path, version, limit=0 if unpaginated else None):
                    if not pages:
                        list_rv = page.resource_version
                    pages += 1
                    for item in page.items:
                        key, line, _ = self._project(feed, item)
                        if key is not None:
                            lines[key] = line
                return lines, list_rv, exact
            except (Gone, Refused):
                if version:
                    version, exact = "", False
                    if not pages:
                        continue
                if unpaginated:
                    raise
                restarts += 1
                unpaginated = restarts > self.cluster.opts.retry.restarts

    def _project(self, feed: _Feed, raw: bytes | msgspec.Raw) -> tuple[tuple[str, str] | None, bytes, str]:
        """An object as served to ((namespace, name), its projected line, its resourceVersion)."""
        try:
            meta = HEAD.decode(raw).metadata
        except DECODE_ERRORS:
            meta = stream.Meta()
        if not meta.name:
            LOG.info("%s: an object without a readable metadata.name; skipped", feed.kind)
            return None, b"", ""
        return (meta.namespace, meta.name), project(feed.kind, feed.api_version, raw), meta.resource_version

    # -- the consumer's side -----------------------------------------------------------------

    def changes(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` seconds for a change; return it with everything queued by then ([] on timeout)."""
        with self._cond:
            if not self._queue:
                self._cond.wait_for(lambda: bool(self._queue) or self._stop.is_set(), max(0.0, timeout))
            out, self._queue = self._queue, []
        return out

    def snapshot(self) -> dict[str, list[bytes]]:
        """A consistent copy of `objects`: kind -> projected lines (empty after `forget_lines()`)."""
        with self._lock:
            if self._digests:
                return {}
            return {kind: list(store.values()) for kind, store in self.objects.items()}

    def notices(self) -> list[str]:
        """What was said once (watch forbidden -> polling, relists after 410, lasting failures), in order."""
        with self._lock:
            return list(self._notices)

    def problems(self) -> dict[str, str]:
        """Kinds not followed right now (their watch keeps failing), and why."""
        with self._lock:
            return {f.kind: f.error for f in self._feeds if f.error}

    def close(self) -> None:
        """Stop every thread (within about a second) and cut the open watches."""
        self._stop.set()
        with self._cond:
            conns = [f.conn for f in self._feeds if f.conn is not None]
            self._cond.notify_all()
        for conn in conns:
            shut(conn)
        end = time.monotonic() + 1.0
        for feed in self._feeds:
            if feed.thread is not None:
                feed.thread.join(max(0.0, end - time.monotonic()))

    def __enter__(self) -> LiveCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- following one kind ------------------------------------------------------------------

    def _stopped(self) -> bool:
        return self._stop.is_set() or self.cluster.stop.is_set()

    def _follow(self, feed: _Feed) -> None:
        try:
            self._watch_loop(feed)
            if feed.polling:
                self._poll_loop(feed)
        except Stopped:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug here must not pass silently, nor kill the process
            LOG.exception("following %s stopped", feed.kind)
            with self._lock:
                feed.error = f"stopped: {one_line(exc)}"

    def _watch_loop(self, feed: _Feed) -> None:
        """Watch, resume, relist, until stopped or the watch turns out to be forbidden (then poll)."""
        failures = 0
        policy = self.cluster.opts.retry
        while not self._stopped():
            delay = 0.0
            began = time.monotonic()
            try:
                if feed.relist:
                    self._relist(feed)
                received = self._watch_once(feed)
                if received:
                    failures = 0
                elif time.monotonic() - began < 1.0:  # ended at once with nothing: never a tight loop
                    failures += 1
                    delay = policy.backoff(min(failures - 1, 20))
                if delay and self._stop.wait(delay):
                    return
                continue
            except Expired:
                feed.relist = True
                continue
            except Forbidden as exc:
                feed.polling = True
                LOG.info("watch on %s: %s", feed.plural, exc)
                self._note(f"poll:{feed.kind}", f"watch on {feed.plural} forbidden; polling the list every "
                                                f"{self.poll_interval:g}s")
                return
            except Stopped:
                return
            except (Failed, Gone, Refused, RequestFailed, CollectionError, urllib3.exceptions.HTTPError,
                    OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                if self._stopped():
                    return
                failures += 1
                text = one_line(exc) or type(exc).__name__
                with self._lock:
                    self.stats.failures += 1
                    feed.error = text if failures > 1 else feed.error
                LOG.info("watch on %s: %s (failure %d)", feed.plural, text, failures)
                if failures == 3:
                    self._note(f"failing:{feed.kind}", f"watch on {feed.plural} keeps failing ({text}); retrying")
                retry_after = exc.retry_after if isinstance(exc, Failed) else None
                # A watch that ran and then broke resumes at once; failing again backs off.
                delay = 0.0 if failures == 1 and retry_after is None else \
                    max(retry_after or 0.0, policy.backoff(min(failures - 1, 20)))
            if delay and self._stop.wait(delay):
                return

    def _relist(self, feed: _Feed) -> None:
        with self._lock:
            self.stats.relists += 1
        self._note(f"relist:{feed.kind}", f"watch on {feed.plural} expired (410 Gone); listed them again")
        try:
            lines, rv, _ = self._list(feed, "")
        except Forbidden as exc:  # the list, not the watch: polling would not help
            raise Failed(f"list forbidden: {exc}") from None
        self._replace(feed, lines, rv)
        feed.relist = False

    def _poll_loop(self, feed: _Feed) -> None:
        while not self._stop.wait(self.poll_interval):
            if self._stopped():
                return
            try:
                lines, rv, _ = self._list(feed, "")
            except Stopped:
                return
            except (Forbidden, Gone, Refused, RequestFailed, CollectionError) as exc:
                with self._lock:
                    self.stats.failures += 1
                    feed.error = one_line(exc)
                self._note(f"poll-failing:{feed.kind}", f"polling {feed.plural} failed ({one_line(exc)}); "
                                                        "retrying")
                continue
            with self._lock:
                self.stats.polls += 1
            self._replace(feed, lines, rv)

    def _replace(self, feed: _Feed, lines: dict[tuple[str, str], bytes], rv: str) -> None:
        """A fresh list of the feed's scope: queue the difference from what was known, and keep the new."""
        at = time.time()
        changes = []
        with self._cond:
            store = self.objects.setdefault(feed.kind, {})
            for key in [k for k in store if feed.namespace is None or k[0] == feed.namespace]:
                if key not in lines:
                    changes.append(self._change(feed.kind, DELETED, key,
                                                self._gone_line(feed, key, store.pop(key)), at))
            for key, line in lines.items():
                old = store.get(key)
                kept = self._kept(line)
                if old != kept:
                    store[key] = kept
                    changes.append(self._change(feed.kind, ADDED if old is None else MODIFIED, key, line, at))
            feed.rv, feed.error = rv, ""
            self._queue_locked(changes)

    def forget_lines(self) -> None:
        """Keep a 16-byte digest of each object instead of its line (what a reader that decoded the first lists
        needs no more): changes are still told from duplicates, at a fraction of the memory. `snapshot()` is
        then empty."""
        with self._cond:
            self._digests = True
            for store in self.objects.values():
                for key, line in store.items():
                    store[key] = _digest(line)

    def drain_lines(self, chunk: int = 2000) -> Iterator[tuple[str, list[bytes]]]:
        """The first lists as (kind, lines) chunks, each object's line replaced by its digest as it is handed
        out (`forget_lines`, a chunk at a time: the caller decodes them, so the JSON never coexists whole with
        its decoded form). The watches wait for the lock meanwhile; their changes queue up."""
        with self._cond:
            self._digests = True
            for kind, store in self.objects.items():
                out: list[bytes] = []
                for key, line in store.items():
                    store[key] = _digest(line)
                    out.append(line)
                    if len(out) >= chunk:
                        yield kind, out
                        out = []
                if out:
                    yield kind, out

    def _kept(self, line: bytes) -> bytes:
        return _digest(line) if self._digests else line

    def _gone_line(self, feed: _Feed, key: tuple[str, str], kept: bytes) -> bytes:
        """The line a DELETED change carries: the last known object, or (digests only) its identity."""
        if not self._digests:
            return kept
        meta = {"name": key[1], **({"namespace": key[0]} if key[0] else {})}
        return orjson.dumps({"kind": feed.kind, "apiVersion": feed.api_version, "metadata": meta})

    @staticmethod
    def _change(kind: str, type_: str, key: tuple[str, str], line: bytes, at: float, rv: str = "") -> Change:
        if not rv:
            try:
                rv = HEAD.decode(line).metadata.resource_version
            except DECODE_ERRORS:
                rv = ""
        return Change(kind, type_, key[0], key[1], line, at, rv)

    def _queue_locked(self, changes: list[Change]) -> None:
        if changes:
            self.stats.changes += len(changes)
            self._queue.extend(changes)
            self._cond.notify_all()

    # -- one watch request -------------------------------------------------------------------

    def _watch_once(self, feed: _Feed) -> int:
        """One watch from `feed.rv` until it ends; returns the lines received. Raises Expired, Forbidden, Failed
        or a urllib3/OS error; a read timeout is a normal end."""
        query: list[tuple[str, Any]] = [("watch", "1")]
        if feed.rv:
            query.append(("resourceVersion", feed.rv))
        query += [("allowWatchBookmarks", "true"), ("timeoutSeconds", self.watch_timeout)]
        with self._lock:
            self.stats.watches += 1
            self.stats.resumes += feed.watched
            feed.watched = True
        resp = stream.open_watch(self.cluster, feed.path, query, self.read_timeout)
        conn = resp.connection
        with self._lock:
            feed.conn = conn
        if self._stopped():
            shut(conn)
        clean = False
        try:
            if resp.status != 200:
                raise stream.refusal(resp.status, resp.read(1 << 16), resp.headers,
                                     self.cluster.opts.retry.max_retry_after)
            with self._lock:
                feed.error = ""
            received = 0
            try:
                for batch in stream.lines(resp):
                    received += self._take(feed, batch, time.time())
                clean = True
            except urllib3.exceptions.ReadTimeoutError:
                LOG.info("watch on %s: nothing for %.0fs; resuming", feed.plural, self.read_timeout)
                received = max(received, 1)  # quiet, not failing
            return received
        finally:
            with self._lock:
                feed.conn = None
            if not clean:
                resp.close()  # a cut or unread stream: the connection cannot carry another request
            resp.release_conn()  # back to the pool (a closed one reconnects when next taken)

    def _take(self, feed: _Feed, lines: list[bytes], at: float) -> int:
        """Apply some complete watch lines: objects first, then their changes queued; the resume point moves."""
        batch: list[tuple[str, tuple[str, str], bytes, str]] = []
        rv = ""
        bookmarks = 0
        error: BaseException | None = None
        count = 0
        for raw in lines:
            if not raw.strip():
                continue
            count += 1
            try:
                event = stream.EVENT.decode(raw)
            except DECODE_ERRORS as exc:
                error = Failed(f"undecodable watch event: {one_line(exc)}")
                break
            if event.type == "BOOKMARK":
                try:
                    rv = HEAD.decode(event.object).metadata.resource_version or rv
                except DECODE_ERRORS:
                    pass
                bookmarks += 1
            elif event.type in (ADDED, MODIFIED, DELETED):
                key, line, obj_rv = self._project(feed, event.object)
                if key is None:
                    continue
                batch.append((event.type, key, line, obj_rv))
                rv = obj_rv or rv
            elif event.type == "ERROR":
                error = stream.error_of(event.object)
                break
        changes = []
        with self._cond:
            store = self.objects.setdefault(feed.kind, {})
            for type_, key, line, obj_rv in batch:
                if type_ == DELETED:
                    if store.pop(key, None) is None:
                        self.stats.duplicates += 1
                        continue
                else:
                    kept = self._kept(line)
                    if store.get(key) == kept:
                        self.stats.duplicates += 1
                        continue
                    store[key] = kept
                changes.append(Change(feed.kind, type_, key[0], key[1], line, at, obj_rv))
            if rv:
                feed.rv = rv
            self.stats.events += len(batch)
            self.stats.bookmarks += bookmarks
            self._queue_locked(changes)
        if error is not None:
            raise error
        return count

    # -- saying things once --------------------------------------------------------------------

    def _note(self, key: str, text: str) -> None:
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
            self._notices.append(text)
        LOG.info("%s", text)
        try:
            self.say(text)
        except Exception:  # noqa: BLE001 - a broken stderr must not stop the watches
            pass

