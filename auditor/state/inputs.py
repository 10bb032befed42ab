"""Reading inputs with bounds: `-` for stdin, folders of dumps, regular files only, gzip streamed with a size limit.

Every input (snapshot, kubectl dump, baseline report, config file) is read through `read_input`:
FIFOs, devices and sockets are refused before a byte is read (a FIFO would block, `/dev/zero`
would never end), and the decompressed size is capped while decompressing, so a small gzip
bomb costs no more memory than the cap. Problems are `InputError`s naming the file.
"""
from __future__ import annotations

import os
import re
import stat
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Generator, Iterator

from auditor.errors import ConfigError, InputError

STDIN = "-"
STDIN_NAME = "<stdin>"
#: Suffixes a folder input is read for (each also with .gz).
INPUT_SUFFIXES = (".json", ".yaml", ".yml")
#: Default cap on an input's (decompressed) size: four times a 100k-Pod snapshot, far below a bomb.
DEFAULT_MAX_INPUT_SIZE = 2 << 30
MAX_INPUT_SIZE_ENV = "UPGRADE_AUDITOR_MAX_INPUT_SIZE"
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
#: A namespace name is a DNS-1123 label (how Kubernetes validates a Namespace's metadata.name): what `-n` takes.
NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

_limit_override: int | None = None


def parse_size(text: str) -> int:
    """'2G', '512M', '8GiB', '1048576' -> bytes (binary units); anything else is a ConfigError."""
    m = _SIZE.match(str(text))
    if not m or (m.group(3) and m.group(3).lower() not in ("b", "ib")):
        raise ConfigError(f"{text!r} is not a size (use bytes or a number with K, M, G or T, e.g. 4G)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise ConfigError(f"{text!r}: the size must be above zero")
    return value


def set_max_input_size(value: int | None) -> None:
    """Set by the CLI from --max-input-size; None falls back to the environment, then the default."""
    global _limit_override
    _limit_override = value


def max_input_size() -> int:
    if _limit_override is not None:
        return _limit_override
    env = os.environ.get(MAX_INPUT_SIZE_ENV)
    if env:
        try:
            return parse_size(env)
        except ConfigError as exc:
            raise ConfigError(f"{MAX_INPUT_SIZE_ENV}: {str(exc)}") from None
    return DEFAULT_MAX_INPUT_SIZE


def human_size(n: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _too_big(limit: int, what: str) -> str:
    return (f"{what} more than {human_size(limit)}, the input size limit "
            f"(raise it with --max-input-size or {MAX_INPUT_SIZE_ENV})")


@dataclass(frozen=True)
class Source:
    """One input to read: a file path, or standard input."""

    path: Path | None  # None: standard input

    @property
    def name(self) -> str:
        return STDIN_NAME if self.path is None else str(self.path)


def expand(spec: str) -> list[Source]:
    """An INPUT argument as sources: `-` is stdin; a folder is every *.json|*.yaml|*.yml(.gz) in it, sorted."""
    if spec == STDIN:
        return [Source(None)]
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if _wanted(f.name) and f.is_file())
        if not files:
            raise InputError(p, "folder holds no *.json, *.yaml or *.yml files (optionally .gz)")
        return [Source(f) for f in files]
    return [Source(p)]


def _wanted(name: str) -> bool:
    if name.startswith("."):  # hidden and temporary files (the snapshot writer's .NAME.tmp)
        return False
    base = name[:-3] if name.endswith(".gz") else name
    return base.endswith(INPUT_SUFFIXES)


def read_input(source: Source, limit: int | None = None, *, what: str = "input") -> bytes | bytearray:
    """The input's bytes, gunzipped when they start with the gzip magic; bounded by `limit`."""
    limit = max_input_size() if limit is None else limit
    if source.path is None:
        return _read_stdin(limit)
    return read_file(source.path, limit)


def read_file(path: Path, limit: int) -> bytes | bytearray:
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        if os.pread(fd, 2, 0) == _GZIP_MAGIC:
            return _gunzip(path, fh.read(_CHUNK), fh, limit)
        if os.fstat(fd).st_size > limit:
            raise InputError(path, _too_big(limit, "is"))
        data = fh.read(limit + 1)  # one read, one buffer: a 500 MB snapshot is not copied
        if len(data) > limit:  # grew while we read it
            raise InputError(path, _too_big(limit, "is"))
        _check_text(path, data)
        return data


def open_regular(path: Path) -> int:
    """Open for reading without blocking on a FIFO, then refuse anything that is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                    or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise InputError(path, f"is {kind}; only regular files and standard input (-) are read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_stdin(limit: int) -> bytes | bytearray:
    stream: BinaryIO = getattr(sys.stdin, "buffer", None) or sys.stdin  # type: ignore[assignment]
    try:
        if stream.isatty():
            raise InputError(STDIN_NAME, "standard input is a terminal; pipe a kubectl dump or a snapshot "
                                         "into it (kubectl get ... -o json | upgrade-auditor audit -)")
    except (AttributeError, ValueError):
        pass
    try:
        head = stream.read(_CHUNK)
        if len(head) > limit:
            raise InputError(STDIN_NAME, _too_big(limit, "is"))
        if head[:2] == _GZIP_MAGIC:
            return _gunzip(STDIN_NAME, head, stream, limit)
        buf = bytearray(head)
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            buf += chunk
            if len(buf) > limit:
                raise InputError(STDIN_NAME, _too_big(limit, "is"))
    except OSError as exc:
        raise InputError(STDIN_NAME, f"cannot read: {exc.strerror or exc}") from None
    _check_text(STDIN_NAME, buf)
    return buf


def _gunzip(name: object, head: bytes, fh: BinaryIO, limit: int) -> bytearray:
    """Stream-decompress every gzip member, never producing more than `limit` bytes."""
    out = bytearray()
    for chunk in _gunzip_chunks(name, head, fh, limit):
        out += chunk
    return out


def _gunzip_chunks(name: object, head: bytes, fh: BinaryIO, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member, a chunk at a time, never more than `limit` in all; the first
    4 KiB checked for binary data before anything is yielded."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = head
    total = 0
    first: bytes | None = b""  # held back until 4 KiB are known to be text (or the stream ends)
    try:
        while True:
            while data:
                chunk = d.decompress(data, _CHUNK)
                total += len(chunk)
                if total > limit:
                    raise InputError(name, _too_big(limit, "decompresses to"))
                if first is not None:
                    first += chunk
                    if len(first) >= 4096:
                        _check_text(name, first[:4096])
                        chunk, first = first, None
                    else:
                        chunk = b""
                if chunk:
                    yield chunk
                data = d.unconsumed_tail
                if d.eof:
                    rest = d.unused_data
                    if rest.lstrip(b"\x00") == b"":  # zero padding after the last member is harmless
                        data = b""
                        break
                    if rest[:2] != _GZIP_MAGIC:
                        raise InputError(name, "corrupt gzip data (trailing bytes after the compressed stream)")
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
            more = fh.read(_CHUNK)
            if not more:
                break
            if d.eof:  # more members follow a member that ended exactly at a read boundary
                if more.lstrip(b"\x00") == b"":
                    continue
                if more[:2] != _GZIP_MAGIC:
                    raise InputError(name, "corrupt gzip data (trailing bytes after the compressed stream)")
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = more
        tail = d.flush()
        total += len(tail)
        if total > limit:
            raise InputError(name, _too_big(limit, "decompresses to"))
    except zlib.error as exc:
        raise InputError(name, f"corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise InputError(name, f"cannot read: {exc.strerror or exc}") from None
    if not d.eof:
        raise InputError(name, "truncated gzip data (the file ends early: was the copy interrupted?)")
    if first is not None:
        _check_text(name, first[:4096])
        tail = first + tail
    if tail:
        yield tail


def read_lines(path: Path, limit: int | None = None) -> Generator[memoryview, None, None]:
    """The lines of a file (gunzipped when it starts with the gzip magic), without their newline, read a few MiB
    at a time: the whole file is never in memory. Bounded and checked as `read_input` is, with its errors.

    Each line is a view into a buffer that the following lines overwrite: use it (decode it, copy it) before
    asking for the next one. A last line without a newline is yielded too."""
    limit = max_input_size() if limit is None else limit
    fd = open_regular(path)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if os.pread(fd, 2, 0) == _GZIP_MAGIC:
            reader = _ChunkReader(_gunzip_chunks(path, fh.read(_CHUNK), fh, limit))
            yield from _split_lines(reader.readinto)
            return
        if os.fstat(fd).st_size > limit:
            raise InputError(path, _too_big(limit, "is"))
        yield from _split_lines(_PlainReader(path, fh, limit).readinto)


class _PlainReader:
    """readinto over a regular file, bounded by `limit` (it may grow while it is read), its first 4 KiB checked for
    binary data."""

    def __init__(self, path: Path, fh: BinaryIO, limit: int) -> None:
        self.path, self.fh, self.limit = path, fh, limit
        self.got = 0

    def readinto(self, view: memoryview) -> int:
        try:
            n = self.fh.readinto(view) or 0  # type: ignore[attr-defined]
        except OSError as exc:
            raise InputError(self.path, f"cannot read: {exc.strerror or exc}") from None
        if self.got == 0:
            _check_text(self.path, bytes(view[:min(n, 4096)]))
        self.got += n
        if self.got > self.limit:
            raise InputError(self.path, _too_big(self.limit, "is"))
        return n


class _ChunkReader:
    """readinto over an iterator of byte chunks (the gunzipped stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = memoryview(b"")

    def readinto(self, view: memoryview) -> int:
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.pending = memoryview(chunk)
        n = min(len(view), len(self.pending))
        view[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


#: The line splitter's buffer; a longer line doubles it (a line is one object of a snapshot: a few KiB).
_LINE_BUFFER = 4 << 20
#: A line this long is no object of a state (a whole minified file is one line): `read_lines` yields its first
#: MAX_LINE bytes or more and stops, and the caller reads the input whole instead.
MAX_LINE = 64 << 20


def _split_lines(readinto: Callable[[memoryview], int]) -> Iterator[memoryview]:
    """Lines (views into one reused buffer, without the newline) of what `readinto` fills: the bytes are read once
    into the same pages, never copied into a buffer of the whole input."""
    buf = bytearray(_LINE_BUFFER)
    view = memoryview(buf)
    have = 0
    while True:
        if have == len(buf):  # one line longer than the buffer
            if have >= MAX_LINE:
                yield view[:have]
                return
            bigger = bytearray(2 * len(buf))
            bigger[:have] = view[:have]
            buf, view = bigger, memoryview(bigger)
        n = readinto(view[have:])
        if not n:
            if have:
                yield view[:have]
            return
        end = have + n
        start = 0
        nl = buf.find(b"\n", have, end)
        while nl >= 0:
            yield view[start:nl]
            start = nl + 1
            nl = buf.find(b"\n", start, end)
        if start:
            view[:end - start] = view[start:end]
        have = end - start


def _check_text(name: object, data: bytes | bytearray) -> None:
    """JSON and YAML are text: a NUL byte near the start means binary data (or a bomb of zeros)."""
    if b"\x00" in data[:4096]:
        raise InputError(name, "is binary, not JSON or YAML")


def nested_too_deep(value: object, limit: int) -> bool:
    """Whether decoded data nests dicts/lists more than `limit` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(v, dict):
            stack.extend((c, depth + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, depth + 1) for c in v)
    return False
