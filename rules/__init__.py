"""The rule pack: every rule the engine runs, registered explicitly in ALL_RULES."""
from __future__ import annotations

from auditor.rules.base import Rule
from auditor.rules.cluster import control_plane_version_mismatch, incomplete_snapshot, kubelet_version_skew
from auditor.rules.eks import EKS_RULES
from auditor.rules.endpoints import stale_endpoints, truncated_endpoints, unmirrored_endpoints
from auditor.rules.endpointslices import (
    endpointslice_controller_disabled,
    handmade_endpointslice,
    orphan_endpointslice,
    service_missing_endpointslices,
    stale_endpointslice,
)
from auditor.rules.lb import (
    external_traffic_local_rotation,
    lb_drain_shorter_than_deregistration,
    lb_target_readiness_gate_missing,
)
from auditor.rules.outage import service_outage
from auditor.rules.pair import PAIR_RULES
from auditor.rules.rbac import rbac_endpoints_without_endpointslices
from auditor.rules.resilience import endpoints_without_readiness_probe, service_single_zone
from auditor.rules.rotation import pdb_blocks_drain, service_rotation_unprotected, service_single_replica
from auditor.rules.routes import ingress_backend_unavailable, webhook_backend_at_risk
from auditor.rules.target import target_version_jump

ALL_RULES: tuple[Rule, ...] = (
    handmade_endpointslice,
    service_missing_endpointslices,
    endpointslice_controller_disabled,
    stale_endpointslice,
    stale_endpoints,
    truncated_endpoints,
    unmirrored_endpoints,
    orphan_endpointslice,
    kubelet_version_skew,
    control_plane_version_mismatch,
    target_version_jump,
    incomplete_snapshot,
    service_single_replica,
    service_rotation_unprotected,
    pdb_blocks_drain,
    endpoints_without_readiness_probe,
    service_single_zone,
    ingress_backend_unavailable,
    lb_target_readiness_gate_missing,
    lb_drain_shorter_than_deregistration,
    webhook_backend_at_risk,
    rbac_endpoints_without_endpointslices,
    external_traffic_local_rotation,
) + PAIR_RULES + (service_outage,) + EKS_RULES


def convergence_rules() -> frozenset[str]:
    """Rules whose error findings mean "slices did not follow the Pods" (metadata on each rule)."""
    return frozenset(r.id for r in ALL_RULES if r.convergence)


def by_id(rule_id: str) -> Rule | None:
    return next((r for r in ALL_RULES if r.id == rule_id), None)
