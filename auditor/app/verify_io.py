"""verify's files and memory: the paths a run may write, the objects it lets in, what it hands back to the system."""
from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from auditor.app.verify_end import SNAPSHOT_NAME, VerifySettings
from auditor.engine.follow import FOLLOWED_KINDS
from auditor.errors import InputError
from auditor.state.recorder import object_kind


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
    kept = [ch for ch in batch if ch.kind in FOLLOWED_KINDS and object_kind(ch.line) in ("", ch.kind)]
    return kept, len(batch) - len(kept)


def release_memory() -> None:
    """Hand freed memory back to the system: the first lists' JSON (hundreds of MB at 100k Pods) was allocated
    by the listing threads' malloc arenas, which glibc keeps unless asked to trim."""
    gc.collect()
    trim()


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
