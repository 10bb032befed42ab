"""Typed EKS data: the `eks` section of a state decoded once (cluster, node groups, add-ons, insights, updates).

The collector stores what boto3 returned (sanitised); everything else reads these structs, never the raw
dicts. Decoding is lenient about fields it does not know and strict about the shapes it reads: a
wrong-typed section is an input error naming the field, not a crash in a rule.
"""
from __future__ import annotations

from typing import Any, Optional

import msgspec


class _E(msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=False):
    pass


class HealthIssue(_E):
    code: str = ""
    message: str = ""
    resource_ids: Optional[list[str]] = None


class Health(_E):
    issues: list[HealthIssue] = msgspec.field(default_factory=list)


class UpdateConfig(_E):
    max_unavailable: Optional[int] = None
    max_unavailable_percentage: Optional[int] = None
    update_strategy: str = ""


class ScalingConfig(_E):
    min_size: Optional[int] = None
    max_size: Optional[int] = None
    desired_size: Optional[int] = None


class Cluster(_E):
    name: str = ""
    version: str = ""
    platform_version: str = ""
    status: str = ""
    health: Optional[Health] = None


class NodeGroup(_E):
    nodegroup_name: str = ""
    version: str = ""
    release_version: str = ""
    status: str = ""
    ami_type: str = ""
    capacity_type: str = ""
    health: Optional[Health] = None
    update_config: Optional[UpdateConfig] = None
    scaling_config: Optional[ScalingConfig] = None

    @property
    def name(self) -> str:
        return self.nodegroup_name

    @property
    def issues(self) -> list[HealthIssue]:
        return self.health.issues if self.health is not None else []

    def max_unavailable_text(self) -> str:
        uc = self.update_config
        if uc is None or (uc.max_unavailable is None and uc.max_unavailable_percentage is None):
            return "1 (default)"
        if uc.max_unavailable is not None:
            return str(uc.max_unavailable)
        return f"{uc.max_unavailable_percentage}%"


class Addon(_E):
    addon_name: str = ""
    addon_version: str = ""
    status: str = ""
    health: Optional[Health] = None


class AddonCompatibility(_E):
    """What EKS lists as compatible with one Kubernetes version for one add-on."""

    target_version: str = ""
    default_version: Optional[str] = None
    compatible_versions: list[str] = msgspec.field(default_factory=list)


class InsightStatus(_E):
    status: str = ""
    reason: str = ""


class Insight(_E):
    id: str = ""
    name: str = ""
    category: str = "UPGRADE_READINESS"
    kubernetes_version: Optional[str] = None
    insight_status: Optional[InsightStatus] = None
    recommendation: Optional[str] = None
    description: str = ""
    last_refresh_time: Optional[str] = None
    additional_info: Optional[dict[str, Any]] = None
    resources: list[dict[str, Any]] = msgspec.field(default_factory=list)

    @property
    def status(self) -> str:
        return self.insight_status.status if self.insight_status is not None else ""


class UpdateError(_E):
    error_code: str = ""
    error_message: str = ""


class Update(_E):
    id: str = ""
    type: str = ""
    status: str = ""
    created_at: Optional[str] = None
    errors: list[UpdateError] = msgspec.field(default_factory=list)


class Updates(_E):
    cluster: list[Update] = msgspec.field(default_factory=list)
    nodegroups: dict[str, list[Update]] = msgspec.field(default_factory=dict)


class Missing(_E):
    part: str = ""
    reason: str = ""
    permission: str = ""


class EksData(_E):
    cluster_name: str = ""
    region: str = ""
    target_version: Optional[str] = None
    cluster: Cluster = msgspec.field(default_factory=Cluster)
    nodegroups: list[NodeGroup] = msgspec.field(default_factory=list)
    addons: list[Addon] = msgspec.field(default_factory=list)
    #: v1 snapshots: one entry per add-on for `targetVersion`
    addon_versions: dict[str, AddonCompatibility] = msgspec.field(default_factory=dict)
    #: since 0.2: per Kubernetes version (the current minor and the next), per add-on
    addon_versions_by_target: dict[str, dict[str, AddonCompatibility]] = msgspec.field(default_factory=dict)
    insights: list[Insight] = msgspec.field(default_factory=list)
    updates: Updates = msgspec.field(default_factory=Updates)
    missing: list[Missing] = msgspec.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.cluster_name or self.cluster.name


def decode(raw: Any) -> EksData:
    """The state's `eks` dict -> EksData; msgspec.ValidationError (with the field path) when mistyped."""
    return msgspec.convert(raw, EksData, str_keys=True, strict=False)
