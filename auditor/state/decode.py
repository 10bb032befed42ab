"""Decoding one input's bytes, JSON or YAML, into its top level and typed objects: a snapshot, a kubectl List
(items of kinds the auditor does not read are skipped whatever their shape) or a single object; and the fast path
for snapshots and Lists written one object per line, decoded line by line (`decode_lines`)."""
from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Optional

import msgspec
import yaml

from auditor.errors import InputError
from auditor.state import inputs, kinds
from auditor.state.objects import KubeObject
from auditor.state.safeyaml import YAMLLimitError, load_all_no_timestamps
from auditor.state.writer import SNAPSHOT_KIND

_FIRST = re.compile(rb"\S")
#: The first line of a snapshot or List written one object per line: the top level up to its `items` array.
_ITEMS_HEADER = re.compile(rb'\s*\{.*"items"\s*:\s*\[\s*')


class Envelope(msgspec.Struct, rename="camel"):
    """Top level of any input: a snapshot, a List, or (items absent) a single object."""

    kind: str = ""
    api_version: str = ""
    metadata: msgspec.Raw = msgspec.Raw()  # empty Raw when absent (Optional[Raw] is not supported)
    items: Optional[list[KubeObject]] = None
    eks: msgspec.Raw = msgspec.Raw()


class _LooseEnvelope(msgspec.Struct, rename="camel"):
    """The same top level with items left undecoded: the slow path for Lists holding kinds of other shapes."""

    kind: str = ""
    api_version: str = ""
    metadata: msgspec.Raw = msgspec.Raw()
    items: Optional[list[msgspec.Raw]] = None
    eks: msgspec.Raw = msgspec.Raw()


class _KindOnly(msgspec.Struct, rename="camel"):
    kind: str = ""
    api_version: str = ""


_ENVELOPE = msgspec.json.Decoder(Envelope)
_LOOSE = msgspec.json.Decoder(_LooseEnvelope)
_KIND_ONLY = msgspec.json.Decoder(_KindOnly)
_OBJECT = msgspec.json.Decoder(KubeObject)


def first_byte(data: bytes | bytearray) -> bytes:
    """The first byte that is not white space (b"" for a blank input): `{` or `[` is JSON, anything else YAML."""
    m = _FIRST.search(data)
    return m.group() if m is not None else b""


def decode(p: str, data: bytes | bytearray) -> tuple[Envelope, KubeObject | None]:
    """The input's top level, and the object itself when it is a single object. `data` must not be blank."""
    if first_byte(data) in (b"{", b"["):
        return _decode_json(p, data)
    return _decode_yaml(p, bytes(data) if isinstance(data, bytearray) else data)


def _decode_json(p: str, data: bytes | bytearray) -> tuple[Envelope, KubeObject | None]:
    if first_byte(data) == b"[":
        raise InputError(p, "is a JSON array; expected a snapshot, a kubectl List or one object")
    try:
        env = _ENVELOPE.decode(data)
    except msgspec.ValidationError:
        # Some item does not fit the structs: most often a kind the auditor does not read, whose fields
        # clash with ours (`kubectl get all` holds Deployments, HPAs, CronJobs...). Decode item by item and
        # skip the kinds we do not read, whatever their shape; a kind we read with a bad field is an error.
        env = _decode_loose(p, data)
    except msgspec.DecodeError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise InputError(p, "JSON is truncated (the file ends early: was the dump or the copy "
                                "interrupted?)") from None
        raise InputError(p, f"not valid JSON ({msg})") from None
    except RecursionError:
        raise InputError(p, "JSON is nested too deeply to be a Kubernetes object") from None
    single = None
    if env.items is None and env.kind != SNAPSHOT_KIND:
        if env.kind and not kinds.known(env.kind):
            return Envelope(kind=env.kind, items=[]), None
        try:
            single = _OBJECT.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InputError(p, f"not a valid Kubernetes object: {exc}") from None
        except RecursionError:
            raise InputError(p, "JSON is nested too deeply to be a Kubernetes object") from None
    return env, single


def _decode_loose(p: str, data: bytes | bytearray) -> Envelope:
    try:
        loose = _LOOSE.decode(data)
    except msgspec.ValidationError as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    items = None
    if loose.items is not None:
        items = []
        default_kind = item_kind(loose.kind)
        for n, raw in enumerate(loose.items):
            try:
                head = _KIND_ONLY.decode(raw)
            except msgspec.ValidationError as exc:
                raise InputError(p, f"item {n}: not a Kubernetes object: {exc}") from None
            kind = head.kind or default_kind
            if not kinds.known(kind):
                continue
            try:
                items.append(_OBJECT.decode(raw))
            except msgspec.ValidationError as exc:
                raise InputError(p, f"item {n} ({kind}): not a valid {kind}: {exc}") from None
    return Envelope(kind=loose.kind, api_version=loose.api_version, metadata=loose.metadata, items=items,
                     eks=loose.eks)


def decode_lines(lines: Iterator[memoryview], share: Callable[[KubeObject], None] | None = None) -> Envelope | None:
    """A snapshot or List laid out one object per line, as `SnapshotWriter` writes it (the top level up to
    `"items":[` on the first line, each item on its own line followed by a comma but the last, then `]` and the
    rest of the top level), decoded line by line: the raw input and the objects never coexist.

    None when the input is laid out otherwise or anything in it fails to decode: the caller then decodes the whole
    input (`decode`), which gives every error its usual message. The header and trailer are decoded together as
    the document with an empty `items`, so the top level reads exactly as when decoded whole. `share` is called
    with each item as soon as it is decoded (`auditor.state.intern`: its repeated strings go before the next)."""
    header = next(lines, None)
    if header is None or len(header) >= inputs.MAX_LINE or not _ITEMS_HEADER.fullmatch(header):
        return None
    head = bytes(header)
    items: list[KubeObject] = []
    decode_one = _OBJECT.decode
    comma = True  # whether the previous item ended with its comma (none is due before the first)
    for line in lines:
        if not line:
            continue
        if len(line) >= inputs.MAX_LINE:
            return None
        first = line[0]
        if first == 0x7B:  # "{": one item, with its comma unless it is the last
            if not comma:
                return None
            comma = line[-1] == 0x2C
            try:
                obj = decode_one(line[:-1] if comma else line)
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                return None
            if share is not None:
                share(obj)
            items.append(obj)
        elif first == 0x5D and not (comma and items):  # "]": the items end, the rest of the top level follows
            trailer = bytes(line) + b"".join(b"\n" + bytes(rest) for rest in lines)
            return _with_items(head, trailer, items)
        else:
            return None
    return None  # no end of the items: truncated, or not this layout


def _with_items(head: bytes, trailer: bytes, items: list[KubeObject]) -> Envelope | None:
    if b'"items"' in trailer:  # another items key: whichever wins, only the whole decode knows
        return None
    try:
        env = _ENVELOPE.decode(head + b"\n" + trailer)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    if env.items != []:
        return None
    env.items = items
    return env


def _convert_items(p: str, docs: list[Any], default_kind: str = "") -> list[KubeObject]:
    """YAML documents to structs, skipping kinds the auditor does not read whatever their shape."""
    out: list[KubeObject] = []
    for n, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise InputError(p, f"item {n}: not a Kubernetes object (not a mapping)")
        kind = str(doc.get("kind") or default_kind)
        if not kinds.known(kind):
            continue
        try:
            obj = msgspec.convert(doc, KubeObject, str_keys=True)
        except msgspec.ValidationError as exc:
            raise InputError(p, f"item {n} ({kind}): not a valid {kind}: {exc}") from None
        if not obj.kind:
            obj.kind = kind
        out.append(obj)
    return out


def _decode_yaml(p: str, data: bytes) -> tuple[Envelope, KubeObject | None]:
    try:
        docs = [d for d in load_all_no_timestamps(data) if d is not None]
    except YAMLLimitError as exc:
        raise InputError(p, f"YAML {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(p, f"neither JSON nor valid YAML{where}") from None
    except UnicodeDecodeError:
        raise InputError(p, "is binary, not JSON or YAML") from None
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise InputError(p, "is not a Kubernetes object, List or snapshot (no mapping at the top level)")
    try:
        if len(docs) > 1:
            return Envelope(kind="List", api_version="v1", items=_convert_items(p, docs)), None
        doc = docs[0]
        meta = doc.get("metadata")
        env = Envelope(
            kind=str(doc.get("kind", "")),
            api_version=str(doc.get("apiVersion", "")),
            metadata=msgspec.Raw(msgspec.json.encode(meta)) if doc.get("kind") == SNAPSHOT_KIND else msgspec.Raw(),
            items=(_convert_items(p, list(doc["items"] or []), item_kind(str(doc.get("kind", ""))))
                   if "items" in doc else None),
            eks=msgspec.Raw(msgspec.json.encode(doc["eks"])) if doc.get("eks") is not None else msgspec.Raw(),
        )
        single = None
        if env.items is None and env.kind != SNAPSHOT_KIND:
            if env.kind and not kinds.known(env.kind):
                return Envelope(kind=env.kind, items=[]), None
            single = msgspec.convert(doc, KubeObject, str_keys=True)
        return env, single
    except msgspec.ValidationError as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise InputError(p, f"not a valid cluster state: {exc}") from None
    except RecursionError:
        raise InputError(p, "YAML is nested too deeply to be a Kubernetes object") from None


def item_kind(list_kind: str) -> str:
    return list_kind[:-4] if list_kind.endswith("List") and list_kind != "List" else ""
