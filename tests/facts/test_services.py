"""auditor.facts.services: selector, type, address families and port resolution (FindPort) as the controllers
read a Service."""
from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auditor.facts import services
from auditor.state.objects import KubeObject, ServicePort


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def service(spec: dict[str, Any] | None) -> KubeObject:
    raw: dict[str, Any] = {"kind": "Service", "apiVersion": "v1",
                           "metadata": {"name": "cart", "namespace": "shop",
                                        "uid": "3d1c6a52-0000-4000-8000-000000000003", "resourceVersion": "7001",
                                        "creationTimestamp": "2026-11-01T08:00:00Z"}}
    if spec is not None:
        raw["spec"] = spec
    return decode(raw)


CLUSTER_IP = {"type": "ClusterIP", "clusterIP": "172.20.14.3", "clusterIPs": ["172.20.14.3"],
              "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": "cart"},
              "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
              "sessionAffinity": "None"}
EXTERNAL = {"type": "ExternalName", "externalName": "db.example.com", "selector": {"app": "cart"}}


@pytest.mark.parametrize(("spec", "selector", "external", "manages"), [
    pytest.param(CLUSTER_IP, True, False, True, id="ClusterIP with a selector"),
    pytest.param({**CLUSTER_IP, "selector": {}}, False, False, False, id="empty selector reads back as none"),
    pytest.param({k: v for k, v in CLUSTER_IP.items() if k != "selector"}, False, False, False, id="selectorless"),
    pytest.param(EXTERNAL, True, True, False, id="ExternalName, even with a selector"),
    pytest.param({**CLUSTER_IP, "type": "LoadBalancer"}, True, False, True, id="LoadBalancer"),
    pytest.param(None, False, False, False, id="no spec"),
])
def test_selector_type_and_controller_management(spec: dict[str, Any] | None, selector: bool, external: bool,
                                                  manages: bool) -> None:
    svc = service(spec)
    assert services.has_selector(svc) is selector
    assert services.is_external_name(svc) is external
    assert services.controller_manages(svc) is manages


@pytest.mark.parametrize(("spec", "want"), [
    ({**CLUSTER_IP, "publishNotReadyAddresses": True}, True),
    ({**CLUSTER_IP, "publishNotReadyAddresses": False}, False),
    (CLUSTER_IP, False),
    (None, False),
], ids=["true", "false", "absent", "no spec"])
def test_publishes_not_ready(spec: dict[str, Any] | None, want: bool) -> None:
    assert services.publishes_not_ready(service(spec)) is want


@pytest.mark.parametrize(("spec", "want"), [
    pytest.param(CLUSTER_IP, ["IPv4"], id="single-stack IPv4"),
    pytest.param({**CLUSTER_IP, "ipFamilies": ["IPv6", "IPv4"], "clusterIP": "fd00:20::a",
                  "ipFamilyPolicy": "PreferDualStack"}, ["IPv6", "IPv4"], id="dual-stack, IPv6 first: in order"),
    pytest.param({**CLUSTER_IP, "ipFamilies": ["IPv4", "IPv6"]}, ["IPv4", "IPv6"], id="dual-stack"),
    pytest.param({**CLUSTER_IP, "ipFamilies": ["IPv6"], "clusterIP": "fd00:20::a"}, ["IPv6"], id="IPv6 only"),
    pytest.param({**CLUSTER_IP, "ipFamilies": ["IPvX"]}, ["IPv4"], id="an unknown family only: IPv4"),
    pytest.param({**CLUSTER_IP, "ipFamilies": ["IPvX", "IPv6"]}, ["IPv6"], id="an unknown family is dropped"),
    pytest.param({"clusterIP": "None", "selector": {"app": "cart"}}, ["IPv4", "IPv6"],
                 id="headless without ipFamilies: both"),
    pytest.param({"clusterIP": "None", "ipFamilies": ["IPv6"]}, ["IPv6"], id="headless with ipFamilies"),
    pytest.param({"clusterIP": "fd00:20::a"}, ["IPv6"], id="no ipFamilies: the clusterIP's family (IPv6)"),
    pytest.param({"clusterIP": "172.20.0.10"}, ["IPv4"], id="no ipFamilies: the clusterIP's family (IPv4)"),
    pytest.param({"type": "ClusterIP"}, ["IPv4"], id="neither"),
    pytest.param(None, ["IPv4"], id="no spec"),
])
def test_service_families(spec: dict[str, Any] | None, want: list[str]) -> None:
    assert services.service_families(service(spec)) == want


def pod(spec: dict[str, Any] | None) -> KubeObject:
    raw: dict[str, Any] = {"kind": "Pod", "apiVersion": "v1",
                           "metadata": {"name": "cart-7d9f8b6c4-x2x7q", "namespace": "shop",
                                        "uid": "0f6f7a3e-0000-4000-8000-000000000001"}}
    if spec is not None:
        raw["spec"] = spec
    return decode(raw)


APP = {"name": "app", "image": "nginx:1.27", "ports": [
    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
    {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
    {"name": "metrics", "containerPort": 9090}]}  # protocol left out: the API defaults it to TCP
SIDECAR = {"name": "proxy", "restartPolicy": "Always", "ports": [{"name": "proxy", "containerPort": 15001,
                                                                  "protocol": "TCP"}]}
INIT = {"name": "migrate", "ports": [{"name": "migrate", "containerPort": 7000, "protocol": "TCP"}]}
SPEC = {"nodeName": "ip-10-0-1-17", "containers": [{"name": "log", "image": "fluent-bit"}, APP],
        "initContainers": [SIDECAR, INIT]}


def port(**fields: Any) -> ServicePort:
    return msgspec.json.decode(json.dumps({"name": "p", "port": 80, **fields}).encode(), type=ServicePort)


@pytest.mark.parametrize(("svc_port", "spec", "want"), [
    pytest.param({"protocol": "TCP", "targetPort": 8080}, SPEC, 8080, id="a number"),
    pytest.param({"protocol": "TCP", "targetPort": "8443"}, SPEC, 8443, id="a number written as a string"),
    pytest.param({"protocol": "TCP"}, SPEC, 80, id="no targetPort: the Service port"),
    pytest.param({"protocol": "TCP", "targetPort": 0}, SPEC, 80, id="targetPort 0: the Service port"),
    pytest.param({"protocol": "TCP", "targetPort": ""}, SPEC, 80, id="targetPort empty: the Service port"),
    pytest.param({"protocol": "TCP", "targetPort": 8080}, None, 8080, id="a number needs no Pod spec"),
    pytest.param({"protocol": "TCP", "targetPort": "http"}, SPEC, 8080, id="a name, in the second container"),
    pytest.param({"protocol": "UDP", "targetPort": "dns"}, SPEC, 5353, id="a UDP name"),
    pytest.param({"protocol": "UDP", "targetPort": "http"}, SPEC, None, id="a name with another protocol"),
    pytest.param({"protocol": "TCP", "targetPort": "dns"}, SPEC, None, id="TCP Service port, UDP container port"),
    pytest.param({"targetPort": "http"}, SPEC, 8080, id="Service protocol left out: TCP"),
    pytest.param({"protocol": "TCP", "targetPort": "metrics"}, SPEC, 9090, id="container protocol left out: TCP"),
    pytest.param({"protocol": "TCP", "targetPort": "proxy"}, SPEC, 15001, id="a sidecar (restartable init)"),
    pytest.param({"protocol": "TCP", "targetPort": "migrate"}, SPEC, None, id="a plain init container"),
    pytest.param({"protocol": "TCP", "targetPort": "grpc"}, SPEC, None, id="an unknown name"),
    pytest.param({"protocol": "TCP", "targetPort": "http"}, {"nodeName": "n"}, None, id="no containers"),
    pytest.param({"protocol": "TCP", "targetPort": "http"}, None, None, id="a name and no Pod spec"),
])
def test_find_port(svc_port: dict[str, Any], spec: dict[str, Any] | None, want: int | None) -> None:
    assert services.find_port(pod(spec), port(**svc_port)) == want


@pytest.mark.parametrize(("ports", "spec", "want"), [
    pytest.param([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], SPEC, True,
                 id="the named port resolves"),
    pytest.param([{"name": "grpc", "port": 81, "protocol": "TCP", "targetPort": "grpc"},
                  {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], SPEC, True,
                 id="one of two resolves"),
    pytest.param([{"name": "grpc", "port": 81, "protocol": "TCP", "targetPort": "grpc"},
                  {"name": "dns", "port": 53, "protocol": "TCP", "targetPort": "dns"}], SPEC, False,
                 id="none resolves (protocol mismatch included)"),
    pytest.param([], SPEC, True, id="a Service without ports"),
])
def test_serves_any_port(ports: list[dict[str, Any]], spec: dict[str, Any], want: bool) -> None:
    svc = service({**CLUSTER_IP, "ports": ports})
    assert services.serves_any_port(svc, pod(spec)) is want


def test_serves_any_port_without_a_service_spec() -> None:
    assert services.serves_any_port(service(None), pod(SPEC)) is True
