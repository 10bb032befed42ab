"""A loaded state keeps one copy of each repeated string (issue 22: string objects were half a state's memory):
the same values, fewer objects, on the line-by-line and the whole-document paths."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import builders as b
import msgspec
from test_cli_audit import small_cluster
from test_state_stream_decode import lines_layout

from auditor.state import snapshot
from auditor.state.intern import Sharer
from auditor.state.objects import KubeObject

T0 = b.at("2026-11-20T09:00:00Z")


def _strings(obj: Any, out: list[str]) -> list[str]:
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _strings(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _strings(v, out)
    elif isinstance(obj, msgspec.Struct):
        for f in obj.__struct_fields__:
            _strings(getattr(obj, f), out)
    return out


def _objects(state: Any) -> list[KubeObject]:
    return [o for kind in sorted(state.objects) for o in state.objects[kind]]


def test_sharing_keeps_every_value_and_drops_the_copies() -> None:
    docs = [o for o in small_cluster() if o["kind"] in ("Pod", "EndpointSlice", "Endpoints", "Node", "Service")]
    decoded = [msgspec.json.decode(json.dumps(o), type=KubeObject) for o in docs]
    shared = [msgspec.json.decode(json.dumps(o), type=KubeObject) for o in docs]
    sharer = Sharer()
    for o in shared:
        sharer.share(o)
    assert shared == decoded  # equal values: nothing that reads them can tell
    assert [msgspec.json.encode(o) for o in shared] == [msgspec.json.encode(o) for o in decoded]
    before = _strings(decoded, [])
    after = _strings(shared, [])
    assert len({id(s) for s in after}) < len({id(s) for s in before}) * 0.8
    pods = [o for o in shared if o.kind == "Pod"]
    assert len(pods) >= 2
    first, second = pods[0], pods[1]
    assert first.metadata.namespace is second.metadata.namespace
    assert first.status.conditions[0].type is second.status.conditions[0].type
    assert first.kind is second.kind and first.api_version is second.api_version
    slices = [o for o in shared if o.kind == "EndpointSlice" and o.endpoints]
    refs = [ep.target_ref for s in slices for ep in s.endpoints if ep.target_ref is not None]
    assert len(refs) >= 2 and refs[0].kind is refs[1].kind


def _load(tmp_path: Path, name: str, data: bytes) -> Any:
    p = tmp_path / name
    p.write_bytes(data)
    return snapshot.load_inputs([str(p)])


def test_both_decode_paths_share_and_agree(tmp_path: Path) -> None:
    doc = b.snapshot_doc(small_cluster(), T0)
    by_lines = _load(tmp_path, "lines.json", lines_layout(doc))
    whole = _load(tmp_path, "whole.json", json.dumps(doc, indent=1).encode())
    assert [msgspec.json.encode(o) for o in _objects(by_lines)] == [msgspec.json.encode(o) for o in _objects(whole)]
    for state in (by_lines, whole):
        pods = state.of("Pod")
        assert pods[0].metadata.namespace is pods[1].metadata.namespace
        assert pods[0].status.phase is pods[1].status.phase
