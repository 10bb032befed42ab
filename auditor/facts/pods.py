"""Pods as the controllers read them: IPs, conditions, phase, node, and when a Pod last changed."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from auditor.state.clusterstate import parse_time
from auditor.state.labels import ANN_TRIGGER_TIME
from auditor.state.objects import Condition, KubeObject, canonical_ip

TERMINAL_PHASES = ("Succeeded", "Failed")


def pod_ips(pod: KubeObject) -> list[str]:
    st = pod.status
    if st is None:
        return []
    if st.pod_ips:
        return [canonical_ip(p.ip) for p in st.pod_ips if p.ip]
    return [canonical_ip(st.pod_ip)] if st.pod_ip else []


def condition(obj: KubeObject, ctype: str) -> Condition | None:
    st = obj.status
    if st is None or not st.conditions:
        return None
    for c in st.conditions:
        if c.type == ctype:
            return c
    return None


def pod_ready(pod: KubeObject) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.status == "True"


def pod_terminal(pod: KubeObject) -> bool:
    return pod.status is not None and pod.status.phase in TERMINAL_PHASES


def pod_terminating(pod: KubeObject) -> bool:
    return pod.metadata.deletion_timestamp is not None


def pod_node(pod: KubeObject) -> str:
    return pod.spec.node_name if pod.spec is not None else ""


def deletion_started(obj: KubeObject) -> datetime | None:
    """deletionTimestamp is 'now + grace period' at deletion; the change happened grace seconds earlier."""
    t = parse_time(obj.metadata.deletion_timestamp)
    if t is None:
        return None
    return t - timedelta(seconds=obj.metadata.deletion_grace_period_seconds or 0)


def pod_changed_at(pod: KubeObject) -> datetime | None:
    """The latest moment the Pod's endpoint-relevant state changed (creation, readiness, deletion)."""
    times = [parse_time(pod.metadata.creation_timestamp)]
    c = condition(pod, "Ready")
    if c is not None:
        times.append(parse_time(c.last_transition_time))
    times.append(deletion_started(pod))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def write_time(obj: KubeObject) -> datetime | None:
    """Latest known write of a controller object: creation or last-change-trigger-time."""
    times = [parse_time(obj.metadata.creation_timestamp),
             parse_time((obj.metadata.annotations or {}).get(ANN_TRIGGER_TIME))]
    known = [t for t in times if t is not None]
    return max(known) if known else None


class Conditions(NamedTuple):
    ready: bool
    serving: bool
    terminating: bool


def endpoint_conditions(pod: KubeObject, publish_not_ready: bool) -> Conditions:
    """podToEndpoint: serving = Ready, terminating = deletionTimestamp set, ready = serving and not terminating,
    or always true with publishNotReadyAddresses (`podToEndpoint` in pkg/controller/util/endpointslice, and the
    EndpointConditions API docs)."""
    serving = pod_ready(pod)
    terminating = pod_terminating(pod)
    return Conditions(publish_not_ready or (serving and not terminating), serving, terminating)
