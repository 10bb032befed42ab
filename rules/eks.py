"""EKS rules: node group skew and health, add-on compatibility and upgrade insights, from the `eks` data."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, RuleNotRun, rule

from auditor.facts import fixcmd, versions
from auditor.facts.eks import compatibility, compatibility_targets, nodegroup_minor
from auditor.facts.fixcmd import aws_eks
from auditor.facts.nodes import kubelet_version
from auditor.model import Finding, ObjectRef, Severity

INSIGHT_FAILING = ("WARNING", "ERROR")


@rule("nodegroup-version-skew", Severity.ERROR, "Node group version breaks the skew policy", mode="eks")
def nodegroup_version_skew(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Compares each managed node group's Kubernetes version, and the kubelet versions of its Nodes
    (label `eks.amazonaws.com/nodegroup`), with the control plane's version and, when a target
    version is given (`--target-version`, or the next minor by default), with the target. It fires
    when a node group is newer than the control plane, or more minors older than the skew policy
    allows: 3 for node groups at 1.25 or later once the control plane (or the target) is at 1.28 or
    later, 2 otherwise.

    ## Why it matters
    Kubelets newer than the API server, or too far behind it, are outside the Kubernetes version
    skew policy: EKS refuses to upgrade the control plane past what its node groups allow, and a
    kubelet that is too old may stop registering, reporting status or running Pods correctly after
    the upgrade. Checking against the target catches the node group that is fine today but would
    be out of policy the moment the control plane moves.

    ## Example
    The control plane runs 1.30 and the target is 1.31. Node group `ng-legacy` runs 1.27: three
    minors behind today (allowed), four after the upgrade (at most three).

    ## How to fix
    Upgrade the node group before the control plane (`aws eks update-nodegroup-version
    --cluster-name C --nodegroup-name NG --kubernetes-version 1.N`), one minor at a time if needed,
    or replace it with a new node group at the control plane's version and drain the old one.
    """
    idx = ctx.index
    eks = idx.eks_data
    assert eks is not None  # the engine runs EKS rules only on states with EKS data
    cp = idx.control_plane.version if idx.control_plane else None
    target = versions.parse(ctx.options.target_version)
    if cp is None and target is None:
        raise RuleNotRun("neither the control plane's version nor a target version is known")
    for ng in eks.nodegroups:
        if ng.status == "DELETING":
            continue
        nodes = idx.nodes_of_nodegroup(ng.name)
        kubelets = sorted({v for v in (kubelet_version(n) for n in nodes) if v})
        judged = _judge_nodegroup(nodegroup_minor(ng), kubelets, cp, target)
        if judged is None:
            continue
        runs, problems = judged
        texts = [p.describe() for p in problems]
        yield ctx.finding(
            ObjectRef("NodeGroup", "", ng.name),
            f"node group {ng.name} {runs} and {'; '.join(texts)} (skew policy: {versions.POLICY_TEXT})",
            nodegroupVersion=ng.version or None, releaseVersion=ng.release_version or None,
            kubeletVersions=kubelets or None, nodes=[n.name for n in nodes] or None,
            controlPlaneVersion=str(cp) if cp else None, controlPlaneSource=idx.control_plane.source
            if idx.control_plane else None, targetVersion=str(target) if target else None,
            allowedSkew=problems[0].allowed, maxUnavailable=ng.max_unavailable_text(),
            fix=[aws_eks("describe-nodegroup", eks.region, eks.name, nodegroup_name=ng.name),
                 *fixcmd.nodegroup_skew_fix(eks.region, eks.name, ng.name, problems[0], cp, target)])


Judged = tuple[str, list[versions.SkewProblem]]


def _judge_nodegroup(version: versions.Minor | None, kubelets: list[str], cp: versions.Minor | None,
                     target: versions.Minor | None) -> Judged | None:
    """(what the group runs, its skew problems), None when it is within the policy."""
    minors = [m for m in [version, *map(versions.parse, kubelets)] if m is not None]
    if not minors:
        return None
    oldest, newest = min(minors), max(minors)
    runs = f"runs Kubernetes {oldest}" if oldest == newest else f"runs Kubernetes {oldest} to {newest}"
    problems = [p for p in (versions.judge_skew(newest, cp, target), versions.judge_skew(oldest, cp, target))
                if p is not None]
    problems = [p for i, p in enumerate(problems) if p not in problems[:i]]
    if not problems:
        return None
    return runs, problems


@rule("nodegroup-not-active", Severity.ERROR, "Node group not ACTIVE or unhealthy", mode="eks")
def nodegroup_not_active(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Fires for each managed node group whose EKS status is not `ACTIVE` (`CREATING`, `UPDATING`,
    `DELETING`, `CREATE_FAILED`, `DELETE_FAILED`, `DEGRADED`) or whose `health.issues` is not empty,
    and names the issue codes (`NodeCreationFailure`, `PodEvictionFailure`, `AsgInstanceLaunchFailures`,
    ...) and any update still in progress.

    ## Why it matters
    A node group that is degraded or mid-update cannot be upgraded cleanly: EKS rejects or fails
    the version update, a rolling update stuck on `PodEvictionFailure` leaves old and new nodes side
    by side, and a control-plane upgrade on top of an unhealthy data plane makes the cause of any
    outage hard to find.

    ## Example
    Node group `ng-blue` is `DEGRADED` with `AsgInstanceLaunchFailures`: its Auto Scaling group cannot
    launch instances because the subnet ran out of IP addresses.

    ## How to fix
    Resolve the health issue first (`aws eks describe-nodegroup` lists codes and affected resources;
    the EKS troubleshooting guide explains each code), or wait for the update in progress to finish
    (`aws eks describe-update`), then audit again before upgrading.
    """
    eks = ctx.index.eks_data
    assert eks is not None
    for ng in eks.nodegroups:
        issues = ng.issues
        if ng.status == "ACTIVE" and not issues:
            continue
        parts = [f"node group {ng.name} is {ng.status or 'in an unknown state'}"]
        if issues:
            parts.append("health issues: " + "; ".join(f"{i.code or '?'}: {i.message}".rstrip(": ") for i in issues))
        running = [u for u in eks.updates.nodegroups.get(ng.name, ()) if u.status == "InProgress"]
        if running:
            parts.append("update in progress: " + ", ".join(f"{u.type or '?'} {u.id}".strip() for u in running))
        fix = [aws_eks("describe-nodegroup", eks.region, eks.name, nodegroup_name=ng.name)]
        fix += [aws_eks("describe-update", eks.region, eks.name, nodegroup_name=ng.name, update_id=u.id)
                for u in running[:3]]
        yield ctx.finding(ObjectRef("NodeGroup", "", ng.name), "; ".join(parts), status=ng.status,
                          issues=[{"code": i.code, "message": i.message, "resourceIds": i.resource_ids}
                                  for i in issues] or None,
                          updatesInProgress=[{"id": u.id, "type": u.type, "status": u.status} for u in running]
                          or None, version=ng.version or None, releaseVersion=ng.release_version or None,
                          nodes=[n.name for n in ctx.index.nodes_of_nodegroup(ng.name)][:50] or None, fix=fix)


@rule("addon-version-incompatible", Severity.WARNING, "Add-on version not compatible with the target",
      mode="eks")
def addon_version_incompatible(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each installed EKS add-on, checks whether its `addonVersion` is among the versions that
    `describe-addon-versions` lists as compatible with the target Kubernetes version (the
    `--target-version`, or the next minor of the control plane by default), and names the version
    EKS installs by default for the target. Add-ons whose compatibility data was collected for a
    different version than the target are not judged.

    ## Why it matters
    EKS does not upgrade add-ons with the control plane. An add-on version that does not support
    the new Kubernetes version (an old VPC CNI, CoreDNS or kube-proxy) can break Pod networking,
    DNS or Service routing right after the upgrade, and add-ons move only one minor at a time, so
    a version far behind needs several steps planned ahead.

    ## Example
    The target is 1.31 and `kube-proxy` runs `v1.28.8-eksbuild.5`; EKS lists `v1.31.x` builds as
    compatible with 1.31 and `v1.31.2-eksbuild.3` as the default.

    ## How to fix
    Update the add-on to a compatible version (`aws eks update-addon --cluster-name C --addon-name A
    --addon-version V`), one minor at a time, before or right after the control-plane upgrade as the
    add-on's documentation says; prefer the default version EKS names for the target. kube-proxy is
    never newer than the API server: its version for the target goes on right after the control
    plane reaches the target, which the finding says when the target is ahead of the control plane.
    """
    eks = ctx.index.eks_data
    assert eks is not None
    target = versions.parse(ctx.options.target_version or eks.target_version)
    if target is None:
        raise RuleNotRun("no target version: pass --target-version 1.N")
    judged = 0
    for addon in eks.addons:
        if not addon.addon_version:
            continue
        entry = compatibility(eks, addon.addon_name, str(target))
        if entry is None:
            continue
        judged += 1
        compatible = entry.compatible_versions
        if addon.addon_version in compatible:
            continue
        name, installed, default = addon.addon_name, addon.addon_version, entry.default_version
        cp = ctx.index.control_plane.version if ctx.index.control_plane else None
        msg = _addon_message(name, installed, default, bool(compatible), target, cp)
        fix = [aws_eks("describe-addon-versions", eks.region, None, addon_name=name,
                       kubernetes_version=str(target))]
        if default:
            fix.append(aws_eks("update-addon", eks.region, eks.name, addon_name=name, addon_version=default))
        yield ctx.finding(ObjectRef("Addon", "", name), msg, installedVersion=installed, targetVersion=str(target),
                          defaultVersion=default, compatibleVersions=compatible[:10] or None,
                          status=addon.status or None, fix=fix)
    if eks.addons and not judged:
        have = ", ".join(compatibility_targets(eks)) or "no version"
        raise RuleNotRun(f"add-on compatibility was collected for {have}, not for the target {target}: "
                         f"take the snapshot again with --target-version {target}")


def _addon_message(name: str, installed: str, default: str | None, listed: bool, target: versions.Minor,
                   cp: versions.Minor | None) -> str:
    if listed:
        msg = f"add-on {name} {installed} is not among the versions EKS lists as compatible with Kubernetes {target}"
    else:
        msg = f"add-on {name} {installed}: EKS lists no version of {name} compatible with Kubernetes {target}"
    msg += f"; the default version for {target} is {default}" if default else \
        f"; EKS names no default version for {target}"
    if name == "kube-proxy" and default and cp is not None and target > cp:
        msg += (f": update it right after the control plane reaches {target} (kube-proxy is never newer than "
                "the API server)")
    return msg


@rule("upgrade-insight-failing", Severity.WARNING, "EKS upgrade insight reports a problem", mode="eks")
def upgrade_insight_failing(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports every EKS cluster insight of category `UPGRADE_READINESS` whose status is `WARNING` or
    `ERROR` (error severity for `ERROR`), with its reason, the Kubernetes version it is about, the
    recommendation and the affected resources. `PASSING` and `UNKNOWN` insights are not reported.

    ## Why it matters
    EKS upgrade insights are AWS's own pre-upgrade checks: use of APIs removed in the next
    versions, kubelet skew, add-on compatibility, cluster health. `ERROR` means the problem affects
    the very next minor version, `WARNING` a later one; EKS may refuse or complicate the control-plane
    upgrade while an insight is failing.

    ## Example
    Insight "Deprecated APIs removed in Kubernetes v1.32" is `ERROR`: clients still call
    `flowcontrol.apiserver.k8s.io/v1beta3` in the last 30 days.

    ## How to fix
    Follow the insight's recommendation (`aws eks describe-insight --cluster-name C --id ID`), fix the
    affected resources or clients, then wait for the insight to refresh (it refreshes daily, or run
    `aws eks start-insights-refresh`) before upgrading.
    """
    eks = ctx.index.eks_data
    assert eks is not None
    for insight in eks.insights:
        if insight.category != "UPGRADE_READINESS":
            continue
        status = insight.status
        if status not in INSIGHT_FAILING:
            continue
        name = insight.name or insight.id
        version = insight.kubernetes_version
        reason = insight.insight_status.reason if insight.insight_status else ""
        msg = f"EKS upgrade insight \"{name}\"" + (f" for Kubernetes {version}" if version else "")
        msg += f" is {status}" + (f": {reason}" if reason else "")
        resources = insight.resources
        yield ctx.finding(
            ObjectRef("Insight", "", name), msg, key=insight.id,
            severity=Severity.ERROR if status == "ERROR" else None,
            id=insight.id or None, kubernetesVersion=version, recommendation=insight.recommendation,
            lastRefreshTime=insight.last_refresh_time, resources=resources[:20] or None,
            resourceCount=len(resources) or None, additionalInfo=insight.additional_info or None,
            fix=[aws_eks("describe-insight", eks.region, eks.name, id=insight.id),
                 aws_eks("start-insights-refresh", eks.region, eks.name)] if insight.id else ())


EKS_RULES = (nodegroup_version_skew, nodegroup_not_active, addon_version_incompatible,
             upgrade_insight_failing)
