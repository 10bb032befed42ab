"""The Service backends an Ingress, HTTPRoute or GRPCRoute names, and whether a Service has the port it asks for.
Pure.

Ingress (networking.k8s.io/v1): `spec.defaultBackend` and `spec.rules[].http.paths[].backend.service` with
`port.number` (the Service's `port`, not its targetPort) or `port.name` (a Service port's name); a
`backend.resource` is not a Service, and the AWS Load Balancer Controller's `port.name: use-annotation` names an
action in an annotation, not a port. Gateway API routes: `spec.rules[].backendRefs[]` name a Service when `group`
is "" (or `core`) and `kind` is Service (the defaults), in the route's namespace unless `namespace` says
otherwise, `port` being the Service's port.
"""
from __future__ import annotations

from typing import NamedTuple

from auditor.state.objects import KubeObject
from auditor.state.traffic import IngressBackend

ROUTE_KINDS = ("Ingress", "HTTPRoute", "GRPCRoute")
ALB_ACTION_PORT = "use-annotation"


class BackendUse(NamedTuple):
    """One Service port a route sends to, and where (`host/path`, `(default backend)`, `rule 1`)."""

    namespace: str
    service: str
    port_number: int | None
    port_name: str
    where: str

    @property
    def port_text(self) -> str:
        return str(self.port_number) if self.port_number is not None else self.port_name


def _ingress_use(ns: str, backend: IngressBackend | None, where: str) -> BackendUse | None:
    if backend is None or backend.service is None or not backend.service.name:
        return None  # a resource backend, or none
    port = backend.service.port
    number = port.number if port is not None else None
    name = port.name if port is not None else ""
    if name == ALB_ACTION_PORT:
        return None
    return BackendUse(ns, backend.service.name, number, name if number is None else "", where)


def backends(obj: KubeObject) -> list[BackendUse]:
    """The Service backends of an Ingress, HTTPRoute or GRPCRoute, in the order the object lists them."""
    spec = obj.spec
    if spec is None:
        return []
    ns = obj.namespace
    out: list[BackendUse] = []
    if obj.kind == "Ingress":
        use = _ingress_use(ns, spec.default_backend, "default backend")
        if use is not None:
            out.append(use)
        for rule in spec.rules or ():
            for path in (rule.http.paths or ()) if rule.http is not None else ():
                use = _ingress_use(ns, path.backend, f"{rule.host or '*'}{path.path or '/'}")
                if use is not None:
                    out.append(use)
        return out
    hosts = ",".join(spec.hostnames or ()) or "*"
    for i, rule in enumerate(spec.rules or ()):
        for ref in rule.backend_refs or ():
            if ref.group not in ("", "core") or ref.kind != "Service" or not ref.name:
                continue
            out.append(BackendUse(ref.namespace or ns, ref.name, ref.port, "", f"{hosts} rule {i + 1}"))
    return out


def missing_port(svc: KubeObject, use: BackendUse) -> bool:
    """The Service has no port the backend names (by number: a Service `port`; by name: a port's `name`). A
    backend that names no port is not judged here."""
    ports = svc.spec.ports if svc.spec is not None else None
    if use.port_number is not None:
        return not any(p.port == use.port_number for p in ports or ())
    if use.port_name:
        return not any(p.name == use.port_name for p in ports or ())
    return False
