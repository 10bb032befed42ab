"""Following one feed (a kind in one scope) in its own thread: watch from the list's resourceVersion, resume
when a watch ends, list again after `410 Expired`, poll the list when RBAC forbids the watch.

What a watch says goes into the shared `LiveState`; lists are read as the snapshot reads them (`list_feed`).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import urllib3

from auditor.collect import stream
from auditor.collect.deadline import shut
from auditor.collect.failures import FATAL, Forbidden, Gone, Mistyped, Refused, RequestFailed, Stopped, one_line
from auditor.collect.kube import Cluster
from auditor.collect.livestate import ADDED, DELETED, MODIFIED, Event, Feed, LiveState
from auditor.collect.options import relist_backoff
from auditor.collect.project import as_followed, clean_followed
from auditor.collect.stream import DECODE_ERRORS, HEAD, Expired, Failed
from auditor.collect.validate import why_mistyped
from auditor.errors import CollectionError
from auditor.state.intern import Sharer
from auditor.state.objects import KubeObject

LOG = logging.getLogger(__name__)

#: what a failed watch request can raise that a resume may cure
_WATCH_FAILURES = (Failed, Gone, Refused, RequestFailed, CollectionError, urllib3.exceptions.HTTPError, OSError,
                   msgspec.DecodeError, msgspec.ValidationError)


_Lines = tuple[dict[tuple[str, str], bytes], str, bool]


def list_feed(cluster: Cluster, feed: Feed, version: str, skip: Callable[[str], None] | None = None,
              decoded: dict[tuple[str, str], KubeObject] | None = None) -> _Lines:
    """One kind in one scope: (projected lines by (namespace, name), the list's resourceVersion, exact).

    At `version` when given (410 or 400 there: the latest); a continue token that expires restarts the
    list, then falls back to one unpaginated list, as the snapshot does. A mistyped object is left out and
    named through `skip` (without it, Mistyped is raised). `decoded`, when given, gets each object as decoded
    for the check (what the follower reads: it is not decoded twice), its repeated strings shared with the
    list's other objects (`auditor.state.intern`)."""
    exact = bool(version)
    share = Sharer().share
    restarts, unpaginated = 0, False
    while True:
        lines: dict[tuple[str, str], bytes] = {}
        if decoded is not None:
            decoded.clear()  # a restarted list starts over
        list_rv = ""
        pages = 0
        try:
            for page in cluster.pages(feed.path, version, limit=0 if unpaginated else None):
                if not pages:
                    list_rv = page.resource_version
                pages += 1
                for item in page.items:
                    try:
                        key, line, _, obj = project_item(feed, item)
                    except Mistyped as exc:
                        if skip is None:
                            raise
                        skip(str(exc))
                        continue
                    if key is not None:
                        lines[key] = line
                        if decoded is not None and obj is not None:
                            share(obj)
                            decoded[key] = obj
            return lines, list_rv, exact
        except (Gone, Refused):
            if version:
                version, exact = "", False
                if not pages:
                    continue
            if unpaginated:
                raise
            restarts += 1
            unpaginated = restarts > cluster.opts.retry.restarts


def project_item(feed: Feed, raw: bytes | msgspec.Raw) -> tuple[tuple[str, str] | None, bytes, str, KubeObject | None]:
    """An object as served to ((namespace, name), its line, its resourceVersion, the object as the rules read it):
    decoded once, straight into that struct and cleaned as a snapshot's projection is (`as_followed`); the line
    is that struct's JSON (what the recording and the last state hold). Raises Mistyped (naming it) when its
    fields have the wrong types."""
    try:
        obj = as_followed(feed.kind, feed.api_version, raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        if _named(raw):  # judged later, it would be a traceback (or a hang) far from its cause: name it here
            raise Mistyped(why_mistyped(feed.kind, bytes(raw))) from None
        obj = None
    return _followed(feed, obj)


def _followed(feed: Feed, obj: KubeObject | None) -> tuple[tuple[str, str] | None, bytes, str,
                                                              KubeObject | None]:
    if obj is None or not obj.metadata.name:
        LOG.info("%s: an object without a readable metadata.name; skipped", feed.kind)
        return None, b"", "", None
    meta = obj.metadata
    return (meta.namespace, meta.name), _ENCODE(obj), meta.resource_version, obj


class _TypedEvent(msgspec.Struct):
    """A watch event whose object is decoded in the same pass (ERROR events and mistyped objects do not fit:
    they take the general path)."""

    type: str = ""
    object: KubeObject = msgspec.field(default_factory=KubeObject)


_TYPED = msgspec.json.Decoder(_TypedEvent)
_ENCODE = msgspec.json.Encoder().encode


def _named(raw: bytes | msgspec.Raw) -> bool:
    try:
        return bool(HEAD.decode(raw).metadata.name)
    except DECODE_ERRORS:
        return False


def _typed(raw: bytes) -> _TypedEvent | None:
    try:
        event: _TypedEvent = _TYPED.decode(raw)
        return event
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


class FeedWatcher:
    """Keeps one feed's objects in `state` current until `stop` (or the cluster's own stop) is set."""

    def __init__(self, cluster: Cluster, state: LiveState, feed: Feed, stop: threading.Event, *,
                 poll_interval: float, watch_timeout: int, read_timeout: float) -> None:
        self.cluster, self.state, self.feed, self.stop = cluster, state, feed, stop
        self.poll_interval = poll_interval
        self.watch_timeout = watch_timeout
        self.read_timeout = read_timeout
        self.expiries = 0  # 410s since the last watch that delivered anything (the relist backoff's step)

    def run(self) -> None:
        """The thread's body: watch (or poll); a bug here is logged and shown as the feed's error."""
        try:
            self._watch_loop()
            if self.feed.polling:
                self._poll_loop()
        except Stopped:
            pass
        except FATAL as exc:
            self.state.fail(self.feed, one_line(exc))
        except Exception as exc:  # noqa: BLE001 - a dead feed ends the run (LiveState.fail), never silently
            LOG.exception("following %s stopped", self.feed.kind)
            self.state.fail(self.feed, f"{type(exc).__name__}: {one_line(exc)}")

    def _stopped(self) -> bool:
        return self.stop.is_set() or self.cluster.stop.is_set()

    def _watch_loop(self) -> None:
        """Watch, resume, relist, until stopped or the watch turns out to be forbidden (then poll)."""
        feed = self.feed
        failures = 0
        policy = self.cluster.opts.retry
        while not self._stopped():
            delay = 0.0
            began = time.monotonic()
            try:
                if feed.relist:
                    self._relist()
                received = self._watch_once()
                if received:
                    failures = 0
                elif time.monotonic() - began < 1.0:  # ended at once with nothing: never a tight loop
                    failures += 1
                    delay = policy.backoff(min(failures - 1, 20))
            except Expired:
                feed.relist = True
                self.expiries += 1
                delay = relist_backoff(self.expiries)  # a server answering 410 to every watch: never a relist loop
            except FATAL:
                raise
            except Forbidden as exc:
                feed.polling = True
                LOG.info("watch on %s: %s", feed.plural, exc)
                self.state.note(f"poll:{feed.kind}", f"watch on {feed.plural} forbidden; polling the list every "
                                                     f"{self.poll_interval:g}s")
                return
            except Stopped:
                return
            except _WATCH_FAILURES as exc:
                if self._stopped():
                    return
                failures += 1
                delay = self._failed(exc, failures)
            if delay and self.stop.wait(delay):
                return

    def _failed(self, exc: BaseException, failures: int) -> float:
        """Count a failed watch (the `failures`-th in a row) and say so once it lasts; how long to wait."""
        feed = self.feed
        policy = self.cluster.opts.retry
        text = one_line(exc) or type(exc).__name__
        with self.state.lock:
            self.state.stats.failures += 1
            feed.error = text if failures > 1 else feed.error
        LOG.info("watch on %s: %s (failure %d)", feed.plural, text, failures)
        if failures == 3:
            self.state.note(f"failing:{feed.kind}", f"watch on {feed.plural} keeps failing ({text}); retrying")
        retry_after = exc.retry_after if isinstance(exc, Failed) else None
        # A watch that ran and then broke resumes at once; failing again backs off.
        return 0.0 if failures == 1 and retry_after is None else \
            max(retry_after or 0.0, policy.backoff(min(failures - 1, 20)))

    def _relist(self) -> None:
        feed = self.feed
        with self.state.lock:
            self.state.stats.relists += 1
        self.state.note(f"relist:{feed.kind}", f"watch on {feed.plural} expired (410 Gone); listed them again")
        objs: dict[tuple[str, str], KubeObject] = {}
        try:
            lines, rv, _ = list_feed(self.cluster, feed, "", self.state.skip, objs)
        except Forbidden as exc:  # the list, not the watch: polling would not help
            raise Failed(f"list forbidden: {exc}") from None
        self.state.replace(feed, lines, rv, time.time(), objs)
        feed.relist = False

    def _poll_loop(self) -> None:
        feed = self.feed
        while not self.stop.wait(self.poll_interval):
            if self._stopped():
                return
            try:
                lines, rv, _ = list_feed(self.cluster, feed, "", self.state.skip)
            except (Stopped, *FATAL):
                raise
            except (Forbidden, Gone, Refused, RequestFailed, CollectionError) as exc:
                with self.state.lock:
                    self.state.stats.failures += 1
                    feed.error = one_line(exc)
                self.state.note(f"poll-failing:{feed.kind}", f"polling {feed.plural} failed ({one_line(exc)}); "
                                                             "retrying")
                continue
            with self.state.lock:
                self.state.stats.polls += 1
            self.state.replace(feed, lines, rv, time.time())

    # -- one watch request -------------------------------------------------------------------

    def _watch_once(self) -> int:
        """One watch from `feed.rv` until it ends; returns the lines received. Raises Expired, Forbidden, Failed
        or a urllib3/OS error; a read timeout is a normal end."""
        feed = self.feed
        query: list[tuple[str, Any]] = [("watch", "1")]
        if feed.rv:
            query.append(("resourceVersion", feed.rv))
        query += [("allowWatchBookmarks", "true"), ("timeoutSeconds", self.watch_timeout)]
        with self.state.lock:
            self.state.stats.watches += 1
            self.state.stats.resumes += feed.watched
            feed.watched = True
        resp = stream.open_watch(self.cluster, feed.path, query, self.read_timeout)
        conn = resp.connection
        with self.state.lock:
            feed.conn = conn
        if self._stopped():
            shut(conn)
        clean = False
        try:
            if resp.status != 200:
                raise stream.refusal(resp.status, resp.read(1 << 16), resp.headers,
                                     self.cluster.opts.retry.max_retry_after)
            with self.state.lock:
                feed.error = ""
            received = 0
            try:
                for batch in stream.lines(resp, self.cluster.opts.max_line):
                    received += self._take(batch, time.time())
                    if received:
                        self.expiries = 0  # a healthy watch: the next 410 relists after the shortest wait
                clean = True
            except urllib3.exceptions.ReadTimeoutError:
                LOG.info("watch on %s: nothing for %.0fs; resuming", feed.plural, self.read_timeout)
                received = max(received, 1)  # quiet, not failing
            return received
        finally:
            with self.state.lock:
                feed.conn = None
            if not clean:
                resp.close()  # a cut or unread stream: the connection cannot carry another request
            resp.release_conn()  # back to the pool (a closed one reconnects when next taken)

    def _take(self, lines: list[bytes], at: float) -> int:
        """Apply some complete watch lines: objects first, then their changes queued; the resume point moves."""
        batch: list[Event] = []
        rv = ""
        bookmarks = 0
        error: BaseException | None = None
        count = 0
        for raw in lines:
            if not raw.strip():
                continue
            count += 1
            typed = _typed(raw)
            if typed is not None and typed.type in (ADDED, MODIFIED, DELETED):
                obj = clean_followed(self.feed.kind, self.feed.api_version, typed.object)
                key, line, obj_rv, got = _followed(self.feed, obj)
                if key is not None:
                    batch.append((typed.type, key, line, obj_rv, got))
                    rv = obj_rv or rv
                continue
            if typed is not None and typed.type == "BOOKMARK":
                rv = typed.object.metadata.resource_version or rv
                bookmarks += 1
                continue
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
                try:
                    key, line, obj_rv, got = project_item(self.feed, event.object)
                except Mistyped as exc:  # left out and named: the state is incomplete, the run goes on
                    self.state.skip(str(exc))
                    continue
                if key is None:
                    continue
                batch.append((event.type, key, line, obj_rv, got))
                rv = obj_rv or rv
            elif event.type == "ERROR":
                error = stream.error_of(event.object)
                break
        self.state.apply(self.feed, batch, rv, bookmarks, at)
        if error is not None:
            raise error
        return count
