"""Writing snapshots (format v1): streamed to a temporary file, renamed into place only when whole, and never an
incomplete snapshot over a complete one."""
from __future__ import annotations

import errno
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


#: The `.gz` level, everywhere a snapshot is compressed (the spools are the snapshot's own bytes, see
#: `SnapshotWriter.add_encoded`). zlib's fast levels (1-3) cost half of level 5 and a third of level 6 for a
#: file 10-20% larger: a snapshot is written on the clock of an upgrade window, read a few times, then kept.
GZIP_LEVEL = 3
_SEPARATOR = b",\n"
_COPY_CHUNK = 1 << 20


def gzip_compressor() -> Any:
    """A compressor whose output (once flushed) is one whole gzip member: header, deflate data and trailer."""
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


def join_items(items: list[bytes], after: int) -> bytes:
    """Items as the snapshot holds them (`,\n` between two), following `after` items already written."""
    data = _SEPARATOR.join(items)
    return _SEPARATOR + data if after and items else data


class SnapshotWriter:
    """Streams a snapshot to a temporary file beside the target and renames it only when complete.

    Items are written as they arrive, so memory stays flat whatever the cluster size: one by one as
    JSON bytes (`add_raw`), or as runs already in the file's form (`add_encoded`: items joined by
    `,\n`, for a `.gz` target already compressed as whole gzip members) copied byte for byte, so what
    the collector compressed is never decompressed and compressed again. A `.gz` file is then a series
    of gzip members (RFC 1952 2.2; `zcat`, Python's gzip and our reader read it as one stream).

    A crash, Ctrl-C or a full disk leaves the previous file untouched. An incomplete snapshot never
    replaces a complete one: it goes to `incomplete_path(path)` instead (`written` says where). Files are
    created 0600.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.written = self.path
        self.compress = self.path.suffix == ".gz"
        self._tmp: str | None = None
        self._raw: IO[bytes] | None = None
        self._z: Any = None  # the gzip member being written, when compressing
        self._first = True
        self.counts: dict[str, int] = {}

    def __enter__(self) -> SnapshotWriter:
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise InputError(self.path, f"directory {directory} does not exist")
        # mkstemp creates the file 0600; it is never widened (snapshots describe the whole cluster).
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        self._raw = os.fdopen(fd, "wb")
        self._put(b'{"apiVersion":"' + API_VERSION.encode() + b'","kind":"' + SNAPSHOT_KIND.encode()
                  + b'","items":[\n')
        return self

    def _put(self, data: bytes) -> None:
        assert self._raw is not None
        if not self.compress:
            self._raw.write(data)
            return
        if self._z is None:
            self._z = gzip_compressor()
        self._raw.write(self._z.compress(data))

    def _end_member(self) -> None:
        if self._z is not None:
            assert self._raw is not None
            self._raw.write(self._z.flush())
            self._z = None

    def add_raw(self, kind: str, item: bytes) -> None:
        """Append one object already encoded as JSON (it must carry `kind` and `apiVersion`)."""
        self._put(item if self._first else _SEPARATOR + item)
        self._first = False
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def add(self, obj: dict[str, Any]) -> None:
        self.add_raw(str(obj.get("kind", "")), msgspec.json.encode(obj))

    def add_encoded(self, kind: str, source: IO[bytes], offset: int, length: int, count: int) -> None:
        """Append `count` objects of `kind` held in `source[offset:offset + length]` in the file's own form:
        joined by `,\n` (`join_items`), and for a `.gz` target compressed as whole gzip members at
        `GZIP_LEVEL` (`gzip_compressor`). The bytes are copied as they are (by the kernel where it can)."""
        assert self._raw is not None
        if not count:
            return
        if not self._first:
            self._put(_SEPARATOR)
        self._end_member()
        self._raw.flush()
        source.flush()
        _copy_range(source.fileno(), self._raw, offset, length)
        self._first = False
        self.counts[kind] = self.counts.get(kind, 0) + count

    def finish(self, meta: dict[str, Any], eks: dict[str, Any] | None = None) -> None:
        """Write the metadata, flush to disk and atomically replace the target (or go beside it, see above)."""
        assert self._raw is not None and self._tmp is not None
        meta = dict(meta)
        meta.setdefault("tool", {"name": TOOL_NAME, "version": __version__})
        meta["counts"] = dict(self.counts)
        tail = b'\n],"metadata":' + msgspec.json.encode(meta)
        if eks is not None:
            tail += b',"eks":' + msgspec.json.encode(eks)
        self._put(tail + b"}\n")
        self._end_member()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        target = self.path
        if meta.get("complete") is False and self.path.exists() and not is_incomplete_snapshot(self.path):
            target = incomplete_path(self.path)
        os.replace(self._tmp, target)
        self.written = target
        self._tmp = None

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:  # not finished: leave the old file alone, remove ours
            try:
                if self._raw is not None:
                    self._raw.close()
            except OSError:
                pass
            try:
                os.unlink(self._tmp)
            except OSError:
                pass


#: copy_file_range cannot serve this pair of files (another file system, an old kernel): copy through memory
_NO_KERNEL_COPY = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM}


def _copy_range(src: int, dst: IO[bytes], offset: int, length: int) -> None:
    """Append `length` bytes of file descriptor `src` from `offset` to `dst` (flushed, positioned at its end).
    Write errors (a full disk) propagate."""
    done = 0
    copy = getattr(os, "copy_file_range", None)
    if copy is not None:
        try:
            while done < length:
                n = copy(src, dst.fileno(), length - done, offset + done)
                if not n:
                    break
                done += n
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
        dst.seek(0, os.SEEK_END)  # the buffered writer learns where the kernel left the file
    while done < length:
        chunk = os.pread(src, min(_COPY_CHUNK, length - done), offset + done)
        if not chunk:
            raise OSError(errno.EIO, f"spool file ended {length - done} bytes early")
        dst.write(chunk)
        done += len(chunk)


def now_utc() -> str:
    return format_time(datetime.now(timezone.utc))
