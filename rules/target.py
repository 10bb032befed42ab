"""Single-state rules about the upgrade's target version."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, RuleNotRun, rule

from auditor.facts import versions
from auditor.facts.fixcmd import aws_eks
from auditor.model import Finding, Severity, cluster_ref


@rule("target-version-jump", Severity.WARNING, "Target version more than one minor above the control plane",
      options=("target-version",))
def target_version_jump(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Compares `--target-version` (or `target-version` in the config) with the control plane's
    version recorded in the state (the API server's `/version`, else EKS's cluster version). When the
    target is more than one minor above it, reports one warning listing the intermediate versions.
    A target below the control plane is refused outright (exit 2): EKS cannot downgrade. Without a
    target there is nothing to check; without a known control-plane version the rule does not run.

    ## Why it matters
    EKS upgrades the control plane one minor version at a time. A plan "from 1.29 to 1.32" is three
    upgrades, each with its own skew window, deprecated APIs and add-on versions; the checks against
    the final target alone say nothing about the steps in between, and the nodes must be inside the
    skew window of every intermediate version when its upgrade starts.

    ## Example
    The control plane runs 1.29 and the audit is run with `--target-version 1.32`: the upgrade goes
    1.29 → 1.30 → 1.31 → 1.32.

    ## How to fix
    Audit (and upgrade) one minor at a time: run the audit with `--target-version` set to the next
    minor, upgrade the control plane and the nodes, take a new snapshot, and repeat.
    """
    target_text = ctx.options.target_version
    if not target_text:
        return
    target = versions.parse(target_text)
    cp = ctx.index.control_plane
    if target is None:
        return
    if cp is None:
        raise RuleNotRun("the control plane's version is not known (no /version in the state, no EKS data)")
    jump = target.behind(cp.version)
    if jump <= 1:
        return
    steps = [str(versions.Minor(cp.version.major, cp.version.minor + i)) for i in range(jump + 1)]
    data = ctx.index.eks_data
    fix = ([aws_eks("update-cluster-version", data.region, data.name, kubernetes_version=steps[1])]
           if data is not None else [])
    yield ctx.finding(cluster_ref(), f"target {target} is {jump} minors above the control plane {cp.version}: "
                      f"EKS upgrades one minor at a time ({' → '.join(steps)}); audit and upgrade each step",
                      controlPlane=str(cp.version), controlPlaneSource=cp.source, target=str(target),
                      steps=steps, fix=fix)
