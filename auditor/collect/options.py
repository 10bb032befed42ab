"""How to reach a live cluster and how hard to retry: plain data, importable without the kubernetes client."""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for 429, 5xx, resets and timeouts."""

    attempts: int = 6  # tries per request, the first included
    base: float = 0.5  # seconds before the first retry (doubled each time)
    cap: float = 10.0  # longest single backoff
    max_retry_after: float = 30.0  # never wait longer than this for a server's Retry-After
    budget: float = 120.0  # seconds for all the attempts of one request and the waits between them
    restarts: int = 1  # 410 Gone restarts of one paginated list before one unpaginated list

    def backoff(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** retry)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # equal jitter: spread, never zero


CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0  # per whole request, body included (kubectl's --request-timeout)
DEFAULT_RETRY = RetryPolicy()
# What any server may send, at most: one response body (a list page, or one unpaginated list), one watch line
# (an object is at most ~1.5 MiB in etcd), and the pages of one list (5,000 pages of 500: 2.5 million objects).
MAX_BODY = 128 << 20
MAX_LINE = 16 << 20
MAX_PAGES = 5000
# Relists after `410 Expired` back off as client-go's reflector does: 800 ms doubling to 30 s, with jitter,
# reset after a healthy watch.
RELIST_BASE = 0.8
RELIST_CAP = 30.0


def relist_backoff(expiries: int) -> float:
    """Seconds to wait before the relist that follows the `expiries`-th 410 in a row (1, 2, ...)."""
    ceiling = min(RELIST_CAP, RELIST_BASE * 2 ** min(expiries - 1, 16))
    return ceiling * (1.0 + random.uniform(0.0, 0.25))


@dataclass(frozen=True)
class ClusterOptions:
    """How to reach the cluster and what to read; shared by `snapshot` and `verify`."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    # Defaults are read when an instance is made, so tests (and embedders) can tune the module values.
    connect_timeout: float = field(default_factory=lambda: CONNECT_TIMEOUT)
    request_timeout: float = field(default_factory=lambda: REQUEST_TIMEOUT)
    page_size: int = 500
    retry: RetryPolicy = field(default_factory=lambda: DEFAULT_RETRY)
    # Seconds from the start of one collection by which every request must have ended (verify's --timeout).
    time_limit: float | None = None
    max_body: int = field(default_factory=lambda: MAX_BODY)
    max_line: int = field(default_factory=lambda: MAX_LINE)
    max_pages: int = field(default_factory=lambda: MAX_PAGES)

