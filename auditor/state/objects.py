"""Typed views of the Kubernetes objects the rules read, decoded straight from JSON with msgspec.

Only the fields the rules read are declared; everything else in the input is skipped by the
decoder, which keeps memory a small multiple of the input instead of the 6-8x of full dicts.
One struct (`KubeObject`) covers every kind: the kinds' spec and status fields do not clash, so a
mixed `List` decodes in a single pass whatever kinds it holds.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Optional

import msgspec

from auditor.state import kinds as _kinds
from auditor.state.traffic import IngressBackend, PolicyRule, RoleRef, RouteRule, ServiceRef, Subject, Webhook


class _S(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """Base: camelCase on the wire, no cyclic-GC tracking (these structs hold no cycles)."""


class OwnerReference(_S):
    kind: str = ""
    name: str = ""
    uid: str = ""
    api_version: str = ""
    controller: Optional[bool] = None


class ObjectMeta(_S):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generate_name: str = ""
    resource_version: str = ""
    creation_timestamp: Optional[str] = None
    deletion_timestamp: Optional[str] = None
    deletion_grace_period_seconds: Optional[int] = None
    labels: Optional[dict[str, str]] = None
    annotations: Optional[dict[str, str]] = None
    owner_references: Optional[list[OwnerReference]] = None


class ContainerPort(_S):
    container_port: int = 0
    name: str = ""
    protocol: str = "TCP"


class Probe(_S):
    """Only whether a probe is declared, and how: nothing of its command or headers is read."""

    initial_delay_seconds: Optional[int] = None
    period_seconds: Optional[int] = None


class Hook(_S):
    """A lifecycle handler: only which kind it is (`sleep`, `exec`, `httpGet`, `tcpSocket`) and the sleep's length."""

    exec: Optional[dict[str, Any]] = None
    http_get: Optional[dict[str, Any]] = None
    tcp_socket: Optional[dict[str, Any]] = None
    sleep: Optional[dict[str, Any]] = None


class Lifecycle(_S):
    pre_stop: Optional[Hook] = None


class Container(_S):
    name: str = ""
    ports: Optional[list[ContainerPort]] = None
    restart_policy: str = ""  # "Always" on an init container makes it a sidecar
    readiness_probe: Optional[Probe] = None
    startup_probe: Optional[Probe] = None
    lifecycle: Optional[Lifecycle] = None


class ReadinessGate(_S):
    condition_type: str = ""


class ServicePort(_S):
    name: str = ""
    port: int = 0
    protocol: str = "TCP"
    target_port: int | str | None = None


class Taint(_S):
    key: str = ""
    value: str = ""
    effect: str = ""


class LabelSelectorRequirement(_S):
    key: str = ""
    operator: str = ""
    values: Optional[list[str]] = None


class LabelSelector(_S):
    match_labels: Optional[dict[str, str]] = None
    match_expressions: Optional[list[LabelSelectorRequirement]] = None


class PodTemplate(_S):
    metadata: Optional[ObjectMeta] = None
    spec: Optional[Spec] = None


class Spec(_S):
    """Union of the spec fields the rules read, for every kind in `auditor.state.kinds`.

    `selector` is a Service's plain map or a workload's/PDB's LabelSelector (`matchLabels`,
    `matchExpressions`): the one field whose shape differs between kinds, so it is decoded loosely and
    read through `service_selector` / `label_selector`.
    """

    # Pod
    node_name: str = ""
    host_network: bool = False
    hostname: str = ""
    subdomain: str = ""
    termination_grace_period_seconds: Optional[int] = None
    containers: Optional[list[Container]] = None  # only names and ports are decoded: named targetPorts
    init_containers: Optional[list[Container]] = None
    readiness_gates: Optional[list[ReadinessGate]] = None
    service_account_name: str = ""
    # Service (a map) / workloads and PodDisruptionBudget (a LabelSelector)
    selector: Optional[dict[str, Any]] = None
    type: str = ""
    cluster_ip: str = msgspec.field(default="", name="clusterIP")
    cluster_ips: Optional[list[str]] = msgspec.field(default=None, name="clusterIPs")
    ip_families: Optional[list[str]] = None
    ip_family_policy: str = ""
    publish_not_ready_addresses: bool = False
    ports: Optional[list[ServicePort]] = None
    external_name: str = ""
    external_traffic_policy: str = ""
    load_balancer_class: str = ""
    # Ingress (host, http.paths) and HTTPRoute / GRPCRoute (backendRefs)
    ingress_class_name: Optional[str] = None
    default_backend: Optional[IngressBackend] = None
    rules: Optional[list[RouteRule]] = None
    hostnames: Optional[list[str]] = None
    # IngressClass
    controller: str = ""
    # TargetGroupBinding
    service_ref: Optional[ServiceRef] = None
    target_group_arn: str = msgspec.field(default="", name="targetGroupARN")
    target_type: str = ""
    # Node
    unschedulable: bool = False
    taints: Optional[list[Taint]] = None
    provider_id: str = msgspec.field(default="", name="providerID")
    # Deployment, StatefulSet, ReplicaSet, DaemonSet
    replicas: Optional[int] = None
    template: Optional[PodTemplate] = None
    # PodDisruptionBudget
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    unhealthy_pod_eviction_policy: str = ""
    # Karpenter NodePool
    disruption: Optional[dict[str, Any]] = None


class Condition(_S):
    type: str = ""
    status: str = ""
    last_transition_time: Optional[str] = None
    last_heartbeat_time: Optional[str] = None


class PodIP(_S):
    ip: str = ""


class NodeInfo(_S):
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""


class NodeAddress(_S):
    type: str = ""
    address: str = ""


class Status(_S):
    """Union of the Pod, Node and Namespace status fields the rules read."""

    phase: str = ""
    pod_ip: str = msgspec.field(default="", name="podIP")
    pod_ips: Optional[list[PodIP]] = msgspec.field(default=None, name="podIPs")
    host_ip: str = msgspec.field(default="", name="hostIP")
    conditions: Optional[list[Condition]] = None
    node_info: Optional[NodeInfo] = None
    addresses: Optional[list[NodeAddress]] = None
    # workloads
    replicas: Optional[int] = None
    ready_replicas: Optional[int] = None
    available_replicas: Optional[int] = None
    updated_replicas: Optional[int] = None
    number_ready: Optional[int] = None
    desired_number_scheduled: Optional[int] = None
    # PodDisruptionBudget
    disruptions_allowed: Optional[int] = None
    current_healthy: Optional[int] = None
    desired_healthy: Optional[int] = None
    expected_pods: Optional[int] = None
    # Karpenter NodeClaim
    node_name: str = ""
    provider_id: str = msgspec.field(default="", name="providerID")


class ObjectReference(_S):
    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""


class EndpointConditions(_S):
    ready: Optional[bool] = None
    serving: Optional[bool] = None
    terminating: Optional[bool] = None


class ForZone(_S):
    name: str = ""


class EndpointHints(_S):
    for_zones: Optional[list[ForZone]] = None
    for_nodes: Optional[list[ForZone]] = None


class Endpoint(_S):
    """One endpoint of an EndpointSlice."""

    addresses: list[str] = msgspec.field(default_factory=list)
    conditions: Optional[EndpointConditions] = None
    hostname: Optional[str] = None
    node_name: Optional[str] = None
    zone: Optional[str] = None
    target_ref: Optional[ObjectReference] = None
    hints: Optional[EndpointHints] = None


class EndpointPort(_S):
    name: Optional[str] = None
    port: Optional[int] = None
    protocol: Optional[str] = None


class EndpointAddress(_S):
    """One address of a v1 Endpoints subset."""

    ip: str = ""
    hostname: str = ""
    node_name: Optional[str] = None
    target_ref: Optional[ObjectReference] = None


class EndpointSubset(_S):
    addresses: Optional[list[EndpointAddress]] = None
    not_ready_addresses: Optional[list[EndpointAddress]] = None
    ports: Optional[list[EndpointPort]] = None


class KubeObject(_S):
    """Any object of a kind the auditor reads; `kind` says which fields mean something."""

    kind: str = ""
    api_version: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: Optional[Spec] = None
    status: Optional[Status] = None
    # EndpointSlice
    address_type: str = ""
    endpoints: Optional[list[Endpoint]] = None
    ports: Optional[list[EndpointPort]] = None
    # Endpoints
    subsets: Optional[list[EndpointSubset]] = None
    # Role, ClusterRole
    rules: Optional[list[PolicyRule]] = None
    aggregation_rule: Optional[dict[str, Any]] = None
    # RoleBinding, ClusterRoleBinding
    role_ref: Optional[RoleRef] = None
    subjects: Optional[list[Subject]] = None
    # Validating/MutatingWebhookConfiguration
    webhooks: Optional[list[Webhook]] = None
    # List / snapshot envelopes reuse the same decoder for `items`
    items: Optional[list[KubeObject]] = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels or {}

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations or {}


#: Kinds the live collector lists (group/version, plural), from the registry in `auditor.state.kinds`: every kind,
#: Namespace first; the optional ones never make a snapshot incomplete.
KINDS: dict[str, tuple[str, str]] = {
    k.name: (k.api_version, k.plural) for k in sorted(_kinds.REGISTRY, key=lambda k: k.name != "Namespace")}
NAMESPACED = {k for k in KINDS if k in _kinds.NAMESPACED}


def canonical_ip(ip: str) -> str:
    """IPv6 addresses have many spellings; the controllers write the canonical one."""
    if ":" in ip:
        try:
            return str(ipaddress.ip_address(ip))
        except ValueError:
            return ip
    return ip


def ip_family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def service_selector(svc: KubeObject) -> dict[str, str]:
    """A Service's selector map ({} when selectorless; an empty map reads back as none: the controllers test
    `Selector == nil`)."""
    sel = svc.spec.selector if svc.spec is not None else None
    if not sel:
        return {}
    return {str(k): str(v) for k, v in sel.items()}


def label_selector(obj: KubeObject) -> LabelSelector | None:
    """A workload's or PodDisruptionBudget's `spec.selector` as a LabelSelector; None when absent."""
    sel = obj.spec.selector if obj.spec is not None else None
    if sel is None:
        return None
    try:
        return msgspec.convert(sel, LabelSelector)
    except msgspec.ValidationError:
        return LabelSelector(match_expressions=[LabelSelectorRequirement(key="", operator="Invalid")])


def selector_matches(sel: LabelSelector | None, labels: dict[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector semantics: an empty selector matches everything, nil nothing."""
    if sel is None:
        return False
    for k, v in (sel.match_labels or {}).items():
        if labels.get(k) != v:
            return False
    for req in sel.match_expressions or ():
        have = req.key in labels
        vals = req.values or []
        if req.operator == "In":
            ok = have and labels[req.key] in vals
        elif req.operator == "NotIn":
            ok = not have or labels[req.key] not in vals
        elif req.operator == "Exists":
            ok = have
        elif req.operator == "DoesNotExist":
            ok = not have
        else:
            ok = False
        if not ok:
            return False
    return True
