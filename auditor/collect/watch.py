"""Follow a live cluster: list every kind once, then watch each from its list's resourceVersion; state in memory.

`LiveCluster.start()` lists the kinds in parallel (at one resourceVersion when the server allows, as a
snapshot does), keeps each object's projection (`auditor.collect.project`, the same lines a snapshot
writes) and starts one daemon thread per kind that watches from the list's resourceVersion
(`auditor.collect.watchfeed`). Each thread updates `objects` under the lock, then queues a `Change`
(`auditor.collect.livestate`); `changes()` hands the queue out in batches.

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

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from auditor.collect.deadline import shut
from auditor.collect.failures import Forbidden, Stopped, one_line
from auditor.collect.kube import Cluster
from auditor.collect.listing import anchor, list_path, permission
from auditor.collect.livestate import Change, Feed, LiveState, WatchStats
from auditor.collect.watchfeed import FeedWatcher, list_feed
from auditor.errors import CollectionError
from auditor.state import kinds as registry
from auditor.state.objects import KubeObject

LOG = logging.getLogger(__name__)

__all__ = ["DEFAULT_KINDS", "Change", "LiveCluster", "WatchStats"]

DEFAULT_KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice")
# A real API server sends a BOOKMARK about once a minute on a watch that allows them (k/k PR #90560):
# a read that waits much longer than that is a dead connection, and resuming from the last version is cheap.
BOOKMARK_PERIOD = 60.0

#: a feed's first list: (projected lines by (namespace, name), its resourceVersion, exact), or why it failed
_Listed = tuple[dict[tuple[str, str], bytes], str, bool]


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


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
        self.listed_at = 0.0
        self.list_seconds = 0.0
        self.resource_versions: dict[str, str] = {}
        self.consistent = False  # every kind listed at one resourceVersion
        self.missing: dict[str, str] = {}  # optional kinds that could not be listed, and why
        self.server_version: dict[str, Any] = {}
        self._stop = threading.Event()
        self.state = LiveState(say, self._stop)
        self._lock = self.lock = self.state.lock  # hold it to read `objects` while the watches run
        self._feeds: list[Feed] = []

    @property
    def objects(self) -> dict[str, dict[tuple[str, str], bytes]]:
        """kind -> (namespace, name) -> the projected line (or its digest, after `forget_lines()`)."""
        return self.state.objects

    @objects.setter
    def objects(self, value: dict[str, dict[tuple[str, str], bytes]]) -> None:
        self.state.objects = value

    @property
    def stats(self) -> WatchStats:
        return self.state.stats

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """List every kind, fill `objects`, then start following each. Raises CollectionError when a required
        kind cannot be listed at all (forbidden, unreachable, failing)."""
        began = time.monotonic()
        self.server_version = self.cluster.server_version()
        version, _ = anchor(self.cluster)
        namespaces = self.cluster.opts.namespaces
        feeds = []
        for kind in self.kinds:
            k = registry.BY_NAME[kind]
            for ns in (namespaces if k.namespaced and namespaces else (None,)):
                feeds.append(Feed(kind, ns, list_path(kind, ns), k.api_version, k.plural))
        listed = self._list_all(feeds, version)
        self._give_up_on(feeds, listed)
        for feed, got in zip(feeds, listed, strict=True):
            if isinstance(got, BaseException) or feed.kind in self.missing:
                continue
            lines, feed.rv, feed.exact = got
            self.state.objects.setdefault(feed.kind, {}).update(lines)
            self.resource_versions.setdefault(feed.kind, feed.rv)
            self._feeds.append(feed)
        self.consistent = bool(version) and all(f.exact for f in self._feeds)
        self.listed_at = time.time()
        self.list_seconds = time.monotonic() - began
        for feed in self._feeds:
            watcher = FeedWatcher(self.cluster, self.state, feed, self._stop, poll_interval=self.poll_interval,
                                  watch_timeout=self.watch_timeout, read_timeout=self.read_timeout)
            feed.thread = threading.Thread(target=watcher.run, name=f"watch-{feed.kind}", daemon=True)
            feed.thread.start()

    def _list_all(self, feeds: list[Feed], version: str) -> list[_Listed | BaseException]:
        """Every feed's first list, in parallel threads, at `version` when given; an exception where one failed."""
        results: dict[int, _Listed | BaseException] = {}
        decoded: list[dict[tuple[str, str], KubeObject]] = [{} for _ in feeds]

        def read(i: int, feed: Feed) -> None:
            try:
                results[i] = list_feed(self.cluster, feed, version, self.state.skip, decoded[i])
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                results[i] = exc

        threads = [threading.Thread(target=read, args=(i, f), name=f"list-{f.kind}", daemon=True)
                   for i, f in enumerate(feeds)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for feed, objs in zip(feeds, decoded, strict=True):
            self.state.first.setdefault(feed.kind, {}).update(objs)
        return [results[i] for i in range(len(feeds))]

    def _give_up_on(self, feeds: list[Feed], listed: list[_Listed | BaseException]) -> None:
        """Raise for a failed list of a required kind (or a fatal error); an optional kind that could not be
        listed goes to `missing`, said once, and is not followed."""
        failures = [(f, got) for f, got in zip(feeds, listed, strict=True) if isinstance(got, BaseException)]
        for _, exc in failures:
            if isinstance(exc, CollectionError) or not isinstance(exc, Exception):
                raise exc  # credentials rejected, the time limit, an interrupt...
        for feed, exc in failures:
            if isinstance(exc, Stopped):
                raise CollectionError("stopped while listing")
            reason = f"forbidden: {exc}" if isinstance(exc, Forbidden) else one_line(exc) or type(exc).__name__
            need = f" (needs {permission(feed.kind, feed.namespace)})" if isinstance(exc, Forbidden) else ""
            where = f" in namespace {feed.namespace}" if feed.namespace else ""
            if registry.is_required(feed.kind):
                raise CollectionError(f"cannot list {feed.plural}{where}: {reason}{need}")
            self.missing[feed.kind] = reason + need
            self.state.note(f"missing:{feed.kind}", f"cannot list {feed.plural}{where} ({reason}); not following them")

    # -- the consumer's side -----------------------------------------------------------------

    def changes(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` seconds for a change; return it with everything queued by then ([] on timeout)."""
        return self.state.changes(timeout)

    def snapshot(self) -> dict[str, list[bytes]]:
        """A consistent copy of `objects`: kind -> projected lines (empty after `forget_lines()`)."""
        return self.state.snapshot()

    def notices(self) -> list[str]:
        """What was said once (watch forbidden -> polling, relists after 410, lasting failures), in order."""
        return self.state.notices()

    def forget_lines(self) -> None:
        """Keep a digest of each object instead of its line (`LiveState.forget_lines`)."""
        self.state.forget_lines()

    def drain_objects(self, chunk: int = 2000) -> Iterator[tuple[str, list[bytes], list[KubeObject | None]]]:
        """The first lists as (kind, lines, the lines decoded) chunks (`LiveState.drain_objects`)."""
        return self.state.drain_objects(chunk)

    def drain_lines(self, chunk: int = 2000) -> Iterator[tuple[str, list[bytes]]]:
        """The first lists as (kind, lines) chunks, each line replaced by its digest as it is handed out
        (`LiveState.drain_lines`)."""
        return self.state.drain_lines(chunk)

    def skipped(self) -> tuple[int, list[str]]:
        """Mistyped objects left out so far: how many, and the first ones named (one line each)."""
        with self.state.lock:
            return self.state.skipped_count, list(self.state.skipped)

    def problems(self) -> dict[str, str]:
        """Kinds not followed right now (their watch keeps failing), and why."""
        with self.state.lock:
            return {f.kind: f.error for f in self._feeds if f.error}

    def close(self) -> None:
        """Stop every thread (within about a second) and cut the open watches."""
        self._stop.set()
        with self.state.cond:
            conns = [f.conn for f in self._feeds if f.conn is not None]
            self.state.cond.notify_all()
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
