"""`verify --record FILE`: the observed events as JSON lines (gzip when FILE ends in .gz), and reading them back.

One record per line, each with a `type` and the time the tool observed it (`at`, epoch seconds):
- `BEGIN` (first): `version` (1), `source` (context, server, serverVersion), `kinds` followed;
- `LIST`: one object of a kind's first list (`kind`, `object`: the projected object, as in snapshots);
- `START`: the first lists are complete; every Service's first ready count is taken at `at`;
- `ADDED` / `MODIFIED` / `DELETED`: one change (`kind`, `object`; for DELETED the last known object), with
  `batch`: the number of the batch it was delivered in (verify counts each Service once per batch);
- `TARGETS` (verify with --eks-cluster): one read of a target group's health for a Service (`namespace`, `name`,
  `arn`, `states`: targets per ELBv2 state), at the time it was read; recordings without them replay as before;
- `END` (last): why the run ended (`reason`: converged | timeout | interrupted | stopped), whether it had
  `settled`, the `notices` it reported, and the EKS data read at the end (`eks`, when asked for).
Objects are the collector's projections: a recording holds no more than a snapshot does (no Secrets, no
env values). A recording cut short (the run was killed) replays up to its last complete line.
"""
from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from auditor.errors import InputError
from auditor.state.inputs import open_regular

FORMAT_VERSION = 1
_KINDS_OF_CHANGE = ("ADDED", "MODIFIED", "DELETED")


class _Record(msgspec.Struct):
    type: str
    at: float = 0.0
    kind: str = ""
    object: msgspec.Raw = msgspec.Raw(b"null")
    version: int = 0
    source: dict[str, Any] = msgspec.field(default_factory=dict)
    kinds: list[str] = msgspec.field(default_factory=list)
    reason: str = ""
    settled: bool = False
    notices: list[str] = msgspec.field(default_factory=list)
    eks: Any = None
    batch: int = 0
    namespace: str = ""
    name: str = ""
    arn: str = ""
    states: dict[str, int] = msgspec.field(default_factory=dict)


_DECODE = msgspec.json.Decoder(_Record)


class _Ident(msgspec.Struct):
    class _Meta(msgspec.Struct):
        name: str = ""
        namespace: str = ""

    metadata: _Meta = msgspec.field(default_factory=_Meta)


_IDENT = msgspec.json.Decoder(_Ident)


class Recorder:
    """Writes records as they come; flushed after every batch so a killed run leaves a usable recording."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # events carry cluster names
        except OSError as exc:
            raise InputError(path, f"cannot write the recording: {exc.strerror or exc}") from None
        raw = os.fdopen(fd, "wb")
        self._fh: IO[bytes] = (gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1)  # type: ignore[assignment]
                               if path.suffix == ".gz" else raw)
        self._raw = raw
        self._batch = 0

    def _write(self, head: dict[str, Any], obj: bytes | None = None) -> None:
        data = orjson.dumps(head)
        if obj is not None:
            data = data[:-1] + b',"object":' + obj + b"}"
        self._fh.write(data + b"\n")

    def begin(self, at: float, source: dict[str, Any], kinds: Iterable[str]) -> None:
        self._write({"type": "BEGIN", "version": FORMAT_VERSION, "at": at, "source": source, "kinds": list(kinds)})

    def listed(self, kind: str, lines: Iterable[bytes], at: float) -> None:
        for line in lines:
            self._write({"type": "LIST", "kind": kind, "at": at}, line)

    def start(self, at: float) -> None:
        self._write({"type": "START", "at": at})
        self.flush()

    def changes(self, changes: Iterable[Any]) -> None:
        self._batch += 1
        for ch in changes:
            self._write({"type": ch.type, "kind": ch.kind, "at": ch.at, "batch": self._batch}, ch.line)
        self.flush()

    def targets(self, read: Iterable[Any]) -> None:
        """Target group health as read (`auditor.collect.elbv2.TargetHealth`: namespace, name, arn, at, states)."""
        for t in read:
            self._write({"type": "TARGETS", "at": t.at, "namespace": t.namespace, "name": t.name, "arn": t.arn,
                         "states": t.states})
        self.flush()

    def end(self, at: float, reason: str, settled: bool, notices: Iterable[str], eks: Any = None) -> None:
        head: dict[str, Any] = {"type": "END", "at": at, "reason": reason, "settled": settled,
                                "notices": list(notices)}
        if eks is not None:
            head["eks"] = eks
        self._write(head)

    def flush(self) -> None:
        self._fh.flush()
        if self._fh is not self._raw:
            self._raw.flush()

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            if self._fh is not self._raw:
                self._raw.close()


@dataclass(frozen=True)
class Change:
    """One change as a recording holds it: the fields of the collector's `Change` (`engine.follow.ChangeLike`)."""

    kind: str
    type: str
    namespace: str
    name: str
    line: bytes
    at: float


@dataclass(frozen=True)
class Targets:
    """One target group health read as a recording holds it (the fields of `auditor.collect.elbv2.TargetHealth`)."""

    namespace: str
    name: str
    arn: str
    at: float
    states: dict[str, int]


@dataclass
class Recording:
    """A recording read back: its header, first lists, changes and end."""

    path: Path
    began: float
    source: dict[str, Any]
    kinds: list[str]
    lists: dict[str, list[bytes]] = field(default_factory=dict)
    listed_at: float = 0.0
    started: float | None = None
    batches: list[list[Change]] = field(default_factory=list)
    end: float | None = None
    reason: str = ""
    settled: bool = False
    notices: list[str] = field(default_factory=list)
    eks: Any = None
    truncated: bool = False
    targets: list[Targets] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for b in self.batches for c in b]


def read(path: Path) -> Recording:
    """Read a recording; exit 2 (InputError) on what is not one. A cut-off last line is tolerated."""
    rec: Recording | None = None
    batch = -1
    try:
        for n, line in enumerate(_lines(path), 1):
            if not line.strip():
                continue
            try:
                r = _DECODE.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                if rec is not None and rec.end is None:
                    rec.truncated = True  # a run killed mid-write: replay what was complete
                    break
                raise InputError(path, f"line {n} is not a recording record ({exc})") from None
            if rec is None:
                if r.type != "BEGIN":
                    raise InputError(path, "not a verify recording (the first record is not BEGIN)")
                if r.version != FORMAT_VERSION:
                    raise InputError(path, f"recording format version {r.version} is not supported "
                                           f"(this version reads {FORMAT_VERSION})")
                rec = Recording(path=path, began=r.at, source=r.source, kinds=r.kinds)
                continue
            if r.type == "LIST":
                rec.lists.setdefault(r.kind, []).append(bytes(r.object))
                rec.listed_at = max(rec.listed_at, r.at)
            elif r.type == "START":
                rec.started = r.at
            elif r.type in _KINDS_OF_CHANGE:
                ident = _IDENT.decode(r.object)
                if not rec.batches or r.batch != batch:
                    rec.batches.append([])
                    batch = r.batch
                rec.batches[-1].append(Change(r.kind, r.type, ident.metadata.namespace, ident.metadata.name,
                                              bytes(r.object), r.at))
            elif r.type == "TARGETS":
                rec.targets.append(Targets(r.namespace, r.name, r.arn, r.at, dict(r.states)))
            elif r.type == "END":
                rec.end, rec.reason, rec.settled, rec.notices, rec.eks = r.at, r.reason, r.settled, r.notices, r.eks
            else:
                raise InputError(path, f"line {n}: unknown record type {r.type!r}")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if rec is None:
            raise InputError(path, f"cannot read the recording: {exc}") from None
        rec.truncated = True
    if rec is None:
        raise InputError(path, "empty: not a verify recording")
    if rec.started is None:
        raise InputError(path, "the recording ends before its first lists completed: nothing to replay")
    return rec


def _lines(path: Path) -> Iterator[bytes]:
    # Like every input: only a regular file (a FIFO or a device is refused, never blocked on); read as a
    # stream, and a gzip cut short by a killed run is read up to its last complete line (see `read`).
    with os.fdopen(open_regular(path), "rb") as fh:
        magic = fh.read(2)
        fh.seek(0)
        source: IO[bytes] = gzip.GzipFile(fileobj=fh, mode="rb") if magic == b"\x1f\x8b" else fh  # type: ignore[assignment]
        yield from source
