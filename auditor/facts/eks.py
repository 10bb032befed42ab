"""EKS facts read with the version parser: a node group's minor, and add-on compatibility for a target version."""
from __future__ import annotations

from auditor.facts import versions
from auditor.state.eksdata import AddonCompatibility, EksData, NodeGroup


def nodegroup_minor(ng: NodeGroup) -> versions.Minor | None:
    return versions.parse(ng.version)


def compatibility(eks: EksData, addon: str, target: str | None) -> AddonCompatibility | None:
    """EKS's compatibility list of `addon` for `target` (any spelling); None when it was not collected."""
    t = versions.parse(target)
    if t is None:
        return None
    for version, entries in eks.addon_versions_by_target.items():
        if versions.parse(version) == t and addon in entries:
            e = entries[addon]
            return e if e.target_version else AddonCompatibility(str(t), e.default_version, e.compatible_versions)
    old = eks.addon_versions.get(addon)
    if old is not None and versions.parse(old.target_version) == t:
        return old
    return None


def compatibility_targets(eks: EksData) -> list[str]:
    """The versions add-on compatibility was collected for."""
    found = {versions.parse(k) for k in eks.addon_versions_by_target}
    found |= {versions.parse(e.target_version) for e in eks.addon_versions.values()}
    return [str(v) for v in sorted(v for v in found if v is not None)]
