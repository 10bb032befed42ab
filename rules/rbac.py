"""Single-state rule about tools that read v1 Endpoints through RBAC that does not let them read EndpointSlices."""
from __future__ import annotations

from typing import Iterable, Iterator

from auditor.rules.base import Context, RuleNotRun, rule
from auditor.rules.rotationkit import names

from auditor.analysis.index import ref_of
from auditor.facts import fixcmd, rbac
from auditor.facts.pods import pod_terminal
from auditor.model import Finding, Severity
from auditor.state.objects import KubeObject

RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")


def _bindings(ctx: Context) -> dict[tuple[str, str, str], list[KubeObject]]:
    """(role kind, role namespace, role name) -> the bindings that grant it; a RoleBinding grants a ClusterRole
    within its namespace, and a Role only in its own."""
    out: dict[tuple[str, str, str], list[KubeObject]] = {}
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in sorted(ctx.index.of(kind), key=lambda o: (o.namespace, o.name)):
            ref = b.role_ref
            if ref is None or not b.subjects:
                continue
            ns = b.namespace if ref.kind == "Role" else ""
            out.setdefault((ref.kind, ns, ref.name), []).append(b)
    return out


def _subjects(bindings: list[KubeObject]) -> list[str]:
    seen = []
    for b in bindings:
        for s in b.subjects or ():
            ns = s.namespace or (b.namespace if s.kind == "ServiceAccount" else "")
            text = f"{s.kind} {ns + '/' if ns else ''}{s.name}"
            if text not in seen:
                seen.append(text)
    return seen


def _accounts(bindings: Iterable[KubeObject]) -> set[tuple[str, str]]:
    """(namespace, name) of the ServiceAccounts the bindings name."""
    return {((s.namespace or b.namespace), s.name) for b in bindings for s in b.subjects or ()
            if s.kind == "ServiceAccount"}


def _service_account_pods(ctx: Context, bindings: list[KubeObject]) -> list[str]:
    """Running Pods of the ServiceAccounts the bindings name (Pods indexed once per state, by the accounts that
    any binding names: the others' Pods are never asked for)."""
    by_sa: dict[tuple[str, str], list[str]] | None = ctx.index.cache.get("pods-by-service-account")
    if by_sa is None:
        by_sa = ctx.index.cache["pods-by-service-account"] = {}
        bound = _accounts(b for kind in ("RoleBinding", "ClusterRoleBinding") for b in ctx.index.of(kind))
        for (ns, name), p in ctx.index.pods.items():
            if p.spec is not None:
                account = (ns, p.spec.service_account_name or "default")
                if account in bound and not pod_terminal(p):
                    by_sa.setdefault(account, []).append(f"{ns}/{name}")
    return names(p for a in _accounts(bindings) for p in by_sa.get(a, ()))


@rule("rbac-endpoints-without-endpointslices", Severity.WARNING,
      "Bound role that reads Endpoints but not EndpointSlices")
def rbac_endpoints_without_endpointslices(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports each Role and ClusterRole that grants `get`, `list` or `watch` on `endpoints` (API group
    `""` or `*`) without the same verbs on `endpointslices` in `discovery.k8s.io` (or `*`), and that a
    RoleBinding or ClusterRoleBinding grants to someone (a ClusterRole bound by a RoleBinding counts).
    The evidence names the bindings, their subjects and, for ServiceAccounts, the running Pods that use
    them.

    Not judged: `system:` roles (the control plane's own), aggregated ClusterRoles (their rules are
    copied from others, which are judged themselves), unbound roles, and rules limited by
    `resourceNames` (reading named objects, such as a leader-election lock, not a Service's endpoints).
    Needs Roles, ClusterRoles and their bindings in the state.

    ## Why it matters
    EndpointSlices are a separate resource in another API group: a role that reads `endpoints` does not
    let its holder read them. v1 Endpoints are deprecated since Kubernetes 1.33 and hold at most 1000
    addresses; a tool, controller or ingress controller upgraded to read EndpointSlices (or a kubectl
    `describe` of a Service or Ingress) fails with Forbidden under this role, and a monitoring stack
    loses its targets after the upgrade.

    ## Example
    ClusterRole `prometheus-scraper` grants `get`, `list`, `watch` on `endpoints`, `services` and `pods`,
    and is bound to ServiceAccount `monitoring/prometheus`.

    ## How to fix
    Add a rule granting the same verbs on `endpointslices` in `discovery.k8s.io` to the role (in the
    chart or manifest that owns it, so an upgrade does not revert it).
    """
    missing = [k for k in RBAC_KINDS if not ctx.index.has(k)]
    if missing:
        raise RuleNotRun(f"the state has no {', '.join(missing)}")
    bound = _bindings(ctx)
    for kind in ("ClusterRole", "Role"):
        for role in sorted(ctx.index.of(kind), key=lambda o: (o.namespace, o.name)):
            if not rbac.judged(role):
                continue
            reads = rbac.read_verbs(role, rbac.ENDPOINTS)
            lacking = reads - rbac.read_verbs(role, rbac.ENDPOINTSLICES)
            bindings = bound.get((kind, role.namespace, role.name), [])
            if not lacking or not bindings:
                continue
            verbs = rbac.sort_verbs(lacking)
            rule_json: dict[str, object] = {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                                            "verbs": verbs}
            op: list[dict[str, object]] = [{"op": "add", "path": "/rules/-", "value": rule_json}]
            fix = (fixcmd.patch_json(kind, role.name, role.namespace, op) if role.namespace
                   else fixcmd.patch_json_cluster(kind, role.name, op))
            subjects = _subjects(bindings)
            yield ctx.finding(
                ref_of(role), f"grants {', '.join(rbac.sort_verbs(reads))} on endpoints but not "
                f"{', '.join(verbs)} on endpointslices (discovery.k8s.io), and is bound to "
                f"{', '.join(subjects[:3])}{' ...' if len(subjects) > 3 else ''}",
                endpointsVerbs=rbac.sort_verbs(reads), missingVerbs=verbs,
                bindings=[f"{b.kind} {b.namespace + '/' if b.namespace else ''}{b.name}" for b in bindings],
                subjects=subjects[:20], pods=_service_account_pods(ctx, bindings), fix=[fix])
