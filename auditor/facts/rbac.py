"""RBAC facts (rbac.authorization.k8s.io/v1): which read verbs a role grants on a resource, and which roles belong
to the control plane or aggregate others. Pure.

A rule grants a verb on a resource when its `apiGroups`, `resources` and `verbs` each list it or `*`. A rule
limited by `resourceNames` reads named objects only (a leader-election lock, for example), not a Service's
endpoints in general, and is not counted. EndpointSlices are `endpointslices` in `discovery.k8s.io`: a grant on
`endpoints` in the core group does not cover them. ClusterRoles with an `aggregationRule` take their rules from
others, and `system:` roles are the control plane's own.
"""
from __future__ import annotations

from auditor.state.objects import KubeObject
from auditor.state.traffic import PolicyRule

READ_VERBS = ("get", "list", "watch")
ENDPOINTS = ("", "endpoints")
ENDPOINTSLICES = ("discovery.k8s.io", "endpointslices")


def _grants(rule: PolicyRule, group: str, resource: str) -> set[str]:
    if rule.resource_names:
        return set()
    groups = rule.api_groups or []
    resources = rule.resources or []
    if not ("*" in groups or group in groups) or not ("*" in resources or resource in resources):
        return set()
    verbs = rule.verbs or []
    return set(READ_VERBS) if "*" in verbs else {v for v in verbs if v in READ_VERBS}


def read_verbs(role: KubeObject, target: tuple[str, str]) -> set[str]:
    """The read verbs (get, list, watch) the Role or ClusterRole grants on `(group, resource)`."""
    out: set[str] = set()
    for rule in role.rules or ():
        out |= _grants(rule, *target)
    return out


def judged(role: KubeObject) -> bool:
    """Not a `system:` role and not an aggregated ClusterRole (whose rules the aggregation controller writes)."""
    return not role.name.startswith("system:") and role.aggregation_rule is None


def sort_verbs(verbs: set[str]) -> list[str]:
    return [v for v in READ_VERBS if v in verbs]
