"""What the reconcile engine reports: each discrepancy with when its unreconciled change happened, grouped per
slice, Service and v1 Endpoints object."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from auditor.state.objects import KubeObject


@dataclass
class Problem:
    """One discrepancy that is not in flight; `since` is when the unreconciled change happened. When `exact`
    is False, `since` is only a lower bound (a gone Pod leaves no deletion time)."""

    what: str
    detail: dict[str, object]
    since: datetime | None
    exact: bool = True


@dataclass
class SliceReport:
    slice: KubeObject
    service: KubeObject | None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ServiceReport:
    service: KubeObject
    missing_families: list[str] = field(default_factory=list)   # no controller slice at all
    ready_families_missing: dict[str, int] = field(default_factory=dict)  # fam -> ready pods, no slice
    missing_ready: list[Problem] = field(default_factory=list)  # ready pods absent from its slices


@dataclass
class EndpointsReport:
    endpoints: KubeObject
    reason: str = ""            # service-gone | frozen | "" (address problems)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Reconciliation:
    slices: list[SliceReport]
    services: list[ServiceReport]
    latest_controller_write: datetime | None
    frozen: list[SliceReport] = field(default_factory=list)   # leftovers of ExternalName / selectorless
