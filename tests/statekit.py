"""Build ClusterState objects straight from API-shaped dicts (for rule cases and unit tests)."""
from __future__ import annotations

from typing import Any

import msgspec

from auditor.analysis.timeline import Timeline
from auditor.model import InputInfo
from auditor.state import kinds as registry
from auditor.state.clusterstate import ClusterState, MissingResource, parse_time
from auditor.state.objects import KubeObject


def state_from(spec: dict[str, Any], label: str = "") -> ClusterState:
    """spec: {takenAt, serverVersion?, eks?, objects: [...], missing?: [{kind, reason, permission}], kinds?,
    consistent?, kindReads?: {kind: [start, end]}, timeline?: {from, to, services: [{namespace, name, readyBefore,
    samples: [[time, ready], ...], deletedAt?}]}} (what verify observed, for service-outage)"""
    objects: dict[str, list[KubeObject]] = {k: [] for k in registry.ALL}
    for raw in spec.get("objects") or []:
        obj = msgspec.convert(raw, KubeObject, str_keys=True)
        objects.setdefault(obj.kind, []).append(obj)
    taken = parse_time(str(spec["takenAt"]))
    assert taken is not None, "case state needs takenAt"
    missing = [MissingResource(kind=m["kind"], reason=m.get("reason", "forbidden"),
                               permission=m.get("permission", ""), namespace=m.get("namespace", ""))
               for m in spec.get("missing") or []]
    kinds = set(spec.get("kinds") or registry.ALL)
    present = {k for k in kinds if k not in {m.kind for m in missing}}
    info = InputInfo(path=f"<case {label}>", label=label, taken_at=str(spec["takenAt"]), complete=not missing)
    reads = {}
    for kind, (start, end) in (spec.get("kindReads") or {}).items():
        t0, t1 = parse_time(str(start)), parse_time(str(end))
        assert t0 is not None and t1 is not None
        reads[kind] = (t0, t1)
    return ClusterState(objects=objects, taken_at=taken, inputs=[info], present=present, missing=missing,
                        server_version=spec.get("serverVersion"), eks=spec.get("eks"), label=label,
                        consistent=bool(spec.get("consistent", True)), kind_reads=reads,
                        timeline=_timeline(spec["timeline"]) if spec.get("timeline") else None)


def _epoch(text: Any) -> float:
    t = parse_time(str(text))
    assert t is not None, f"not a time: {text!r}"
    return t.timestamp()


def _timeline(spec: dict[str, Any]) -> Timeline:
    tl = Timeline(start=_epoch(spec["from"]), end=_epoch(spec["to"]))
    for s in spec.get("services") or []:
        key = (s["namespace"], s["name"])
        for at, ready in s["samples"]:
            tl.observe(key, _epoch(at), int(ready), int(s["readyBefore"]))
        if s.get("deletedAt"):
            tl.deleted(key, _epoch(s["deletedAt"]))
    tl.end = _epoch(spec["to"])
    return tl
