"""`snapshot`: read the live cluster (and, when asked, its EKS side) into a snapshot file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from auditor.collect.options import ClusterOptions
from auditor.errors import ExitCode


@dataclass(frozen=True)
class SnapshotSettings:
    """Which cluster to read, where to write it (as the user wrote the path) and the label to record."""

    cluster: ClusterOptions
    output: str
    label: str = ""
    eks: Callable[[], dict[str, Any] | None] | None = None


@dataclass(frozen=True)
class Said:
    """The outcome of a command that writes no report: its lines for stdout and for stderr, and its exit code."""

    code: ExitCode
    out: tuple[str, ...] = ()
    err: tuple[str, ...] = ()


def snapshot(settings: SnapshotSettings) -> Said:
    """Write the snapshot; exit 3 when something could not be read (the incomplete file is still written)."""
    from auditor.collect.live import take_snapshot  # the kubernetes client loads only when needed

    outcome = take_snapshot(settings.cluster, settings.output, settings.label, eks=settings.eks)
    err: list[str] = []
    if outcome.optional_gaps():
        err.append(f"note: optional kinds not read (the rules that need them will say they did not run): "
                   f"{outcome.optional_gaps()}")
    if outcome.complete:
        return Said(ExitCode.OK, (outcome.summary(),), tuple(err))
    where = (f"; written to {outcome.path}, the complete snapshot at {settings.output} is left as it was"
             if outcome.beside else "")
    err.append(f"error: snapshot {outcome.path} is incomplete: {outcome.cause()}{where}")
    return Said(ExitCode.COLLECTION, (outcome.summary(),), tuple(err))
