"""ClusterState: the objects of one cluster state, when and where they were taken, and what is missing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from auditor.model import InputInfo
from auditor.state import eksdata, kinds
from auditor.state.eksdata import EksData
from auditor.state.objects import KubeObject


@lru_cache(maxsize=1 << 16)
def parse_time(text: str | None) -> datetime | None:
    """RFC 3339 (with or without fractional seconds) to an aware datetime; None when absent or bad."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # RFC3339Nano has nine fractional digits; fromisoformat takes at most six.
        if "." in text:
            head, _, rest = text.partition(".")
            digits = "".join(ch for ch in rest if ch.isdigit())
            try:
                t = datetime.fromisoformat(f"{head}.{digits[:6]}+00:00")
            except ValueError:
                return None
        else:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class MissingResource:
    """A kind the state could not read, and why: never to be taken as 'healthy'."""

    kind: str
    reason: str
    permission: str = ""
    namespace: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        if self.permission:
            out["permission"] = self.permission
        if self.namespace:
            out["namespace"] = self.namespace
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class ClusterState:
    objects: dict[str, list[KubeObject]]
    taken_at: datetime
    inputs: list[InputInfo]
    present: set[str]
    missing: list[MissingResource] = field(default_factory=list)
    server_version: str | None = None
    eks: dict[str, Any] | None = None
    context: str = ""
    server: str = ""
    label: str = ""
    warnings: list[str] = field(default_factory=list)
    # False when the kinds were read at different moments (snapshot metadata.consistent); kind_reads then says
    # when each kind was read: {kind: (start, end)}. A discrepancy between kinds read apart may be in flight.
    consistent: bool = True
    kind_reads: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: what verify observed while it followed the cluster (auditor.analysis.timeline.Timeline); None for a snapshot
    timeline: Any = None

    @property
    def eks_data(self) -> EksData | None:
        """The `eks` section decoded once into typed structs (None without EKS data)."""
        if self.eks is None:
            return None
        cached = self.__dict__.get("_eks_data")
        if cached is None or cached[0] is not self.eks:
            cached = (self.eks, eksdata.decode(self.eks))
            self.__dict__["_eks_data"] = cached
        return cached[1]

    def of(self, kind: str) -> list[KubeObject]:
        return self.objects.get(kind, [])

    def has(self, kind: str) -> bool:
        return kind in self.present

    @property
    def complete(self) -> bool:
        return not self.missing

    @classmethod
    def merge(cls, states: list[ClusterState]) -> ClusterState:
        """Union of several inputs; an object in several files keeps the last file's copy."""
        if len(states) == 1:
            return states[0]
        seen: dict[tuple[str, str, str], KubeObject] = {}
        for st in states:
            for kind, objs in st.objects.items():
                for o in objs:
                    seen[(kind, o.metadata.namespace, o.metadata.name)] = o
        objects: dict[str, list[KubeObject]] = {k: [] for k in kinds.ALL}
        for (kind, _, _), o in seen.items():
            objects.setdefault(kind, []).append(o)
        present = set().union(*(s.present for s in states))
        # A kind missing from one input but read by another is not missing from the merge.
        missing: list[MissingResource] = []
        seen_missing: set[tuple[str, str]] = set()
        for m in (m for s in states for m in s.missing if m.kind not in present):
            if (m.kind, m.namespace) not in seen_missing:
                seen_missing.add((m.kind, m.namespace))
                missing.append(m)
        first = next((s for s in states if s.server_version), states[0])
        eks = next((s.eks for s in states if s.eks), None)
        return cls(
            objects=objects,
            taken_at=max(s.taken_at for s in states),
            inputs=[i for s in states for i in s.inputs],
            present=present,
            missing=missing,
            server_version=first.server_version,
            eks=eks,
            context=first.context,
            server=first.server,
            label=states[-1].label,
            warnings=[w for s in states for w in s.warnings],
            consistent=all(s.consistent for s in states),
            kind_reads={k: v for s in states for k, v in s.kind_reads.items()},
        )
