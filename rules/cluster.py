"""Single-state rules about the cluster as a whole: version skew and what the state could not read."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, RuleNotRun, rule

from auditor.analysis.index import ref_of
from auditor.facts import fixcmd, versions
from auditor.facts.fixcmd import aws_eks
from auditor.facts.nodes import eks_nodegroup, kubelet_version
from auditor.model import Finding, ObjectRef, Severity, cluster_ref


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
    idx = ctx.index
    cp = idx.control_plane.version if idx.control_plane else None
    target = versions.parse(ctx.options.target_version)
    if cp is None and target is None:
        raise RuleNotRun("neither the control plane's version (/version, EKS) nor --target-version is known")
    for node in idx.nodes.values():
        text = kubelet_version(node)
        kv = versions.parse(text)
        if kv is None:
            continue
        problem = versions.judge_skew(kv, cp, target)
        if problem is None:
            continue
        group = eks_nodegroup(node)
        fix = [fixcmd.kubectl("get", "Node", node.name, "", "-o", "wide")]
        eks = idx.eks_data
        if group and eks is not None:
            fix += fixcmd.nodegroup_skew_fix(eks.region, eks.name, group, problem, cp, target)
        msg = f"kubelet {kv} {problem.describe()}"
        if problem.against == "target" and problem.problem == "too-old":
            msg += ": upgrade this node first"
        yield ctx.finding(ref_of(node), msg, kubeletVersion=text, nodegroup=group,
                          controlPlane=str(cp) if cp else None,
                          controlPlaneSource=idx.control_plane.source if idx.control_plane else None,
                          target=str(target) if target else None, allowedMinorsBehind=problem.allowed, fix=fix)


@rule("control-plane-version-mismatch", Severity.INFO, "API server and EKS disagree on the control-plane version")
def control_plane_version_mismatch(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Compares the live API server's `/version` recorded in the state with EKS's cluster version
    (`describe-cluster`). When both are known and their minors differ, reports one info finding. The
    skew rules use `/version` (what the nodes talk to); EKS's version is used only when the state has
    no `/version` (kubectl dumps).

    ## Why it matters
    During a control-plane upgrade EKS reports the new version while API servers still roll; a state
    mixed from two moments (a kubectl dump and an older EKS read) shows the same disagreement. Skew
    verdicts then depend on which one is right, so the report says which one it used.

    ## Example
    `/version` says v1.29.8-eks-a737599, `describe-cluster` says 1.30: an update is in progress.

    ## How to fix
    Wait for the control-plane update to finish (`aws eks describe-update`), then take the snapshot
    again with `--eks-cluster` so both come from the same moment.
    """
    idx = ctx.index
    pair = versions.control_plane_disagreement(idx.server_version, idx.eks_version)
    if pair is None:
        return
    api, eks = pair
    data = idx.eks_data
    fix = []
    if data is not None:
        fix = [aws_eks("list-updates", data.region, data.name), aws_eks("describe-cluster", data.region, data.name)]
    yield ctx.finding(cluster_ref(), f"the API server reports {api} and EKS reports {eks}: an upgrade in "
                      f"progress or inputs from different moments; skew rules use {api} (/version)",
                      serverVersion=idx.server_version, eksVersion=idx.eks_version, fix=fix)


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
