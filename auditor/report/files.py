"""Writing report files as a set: every new file in place, or on any failure every old one left as it was."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from auditor.errors import ConfigError

_CHUNK = 1 << 20  # characters written (and encoded) at a time


def write_set(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write files into one directory as a set. Each goes to a temporary file beside its target first
    (so a full disk fails before anything is replaced); only when all are written are they renamed into
    place, and a rename that fails puts back the old files renamed before it."""
    temps: dict[Path, str] = {}
    backups: dict[Path, str | None] = {}
    target: Path | None = None
    try:
        for name, text in files.items():
            target = directory / name
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            temps[target] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                # A slice at a time: written whole, a 16 MB report was encoded into a second 16 MB at the peak.
                for start in range(0, len(text), _CHUNK):
                    fh.write(text[start:start + _CHUNK])
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644 & ~_umask())
        for target in temps:  # keep the old file under a second name until every new one is in place
            backups[target] = None
            if target.exists():
                keep = tempfile.mktemp(prefix=f".{target.name}.", suffix=".old", dir=directory)
                try:
                    os.link(target, keep)  # fails rather than overwrite: no race on the name
                    backups[target] = keep
                except OSError:
                    backups[target] = ""  # no hard links here: the old file cannot be put back
        renamed: list[Path] = []
        try:
            for target, tmp in temps.items():
                os.replace(tmp, target)
                renamed.append(target)
        except OSError:
            for done in renamed:
                old = backups.get(done)
                if old:
                    os.replace(old, done)
                    backups[done] = None
                elif old is None:
                    os.unlink(done)
            raise
    except OSError as exc:
        for tmp in temps.values():
            _unlink(tmp)
        for left in backups.values():
            if left:
                _unlink(left)
        where = target or directory
        raise ConfigError(f"{where}: cannot write report ({exc.strerror or exc}); "
                          "the reports already there are unchanged") from None
    for left in backups.values():
        if left:
            _unlink(left)
    return list(temps)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
