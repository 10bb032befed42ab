"""EKS rules: node group skew and health, add-on compatibility and upgrade insights, from the `eks` data."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from auditor.rules.base import Context, rule

from auditor.model import Finding, ObjectRef, Severity
from auditor.objects import KubeObject

if TYPE_CHECKING:
    from auditor.index import ClusterIndex

LABEL_NODEGROUP = "eks.amazonaws.com/nodegroup"
INSIGHT_FAILING = ("WARNING", "ERROR")

Minor = tuple[int, int]


def parse_minor(text: str | None) -> Minor | None:
    """'1.30', 'v1.30.4-eks-a737599' -> (1, 30); None when there is no major.minor to read."""
    parts = (text or "").strip().lstrip("v").split(".")
    if len(parts) < 2:
        return None
    minor = parts[1].split("-")[0].split("+")[0]
    if not (parts[0].isdigit() and minor.isdigit()):
        return None
    return int(parts[0]), int(minor)


def show(v: Minor) -> str:
    return f"{v[0]}.{v[1]}"


def allowed_skew(nodegroup: Minor, control_plane: Minor) -> int:
    """Minors a node group may lag: n-3 from a 1.28 control plane for kubelets from 1.25, else n-2.

    The n-3 window came with Kubernetes 1.28 (KEP-3935) and covers kubelets from 1.25, so a 1.25
    node group may stay under a 1.28 control plane (K8S-FACTS 5.1, 5.2; version-skew policy).
    """
    return 3 if control_plane >= (1, 28) and nodegroup >= (1, 25) else 2


def behind(newer: Minor, older: Minor) -> int:
    """Minors `older` lies behind `newer` (negative when it is ahead); majors other than 1 never occur."""
    return (newer[0] - older[0]) * 100 + newer[1] - older[1]


def control_plane(ctx: Context, eks: dict[str, Any]) -> Minor | None:
    return parse_minor((eks.get("cluster") or {}).get("version")) or parse_minor(ctx.index.server_version)


def nodes_of_index(index: ClusterIndex, nodegroup: str) -> list[KubeObject]:
    """The Nodes EKS labelled as members of a managed node group."""
    return sorted((n for n in index.nodes.values() if n.labels.get(LABEL_NODEGROUP) == nodegroup),
                  key=lambda n: n.name)


def nodes_of(ctx: Context, nodegroup: str) -> list[KubeObject]:
    return nodes_of_index(ctx.index, nodegroup)


def kubelet_version(node: KubeObject) -> str:
    st = node.status
    return st.node_info.kubelet_version if st is not None and st.node_info is not None else ""


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
    eks = ctx.index.eks
    if not eks:
        return
    cp = control_plane(ctx, eks)
    target = parse_minor(ctx.options.target_version)
    if cp is None:
        return
    for ng in eks.get("nodegroups") or ():
        name = str(ng.get("nodegroupName", ""))
        if ng.get("status") == "DELETING":
            continue
        nodes = nodes_of(ctx, name)
        kubelets = sorted({v for v in (kubelet_version(n) for n in nodes) if v})
        minors = [m for m in [parse_minor(ng.get("version")), *map(parse_minor, kubelets)] if m is not None]
        if not minors:
            continue
        oldest, newest = min(minors), max(minors)
        runs = f"runs Kubernetes {show(oldest)}" if oldest == newest else \
            f"runs Kubernetes {show(oldest)} to {show(newest)}"
        limit = allowed_skew(oldest, cp)
        problems: list[str] = []
        if behind(newest, cp) > 0:
            problems.append(f"{show(newest)} is newer than the control plane {show(cp)}")
        lag = behind(cp, oldest)
        if lag > limit:
            problems.append(f"{lag} minors behind the control plane {show(cp)} (at most {limit} allowed)")
        if target is not None and target > cp and behind(target, oldest) > allowed_skew(oldest, target):
            problems.append(f"would be {behind(target, oldest)} minors behind after the upgrade to "
                            f"{show(target)} (at most {allowed_skew(oldest, target)} allowed)")
        if not problems:
            continue
        rule_text = ("the skew policy allows 3 minors behind for node groups at 1.25 or later under a "
                     "1.28 or later control plane, otherwise 2, never newer")
        yield ctx.finding(
            ObjectRef("NodeGroup", "", name),
            f"node group {name} {runs}: {'; '.join(problems)} ({rule_text})",
            nodegroupVersion=ng.get("version"), releaseVersion=ng.get("releaseVersion"),
            kubeletVersions=kubelets or None, nodes=[n.name for n in nodes] or None,
            controlPlaneVersion=show(cp), targetVersion=show(target) if target else None, allowedSkew=limit)


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
    eks = ctx.index.eks
    if not eks:
        return
    updates = ((eks.get("updates") or {}).get("nodegroups") or {})
    for ng in eks.get("nodegroups") or ():
        name = str(ng.get("nodegroupName", ""))
        status = str(ng.get("status", ""))
        issues = list((ng.get("health") or {}).get("issues") or ())
        if status == "ACTIVE" and not issues:
            continue
        parts = [f"node group {name} is {status or 'in an unknown state'}"]
        if issues:
            parts.append("health issues: " + "; ".join(
                f"{i.get('code', '?')}: {i.get('message', '')}".rstrip(": ") for i in issues))
        running = [u for u in updates.get(name) or () if u.get("status") == "InProgress"]
        if running:
            parts.append("update in progress: " + ", ".join(f"{u.get('type', '?')} {u.get('id', '')}".strip()
                                                             for u in running))
        yield ctx.finding(ObjectRef("NodeGroup", "", name), "; ".join(parts), status=status,
                          issues=issues or None, updatesInProgress=running or None,
                          version=ng.get("version"), releaseVersion=ng.get("releaseVersion"))


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
    add-on's documentation says; prefer the default version EKS names for the target.
    """
    eks = ctx.index.eks
    if not eks:
        return
    versions = eks.get("addonVersions") or {}
    for addon in eks.get("addons") or ():
        name = str(addon.get("addonName", ""))
        installed = str(addon.get("addonVersion", ""))
        entry = versions.get(name)
        if not entry or not installed:
            continue
        target = ctx.options.target_version or entry.get("targetVersion")
        if target is None or parse_minor(entry.get("targetVersion")) != parse_minor(target):
            continue
        compatible = list(entry.get("compatibleVersions") or ())
        if installed in compatible:
            continue
        default = entry.get("defaultVersion")
        if compatible:
            msg = (f"add-on {name} {installed} is not among the versions EKS lists as compatible with "
                   f"Kubernetes {target}")
        else:
            msg = (f"add-on {name} {installed}: EKS lists no version of {name} compatible with "
                   f"Kubernetes {target}")
        msg += f"; the default version for {target} is {default}" if default else \
            f"; EKS names no default version for {target}"
        yield ctx.finding(ObjectRef("Addon", "", name), msg, installedVersion=installed, targetVersion=target,
                          defaultVersion=default, compatibleVersions=compatible[:10] or None,
                          status=addon.get("status"))


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
    eks = ctx.index.eks
    if not eks:
        return
    for insight in eks.get("insights") or ():
        if insight.get("category", "UPGRADE_READINESS") != "UPGRADE_READINESS":
            continue
        state = insight.get("insightStatus") or {}
        status = str(state.get("status", ""))
        if status not in INSIGHT_FAILING:
            continue
        name = str(insight.get("name") or insight.get("id", ""))
        version = insight.get("kubernetesVersion")
        msg = f"EKS upgrade insight \"{name}\"" + (f" for Kubernetes {version}" if version else "")
        msg += f" is {status}" + (f": {state['reason']}" if state.get("reason") else "")
        resources = list(insight.get("resources") or ())
        yield ctx.finding(
            ObjectRef("Insight", "", name), msg,
            severity=Severity.ERROR if status == "ERROR" else None,
            id=insight.get("id"), kubernetesVersion=version, recommendation=insight.get("recommendation"),
            lastRefreshTime=insight.get("lastRefreshTime"), resources=resources[:20] or None,
            resourceCount=len(resources) or None, additionalInfo=insight.get("additionalInfo") or None)


def eks_summary(index: ClusterIndex, target_version: str | None = None) -> dict[str, Any] | None:
    """What a report's EKS section shows: the cluster, node groups with their Nodes, add-ons against the
    target, and insights; None without EKS data. Pure, like the rules."""
    eks = index.eks
    if not eks:
        return None
    cluster = eks.get("cluster") or {}
    target = target_version or eks.get("targetVersion")
    versions = eks.get("addonVersions") or {}
    groups = []
    for ng in eks.get("nodegroups") or ():
        name = str(ng.get("nodegroupName", ""))
        nodes = nodes_of_index(index, name)
        groups.append({
            "name": name, "version": ng.get("version"), "releaseVersion": ng.get("releaseVersion"),
            "status": ng.get("status"), "amiType": ng.get("amiType"), "capacityType": ng.get("capacityType"),
            "healthIssues": [i.get("code") for i in (ng.get("health") or {}).get("issues") or ()],
            "nodes": [n.name for n in nodes],
            "kubeletVersions": sorted({v for v in map(kubelet_version, nodes) if v}),
        })
    addons = []
    for addon in eks.get("addons") or ():
        name = str(addon.get("addonName", ""))
        entry = versions.get(name) or {}
        known = bool(entry) and parse_minor(entry.get("targetVersion")) == parse_minor(target)
        installed = addon.get("addonVersion")
        addons.append({
            "name": name, "installedVersion": installed, "status": addon.get("status"),
            "defaultVersion": entry.get("defaultVersion") if known else None,
            # None: no compatibility data for this target (not collected, denied, or another version)
            "compatible": installed in (entry.get("compatibleVersions") or ()) if known else None,
        })
    insights = [{"name": i.get("name"), "status": (i.get("insightStatus") or {}).get("status"),
                 "reason": (i.get("insightStatus") or {}).get("reason"),
                 "kubernetesVersion": i.get("kubernetesVersion"), "recommendation": i.get("recommendation")}
                for i in eks.get("insights") or ()]
    return {"clusterName": eks.get("clusterName") or cluster.get("name"), "region": eks.get("region"),
            "version": cluster.get("version"), "platformVersion": cluster.get("platformVersion"),
            "status": cluster.get("status"), "targetVersion": target, "nodegroups": groups, "addons": addons,
            "insights": insights, "missing": list(eks.get("missing") or ())}


EKS_RULES = (nodegroup_version_skew, nodegroup_not_active, addon_version_incompatible,
             upgrade_insight_failing)
