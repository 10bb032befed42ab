"""auditor.facts.slices: who wrote an EndpointSlice, which slices kube-proxy programs for a Service, and the ready
endpoints it routes to."""
from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auditor.facts import slices
from auditor.facts.slices import ReadyEndpoint
from auditor.state.objects import Endpoint, KubeObject

SVC_UID = "3d1c6a52-0000-4000-8000-000000000003"
CONTROLLER = "endpointslice-controller.k8s.io"
MIRRORING = "endpointslicemirroring-controller.k8s.io"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SERVICE_NAME = "kubernetes.io/service-name"


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def slc(name: str = "cart-x7k2p", *, namespace: str = "shop", manager: str | None = CONTROLLER,
        service: str | None = "cart", owners: list[dict[str, Any]] | None = None, deleting: bool = False,
        endpoints: list[dict[str, Any]] | None = None, address_type: str = "IPv4") -> KubeObject:
    labels = {}
    if service is not None:
        labels[SERVICE_NAME] = service
    if manager is not None:
        labels[MANAGED_BY] = manager
    meta: dict[str, Any] = {"name": name, "generateName": f"{service}-" if manager == CONTROLLER else None,
                            "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "5120",
                            "creationTimestamp": "2026-11-20T09:00:00Z", "labels": labels}
    meta = {k: v for k, v in meta.items() if v is not None}
    if owners is None and manager == CONTROLLER:
        owners = [{"apiVersion": "v1", "kind": "Service", "name": service, "uid": SVC_UID, "controller": True,
                   "blockOwnerDeletion": True}]
    if owners:
        meta["ownerReferences"] = owners
    if deleting:
        meta["deletionTimestamp"] = "2026-11-20T10:00:00Z"
        meta["deletionGracePeriodSeconds"] = 0
        meta["finalizers"] = ["foregroundDeletion"]
    return decode({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": meta,
                   "addressType": address_type, "endpoints": endpoints or [],
                   "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})


def service(*, selector: dict[str, str] | None = None, svc_type: str = "ClusterIP", uid: str = SVC_UID) -> KubeObject:
    spec: dict[str, Any] = {"type": svc_type}
    if svc_type == "ExternalName":
        spec["externalName"] = "db.example.com"
    else:
        spec.update({"clusterIP": "172.20.14.3", "ipFamilies": ["IPv4"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]})
    if selector is not None:
        spec["selector"] = selector
    meta: dict[str, Any] = {"name": "cart", "namespace": "shop", "resourceVersion": "7001",
                            "creationTimestamp": "2026-11-01T08:00:00Z"}
    if uid:
        meta["uid"] = uid
    return decode({"kind": "Service", "apiVersion": "v1", "metadata": meta, "spec": spec})


APISERVER: dict[str, Any] = {"name": "kubernetes", "namespace": "default", "manager": None, "service": "kubernetes",
                              "owners": []}


@pytest.mark.parametrize(("fields", "apiserver"), [
    pytest.param(APISERVER, True, id="kube-apiserver's own: default/kubernetes, no managed-by"),
    pytest.param({**APISERVER, "namespace": "kube-system"}, False, id="another namespace"),
    pytest.param({**APISERVER, "name": "kubernetes-2"}, False, id="another name"),
    pytest.param({**APISERVER, "service": "kube-dns"}, False, id="labelled for another Service"),
    pytest.param({**APISERVER, "service": None}, False, id="no service-name label"),
    pytest.param({**APISERVER, "manager": "someone"}, False, id="a managed-by label"),
])
def test_is_apiserver_slice(fields: dict[str, Any], apiserver: bool) -> None:
    s = slc(**fields)
    assert slices.is_apiserver_slice(s) is apiserver
    assert (slices.slice_owner(s) == "apiserver") is apiserver


@pytest.mark.parametrize(("manager", "extra", "writer", "owner", "remote"), [
    pytest.param(CONTROLLER, (), None, "controller", False, id="the EndpointSlice controller"),
    pytest.param(MIRRORING, (), None, "mirroring", False, id="the mirroring controller"),
    pytest.param("endpointslice-mesh-controller.cilium.io", (), "Cilium ClusterMesh", "third-party", True,
                 id="Cilium ClusterMesh"),
    pytest.param("lighthouse-agent.submariner.io", (), "Submariner Lighthouse", "third-party", True,
                 id="Submariner"),
    pytest.param("aws-cloud-map-mcs-controller-for-k8s", (), "AWS Cloud Map MCS controller", "third-party", True,
                 id="AWS Cloud Map MCS"),
    pytest.param("endpointslice-dispatch-controller.karmada.io", (), "Karmada", "third-party", True, id="Karmada"),
    pytest.param("prometheus-operator", (), "prometheus-operator (kubelet endpoints)", "third-party", False,
                 id="prometheus-operator: local, not remote"),
    pytest.param("istio-multicluster", ("linkerd", "istio-multicluster"), "istio-multicluster", "third-party", False,
                 id="configured in third_party_managers"),
    pytest.param("istio-multicluster", ("linkerd",), None, "handmade", False, id="not configured: hand-made"),
    pytest.param(None, ("",), None, "handmade", False, id="no managed-by is never a configured writer"),
    pytest.param("kubectl", (), None, "handmade", False, id="someone with kubectl"),
])
def test_writer(manager: str | None, extra: tuple[str, ...], writer: str | None, owner: str, remote: bool) -> None:
    s = slc(manager=manager)
    assert slices.slice_manager(s) == (manager or "")
    assert slices.third_party_writer(s, extra) == writer
    assert slices.slice_owner(s, extra) == owner
    assert slices.is_handmade(s, extra) is (owner == "handmade")
    assert slices.is_remote_writer(s) is remote


def test_extra_writers_may_be_any_iterable() -> None:
    s = slc(manager="istio-multicluster")
    assert slices.third_party_writer(s, iter(["istio-multicluster"])) == "istio-multicluster"
    assert slices.slice_owner(s, iter(["istio-multicluster"])) == "third-party"


@pytest.mark.parametrize(("owners", "kind", "uid", "want"), [
    ([{"kind": "Service", "name": "cart", "uid": SVC_UID, "controller": True}], "Service", SVC_UID, True),
    ([{"kind": "Endpoints", "name": "cart", "uid": SVC_UID}], "Service", SVC_UID, False),
    ([{"kind": "Service", "name": "cart", "uid": "old-uid"}], "Service", SVC_UID, False),
    ([{"kind": "Deployment", "name": "x", "uid": "d"}, {"kind": "Service", "name": "cart", "uid": SVC_UID}],
     "Service", SVC_UID, True),
    ([], "Service", SVC_UID, False),
], ids=["owner", "other kind, same uid", "same kind, old uid", "second reference", "no owners"])
def test_owned_by(owners: list[dict[str, Any]], kind: str, uid: str, want: bool) -> None:
    assert slices.owned_by(slc(manager="someone", owners=owners), kind, uid) is want


FOREIGN = [{"apiVersion": "v1", "kind": "Service", "name": "cart", "uid": "uid-of-a-deleted-service"}]


def names(objs: list[KubeObject]) -> list[str]:
    return [o.metadata.name for o in objs]


LABELLED = [
    slc("cart-deleting", deleting=True),
    slc("cart-foreign", owners=FOREIGN),
    slc("cart-own"),
    slc("cart-mirror", manager=MIRRORING, owners=[{"kind": "Endpoints", "name": "cart", "uid": "ep-uid"}]),
    slc("cart-handmade", manager=None),
    slc("cart-cilium", manager="endpointslice-mesh-controller.cilium.io", owners=[]),
]


@pytest.mark.parametrize(("svc", "routed", "proxied"), [
    pytest.param(service(selector={"app": "cart"}), ["cart-own", "cart-mirror"],
                 ["cart-foreign", "cart-own", "cart-mirror", "cart-handmade", "cart-cilium"],
                 id="selector: the controller's own and mirrored; kube-proxy takes every labelled slice"),
    pytest.param(service(), ["cart-own", "cart-mirror", "cart-handmade", "cart-cilium"],
                 ["cart-foreign", "cart-own", "cart-mirror", "cart-handmade", "cart-cilium"],
                 id="selectorless: its own slices too"),
    pytest.param(service(selector={"app": "cart"}, uid=""),
                 ["cart-foreign", "cart-own", "cart-mirror"],
                 ["cart-foreign", "cart-own", "cart-mirror", "cart-handmade", "cart-cilium"],
                 id="a Service without uid (kubectl dump): no owner check"),
    pytest.param(service(selector={"app": "cart"}, svc_type="ExternalName"), ["cart-own", "cart-mirror"], [],
                 id="ExternalName: kube-proxy programs nothing"),
])
def test_routed_and_proxied(svc: KubeObject, routed: list[str], proxied: list[str]) -> None:
    assert names(slices.routed_among(svc, LABELLED)) == routed
    assert names(slices.proxied_among(svc, LABELLED)) == proxied
    assert names(slices.routed_among(svc, iter(LABELLED))) == routed  # one pass over a generator


def test_routed_slices_after_a_skipped_one() -> None:
    svc = service(selector={"app": "cart"})
    ordered = [slc("cart-handmade", manager=None), slc("cart-deleting", deleting=True),
               slc("cart-foreign", owners=FOREIGN), slc("cart-own")]
    assert names(slices.routed_among(svc, ordered)) == ["cart-own"]


@pytest.mark.parametrize(("conditions", "want"), [
    pytest.param(None, True, id="no conditions: unknown, interpreted as ready"),
    pytest.param({}, True, id="empty conditions"),
    pytest.param({"serving": False, "terminating": True}, True, id="ready absent means ready"),
    pytest.param({"ready": True, "serving": True, "terminating": False}, True, id="ready"),
    pytest.param({"ready": False, "serving": True, "terminating": True}, False, id="ready: false"),
])
def test_endpoint_ready(conditions: dict[str, Any] | None, want: bool) -> None:
    raw: dict[str, Any] = {"addresses": ["10.0.1.5"], "nodeName": "ip-10-0-1-17"}
    if conditions is not None:
        raw["conditions"] = conditions
    ep = msgspec.json.decode(json.dumps(raw).encode(), type=Endpoint)
    assert slices.endpoint_ready(ep) is want


def ep(ip: str, pod: str | None = None, *, ready: bool | None = True, node: str | None = "ip-10-0-1-17",
       zone: str | None = "eu-west-1a") -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": [ip]}
    if ready is not None:
        out["conditions"] = {"ready": ready, "serving": ready, "terminating": False}
    if node is not None:
        out["nodeName"] = node
    if zone is not None:
        out["zone"] = zone
    if pod is not None:
        out["targetRef"] = {"kind": "Pod", "namespace": "shop", "name": pod, "uid": f"uid-{pod}"}
    return out


def test_ready_endpoints_in() -> None:
    first = slc("cart-a", endpoints=[
        {"addresses": [], "conditions": {"ready": True}},                       # no address: skipped
        ep("10.0.1.4", "cart-0", ready=False),                                  # not ready: skipped
        ep("10.0.1.5", "cart-1"),
        ep("10.0.1.6", "cart-2", ready=None, node=None, zone=None),             # ready absent: ready
    ])
    second = slc("cart-b", endpoints=[
        ep("10.0.1.7", None, node="ip-10-0-2-9", zone="eu-west-1b"),           # no targetRef (hand-made)
        ep("10.0.1.5", "cart-1"),                                               # duplicate across slices
    ])
    v6 = slc("cart-c", address_type="IPv6", endpoints=[ep("2600:1F14:0ABC::0005", "cart-1")])
    got = slices.ready_endpoints_in([first, second, v6])
    assert got == {
        "10.0.1.5": ReadyEndpoint("10.0.1.5", "ip-10-0-1-17", "eu-west-1a", "uid-cart-1", "cart-1"),
        "10.0.1.6": ReadyEndpoint("10.0.1.6", "", "", "uid-cart-2", "cart-2"),
        "10.0.1.7": ReadyEndpoint("10.0.1.7", "ip-10-0-2-9", "eu-west-1b", "", ""),
        "2600:1f14:abc::5": ReadyEndpoint("2600:1f14:abc::5", "ip-10-0-1-17", "eu-west-1a", "uid-cart-1", "cart-1"),
    }


def test_ready_endpoints_in_a_slice_without_endpoints() -> None:
    raw = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4",
           "metadata": {"name": "cart-empty", "namespace": "shop", "labels": {SERVICE_NAME: "cart"}}}
    assert slices.ready_endpoints_in([decode(raw), slc(endpoints=[ep("10.0.1.5", "cart-1")])]).keys() == {"10.0.1.5"}


def ready_of(*addresses: str) -> dict[str, ReadyEndpoint]:
    return {a: ReadyEndpoint(a, "n", "z", "u") for a in addresses}


@pytest.mark.parametrize(("addresses", "want"), [
    pytest.param((), 0, id="none"),
    pytest.param(("10.0.1.5", "10.0.1.6", "10.0.1.7"), 3, id="IPv4 only"),
    pytest.param(("fd00::5", "fd00::6"), 2, id="IPv6 only"),
    pytest.param(("10.0.1.5", "fd00::5", "10.0.1.6", "fd00::6"), 2, id="two dual-stack Pods"),
    pytest.param(("10.0.1.5", "10.0.1.6", "10.0.1.7", "fd00::5"), 3, id="more IPv4 than IPv6"),
    pytest.param(("10.0.1.5", "fd00::5", "fd00::6", "fd00::7"), 3, id="more IPv6 than IPv4"),
])
def test_ready_count(addresses: tuple[str, ...], want: int) -> None:
    assert slices.ready_count(ready_of(*addresses)) == want


def test_known_writers() -> None:
    # the remote writers are third parties whose endpoints name other clusters' nodes and Pods
    assert slices.REMOTE_WRITERS < set(slices.KNOWN_THIRD_PARTY)
    assert slices.MULTICLUSTER_WITHOUT_SERVICE_NAME <= slices.REMOTE_WRITERS
