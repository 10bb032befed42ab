"""Saying what a long command is doing when nobody sees a progress bar (CI logs: stderr not a terminal).

`Heartbeat` decides *when* to speak: a line at least every `every` seconds while work goes on, never two
within `every` seconds, and never when something else was just said (`said`). Its clock is injected, so
its rule is tested without sleeping. `pulse` runs it on a daemon thread for work that blocks the caller
(lists, file writes): every `tick` it asks `describe` for the line and says it when one is due.

Usage (what `snapshot` does)::

    beat = Heartbeat(say=print_to_stderr, every=4.0)
    with pulse(beat, describe=lambda: f"listing Pod: {counts['Pod']} objects so far"):
        ...  # the long work

or, from a loop that already wakes up often (no thread)::

    beat.beat(lambda: f"{n} Service(s) not converged")  # says it only when due
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The default period: under the 5 s a CI log may stay silent, with room for a tick and a busy machine.
EVERY = 4.0
TICK = 0.25


class Heartbeat:
    """When to say a line: `every` seconds after the last thing said (or after the start). Thread-safe."""

    def __init__(self, say: Callable[[str], None], every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if every <= 0:
            raise ValueError("every must be positive")
        self._say = say
        self.every = every
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        """Seconds since the heartbeat was made (for a `0:42` in the line)."""
        return self.clock() - self.started

    def due(self) -> bool:
        """Whether a line is owed now."""
        return self.clock() - self._last >= self.every

    def said(self) -> None:
        """Something else was just said (a notice, a change): the next beat waits a whole period from now."""
        with self._lock:
            self._last = self.clock()

    def beat(self, text: str | Callable[[], str | None]) -> bool:
        """Say `text` (or what the callable returns, asked only when due; None or "" says nothing) if a line is
        due; True when one was said."""
        with self._lock:
            now = self.clock()
            if now - self._last < self.every:
                return False
            line = text() if callable(text) else text
            if not line:
                return False
            self._last = now
            self._say(line)
            return True


def elapsed_text(seconds: float) -> str:
    """`m:ss`, as the lines show how long the command has run."""
    s = int(max(0.0, seconds))
    return f"{s // 60}:{s % 60:02d}"


@contextmanager
def pulse(heartbeat: Heartbeat, describe: Callable[[], str | None], tick: float = TICK) -> Iterator[Heartbeat]:
    """Within the block, a daemon thread asks `describe` for a line every `tick` seconds whenever the heartbeat
    is due, and says it. The thread ends with the block (a failing `describe` or `say` ends it early: a status
    line is never worth a crash). Lines are said outside the caller's thread: `say` must be thread-safe (a
    write of one whole line is)."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.wait(tick):
                heartbeat.beat(describe)
        except Exception:  # noqa: BLE001 - see above
            return

    thread = threading.Thread(target=loop, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield heartbeat
    finally:
        stop.set()
        thread.join()
