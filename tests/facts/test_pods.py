"""auditor.facts.pods: IPs, conditions, phase, node and change times of Pods as the API writes them."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from auditor.facts import pods
from auditor.state.objects import KubeObject

NODE = "ip-10-0-1-17.eu-west-1.compute.internal"


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def pod(*, status: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None) -> KubeObject:
    raw: dict[str, Any] = {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "cart-7d9f8b6c4-x2x7q", "generateName": "cart-7d9f8b6c4-", "namespace": "shop",
                     "uid": "0f6f7a3e-5a44-4c1e-9d7e-2b1f1e0c9a11", "resourceVersion": "48121",
                     "creationTimestamp": "2026-11-20T09:00:00Z", "labels": {"app": "cart"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-7d9f8b6c4",
                                          "uid": "5b7c1d1e-0000-4000-8000-000000000001", "controller": True,
                                          "blockOwnerDeletion": True}],
                     **(meta or {})},
        "spec": spec if spec is not None else {"nodeName": NODE, "containers": [{"name": "app"}]},
    }
    if status is not None:
        raw["status"] = status
    return decode(raw)


def ready(status: str, at: str | None = "2026-11-20T09:00:20Z") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": "Ready", "status": status}
    if at is not None:
        cond["lastTransitionTime"] = at
    return cond


SCHEDULED = {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-20T09:00:00Z"}
CONTAINERS_READY = {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-20T09:00:20Z"}


@pytest.mark.parametrize(("status", "want"), [
    pytest.param({"phase": "Running", "podIP": "10.0.1.5", "podIPs": [{"ip": "10.0.1.5"}]}, ["10.0.1.5"],
                 id="single-stack"),
    pytest.param({"podIP": "10.0.1.5", "podIPs": [{"ip": "10.0.1.5"}, {"ip": "2600:1f14:abc::5"}]},
                 ["10.0.1.5", "2600:1f14:abc::5"], id="dual-stack: both, in the API's order"),
    pytest.param({"podIP": "2600:1f14:abc::5", "podIPs": [{"ip": "2600:1f14:abc::5"}, {"ip": "10.0.1.5"}]},
                 ["2600:1f14:abc::5", "10.0.1.5"], id="dual-stack, IPv6 primary"),
    pytest.param({"podIPs": [{"ip": "2600:1F14:0ABC:0000:0000:0000:0000:0005"}]}, ["2600:1f14:abc::5"],
                 id="IPv6 spelled long: the canonical form"),
    pytest.param({"podIP": "2600:1F14:ABC::5"}, ["2600:1f14:abc::5"], id="podIP only, IPv6 upper case"),
    pytest.param({"podIP": "10.0.1.5"}, ["10.0.1.5"], id="podIP only (an older writer)"),
    pytest.param({"podIP": "10.0.1.5", "podIPs": []}, ["10.0.1.5"], id="empty podIPs: podIP"),
    pytest.param({"podIP": "10.0.1.9", "podIPs": [{"ip": "10.0.1.5"}]}, ["10.0.1.5"], id="podIPs win over podIP"),
    pytest.param({"podIPs": [{"ip": ""}, {"ip": "10.0.1.5"}]}, ["10.0.1.5"], id="an empty entry is skipped"),
    pytest.param({"phase": "Pending", "conditions": [SCHEDULED]}, [], id="pending: no IP yet"),
    pytest.param(None, [], id="no status at all"),
])
def test_pod_ips(status: dict[str, Any] | None, want: list[str]) -> None:
    assert pods.pod_ips(pod(status=status)) == want


@pytest.mark.parametrize(("status", "ctype", "want"), [
    pytest.param({"conditions": [SCHEDULED, CONTAINERS_READY, ready("False")]}, "Ready", "False",
                 id="the named type, not the first condition"),
    pytest.param({"conditions": [ready("True"), SCHEDULED]}, "PodScheduled", "True", id="another type"),
    pytest.param({"conditions": [SCHEDULED]}, "Ready", None, id="type absent"),
    pytest.param({"conditions": []}, "Ready", None, id="empty conditions"),
    pytest.param({"phase": "Pending"}, "Ready", None, id="no conditions"),
    pytest.param(None, "Ready", None, id="no status"),
])
def test_condition(status: dict[str, Any] | None, ctype: str, want: str | None) -> None:
    c = pods.condition(pod(status=status), ctype)
    assert (c.status if c is not None else None) == want
    if c is not None:
        assert c.type == ctype


@pytest.mark.parametrize(("status", "want"), [
    ({"phase": "Running", "conditions": [SCHEDULED, CONTAINERS_READY, ready("True")]}, True),
    ({"phase": "Running", "conditions": [SCHEDULED, ready("False")]}, False),
    ({"phase": "Running", "conditions": [ready("Unknown")]}, False),  # the node stopped reporting
    ({"phase": "Running", "conditions": [SCHEDULED, CONTAINERS_READY]}, False),  # ContainersReady is not Ready
    ({"phase": "Pending"}, False),
    (None, False),
], ids=["Ready=True", "Ready=False", "Ready=Unknown", "only ContainersReady", "no conditions", "no status"])
def test_pod_ready(status: dict[str, Any] | None, want: bool) -> None:
    assert pods.pod_ready(pod(status=status)) is want


@pytest.mark.parametrize(("phase", "want"), [
    ("Succeeded", True), ("Failed", True), ("Running", False), ("Pending", False), ("Unknown", False), (None, False)])
def test_pod_terminal(phase: str | None, want: bool) -> None:
    assert pods.pod_terminal(pod(status={"phase": phase} if phase else None)) is want


@pytest.mark.parametrize(("meta", "want"), [
    ({"deletionTimestamp": "2026-11-20T10:00:30Z", "deletionGracePeriodSeconds": 30}, True),
    ({"deletionTimestamp": "2026-11-20T10:00:00Z", "deletionGracePeriodSeconds": 0}, True),  # force-deleted
    ({}, False)])
def test_pod_terminating(meta: dict[str, Any], want: bool) -> None:
    assert pods.pod_terminating(pod(meta=meta)) is want


@pytest.mark.parametrize(("spec", "want"), [
    ({"nodeName": NODE, "containers": [{"name": "app"}]}, NODE),
    ({"containers": [{"name": "app"}]}, ""),  # not scheduled yet
], ids=["bound", "unscheduled"])
def test_pod_node(spec: dict[str, Any], want: str) -> None:
    assert pods.pod_node(pod(spec=spec)) == want


def test_pod_node_without_spec() -> None:
    assert pods.pod_node(decode({"kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}})) == ""


@pytest.mark.parametrize(("meta", "want"), [
    pytest.param({"deletionTimestamp": "2026-11-20T10:00:30Z", "deletionGracePeriodSeconds": 30},
                 "2026-11-20T10:00:00Z", id="grace seconds before the timestamp"),
    pytest.param({"deletionTimestamp": "2026-11-20T10:05:00Z", "deletionGracePeriodSeconds": 300},
                 "2026-11-20T10:00:00Z", id="a long grace period"),
    pytest.param({"deletionTimestamp": "2026-11-20T10:00:00Z", "deletionGracePeriodSeconds": 0},
                 "2026-11-20T10:00:00Z", id="force-deleted: grace 0"),
    pytest.param({"deletionTimestamp": "2026-11-20T10:00:00Z"}, "2026-11-20T10:00:00Z",
                 id="no grace recorded (a finalizer-held object)"),
    pytest.param({"deletionTimestamp": "2026-11-20T10:00:30.123456789Z", "deletionGracePeriodSeconds": 30},
                 "2026-11-20T10:00:00.123456Z", id="RFC 3339 nanoseconds"),
    pytest.param({}, None, id="not being deleted"),
])
def test_deletion_started(meta: dict[str, Any], want: str | None) -> None:
    assert pods.deletion_started(pod(meta=meta)) == (t(want) if want else None)


@pytest.mark.parametrize(("meta", "status", "want"), [
    pytest.param({}, {"conditions": [ready("True", "2026-11-20T09:00:20Z")]}, "2026-11-20T09:00:20Z",
                 id="readiness after creation"),
    pytest.param({"creationTimestamp": "2026-11-20T09:30:00Z"},
                 {"conditions": [ready("True", "2026-11-20T09:00:20Z")]}, "2026-11-20T09:30:00Z",
                 id="creation after the transition: the later one"),
    pytest.param({}, {"conditions": [ready("True", None)]}, "2026-11-20T09:00:00Z",
                 id="Ready without a transition time: creation"),
    pytest.param({}, {"conditions": [CONTAINERS_READY]}, "2026-11-20T09:00:00Z",
                 id="ContainersReady does not count"),
    pytest.param({}, None, "2026-11-20T09:00:00Z", id="no status: creation"),
    pytest.param({"deletionTimestamp": "2026-11-20T10:00:30Z", "deletionGracePeriodSeconds": 30},
                 {"conditions": [ready("True", "2026-11-20T09:00:20Z")]}, "2026-11-20T10:00:00Z",
                 id="deletion: when it started, not the deadline"),
    pytest.param({"deletionTimestamp": "2026-11-20T09:00:40Z", "deletionGracePeriodSeconds": 30},
                 {"conditions": [ready("True", "2026-11-20T09:00:20Z")]}, "2026-11-20T09:00:20Z",
                 id="deletion started before the transition"),
    pytest.param({"creationTimestamp": None}, {"conditions": [ready("True", None)]}, None, id="no times at all"),
])
def test_pod_changed_at(meta: dict[str, Any], status: dict[str, Any] | None, want: str | None) -> None:
    assert pods.pod_changed_at(pod(meta=meta, status=status)) == (t(want) if want else None)


TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


@pytest.mark.parametrize(("meta", "want"), [
    pytest.param({"creationTimestamp": "2026-11-20T09:00:00Z", "annotations": {TRIGGER: "2026-11-20T09:40:00Z"}},
                 "2026-11-20T09:40:00Z", id="the trigger time after creation"),
    pytest.param({"creationTimestamp": "2026-11-20T09:50:00Z", "annotations": {TRIGGER: "2026-11-20T09:40:00Z"}},
                 "2026-11-20T09:50:00Z", id="a trigger time older than the object: creation"),
    pytest.param({"creationTimestamp": "2026-11-20T09:00:00Z"}, "2026-11-20T09:00:00Z", id="no annotations"),
    pytest.param({"creationTimestamp": "2026-11-20T09:00:00Z", "annotations": {"other": "x"}},
                 "2026-11-20T09:00:00Z", id="no trigger annotation"),
    pytest.param({"annotations": {TRIGGER: "2026-11-20T09:40:00.5Z"}}, "2026-11-20T09:40:00.5Z",
                 id="trigger time only, fractional"),
    pytest.param({"annotations": {TRIGGER: "not a time"}}, None, id="neither parses"),
])
def test_write_time(meta: dict[str, Any], want: str | None) -> None:
    raw = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4",
           "metadata": {"name": "cart-abcde", "namespace": "shop", **meta}}
    assert pods.write_time(decode(raw)) == (t(want) if want else None)


DELETING = {"deletionTimestamp": "2026-11-20T10:00:30Z", "deletionGracePeriodSeconds": 30}


@pytest.mark.parametrize(("meta", "cond", "pnra", "want"), [
    pytest.param({}, "True", False, (True, True, False), id="ready"),
    pytest.param({}, "False", False, (False, False, False), id="not ready"),
    pytest.param(DELETING, "True", False, (False, True, True), id="terminating and still serving"),
    pytest.param(DELETING, "False", False, (False, False, True), id="terminating, not serving"),
    pytest.param({}, "False", True, (True, False, False), id="publishNotReadyAddresses: ready regardless"),
    pytest.param(DELETING, "False", True, (True, False, True), id="publishNotReadyAddresses while terminating"),
])
def test_endpoint_conditions(meta: dict[str, Any], cond: str, pnra: bool, want: tuple[bool, bool, bool]) -> None:
    p = pod(meta=meta, status={"phase": "Running", "conditions": [ready(cond)]})
    got = pods.endpoint_conditions(p, pnra)
    assert (got.ready, got.serving, got.terminating) == want


def test_terminal_phases() -> None:
    assert pods.TERMINAL_PHASES == ("Succeeded", "Failed")
