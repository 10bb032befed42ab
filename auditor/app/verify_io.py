"""verify's files and memory: the paths a run may write, the objects it lets in, what it hands back to the system."""
from __future__ import annotations

import gc
import os
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from auditor.app.verify_end import SNAPSHOT_NAME, VerifySettings
from auditor.engine.follow import FOLLOWED_KINDS
from auditor.errors import CollectionError, InputError
from auditor.state.recorder import object_kind


class Source(Protocol):
    """What verify follows: auditor.collect.watch.LiveCluster (tests may pass another)."""

    listed_at: float
    server_version: dict[str, Any]

    def start(self) -> None: ...
    def snapshot(self) -> dict[str, list[bytes]]: ...
    def changes(self, timeout: float) -> list[Any]: ...
    def notices(self) -> list[str]: ...
    def close(self) -> None: ...


def check_paths(settings: VerifySettings) -> None:
    """Exit 2 before touching the cluster when one file would be both read and written: --before is neither the
    output folder nor the last state verify writes in it, and --record is none of them."""
    before, out = settings.before, settings.report.output_dir
    last = out / SNAPSHOT_NAME
    if _same(before, out):
        raise InputError(before, "--before and --output-dir name the same path")
    if _same(before, last):
        raise InputError(before, f"is the last state verify writes into --output-dir ({last}); "
                                 "keep BEFORE elsewhere or choose another --output-dir")
    record = settings.record
    if record is not None:
        for other, what in ((before, "--before"), (out, "--output-dir"), (last, "the last state")):
            if _same(record, other):
                raise InputError(record, f"--record names the same file as {what}")


def _same(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass  # one of them does not exist yet: compare where they would be
    return Path(os.path.realpath(a)) == Path(os.path.realpath(b))


def projected_only(batch: list[Any]) -> tuple[list[Any], int]:
    """The changes of the followed kinds whose object says it is of that kind (a source that is not the
    collector may deliver anything), and how many others were dropped: never followed, never recorded."""
    kept = [ch for ch in batch if ch.kind in FOLLOWED_KINDS and _kind_of(ch) in ("", ch.kind)]
    return kept, len(batch) - len(kept)


def _kind_of(ch: Any) -> str:
    """The kind the change's object says it is: the decoded object's where the watch decoded it (no second
    decode of the line), else the line's."""
    obj = getattr(ch, "obj", None)
    return obj.kind if obj is not None else object_kind(ch.line)


def release_memory() -> None:
    """Hand freed memory back to the system: the first lists' JSON (hundreds of MB at 100k Pods) was allocated
    by the listing threads' malloc arenas, which glibc keeps unless asked to trim. What is left (BEFORE and the
    followed objects, millions of containers that hold no cycles) is then frozen out of the cyclic GC's reach:
    while following, each collection scans only what changed since."""
    gc.collect()
    trim()
    gc.freeze()


def trim() -> None:
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def read_eks(reader: Callable[[], dict[str, Any] | None], say: Callable[[str], None],
              budget: float) -> dict[str, Any] | None:
    """The EKS data, read within `budget` seconds (what is left of --timeout): a credential chain or an endpoint
    that hangs is left behind in its daemon thread (the process ends without it), and the report says so."""
    if budget <= 0:
        say("verify: EKS data not read: --timeout reached")
        return None
    box: dict[str, Any] = {}

    def read() -> None:
        try:
            box["eks"] = reader()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=read, name="eks", daemon=True)
    worker.start()
    worker.join(budget)
    if worker.is_alive():
        say(f"verify: EKS data not read: no answer within {budget:.0f}s (the rest of --timeout)")
        return None
    error = box.get("error")
    if isinstance(error, CollectionError):
        say(clean_line(f"verify: EKS data not read: {error}"))
        return None
    if error is not None:
        raise error
    eks: dict[str, Any] | None = box.get("eks")
    return eks


def names(names: Iterable[str]) -> str:
    items = list(names)
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def clean_line(text: str) -> str:
    """One line whatever the cluster or the error put in it."""
    return _CONTROL.sub(" ", text)[:400]


def clock_text(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 60}:{s % 60:02d}"


def live_cluster(settings: VerifySettings) -> tuple[Any, str, str]:
    """The live cluster to follow, and its context and server for the report."""
    from auditor.collect.kube import Cluster  # the kubernetes client loads only when needed
    from auditor.collect.watch import LiveCluster

    # A bad kubeconfig will not fix itself: it fails here. Every list request ends by --timeout (the
    # watches are bounded by their own server timeout and end when the run does).
    cluster = Cluster(replace(settings.cluster, time_limit=settings.timeout))
    # What the collector has to say (a watch denied, a relist) reaches stderr and the report through
    # source.notices(), once each.
    live = LiveCluster(cluster, FOLLOWED_KINDS, poll_interval=settings.interval, say=lambda _t: None)
    return live, cluster.context, cluster.server
