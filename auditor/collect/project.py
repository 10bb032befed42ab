"""What a snapshot keeps of each object: a projection per kind that holds what rules and reports read, never secrets.

Every kind keeps its identity and metadata minus `managedFields` and the annotations that can carry
credentials (only annotations of Kubernetes' and known controllers' own domains are kept, and never
`kubectl.kubernetes.io/last-applied-configuration` or `kubernetes.io/change-cause`).

- Pods are decoded into the typed projection below: container names, images, ports, resources, probes
  and lifecycle hooks (their kind, port and path; never exec commands or HTTP headers), volume names and
  types; never `env`, `envFrom`, `command`, `args`; termination messages are dropped from the status.
- Namespaces, Services, Endpoints and EndpointSlices keep their other top-level fields as served (their
  schemas hold nothing secret); Nodes drop `status.images` (size, never read).
- Any other kind (PodDisruptionBudgets, Deployments, StatefulSets, Karpenter NodePools, Ingresses, routes,
  TargetGroupBindings, webhook configurations, RBAC roles and bindings...) keeps everything except the keys
  in `SCRUBBED` wherever they appear, pod templates included, and with metadata (theirs and their
  templates') filtered as above; `KIND_SCRUBBED` drops more per kind: the webhooks' `caBundle` (bulk
  nobody reads) and the routes' `filters` (a header filter can set a credential).
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import msgspec

from auditor.state.objects import Hook, KubeObject, ObjectMeta, Spec

# Annotations whose key's domain is one of these (or a subdomain) are kept; all others are dropped.
KEPT_ANNOTATION_DOMAINS = ("kubernetes.io", "k8s.io", "upgrade-auditor.io", "karpenter.sh",
                           "karpenter.k8s.aws", "eks.amazonaws.com")
DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", "kubernetes.io/change-cause"})
# Keys removed wherever they appear in kinds without a typed projection.
SCRUBBED = frozenset({"env", "envFrom", "command", "args", "workingDir", "volumeMounts", "httpHeaders",
                      "managedFields", "userData", "data", "stringData", "binaryData"})
# More keys removed, per kind, wherever they appear in it.
KIND_SCRUBBED: dict[str, frozenset[str]] = {
    "ValidatingWebhookConfiguration": SCRUBBED | {"caBundle"},
    "MutatingWebhookConfiguration": SCRUBBED | {"caBundle"},
    "HTTPRoute": SCRUBBED | {"filters"},
    "GRPCRoute": SCRUBBED | {"filters"},
}


@functools.lru_cache(maxsize=8192)  # the same few keys on every object of a kind
def keep_annotation(key: str) -> bool:
    if key in DROPPED_ANNOTATIONS:
        return False
    domain = key.partition("/")[0] if "/" in key else ""
    return any(domain == d or domain.endswith("." + d) for d in KEPT_ANNOTATION_DOMAINS)


def filter_annotations(annotations: dict[str, Any]) -> dict[str, Any] | None:
    kept = {k: v for k, v in annotations.items() if keep_annotation(k)}
    return kept or None


class _P(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of the projections: camelCase on the wire, absent fields omitted."""


_NO = msgspec.Raw()  # an absent subtree: omitted on output


class Meta(_P):
    name: Any = None
    generate_name: Any = None
    namespace: Any = None
    uid: Any = None
    resource_version: Any = None
    generation: Any = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: Any = None
    labels: Optional[dict[str, Any]] = None
    annotations: Optional[dict[str, Any]] = None
    owner_references: msgspec.Raw = _NO
    finalizers: msgspec.Raw = _NO

    def clean(self) -> Meta:
        if self.annotations:
            self.annotations = filter_annotations(self.annotations)
        return self


class _Empty(_P):
    """A handler whose contents are dropped (an exec probe keeps `exec: {}`, not its command)."""


class _HTTPGet(_P):
    path: Any = None
    port: Any = None
    host: Any = None
    scheme: Any = None


class _Socket(_P):
    port: Any = None
    host: Any = None


class _GRPC(_P):
    port: Any = None
    service: Any = None


class _Sleep(_P):
    seconds: Any = None


class Handler(_P):
    exec: Optional[_Empty] = None
    http_get: Optional[_HTTPGet] = None
    tcp_socket: Optional[_Socket] = None
    grpc: Optional[_GRPC] = None
    sleep: Optional[_Sleep] = None
    initial_delay_seconds: Any = None
    timeout_seconds: Any = None
    period_seconds: Any = None
    success_threshold: Any = None
    failure_threshold: Any = None
    termination_grace_period_seconds: Any = None

    def clean(self) -> Handler:
        if self.http_get is not None and isinstance(self.http_get.path, str) and "?" in self.http_get.path:
            self.http_get.path = self.http_get.path.partition("?")[0]  # a query string can carry a token
        return self


class Lifecycle(_P):
    post_start: Optional[Handler] = None
    pre_stop: Optional[Handler] = None
    stop_signal: Any = None


class Container(_P):
    name: Any = None
    image: Any = None
    image_pull_policy: Any = None
    ports: msgspec.Raw = _NO
    resources: msgspec.Raw = _NO
    restart_policy: Any = None  # "Always" on an init container makes it a sidecar
    readiness_probe: Optional[Handler] = None
    liveness_probe: Optional[Handler] = None
    startup_probe: Optional[Handler] = None
    lifecycle: Optional[Lifecycle] = None
    target_container_name: Any = None  # ephemeral containers

    def clean(self) -> Container:
        for probe in (self.readiness_probe, self.liveness_probe, self.startup_probe):
            if probe is not None:
                probe.clean()
        if self.lifecycle is not None:
            for hook in (self.lifecycle.post_start, self.lifecycle.pre_stop):
                if hook is not None:
                    hook.clean()
        return self


class PodSpec(_P):
    node_name: Any = None
    host_network: Any = None
    hostname: Any = None
    subdomain: Any = None
    termination_grace_period_seconds: Any = None
    restart_policy: Any = None
    service_account_name: Any = None
    scheduler_name: Any = None
    priority_class_name: Any = None
    priority: Any = None
    preemption_policy: Any = None
    runtime_class_name: Any = None
    dns_policy: Any = None
    node_selector: msgspec.Raw = _NO
    affinity: msgspec.Raw = _NO
    tolerations: msgspec.Raw = _NO
    topology_spread_constraints: msgspec.Raw = _NO
    readiness_gates: msgspec.Raw = _NO
    containers: Optional[list[Container]] = None
    init_containers: Optional[list[Container]] = None
    ephemeral_containers: Optional[list[Container]] = None
    volumes: Optional[list[dict[str, msgspec.Raw]]] = None

    def clean(self) -> PodSpec:
        for group in (self.containers, self.init_containers, self.ephemeral_containers):
            for c in group or ():
                c.clean()
        if self.volumes is not None:  # name and source type only: sources can hold options and secret refs
            self.volumes = [{k: (v if k == "name" else _EMPTY_OBJECT) for k, v in vol.items()}
                            for vol in self.volumes]
        return self


_EMPTY_OBJECT = msgspec.Raw(b"{}")


class _Waiting(_P):
    reason: Any = None


class _Terminated(_P):
    exit_code: Any = None
    signal: Any = None
    reason: Any = None
    started_at: Any = None
    finished_at: Any = None
    container_id: Any = msgspec.field(default=None, name="containerID")


class _ContainerState(_P):
    running: msgspec.Raw = _NO
    waiting: Optional[_Waiting] = None
    terminated: Optional[_Terminated] = None  # never `message`: the application writes it


class ContainerStatus(_P):
    name: Any = None
    ready: Any = None
    started: Any = None
    restart_count: Any = None
    image: Any = None
    image_id: Any = msgspec.field(default=None, name="imageID")
    container_id: Any = msgspec.field(default=None, name="containerID")
    state: Optional[_ContainerState] = None
    last_state: Optional[_ContainerState] = None


class PodStatus(_P):
    phase: Any = None
    reason: Any = None
    message: Any = None
    nominated_node_name: Any = None
    host_ip: Any = msgspec.field(default=None, name="hostIP")
    host_ips: msgspec.Raw = msgspec.field(default=_NO, name="hostIPs")
    pod_ip: Any = msgspec.field(default=None, name="podIP")
    pod_ips: msgspec.Raw = msgspec.field(default=_NO, name="podIPs")
    start_time: Any = None
    qos_class: Any = None
    conditions: msgspec.Raw = _NO
    container_statuses: Optional[list[ContainerStatus]] = None
    init_container_statuses: Optional[list[ContainerStatus]] = None
    ephemeral_container_statuses: Optional[list[ContainerStatus]] = None


class Pod(_P):
    kind: Any = None
    api_version: Any = None
    metadata: Optional[Meta] = None
    spec: Optional[PodSpec] = None
    status: Optional[PodStatus] = None


_POD = msgspec.json.Decoder(Pod)
_POD_SPEC = msgspec.json.Decoder(PodSpec)
_RAW_MAP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_META = msgspec.json.Decoder(Meta)
_ANY = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
# Kinds whose fields other than metadata hold nothing secret: kept as served, byte for byte.
AS_SERVED = frozenset({"Namespace", "Node", "Service", "Endpoints", "EndpointSlice"})


_FOLLOWED = msgspec.json.Decoder(KubeObject)
_HOOK_KEPT = {"http_get": ("path", "port", "host", "scheme"), "tcp_socket": ("port", "host"), "sleep": ("seconds",)}


def as_followed(kind: str, api_version: str, raw: bytes | msgspec.Raw) -> KubeObject:
    """A served object of a followed kind decoded once, straight into the struct the rules read, and cleaned as
    `project` cleans it (the same object as decoding `project`'s line: annotations filtered, hooks reduced to
    their kind, port and path). Raises msgspec.ValidationError / DecodeError when its fields have the wrong
    types."""
    return clean_followed(kind, api_version, _FOLLOWED.decode(raw))


def clean_followed(kind: str, api_version: str, obj: KubeObject) -> KubeObject:
    """`as_followed` for an object already decoded (a watch event's, decoded with its envelope)."""
    obj.kind, obj.api_version = kind, api_version
    # Fields no followed kind has: a served object that carries them anyway keeps none of them.
    obj.rules = obj.aggregation_rule = obj.role_ref = obj.subjects = obj.webhooks = obj.items = None
    _clean_followed(obj.metadata, obj.spec)
    return obj


def _clean_followed(meta: ObjectMeta | None, spec: Spec | None) -> None:
    if meta is not None and meta.annotations:
        meta.annotations = filter_annotations(meta.annotations)
    if spec is None:
        return
    for group in (spec.containers, spec.init_containers):
        for c in group or ():
            hook = c.lifecycle.pre_stop if c.lifecycle is not None else None
            if hook is not None:
                _clean_hook(hook)
    if spec.template is not None:
        _clean_followed(spec.template.metadata, spec.template.spec)


def _clean_hook(hook: Hook) -> None:
    if hook.exec is not None:
        hook.exec = {}  # never the command
    for field, kept in _HOOK_KEPT.items():
        value = getattr(hook, field)
        if value is not None:
            out = {k: value[k] for k in kept if k in value}
            if isinstance(out.get("path"), str) and "?" in out["path"]:
                out["path"] = out["path"].partition("?")[0]  # a query string can carry a token
            setattr(hook, field, out)


def project(kind: str, api_version: str, raw: bytes | msgspec.Raw) -> bytes:
    """One served list item (JSON) to its snapshot line: `kind` and `apiVersion` first, then the projection."""
    if kind == "Pod":
        try:
            pod = _POD.decode(raw)
        except msgspec.ValidationError:  # an odd field type: fall back to the generic scrub
            pass
        else:
            pod.kind, pod.api_version = kind, api_version
            if pod.metadata is not None:
                pod.metadata.clean()
            if pod.spec is not None:
                pod.spec.clean()
            return _ENCODER.encode(pod)
    if kind in AS_SERVED:
        try:
            item = _RAW_MAP.decode(raw)
            out: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
            for key, value in item.items():
                if key in ("kind", "apiVersion"):
                    continue
                if key == "metadata":
                    out[key] = _META.decode(value).clean()
                elif key == "status" and kind == "Node":
                    status = _RAW_MAP.decode(value)
                    status.pop("images", None)
                    out[key] = status
                else:
                    out[key] = value
            return _ENCODER.encode(out)
        except msgspec.ValidationError:
            pass
    obj = _ANY.decode(raw)
    if not isinstance(obj, dict):
        obj = {}
    obj.pop("kind", None)
    obj.pop("apiVersion", None)
    return _ENCODER.encode({"kind": kind, "apiVersion": api_version,
                            **scrub(obj, dropped=KIND_SCRUBBED.get(kind, SCRUBBED))})


def scrub(value: Any, key: str = "", dropped: frozenset[str] = SCRUBBED) -> Any:
    """The generic projection: pod templates as Pods' specs, SCRUBBED keys dropped everywhere, every
    `metadata.annotations` filtered, no termination messages, no probe query strings."""
    if isinstance(value, dict):
        if key == "spec" and isinstance(value.get("containers"), list):  # a pod template's spec
            try:
                spec = _POD_SPEC.decode(_ENCODER.encode(value)).clean()
            except msgspec.ValidationError:
                pass
            else:
                value = _ANY.decode(_ENCODER.encode(spec))
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in dropped:
                continue
            if k == "annotations" and key == "metadata" and isinstance(v, dict):
                kept = filter_annotations(v)
                if kept:
                    out[k] = kept
                continue
            if k in ("terminated", "waiting") and isinstance(v, dict):
                v = {a: b for a, b in v.items() if a != "message"}
            if k == "path" and key == "httpGet" and isinstance(v, str):
                v = v.partition("?")[0]
            out[k] = scrub(v, k, dropped)
        return out
    if isinstance(value, list):
        return [scrub(v, key, dropped) for v in value]
    return value
