"""Objects checked before they count: a served object whose fields do not have the types the auditor reads is
named and left out (the state is then incomplete), never decoded later into a traceback or a hang."""
from __future__ import annotations

import msgspec

from auditor.collect.failures import one_line
from auditor.state.objects import KubeObject

_OBJECT = msgspec.json.Decoder(KubeObject)


class _Meta(msgspec.Struct):
    name: object = ""
    namespace: object = ""


class _Head(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


_HEAD = msgspec.json.Decoder(_Head)


def mistyped(kind: str, line: bytes) -> str:
    """"" when the projected `line` decodes as the auditor reads it; else one line naming the object and why."""
    try:
        _OBJECT.decode(line)
        return ""
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return why_mistyped(kind, line)


def why_mistyped(kind: str, line: bytes) -> str:
    """One line naming the object in `line` (JSON) and why the auditor cannot read it."""
    try:
        _OBJECT.decode(line)
        why = "mistyped"
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        why = f"mistyped: {one_line(str(exc))}"
    except RecursionError:
        why = "nested too deeply"
    try:
        meta = _HEAD.decode(line).metadata
        name = f"{meta.namespace}/{meta.name}" if meta.namespace else str(meta.name)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        name = "(unnamed)"
    return f"{kind} {one_line(name)[:253]} left out ({why})"
