"""Single-state rules about the cluster as a whole: version skew and what the state could not read."""
from __future__ import annotations

import re
from typing import Iterator

from auditor.rules.base import Context, rule

from auditor.index import ref_of
from auditor.model import Finding, ObjectRef, Severity

_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def minor_version(text: str | None) -> tuple[int, int] | None:
    """'v1.29.3-eks-ae9a62a' -> (1, 29)."""
    if not text:
        return None
    m = _VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def allowed_kubelet_skew(kubelet: tuple[int, int]) -> int:
    """Kubelets from 1.25 may be three minors older than the control plane, older ones two."""
    return 3 if kubelet >= (1, 25) else 2


def control_plane_version(ctx: Context) -> tuple[int, int] | None:
    v = minor_version(ctx.index.server_version)
    if v is None and ctx.index.eks:
        v = minor_version(str((ctx.index.eks.get("cluster") or {}).get("version", "")))
    return v


def fmt(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@rule("kubelet-version-skew", Severity.ERROR, "Node kubelet outside the version-skew policy", needs=("Node",))
def kubelet_version_skew(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Compares each Node's `status.nodeInfo.kubeletVersion` with the control-plane version recorded
    in the state (the API server's `/version`, or EKS's cluster version) and with `--target-version`
    when given. A kubelet must never be newer than the control plane, and may be at most three
    minor versions older (two for kubelets before 1.25).

    ## Why it matters
    Upgrading the control plane past the skew window leaves kubelets that the API server no longer
    supports: nodes go NotReady, Pods on them stop being updated, and their endpoints go stale. EKS
    upgrades the control plane one minor at a time, so every node must be inside the window of the
    version you are moving to before you start.

    ## Example
    Control plane 1.30, target 1.31, node `ip-10-0-1-5` runs kubelet v1.27.9: three minors behind now,
    four after the upgrade.

    ## How to fix
    Upgrade or replace the node's group before upgrading the control plane (managed node group
    update, new launch template AMI, or Karpenter drift to the new AMI).
    """
    cp = control_plane_version(ctx)
    target = minor_version(ctx.options.target_version)
    if cp is None and target is None:
        return
    for node in ctx.index.nodes.values():
        info = node.status.node_info if node.status is not None else None
        kv = minor_version(info.kubelet_version if info is not None else None)
        if kv is None:
            continue
        allowed = allowed_kubelet_skew(kv)
        ev = {"kubeletVersion": info.kubelet_version if info else None,
              "controlPlane": fmt(cp) if cp else None, "target": fmt(target) if target else None,
              "allowedMinorsBehind": allowed}
        if cp is not None and kv[0] == cp[0] and kv[1] > cp[1]:
            yield ctx.finding(ref_of(node), f"kubelet {fmt(kv)} is newer than the control plane {fmt(cp)}", **ev)
        elif cp is not None and kv[0] == cp[0] and cp[1] - kv[1] > allowed:
            yield ctx.finding(ref_of(node), f"kubelet {fmt(kv)} is {cp[1] - kv[1]} minors behind the control "
                              f"plane {fmt(cp)} (at most {allowed} allowed)", **ev)
        elif target is not None and kv[0] == target[0] and target[1] - kv[1] > allowed:
            yield ctx.finding(ref_of(node), f"kubelet {fmt(kv)} would be {target[1] - kv[1]} minors behind "
                              f"target {fmt(target)} (at most {allowed} allowed): upgrade this node first", **ev)
        elif cp is None and target is not None and kv[1] > target[1]:
            yield ctx.finding(ref_of(node), f"kubelet {fmt(kv)} is newer than target {fmt(target)}", **ev)


@rule("incomplete-snapshot", Severity.ERROR, "Cluster state is missing resources")
def incomplete_snapshot(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports every resource the state could not read (for example RBAC forbids listing
    EndpointSlices, or a kubectl dump does not include Pods), with the reason and the permission
    needed. Rules that need a missing kind do not run, and are named in the report.

    ## Why it matters
    A rule that cannot see EndpointSlices cannot find stale ones. Treating "not read" as "healthy"
    would turn a permissions problem into a passing CI gate.

    ## Example
    The snapshot's ServiceAccount may list Pods and Services but `list endpointslices.discovery.k8s.io,
    cluster-wide` is forbidden.

    ## How to fix
    Grant the read-only ClusterRole from the README (or include the missing kinds in the kubectl
    dump: `kubectl get nodes,namespaces,pods,services,endpoints,endpointslices -A -o json`) and run
    again.
    """
    for m in ctx.index.state.missing:
        where = f" in namespace {m.namespace}" if m.namespace else ""
        perm = f"; needs `{m.permission}`" if m.permission else ""
        name = f"{m.kind} in {m.namespace}" if m.namespace else m.kind
        yield ctx.finding(ObjectRef("Cluster", "", name), f"{m.kind}{where} could not be read: {m.reason}{perm}",
                          kind=m.kind, reason=m.reason, permission=m.permission or None,
                          input=m.source or None)
