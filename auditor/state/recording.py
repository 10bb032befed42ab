"""`verify --record FILE`: the observed events as JSON lines (gzip when FILE ends in .gz), and reading them back.

One record per line, each with a `type` and the time the tool observed it (`at`, epoch seconds):
- `BEGIN` (first): `version` (1), `source` (context, server, serverVersion), `kinds` followed;
- `LIST`: one object of a kind's first list (`kind`, `object`: the projected object, as in snapshots);
- `START`: the first lists are complete; every Service's first ready count is taken at `at`;
- `ADDED` / `MODIFIED` / `DELETED`: one change (`kind`, `object`; for DELETED the last known object), with
  `batch`: the number of the batch it was delivered in (verify counts each Service once per batch);
- `TARGETS` (verify with --eks-cluster): one read of a target group's health for a Service (`namespace`, `name`,
  `arn`, `states`: targets per ELBv2 state), at the time it was read; recordings without them replay as before;
- `END` (last): why the run ended (`reason`: converged | timeout | interrupted | stopped | failed | lost), whether
  it had `settled`, the `notices` it reported, the EKS data read at the end (`eks`, when asked for), and
  `leftOut`: how many served objects were left out because their fields have the wrong types (0 when absent).
Objects are the collector's projections: a recording holds no more than a snapshot does (no Secrets, no
env values). A recording cut short (the run was killed) replays up to its last complete line. Written by
`auditor.state.recorder.Recorder`.
"""
from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from auditor.errors import InputError
from auditor.state import eksdata
from auditor.state import kinds as _kinds
from auditor.state.inputs import MAX_INPUT_SIZE_ENV, human_size, max_input_size, nested_too_deep, open_regular
from auditor.state.objects import KubeObject

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
    left_out: int = msgspec.field(default=0, name="leftOut")


_DECODE = msgspec.json.Decoder(_Record)
_OBJECT = msgspec.json.Decoder(KubeObject)
_CHUNK = 1 << 20


class _Ident(msgspec.Struct):
    class _Meta(msgspec.Struct):
        name: str = ""
        namespace: str = ""

    metadata: _Meta = msgspec.field(default_factory=_Meta)


_IDENT = msgspec.json.Decoder(_Ident)


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
    left_out: int = 0
    truncated: bool = False
    targets: list[Targets] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for b in self.batches for c in b]


#: The longest record line read back: a projected object is a few KiB; a line past this is not a recording.
MAX_LINE = 16 << 20


def read(path: Path) -> Recording:
    """Read a recording; exit 2 (InputError, one line with the line number) on what is not one. Read through the
    same size limit as every input (`max_input_size`, decompressed). A cut-off last line (a run killed mid-write,
    a gzip stream cut short) is tolerated: the recording is replayed up to its last complete record."""
    rec: Recording | None = None
    batch = -1
    reader = _Lines(path)
    bad: tuple[int, str] | None = None  # the unfinished last line did not decode: the run was killed mid-write
    for n, line, whole in reader:
        if not line.strip():
            continue
        try:
            r = _record(line)
        except _Bad as exc:
            if rec is None or whole:  # a whole line (it has its newline) that is not a record: not a recording
                raise InputError(path, f"line {n}: {exc}") from None
            bad = (n, str(exc))
            continue
        if rec is None:
            if r.type != "BEGIN":
                raise InputError(path, "not a verify recording (the first record is not BEGIN)")
            if r.version != FORMAT_VERSION:
                raise InputError(path, f"recording format version {r.version} is not supported "
                                       f"(this version reads {FORMAT_VERSION})")
            rec = Recording(path=path, began=r.at, source=_source(path, n, r.source), kinds=r.kinds)
            continue
        if rec.end is not None:
            raise InputError(path, f"line {n}: a {r.type} record after END")
        try:
            batch = _add(rec, r, batch)
        except _Bad as exc:
            raise InputError(path, f"line {n}: {exc}") from None
    if bad is not None:
        if rec is None or rec.end is not None:
            raise InputError(path, f"line {bad[0]}: {bad[1]}")
        rec.truncated = True  # a run killed mid-write: replay what was complete
    if rec is None:
        raise InputError(path, "empty: not a verify recording")
    rec.truncated = rec.truncated or reader.cut
    if rec.started is None:
        raise InputError(path, "the recording ends before its first lists completed: nothing to replay")
    return rec


class _Bad(Exception):
    """A record that is not what a recording holds (the message says why)."""


def _record(line: bytes) -> _Record:
    try:
        r = _DECODE.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _Bad(f"not a recording record ({exc})") from None
    if not math.isfinite(r.at) or r.at < 0:
        raise _Bad(f"{r.type} record has an invalid time ({r.at})")
    return r


def _source(path: Path, n: int, source: dict[str, Any]) -> dict[str, Any]:
    version = source.get("serverVersion")
    if version is not None and not isinstance(version, dict):
        raise InputError(path, f"line {n}: BEGIN's source.serverVersion is not a mapping")
    for key in ("context", "server"):
        if not isinstance(source.get(key, ""), str):
            raise InputError(path, f"line {n}: BEGIN's source.{key} is not a string")
    return source


def _object(r: _Record) -> KubeObject:
    """The record's object, decoded as the follower will decode it: a mistyped one is refused here, by line."""
    if r.kind not in _kinds.BY_NAME:
        raise _Bad(f"{r.type} record of unknown kind {r.kind!r}")
    try:
        obj = _OBJECT.decode(r.object)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _Bad(f"{r.type} {r.kind}: the object is invalid ({exc})") from None
    if not obj.metadata.name:
        raise _Bad(f"{r.type} {r.kind}: the object has no metadata.name")
    return obj


def _add(rec: Recording, r: _Record, batch: int) -> int:
    """One record after BEGIN into `rec`; returns the batch number of the last change."""
    if r.type == "LIST":
        _object(r)
        rec.lists.setdefault(r.kind, []).append(bytes(r.object))
        rec.listed_at = max(rec.listed_at, r.at)
    elif r.type == "START":
        rec.started = r.at
    elif r.type in _KINDS_OF_CHANGE:
        obj = _object(r)
        if not rec.batches or r.batch != batch:
            rec.batches.append([])
            batch = r.batch
        rec.batches[-1].append(Change(r.kind, r.type, obj.metadata.namespace, obj.metadata.name,
                                      bytes(r.object), r.at))
    elif r.type == "TARGETS":
        if any(v < 0 for v in r.states.values()):
            raise _Bad("TARGETS record with a negative count")
        rec.targets.append(Targets(r.namespace, r.name, r.arn, r.at, dict(r.states)))
    elif r.type == "END":
        if r.eks is not None:
            _check_eks(r.eks)
        if r.left_out < 0:
            raise _Bad("END record with a negative leftOut")
        rec.end, rec.reason, rec.settled, rec.notices, rec.eks = r.at, r.reason, r.settled, r.notices, r.eks
        rec.left_out = r.left_out
    else:
        raise _Bad(f"unknown record type {r.type!r}")
    return batch


def _check_eks(eks: Any) -> None:
    if not isinstance(eks, dict):
        raise _Bad("END's eks section is not a mapping")
    if nested_too_deep(eks, 32):
        raise _Bad("END's eks section is nested too deeply")
    try:
        eksdata.decode(eks)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise _Bad(f"END's eks section is invalid ({exc})") from None


class _Lines:
    """A recording's lines, numbered, through the input size limit: every input's bounded read (a FIFO or a
    device refused, gzip streamed and capped decompressed), but tolerant of an end cut short (`cut`), which a
    killed run leaves."""

    def __init__(self, path: Path, limit: int | None = None, line_limit: int = MAX_LINE) -> None:
        self.path = path
        self.limit = max_input_size() if limit is None else limit
        self.line_limit = line_limit
        self.cut = False

    def __iter__(self) -> Iterator[tuple[int, bytes, bool]]:
        """(number, line, whether it ended with its newline): only the last line can be unfinished."""
        n = 0
        pending = b""
        for chunk in self._chunks():
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            for line in lines:
                n += 1
                yield n, line, True
            if len(pending) > self.line_limit:
                raise InputError(self.path, f"line {n + 1} is longer than {human_size(self.line_limit)}: "
                                            "not a recording")
        if pending:
            n += 1
            yield n, pending, False

    def _chunks(self) -> Iterator[bytes]:
        try:
            fh = os.fdopen(open_regular(self.path), "rb")
        except OSError as exc:
            raise InputError(self.path, f"cannot read the recording: {exc.strerror or exc}") from None
        total = 0
        with fh:
            data = fh.read(2)
            d = zlib.decompressobj(16 + zlib.MAX_WBITS) if data == b"\x1f\x8b" else None
            eof = False
            while True:
                if not eof and len(data) < _CHUNK:
                    try:
                        more = fh.read(_CHUNK)
                    except OSError as exc:
                        raise InputError(self.path, f"cannot read the recording: {exc.strerror or exc}") from None
                    eof = not more
                    data += more
                if d is None:
                    out, data = data, b""
                else:
                    try:
                        out, data, d = _inflate(d, data)
                    except zlib.error:
                        self.cut = True  # a damaged or cut stream: what came before it is replayed
                        return
                total += len(out)
                if total > self.limit:
                    raise InputError(self.path, f"decompresses to more than {human_size(self.limit)}, the input "
                                                f"size limit (raise it with --max-input-size or {MAX_INPUT_SIZE_ENV})")
                if out:
                    yield out
                if eof and not data:
                    if d is not None and not d.eof:
                        self.cut = True  # the gzip stream ends early: a run killed mid-write
                    return


def _inflate(d: Any, data: bytes) -> tuple[bytes, bytes, Any]:
    """At most one chunk of output from `data` (the rest stays unconsumed), across gzip members."""
    out = d.decompress(data, _CHUNK)
    rest = d.unconsumed_tail
    if d.eof and d.unused_data:
        tail = d.unused_data
        if tail.lstrip(b"\x00") == b"":
            return out, b"", d
        if tail[:2] != b"\x1f\x8b":
            raise zlib.error("trailing bytes after the compressed stream")
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        rest = tail
    return out, rest, d
