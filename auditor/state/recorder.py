"""`verify --record FILE`: writing a recording (the format: auditor.state.recording) safely beside other runs."""
from __future__ import annotations

import gzip
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from auditor.errors import AuditorError, ExitCode, InputError
from auditor.state.recording import FORMAT_VERSION

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RecordingError(AuditorError):
    """The recording could not be written (a full disk, an I/O error): the run ends, exit 3."""

    exit_code = ExitCode.COLLECTION


class _Kind(msgspec.Struct):
    kind: str = ""


_KIND = msgspec.json.Decoder(_Kind)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class Recorder:
    """Writes records as they come into a temporary file beside FILE (0600, never through a symlink), renamed over
    FILE when the run closes it, once the first lists are in (`START`): a run that fails before that leaves an
    existing FILE as it was. A lock file beside FILE (created exclusively, holding the pid) keeps a second run
    from recording to the same file; one left by a dead process is taken over. Flushed after every batch, so a
    killed run leaves a replayable temporary file.

    Only the kinds given to `begin` are written: a change of another kind, or whose object says another kind, is
    dropped and counted (`dropped`). A write that fails (ENOSPC, EIO) does not raise in the middle of the run:
    the recorder stops writing and keeps the cause in `failed`, for the run to end on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed: str | None = None
        self.dropped = 0
        self._kinds: frozenset[str] = frozenset()
        self._batch = 0
        self._started = False
        self._closed = False
        _check_target(path)
        self._lock = _take_lock(path)
        try:
            self._tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        except OSError as exc:
            _unlink(self._lock)
            raise InputError(path, f"cannot write the recording: {exc.strerror or exc}") from None
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        self._fh: IO[bytes] = (gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1)  # type: ignore[assignment]
                               if path.suffix == ".gz" else raw)

    # -- records ------------------------------------------------------------------------------
    def begin(self, at: float, source: dict[str, Any], kinds: Iterable[str]) -> None:
        followed = list(kinds)
        self._kinds = frozenset(followed)
        self._write({"type": "BEGIN", "version": FORMAT_VERSION, "at": at, "source": source, "kinds": followed})

    def listed(self, kind: str, lines: Iterable[bytes], at: float) -> None:
        for line in lines:
            if self.admits(kind, line):
                self._write({"type": "LIST", "kind": kind, "at": at}, line)

    def start(self, at: float) -> None:
        self._write({"type": "START", "at": at})
        self._started = self.failed is None
        self.flush()

    def changes(self, changes: Iterable[Any]) -> None:
        self._batch += 1
        for ch in changes:
            if self.admits(ch.kind, ch.line):
                self._write({"type": ch.type, "kind": ch.kind, "at": ch.at, "batch": self._batch}, ch.line)
        self.flush()

    def targets(self, read: Iterable[Any]) -> None:
        """Target group health as read (`auditor.collect.elbv2.TargetHealth`: namespace, name, arn, at, states)."""
        for t in read:
            self._write({"type": "TARGETS", "at": t.at, "namespace": t.namespace, "name": t.name, "arn": t.arn,
                         "states": t.states})
        self.flush()

    def end(self, at: float, reason: str, settled: bool, notices: Iterable[str], eks: Any = None,
            left_out: int = 0) -> None:
        head: dict[str, Any] = {"type": "END", "at": at, "reason": reason, "settled": settled,
                                "notices": list(notices)}
        if left_out:
            head["leftOut"] = left_out
        if eks is not None:
            head["eks"] = eks
        self._write(head)

    def admits(self, kind: str, line: bytes) -> bool:
        """Whether an object may be recorded: one of the followed kinds, and saying so itself. Else counted."""
        ok = kind in self._kinds and object_kind(line) in ("", kind)
        if not ok:
            self.dropped += 1
        return ok

    # -- the file -----------------------------------------------------------------------------
    def _write(self, head: dict[str, Any], obj: bytes | None = None) -> None:
        if self.failed is not None:
            return
        data = orjson.dumps(head)
        if obj is not None:
            data = data[:-1] + b',"object":' + obj + b"}"
        with self._guard():
            self._fh.write(data + b"\n")

    def flush(self) -> None:
        if self.failed is not None:
            return
        with self._guard():
            self._fh.flush()
            if self._fh is not self._raw:
                self._raw.flush()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            self.failed = f"cannot write the recording {self.path}: {exc.strerror or exc}"

    def close(self) -> None:
        """Finish the file (the gzip member's trailer included, signals held off meanwhile so `zcat` reads it)
        and put it in place if the run got as far as START; else drop it. The lock goes either way. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with _signals_held():
            try:
                self._finish()
            finally:
                _unlink(self._lock)

    def _finish(self) -> None:
        with self._guard():
            try:
                self._fh.close()
            finally:
                if self._fh is not self._raw:
                    self._raw.close()
        if not self._started or self.failed is not None:
            _unlink(self._tmp)  # nothing whole to keep: an earlier recording at the path stays as it was
            return
        with self._guard():
            os.replace(self._tmp, self.path)  # replaces a name, never follows one
        if self.failed is not None:
            _unlink(self._tmp)


def object_kind(line: bytes) -> str:
    """The kind an object line says it is ("" when it does not say; "?" when it is not an object)."""
    try:
        return _KIND.decode(line).kind
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "?"  # not an object: never recorded


def _check_target(path: Path) -> None:
    """FILE may be absent or a regular file; never a symlink (it would be followed), a device or a directory."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise InputError(path, "cannot write the recording: its folder does not exist") from None
        return
    except OSError as exc:
        raise InputError(path, f"cannot write the recording: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise InputError(path, "is a symbolic link; the recording is never written through one")
    if not stat.S_ISREG(mode):
        raise InputError(path, "is not a regular file; the recording must be one")


def _take_lock(path: Path) -> Path:
    """FILE.lock, created exclusively with this process's pid; a lock of a dead process is taken over."""
    lock = lock_path(path)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        except FileExistsError:
            pid = _lock_owner(lock)
            if pid is not None and _alive(pid):
                raise InputError(path, f"another verify (pid {pid}) is recording to it (lock {lock})") from None
            _unlink(lock)  # stale: its process is gone
            continue
        except OSError as exc:
            raise InputError(path, f"cannot lock the recording ({lock}): {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return lock
    raise InputError(path, f"cannot lock the recording: {lock} keeps coming back")


def _lock_owner(lock: Path) -> int | None:
    try:
        fd = os.open(lock, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            text = fh.read(32).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the block is done (main thread only: elsewhere signals are not delivered)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
