"""The timeline of a followed upgrade: each Service's ready endpoints over time, and its outages.

Pure data: `verify` (and `replay`) feed it the ready count kube-proxy sees for a Service (the ready endpoints
of every slice labelled with its name, de-duplicated by address: `facts.slices.proxied_among` and
`facts.slices.ready_endpoints_in`) once per batch of changes that touched it,
with the time the tool observed the change. An outage is an interval at zero ready endpoints for a Service
that had ready endpoints BEFORE; one still open when the run ends has no end (`to` null in report.json).

With `--eks-cluster`, `verify` also feeds it the health of the target groups that carry a Service's traffic
(ELBv2 DescribeTargetHealth: targets per state), so the load balancer's side sits next to the endpoints: a
Service is down at the load balancer while any of its target groups has no `healthy` target (targets still
`initial`, `draining` or `unhealthy`), even when its endpoints are ready (`lbOutages` in report.json).
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
    #: per target group ARN: (time, targets per state) at the first read and at every change
    targets: dict[str, list[tuple[float, dict[str, int]]]] = field(default_factory=dict)

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

    def observe_targets(self, arn: str, at: float, states: dict[str, int]) -> bool:
        """Record a target group's targets per state at `at`; False when nothing changed."""
        samples = self.targets.setdefault(arn, [])
        if samples and samples[-1][1] == states:
            return False
        samples.append((max(at, samples[-1][0]) if samples else at, dict(states)))
        return True

    def lb_outages(self, end: float) -> list[tuple[float, float | None]]:
        """Intervals during which some target group of the Service had no healthy target (only for a Service that
        had ready endpoints BEFORE: one that had none was not serving anyway); the last may be open."""
        if self.ready_before <= 0 or not self.targets:
            return []
        events = sorted((at, arn, states.get("healthy", 0)) for arn, samples in self.targets.items()
                        for at, states in samples)
        healthy: dict[str, int] = {}
        out: list[tuple[float, float | None]] = []
        start: float | None = None
        for at, arn, count in events:
            healthy[arn] = count
            down = any(c == 0 for c in healthy.values())
            if down and start is None:
                start = at
            elif not down and start is not None:
                out.append((start, at))
                start = None
        if start is not None:
            out.append((start, None))
        return out

    def lb_down_seconds(self, end: float) -> float:
        return sum(((to if to is not None else end) - since) for since, to in self.lb_outages(end))

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
                **({"deletedAt": iso(self.deleted_at)} if self.deleted_at is not None else {}),
                **(self._targets_json(end) if self.targets else {})}

    def _targets_json(self, end: float) -> dict[str, Any]:
        return {"targetGroups": [{"arn": arn, "samples": [{"at": iso(t), "healthy": states.get("healthy", 0),
                                                           "states": states} for t, states in samples]}
                                 for arn, samples in sorted(self.targets.items())],
                "lbOutages": [{"from": iso(a), "to": iso(b) if b is not None else None}
                              for a, b in self.lb_outages(end)],
                "lbDownSeconds": round(self.lb_down_seconds(end), 3)}


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

    def observe_targets(self, key: Key, arn: str, at: float, states: dict[str, int], ready_before: int) -> bool:
        """A target group's health for the Service `key` (ELBv2 DescribeTargetHealth, read at `at`)."""
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = ServiceLine(key[0], key[1], ready_before)
        self.end = max(self.end, at)
        return line.observe_targets(arn, at, states)

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
        """The Services whose ready count changed or that were down at the load balancer, those that went down
        first (longest down time first)."""
        lines = [line for line in self.lines.values() if line.changed or line.lb_outages(self.end)]
        return sorted(lines, key=lambda s: (-s.down_seconds(self.end), -s.lb_down_seconds(self.end), s.namespace,
                                            s.name))

    def to_json(self) -> dict[str, Any]:
        return {"from": iso(self.start), "to": iso(self.end),
                "services": [line.as_dict(self.end) for line in self.affected()]}
