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

