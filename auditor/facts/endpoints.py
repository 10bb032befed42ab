"""v1 Endpoints: addresses, truncation, leader-election objects, mirroring opt-out, writer."""
from __future__ import annotations

from auditor.state.labels import ANN_LEADER, ANN_OVER_CAPACITY, LABEL_ENDPOINTS_MANAGED_BY, LABEL_SKIP_MIRROR
from auditor.state.objects import EndpointAddress, KubeObject

MAX_ENDPOINTS_ADDRESSES = 1000


def endpoints_addresses(ep: KubeObject) -> tuple[list[EndpointAddress], list[EndpointAddress]]:
    ready: list[EndpointAddress] = []
    not_ready: list[EndpointAddress] = []
    for sub in ep.subsets or ():
        ready += sub.addresses or []
        not_ready += sub.not_ready_addresses or []
    return ready, not_ready


def endpoints_truncated(ep: KubeObject) -> bool:
    ready, not_ready = endpoints_addresses(ep)
    return ANN_OVER_CAPACITY in ep.annotations or len(ready) + len(not_ready) >= MAX_ENDPOINTS_ADDRESSES


def is_leader_election(ep: KubeObject) -> bool:
    return ANN_LEADER in ep.annotations


def skips_mirror(ep: KubeObject) -> bool:
    return ep.labels.get(LABEL_SKIP_MIRROR) == "true"


def written_by_endpoints_controller(ep: KubeObject) -> bool:
    return ep.labels.get(LABEL_ENDPOINTS_MANAGED_BY) == "endpoint-controller"


def address_node(addr: EndpointAddress) -> str:
    """The Node a hand-written, non-Pod address names (`targetRef` of kind Node, else `nodeName`); "" for none.
    Such addresses outlive the Node: nothing but their writer updates them."""
    tr = addr.target_ref
    if tr is not None and tr.kind == "Node" and tr.name:
        return tr.name
    if tr is None or not tr.kind:
        return addr.node_name or ""
    return ""
