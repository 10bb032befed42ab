"""How a followed run (`verify`, `replay`) ends: its settings, its ending, the report's verdict, the last state."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import msgspec

from auditor.app.compare import compare_states
from auditor.app.inputs import resolve_target, with_options
from auditor.collect.options import ClusterOptions
from auditor.engine import verdict
from auditor.engine.follow import FOLLOWED_KINDS, Follower
from auditor.facts.pods import pod_changed_at
from auditor.model import AuditResult, InputInfo
from auditor.settings import Config, ReportSettings
from auditor.state.clusterstate import ClusterState, format_time, parse_time
from auditor.state.labels import ANN_TRIGGER_TIME
from auditor.state.snapshot import SnapshotWriter

SNAPSHOT_NAME = "after-snapshot.json.gz"  # the last state, next to the reports


@dataclass(frozen=True)
class VerifySettings:
    before: Path
    cluster: ClusterOptions
    config: Config
    report: ReportSettings
    target: Optional[str] = None
    timeout: float = 600.0
    interval: float = 15.0  # how often a kind whose watch RBAC denies is listed instead
    eks: Optional[Callable[[], dict[str, Any] | None]] = None
    follow: bool = False
    fail_on_outage: bool = False
    record: Optional[Path] = None
    #: with --eks-cluster: makes the ELBv2 client that polls the target groups' health (auditor.collect.elbv2)
    elbv2: Optional[Callable[[], Any]] = None
    settle: Optional[float] = None  # --settle; None: the config's settle-seconds

    @property
    def settle_window(self) -> float:
        """How long the cluster must stay converged before verify ends."""
        return self.config.settle_seconds if self.settle is None else self.settle


@dataclass
class Ending:
    """How a run ended: what the report and the recording say about it."""

    at: float
    reason: str  # converged | timeout | interrupted | stopped | failed (the recording) | lost (a feed)
    settled: bool
    notices: tuple[str, ...] = ()
    eks: dict[str, Any] | None = None
    lost: str = ""  # reason "lost": the feed that died and why
    left_out: int = 0  # served objects left out because their fields have the wrong types (named in the notices)

    @property
    def unknown_because(self) -> str | None:
        """Why no verdict can hold whatever the state shows: a followed kind no longer followed, or objects left
        out (the state is incomplete)."""
        if self.reason == "lost":
            return self.lost or "a followed kind stopped being followed"
        if self.left_out:
            return f"{self.left_out} object(s) left out because their fields have the wrong types: the state is " \
                   "incomplete"
        return None


def conclude(before: ClusterState, follower: Follower, settings: VerifySettings, ending: Ending, *,
             source_info: dict[str, Any], compared: AuditResult | None = None) -> AuditResult:
    """The report's result: the whole followed state compared with BEFORE (`compared`, when that comparison
    was just made of this very state), with the timeline and the ending."""
    result = compared or compare_followed(before, follower, settings, ending.at, ending.eks, source_info)
    # A followed kind's feed died, or objects were left out: what the state says is not known (exit 3, the
    # reason in the banner and the notes).
    unknown = ending.unknown_because
    converged = None if unknown else verdict.run_converged(result.converged)
    rotation = {**(result.rotation or {}), "converged": converged}
    said = (unknown,) if unknown and ending.left_out and unknown not in ending.notices else ()
    notices = result.notices + ending.notices + said
    return replace(result, converged=converged, rotation=rotation, timeline=follower.timeline.to_json(),
                   notices=notices, fail_on_outage=settings.fail_on_outage,
                   unknown_because=unknown or result.unknown_because)


def compare_followed(before: ClusterState, follower: Follower, settings: VerifySettings, at: float,
                     eks: dict[str, Any] | None, source_info: dict[str, Any]) -> AuditResult:
    """The whole followed state at `at` compared with BEFORE, as `compare` would."""
    info = InputInfo(path="(live cluster, followed)", label="after", taken_at=iso_time(at), complete=True,
                     source=source_info)
    version = (source_info.get("serverVersion") or {}).get("gitVersion")
    after = follower.state(at, info, server_version=version if isinstance(version, str) else None,
                           context=str(source_info.get("context", "")), server=str(source_info.get("server", "")),
                           eks=eks)
    target = resolve_target(after, settings.target, settings.config, planning=False)
    return compare_states(before, after, strict(with_options(settings.config, target)), settings.report,
                          mode="verify")


def strict(config: Config) -> Config:
    """The config a followed run judges by: no grace period. A live watch sees each change as it happens, so a
    discrepancy it sees is simply "not converged yet"; the settle window (not the grace) decides when to stop."""
    return replace(config, options=replace(config.options, grace_seconds=0))


def write_last_state(follower: Follower, path: Path, ending: Ending, source: dict[str, Any],
                     warn: Callable[[str], None]) -> None:
    """The last state as a snapshot file next to the reports (replaced atomically): each object as the rules
    read it (the fields of `auditor.state.objects`, a subset of the snapshot projection), as last observed.
    A file that cannot be written is a warning (`warn`): the reports matter more."""
    taken = iso_time(ending.at)
    encode = msgspec.json.Encoder().encode
    try:
        with SnapshotWriter(path) as writer:
            for kind in FOLLOWED_KINDS:
                for obj in follower.objects[kind].values():
                    writer.add_raw(kind, encode(obj))
            writer.finish({"label": "after", "takenAt": taken, "startedAt": iso_time(follower.timeline.start),
                           "complete": True, "consistent": False, "kinds": list(FOLLOWED_KINDS), "missing": [],
                           "source": source, "inconsistency": "followed by watches: each object as last observed"},
                          eks=ending.eks)
    except OSError as exc:
        warn(f"warning: could not write the last state to {path}: {exc.strerror or exc}")


def latest_change(state: ClusterState) -> float:
    """The latest endpoint-relevant change the objects show (Pods, slices, Services): what may be in flight."""
    latest = datetime.min.replace(tzinfo=timezone.utc)
    for pod in state.of("Pod"):
        t = pod_changed_at(pod)
        if t is not None and t > latest:
            latest = t
    for obj in state.of("EndpointSlice") + state.of("Service"):
        for raw in (obj.metadata.creation_timestamp, (obj.metadata.annotations or {}).get(ANN_TRIGGER_TIME)):
            t = parse_time(raw)
            if t is not None and t > latest:
                latest = t
    if latest.year == 1:
        return 0.0
    return min(latest, state.taken_at).timestamp()  # a clock running ahead never puts changes in the future


def iso_time(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, timezone.utc))
