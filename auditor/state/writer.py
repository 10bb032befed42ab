"""Writing snapshots (format v1): streamed to a temporary file, renamed into place only when whole, and never an
incomplete snapshot over a complete one."""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import msgspec

from auditor import TOOL_NAME, __version__
from auditor.errors import InputError
from auditor.state.clusterstate import format_time

API_VERSION = "upgrade-auditor.io/v1"
SNAPSHOT_KIND = "ClusterSnapshot"


def incomplete_path(path: Path) -> Path:
    """Where an incomplete snapshot goes when a complete one is at `path`: `NAME.incomplete.json[.gz]`."""
    name = path.name
    for suffix in (".json.gz", ".json", ".gz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return path.with_name(name[: -len(suffix)] + ".incomplete" + suffix)
    return path.with_name(name + ".incomplete")


def is_incomplete_snapshot(path: Path) -> bool:
    """Whether `path` holds a snapshot this tool wrote that says `complete: false` (only those may be replaced
    by another incomplete one). Reads the file's tail, decompressing a `.gz` as a stream."""
    window = 8 << 20
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            if gz:
                tail = b""
                with gzip.GzipFile(fileobj=fh) as z:
                    while chunk := z.read(1 << 20):
                        tail = (tail + chunk)[-window:]
            else:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - window))
                tail = fh.read()
    except (OSError, EOFError, zlib.error):
        return False
    at = tail.rfind(b'\n],"metadata":')
    if at < 0:
        return False
    try:
        meta, _ = json.JSONDecoder().raw_decode(tail[at + len(b'\n],"metadata":'):].decode("utf-8", "replace"))
    except ValueError:
        return False
    return isinstance(meta, dict) and meta.get("complete") is False


class SnapshotWriter:
    """Streams a snapshot to a temporary file beside the target and renames it only when complete.

    Items are written as they arrive (raw JSON bytes, one object each), so memory stays flat
    whatever the cluster size; a `.gz` target is compressed as it is written. A crash, Ctrl-C or a
    full disk leaves the previous file untouched. An incomplete snapshot never replaces a complete
    one: it goes to `incomplete_path(path)` instead (`written` says where). Files are created 0600.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.written = self.path
        self.compress = self.path.suffix == ".gz"
        self._tmp: str | None = None
        self._fh: IO[bytes] | None = None
        self._first = True
        self.counts: dict[str, int] = {}

    def __enter__(self) -> SnapshotWriter:
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise InputError(self.path, f"directory {directory} does not exist")
        # mkstemp creates the file 0600; it is never widened (snapshots describe the whole cluster).
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        fh: IO[bytes] = (gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5)  # type: ignore[assignment]
                         if self.compress else raw)
        self._fh = fh
        fh.write(b'{"apiVersion":"' + API_VERSION.encode() + b'","kind":"' + SNAPSHOT_KIND.encode()
                       + b'","items":[\n')
        return self

    def add_raw(self, kind: str, item: bytes) -> None:
        """Append one object already encoded as JSON (it must carry `kind` and `apiVersion`)."""
        assert self._fh is not None
        if not self._first:
            self._fh.write(b",\n")
        self._first = False
        self._fh.write(item)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add(self, obj: dict[str, Any]) -> None:
        self.add_raw(str(obj.get("kind", "")), msgspec.json.encode(obj))

    def finish(self, meta: dict[str, Any], eks: dict[str, Any] | None = None) -> None:
        """Write the metadata, flush to disk and atomically replace the target (or go beside it, see above)."""
        assert self._fh is not None and self._tmp is not None
        meta = dict(meta)
        meta.setdefault("tool", {"name": TOOL_NAME, "version": __version__})
        meta["counts"] = dict(self.counts)
        tail = b'\n],"metadata":' + msgspec.json.encode(meta)
        if eks is not None:
            tail += b',"eks":' + msgspec.json.encode(eks)
        self._fh.write(tail + b"}\n")
        if self.compress:
            self._fh.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        target = self.path
        if meta.get("complete") is False and self.path.exists() and not is_incomplete_snapshot(self.path):
            target = incomplete_path(self.path)
        os.replace(self._tmp, target)
        self.written = target
        self._tmp = None
        self._fh = None

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:  # not finished: leave the old file alone, remove ours
            try:
                self._raw.close()
            except OSError:
                pass
            try:
                os.unlink(self._tmp)
            except OSError:
                pass


def now_utc() -> str:
    return format_time(datetime.now(timezone.utc))
