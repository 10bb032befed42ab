"""auditor.facts.endpoints: v1 Endpoints addresses, truncation at 1000, leader election, mirroring opt-out, writer."""
from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auditor.facts import endpoints
from auditor.state.objects import EndpointAddress, KubeObject

OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
LEADER = "control-plane.alpha.kubernetes.io/leader"


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def endpoints_object(*, subsets: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None,
                     annotations: dict[str, str] | None = None) -> KubeObject:
    meta: dict[str, Any] = {"name": "cart", "namespace": "shop", "uid": "6a0d1d8c-0000-4000-8000-000000000005",
                            "resourceVersion": "8812", "creationTimestamp": "2026-11-01T08:00:00Z",
                            "labels": {"app.kubernetes.io/name": "cart", **(labels or {})},
                            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time":
                                            "2026-11-20T09:00:00Z", **(annotations or {})}}
    raw: dict[str, Any] = {"kind": "Endpoints", "apiVersion": "v1", "metadata": meta}
    if subsets is not None:
        raw["subsets"] = subsets
    return decode(raw)


def addr(i: int) -> dict[str, Any]:
    return {"ip": f"10.0.{i // 250}.{i % 250 + 1}", "nodeName": "ip-10-0-1-17",
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": f"cart-{i}", "uid": f"uid-{i}"}}


PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize(("subsets", "ready", "not_ready"), [
    pytest.param([{"addresses": [addr(0), addr(1)], "notReadyAddresses": [addr(2)], "ports": PORTS}],
                 ["cart-0", "cart-1"], ["cart-2"], id="one subset"),
    pytest.param([{"addresses": [addr(0)], "ports": PORTS},
                  {"addresses": [addr(1)], "notReadyAddresses": [addr(2)], "ports": [
                      {"name": "metrics", "port": 9090, "protocol": "TCP"}]},
                  {"notReadyAddresses": [addr(3)], "ports": PORTS}],
                 ["cart-0", "cart-1"], ["cart-2", "cart-3"], id="subsets per port set, in order"),
    pytest.param([{"notReadyAddresses": [addr(2)], "ports": PORTS}], [], ["cart-2"], id="only not ready"),
    pytest.param([], [], [], id="no subsets"),
    pytest.param(None, [], [], id="subsets left out (a Service with no Pods)"),
])
def test_endpoints_addresses(subsets: list[dict[str, Any]] | None, ready: list[str], not_ready: list[str]) -> None:
    got_ready, got_not_ready = endpoints.endpoints_addresses(endpoints_object(subsets=subsets))
    assert [a.target_ref.name for a in got_ready if a.target_ref] == ready
    assert [a.target_ref.name for a in got_not_ready if a.target_ref] == not_ready


@pytest.mark.parametrize(("ready", "not_ready", "annotations", "want"), [
    pytest.param(999, 0, {}, False, id="999 addresses"),
    pytest.param(1000, 0, {}, True, id="exactly 1000: the controller's cap"),
    pytest.param(999, 1, {}, True, id="1000 counting not-ready addresses"),
    pytest.param(600, 399, {}, False, id="999 across both lists"),
    pytest.param(1000, 0, {OVER_CAPACITY: "truncated"}, True, id="annotated and full"),
    pytest.param(3, 0, {OVER_CAPACITY: "truncated"}, True, id="annotated (a count the writer chose)"),
    pytest.param(0, 0, {}, False, id="empty"),
])
def test_endpoints_truncated(ready: int, not_ready: int, annotations: dict[str, str], want: bool) -> None:
    sub: dict[str, Any] = {"ports": PORTS}
    if ready:
        sub["addresses"] = [addr(i) for i in range(ready)]
    if not_ready:
        sub["notReadyAddresses"] = [addr(ready + i) for i in range(not_ready)]
    assert endpoints.endpoints_truncated(endpoints_object(subsets=[sub], annotations=annotations)) is want


def test_max_addresses() -> None:
    assert endpoints.MAX_ENDPOINTS_ADDRESSES == 1000


LEASE_RECORD = json.dumps({"holderIdentity": "ip-10-0-1-17_8f1c", "leaseDurationSeconds": 15,
                           "acquireTime": "2026-11-20T08:00:00Z", "renewTime": "2026-11-20T09:59:58Z",
                           "leaderTransitions": 3})


@pytest.mark.parametrize(("labels", "annotations", "leader", "skip", "controller"), [
    pytest.param({}, {LEADER: LEASE_RECORD}, True, False, False, id="a leader-election lock"),
    pytest.param({"endpointslice.kubernetes.io/skip-mirror": "true"}, {}, False, True, False,
                 id="opted out of mirroring"),
    pytest.param({"endpointslice.kubernetes.io/skip-mirror": "false"}, {}, False, False, False,
                 id="skip-mirror false"),
    pytest.param({"endpointslice.kubernetes.io/skip-mirror": "True"}, {}, False, False, False,
                 id="skip-mirror True: only the exact 'true' counts"),
    pytest.param({"endpoints.kubernetes.io/managed-by": "endpoint-controller"}, {}, False, False, True,
                 id="written by the Endpoints controller"),
    pytest.param({"endpoints.kubernetes.io/managed-by": "my-operator"}, {}, False, False, False,
                 id="written by someone else"),
    pytest.param({}, {}, False, False, False, id="unlabelled"),
])
def test_leader_mirror_and_writer(labels: dict[str, str], annotations: dict[str, str], leader: bool, skip: bool,
                                  controller: bool) -> None:
    ep = endpoints_object(labels=labels, annotations=annotations)
    assert endpoints.is_leader_election(ep) is leader
    assert endpoints.skips_mirror(ep) is skip
    assert endpoints.written_by_endpoints_controller(ep) is controller


@pytest.mark.parametrize(("address", "want"), [
    pytest.param({"ip": "10.0.1.250", "targetRef": {"kind": "Node", "name": "ip-10-0-1-17"}}, "ip-10-0-1-17",
                 id="a Node target"),
    pytest.param({"ip": "10.0.1.250", "nodeName": "ip-10-0-2-9", "targetRef": {"kind": "Node", "name": "ip-10-0-1-17"}},
                 "ip-10-0-1-17", id="the Node target wins over nodeName"),
    pytest.param({"ip": "10.0.1.250", "nodeName": "ip-10-0-2-9"}, "ip-10-0-2-9", id="no target: nodeName"),
    pytest.param({"ip": "10.0.1.250", "nodeName": "ip-10-0-2-9", "targetRef": {"name": "x"}}, "ip-10-0-2-9",
                 id="a target without kind: nodeName"),
    pytest.param({"ip": "10.0.1.250", "nodeName": "ip-10-0-2-9", "targetRef": {"kind": "Node"}}, "",
                 id="a Node target without name"),
    pytest.param({"ip": "10.0.1.12", "nodeName": "ip-10-0-2-9",
                  "targetRef": {"kind": "Pod", "namespace": "shop", "name": "cart-0", "uid": "uid-0"}}, "",
                 id="a Pod address names no Node of its own"),
    pytest.param({"ip": "10.9.0.1"}, "", id="an external address"),
])
def test_address_node(address: dict[str, Any], want: str) -> None:
    addr = msgspec.json.decode(json.dumps(address).encode(), type=EndpointAddress)
    assert endpoints.address_node(addr) == want
