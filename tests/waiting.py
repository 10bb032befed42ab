"""Polling for tests: wait for a condition that another thread or process (a watch, a browser) makes true."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `cond` every 10 ms until it holds or `timeout` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)
    return cond()
