"""The timeline of a followed upgrade: each Service's ready endpoints over time, and its outages.

Pure data: `verify` (and `replay`) feed it the ready count kube-proxy sees for a Service (the ready endpoints
of every slice labelled with its name, de-duplicated by address: `facts.slices.proxied_among` and
`facts.slices.ready_endpoints_in`) once per batch of changes that touched it,
with the time the tool observed the change. An outage is an interval at zero ready endpoints for a Service
that had ready endpoints BEFORE; one still open when the run ends has no end (`to` null in report.json).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

Key = tuple[str, str]  # (namespace, name)


def iso(t: float) -> str:
    """Epoch seconds as an ISO time with milliseconds (outages are often shorter than a second)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class ServiceLine:
    """One Service's ready count over the run: (time, count) at the start and at every change."""

    namespace: str
    name: str
    ready_before: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    deleted_at: float | None = None  # the Service was deleted during the run: tracking ends there

    def observe(self, at: float, count: int) -> bool:
        """Record the count at `at`; False (and nothing recorded) when it did not change."""
        self.deleted_at = None  # observed, so it exists (again, if it was deleted)
        if self.samples and self.samples[-1][1] == count:
            return False
        if self.samples and at < self.samples[-1][0]:
            at = self.samples[-1][0]  # events of one batch arrive in order; never step back in time
        self.samples.append((at, count))
        return True

    @property
    def changed(self) -> bool:
        """Its ready count changed during the run, or it was already not what BEFORE had."""
        return len(self.samples) > 1 or (bool(self.samples) and self.samples[0][1] != self.ready_before)

    def outages(self, end: float) -> list[tuple[float, float | None]]:
        """Intervals at zero ready endpoints (only for a Service that had some BEFORE); the last may be open."""
        if self.ready_before <= 0:
            return []
        out: list[tuple[float, float | None]] = []
        start: float | None = None
        stop = self.deleted_at if self.deleted_at is not None else end
        for at, count in self.samples:
            if at > stop:
                break
            if count == 0 and start is None:
                start = at
            elif count > 0 and start is not None:
                out.append((start, at))
                start = None
        if start is not None:
            out.append((start, stop if self.deleted_at is not None else None))
        return out

    def down_seconds(self, end: float) -> float:
        return sum(((to if to is not None else end) - since) for since, to in self.outages(end))

    def min_ready(self) -> int:
        return min((c for _, c in self.samples), default=self.ready_before)

    def ready_at_end(self) -> int:
        return self.samples[-1][1] if self.samples else self.ready_before

    def as_dict(self, end: float) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "readyBefore": self.ready_before,
                "minReady": self.min_ready(), "readyAtEnd": self.ready_at_end(),
                "downSeconds": round(self.down_seconds(end), 3),
                "outages": [{"from": iso(a), "to": iso(b) if b is not None else None} for a, b in self.outages(end)],
                "samples": [{"at": iso(t), "ready": c} for t, c in self.samples],
                **({"deletedAt": iso(self.deleted_at)} if self.deleted_at is not None else {})}


@dataclass
class Timeline:
    """Every followed Service's line, from the first list (`start`) to the end of the run (`end`)."""

    start: float
    end: float
    lines: dict[Key, ServiceLine] = field(default_factory=dict)

    def observe(self, key: Key, at: float, count: int, ready_before: int) -> bool:
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = ServiceLine(key[0], key[1], ready_before)
        self.end = max(self.end, at)
        return line.observe(at, count)

    def deleted(self, key: Key, at: float) -> None:
        line = self.lines.get(key)
        if line is not None and line.deleted_at is None:
            line.deleted_at = at
            self.end = max(self.end, at)

    def down_now(self) -> list[Key]:
        """Services at zero ready endpoints right now that had some BEFORE."""
        return [k for k, line in self.lines.items()
                if line.ready_before > 0 and line.deleted_at is None and line.samples and line.samples[-1][1] == 0]

    def affected(self) -> list[ServiceLine]:
        """The Services whose ready count changed, those that went down first (longest down time first)."""
        lines = [line for line in self.lines.values() if line.changed]
        return sorted(lines, key=lambda s: (-s.down_seconds(self.end), s.namespace, s.name))

    def to_json(self) -> dict[str, Any]:
        return {"from": iso(self.start), "to": iso(self.end),
                "services": [line.as_dict(self.end) for line in self.affected()]}
