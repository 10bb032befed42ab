"""The registry of kinds the auditor reads: API path, scope, and whether a state without them is complete.

Adding a kind touches this registry, the structs in `objects.py` and the rules that read it, nothing
else: the loader, the collector, completeness and "rule did not run" all read this table.

- required: a state that lacks it (not collected, forbidden, absent from a dump) is incomplete, and the
  `incomplete-snapshot` rule says so;
- optional: refines some rules; a state without it is complete and the rules that need it do not run
  (with the reason);
- custom: an optional kind from a CustomResourceDefinition; a cluster that does not serve its API has
  it "not installed", which is neither an error nor incomplete.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str   # group/version as the API serves it (`v1` for the core group)
    plural: str
    namespaced: bool
    required: bool
    custom: bool = False
    #: what a reader loses without it (said when rules needing it do not run)
    why: str = ""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


REGISTRY: tuple[Kind, ...] = (
    Kind("Node", "v1", "nodes", False, True),
    Kind("Pod", "v1", "pods", True, True),
    Kind("Service", "v1", "services", True, True),
    Kind("Endpoints", "v1", "endpoints", True, True),
    Kind("EndpointSlice", "discovery.k8s.io/v1", "endpointslices", True, True),
    Kind("Namespace", "v1", "namespaces", False, False, why="terminating namespaces refuse new slices"),
    Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", True, False,
         why="which Pods a drain may evict"),
    Kind("Deployment", "apps/v1", "deployments", True, False, why="replica counts of workloads"),
    Kind("StatefulSet", "apps/v1", "statefulsets", True, False, why="replica counts of workloads"),
    Kind("DaemonSet", "apps/v1", "daemonsets", True, False, why="which Pods follow every node"),
    Kind("ReplicaSet", "apps/v1", "replicasets", True, False, why="which Deployment owns a Pod"),
    Kind("NodePool", "karpenter.sh/v1", "nodepools", False, False, custom=True,
         why="Karpenter node pools and their disruption budgets"),
    Kind("NodeClaim", "karpenter.sh/v1", "nodeclaims", False, False, custom=True,
         why="Karpenter nodes that will drift"),
    # The traffic path beside the slices: what routes to a Service, which load balancer targets its Pods, which
    # admission webhooks it serves, and who reads Endpoints.
    Kind("Ingress", "networking.k8s.io/v1", "ingresses", True, False, why="which Services an Ingress routes to"),
    Kind("IngressClass", "networking.k8s.io/v1", "ingressclasses", False, False,
         why="which controller (the AWS Load Balancer Controller's ALB or another) serves an Ingress"),
    Kind("Gateway", "gateway.networking.k8s.io/v1", "gateways", True, False, custom=True,
         why="Gateway API gateways"),
    Kind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes", True, False, custom=True,
         why="which Services an HTTPRoute routes to"),
    Kind("GRPCRoute", "gateway.networking.k8s.io/v1", "grpcroutes", True, False, custom=True,
         why="which Services a GRPCRoute routes to"),
    Kind("TargetGroupBinding", "elbv2.k8s.aws/v1beta1", "targetgroupbindings", True, False, custom=True,
         why="which Services are registered in an AWS target group, and how"),
    Kind("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations",
         False, False, why="admission webhooks and the Services that answer them"),
    Kind("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
         False, False, why="admission webhooks and the Services that answer them"),
    Kind("Role", "rbac.authorization.k8s.io/v1", "roles", True, False, why="what tools may read"),
    Kind("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", False, False, why="what tools may read"),
    Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True, False, why="who holds a role"),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", False, False,
         why="who holds a role"),
)

BY_NAME: dict[str, Kind] = {k.name: k for k in REGISTRY}
REQUIRED: tuple[str, ...] = tuple(k.name for k in REGISTRY if k.required)
OPTIONAL: tuple[str, ...] = tuple(k.name for k in REGISTRY if not k.required)
ALL: tuple[str, ...] = tuple(k.name for k in REGISTRY)
NAMESPACED: frozenset[str] = frozenset(k.name for k in REGISTRY if k.namespaced)


def is_required(kind: str) -> bool:
    k = BY_NAME.get(kind)
    return k is not None and k.required


def known(kind: str) -> bool:
    return kind in BY_NAME
