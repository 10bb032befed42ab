"""Typed views of the traffic-path kinds' fields the rules read: Ingress and Gateway API route backends,
TargetGroupBindings, admission webhooks, RBAC rules and bindings (the structs `auditor.state.objects` embeds)."""
from __future__ import annotations

from typing import Any, Optional

import msgspec


class _S(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    """Base: camelCase on the wire, no cyclic-GC tracking (as `auditor.state.objects`)."""


class ServiceBackendPort(_S):
    name: str = ""
    number: Optional[int] = None


class IngressServiceBackend(_S):
    name: str = ""
    port: Optional[ServiceBackendPort] = None


class IngressBackend(_S):
    """An Ingress backend: a Service and port, or a `resource` (not a Service: never judged)."""

    service: Optional[IngressServiceBackend] = None
    resource: Optional[dict[str, Any]] = None


class IngressPath(_S):
    path: str = ""
    path_type: str = ""
    backend: Optional[IngressBackend] = None


class IngressHTTP(_S):
    paths: Optional[list[IngressPath]] = None


class BackendRef(_S):
    """A Gateway API route's backendRef: `group` "" and `kind` Service unless said otherwise."""

    group: str = ""
    kind: str = "Service"
    name: str = ""
    namespace: str = ""
    port: Optional[int] = None


class RouteRule(_S):
    """One rule of an Ingress (`host`, `http.paths`) or of an HTTPRoute / GRPCRoute (`backendRefs`): the two
    kinds share `spec.rules`, and their fields do not clash."""

    host: str = ""
    http: Optional[IngressHTTP] = None
    backend_refs: Optional[list[BackendRef]] = None


class ServiceRef(_S):
    """A TargetGroupBinding's `spec.serviceRef`: the Service and its port (number or name)."""

    name: str = ""
    port: int | str | None = None


class PolicyRule(_S):
    api_groups: Optional[list[str]] = None
    resources: Optional[list[str]] = None
    verbs: Optional[list[str]] = None
    resource_names: Optional[list[str]] = None


class RoleRef(_S):
    api_group: str = ""
    kind: str = ""
    name: str = ""


class Subject(_S):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    api_group: str = ""


class WebhookService(_S):
    namespace: str = ""
    name: str = ""
    path: Optional[str] = None
    port: Optional[int] = None  # 443 when absent


class WebhookClientConfig(_S):
    url: Optional[str] = None
    service: Optional[WebhookService] = None


class WebhookRule(_S):
    operations: Optional[list[str]] = None
    api_groups: Optional[list[str]] = None
    api_versions: Optional[list[str]] = None
    resources: Optional[list[str]] = None
    scope: str = ""


class Webhook(_S):
    """One webhook of a Validating/MutatingWebhookConfiguration (admissionregistration.k8s.io/v1)."""

    name: str = ""
    failure_policy: str = ""  # the API server writes it; absent means Fail in v1
    client_config: Optional[WebhookClientConfig] = None
    rules: Optional[list[WebhookRule]] = None
    namespace_selector: Optional[dict[str, Any]] = None
    object_selector: Optional[dict[str, Any]] = None
