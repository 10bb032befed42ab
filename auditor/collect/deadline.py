"""Wall-clock deadlines for whole HTTP requests: a watchdog that shuts the socket of a request past its deadline.

urllib3's read timeout applies to each `recv`: a server that trickles a byte every few seconds (in the
status line, the headers or the body) keeps a request alive forever. Each request here runs under a
deadline; the connection classes below register themselves with the watchdog when they start waiting
for a response, and the watchdog shuts their socket down when the deadline passes, which wakes the
thread blocked in `recv` with an error the caller turns into "no complete response within N s".
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, conn: Any) -> None:
        deadline = getattr(_local, "deadline", None)
        if deadline is None:
            return
        entry: list[Any] = [conn, True]
        _local.entry = entry
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._ids), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, entry = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if entry[1]:
                shut(entry[0])


def shut(conn: Any) -> None:
    """Cut a connection another thread is reading from: its read returns at once with an error."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:  # the plain socket call: SSLSocket.shutdown would tear down TLS state under the reading thread
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


WATCHDOG = _Watchdog()


class RequestDeadline:
    """`with RequestDeadline(t):` every response awaited in this thread is cut off at monotonic time `t`."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __enter__(self) -> RequestDeadline:
        _local.deadline = self.deadline
        _local.entry = None
        return self

    def __exit__(self, *exc: object) -> None:
        entry = getattr(_local, "entry", None)
        if entry is not None:
            entry[1] = False  # disarmed: the connection may go back to the pool
        _local.deadline = None
        _local.entry = None

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.deadline


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        WATCHDOG.arm(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        WATCHDOG.arm(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def watch(pool_manager: Any) -> None:
    """Make a urllib3 PoolManager (or ProxyManager) open watched connections."""
    pool_manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
