"""Services as the EndpointSlice controller reads them: selector, type, families, ports."""
from __future__ import annotations

from auditor.state.objects import (
    KubeObject,
    ServicePort,
    ip_family,
)


def has_selector(svc: KubeObject) -> bool:
    """The controllers test Selector == nil; an empty map reads back as none (`Selector == nil` in
    pkg/controller/endpointslice/endpointslice_controller.go)."""
    return bool(svc.spec is not None and svc.spec.selector)


def is_external_name(svc: KubeObject) -> bool:
    return svc.spec is not None and svc.spec.type == "ExternalName"


def publishes_not_ready(svc: KubeObject) -> bool:
    return bool(svc.spec is not None and svc.spec.publish_not_ready_addresses)


def controller_manages(svc: KubeObject) -> bool:
    """Services the EndpointSlice and Endpoints controllers write for: a selector, not ExternalName."""
    return has_selector(svc) and not is_external_name(svc)


def service_families(svc: KubeObject) -> list[str]:
    """Address families the EndpointSlice controller writes slices for (`getAddressTypesForService` in
    pkg/controller/endpointslice/utils.go)."""
    spec = svc.spec
    if spec is None:
        return ["IPv4"]
    if spec.ip_families:
        return [f for f in spec.ip_families if f in ("IPv4", "IPv6")] or ["IPv4"]
    cip = spec.cluster_ip
    if cip == "None":
        return ["IPv4", "IPv6"]  # headless without ipFamilies: the controller writes both
    return [ip_family(cip)] if cip else ["IPv4"]


def find_port(pod: KubeObject, svc_port: ServicePort) -> int | None:
    """The container port a Service port resolves to on this Pod, as `FindPort` does: a number (or no
    targetPort: the Service port) always resolves; a name matches a container port (or a restartable init
    container's) with that name *and* the Service port's protocol (TCP when unset) (`FindPort` in
    pkg/api/v1/pod/util.go)."""
    target = svc_port.target_port
    if target is None or target == "" or target == 0:
        return svc_port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    proto = svc_port.protocol  # the API and the decoder default an unset protocol to TCP
    spec = pod.spec
    if spec is None:
        return None
    containers = list(spec.containers or ()) + [c for c in spec.init_containers or () if c.restart_policy == "Always"]
    for c in containers:
        for p in c.ports or ():
            if p.name == target and p.protocol == proto:
                return p.container_port
    return None


def serves_any_port(svc: KubeObject, pod: KubeObject) -> bool:
    """False when no Service port resolves on the Pod: the Endpoints controller then leaves it out."""
    ports = svc.spec.ports if svc.spec is not None else None
    if not ports:
        return True
    return any(find_port(pod, p) is not None for p in ports)
