"""One copy of each repeated string of a loaded state.

A decoder gives every string value its own object: at 100,000 Pods a state holds about 65 string objects per
Pod for 6 distinct values (the namespace, label values, condition types and statuses and their times, owner
references, node and container names are the same across a ReplicaSet's Pods, a Node's Pods, a whole cluster).
String objects were half the memory of a loaded state (measured on the bench's 10,000-Pod state: 41 MB of
string objects for 4 MB of distinct values). `Sharer.share` points the fields that repeat at one copy; the values
are equal, so nothing that reads them can tell. Only those fields are visited: a walk over every field of every
object costs more CPU than decoding the state (measured: 0.76 s at 10,000 Pods).
"""
from __future__ import annotations

from collections.abc import Callable

from auditor.state.objects import KubeObject, ObjectReference, OwnerReference, Spec, Status


class Sharer:
    """Shares strings across every object given to `share` (one per loaded state)."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def share(self, obj: KubeObject) -> None:
        one = self._memo.setdefault
        v: str | None
        v = obj.kind
        obj.kind = one(v, v)
        v = obj.api_version
        obj.api_version = one(v, v)
        meta = obj.metadata
        v = meta.namespace
        meta.namespace = one(v, v)
        v = meta.creation_timestamp
        if v:
            meta.creation_timestamp = one(v, v)
        v = meta.generate_name
        if v:
            meta.generate_name = one(v, v)
        for values in (meta.labels, meta.annotations):
            if values:
                for k, v in values.items():
                    values[k] = one(v, v)
        owners = meta.owner_references
        if owners:
            for owner in owners:
                _share_owner(owner, one)
        spec = obj.spec
        if spec is not None:
            _share_spec(spec, one)
        status = obj.status
        if status is not None:
            _share_status(status, one)
        endpoints = obj.endpoints
        if endpoints:
            for ep in endpoints:
                v = ep.node_name
                if v:
                    ep.node_name = one(v, v)
                v = ep.zone
                if v:
                    ep.zone = one(v, v)
                target = ep.target_ref
                if target is not None:
                    _share_ref(target, one)
        for subset in obj.subsets or ():
            for group in (subset.addresses, subset.not_ready_addresses):
                for addr in group or ():
                    v = addr.node_name
                    if v:
                        addr.node_name = one(v, v)
                    target = addr.target_ref
                    if target is not None:
                        _share_ref(target, one)


One = Callable[[str, str], str]


def _share_owner(ref: OwnerReference, one: One) -> None:
    v = ref.kind
    ref.kind = one(v, v)
    v = ref.api_version
    ref.api_version = one(v, v)
    v = ref.name
    ref.name = one(v, v)
    v = ref.uid
    ref.uid = one(v, v)


def _share_ref(ref: ObjectReference, one: One) -> None:
    v = ref.kind
    ref.kind = one(v, v)
    v = ref.namespace
    ref.namespace = one(v, v)


def _share_spec(spec: Spec, one: One) -> None:
    v = spec.node_name
    if v:
        spec.node_name = one(v, v)
    v = spec.service_account_name
    if v:
        spec.service_account_name = one(v, v)
    for group in (spec.containers, spec.init_containers):
        if group:
            for c in group:
                v = c.name
                c.name = one(v, v)
                v = c.restart_policy
                if v:
                    c.restart_policy = one(v, v)
                for port in c.ports or ():
                    v = port.name
                    port.name = one(v, v)
                    v = port.protocol
                    port.protocol = one(v, v)


def _share_status(status: Status, one: One) -> None:
    v: str | None
    v = status.phase
    if v:
        status.phase = one(v, v)
    v = status.host_ip
    if v:
        status.host_ip = one(v, v)
    conditions = status.conditions
    if conditions:
        for cond in conditions:
            v = cond.type
            cond.type = one(v, v)
            v = cond.status
            cond.status = one(v, v)
            v = cond.last_transition_time
            if v:
                cond.last_transition_time = one(v, v)
            v = cond.last_heartbeat_time
            if v:
                cond.last_heartbeat_time = one(v, v)
