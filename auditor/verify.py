"""The polling loop of `verify`: snapshot the live cluster until it has reconverged or the deadline passes.

Exit codes (CONTRACT.md): 0 converged, 1 not converged when the timeout passed, 3 the cluster could
never be read (no usable poll at all), 2 a bad BEFORE/config. `--fail-on` does not change the exit
code of `verify`: the contract defines it by convergence alone, so a converged cluster exits 0 even
with warnings (or non-reconvergence errors) left; `--fail-on` still decides which findings the JUnit
report marks as failures. Ctrl-C / SIGTERM writes the last snapshot and the reports, then exits 130
like every other command (the run was stopped, no verdict was reached).
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Optional

import click

from auditor import app, kinds, snapshot
from auditor.collect.options import ClusterOptions
from auditor.errors import AuditorError, CollectionError, ConfigError
from auditor.interrupts import terminate_as_interrupt
from auditor.model import AuditResult, Severity
from auditor.objects import ANN_TRIGGER_TIME
from auditor.reconcile import pod_changed_at
from auditor.rotation import RECONVERGENCE_RULES
from auditor.settings import Config, ReportSettings
from auditor.state import ClusterState, parse_time
from auditor.terminal import present

LOG = logging.getLogger(__name__)

#: What endpoints depend on: the kinds verify reads (the optional workload kinds only refine pre-flight rules).
FOLLOWED_KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice")
SNAPSHOT_NAME = "after-snapshot.json.gz"  # the last usable snapshot, next to the reports
_POLL_NAME = ".after-snapshot.poll.json.gz"  # each poll's snapshot, promoted only when usable
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Snapshotter = Callable[..., Any]  # take_snapshot(opts, output, label, eks=...) -> SnapshotOutcome


@dataclass(frozen=True)
class VerifySettings:
    before: Path
    cluster: ClusterOptions
    config: Config
    report: ReportSettings
    target: Optional[str] = None
    timeout: float = 600.0
    interval: float = 15.0
    eks: Optional[Callable[[], dict[str, Any] | None]] = None


@dataclass
class _Good:
    """A usable poll: its state's comparison with BEFORE."""

    result: AuditResult
    taken_at: datetime
    settled: bool


def verify(settings: VerifySettings, *, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep, take: Optional[Snapshotter] = None,
           echo: Optional[Callable[[str], None]] = None) -> int:
    """Poll until converged (0), the deadline (1) or, with no usable poll at all, raise CollectionError (3).

    `clock`, `sleep` and `take` are injectable so tests run without real waits or a cluster.
    """
    app.baseline_of(settings.report)  # a bad --baseline: exit 2 before touching the cluster
    before = snapshot.load_inputs([str(settings.before)])  # InputError: exit 2 before touching the cluster
    app.check_target([before], settings.target, settings.config)  # a downgrade target: exit 2 as well
    out_dir = settings.report.output_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {out_dir}: cannot create it ({exc.strerror or exc})") from None
    if take is None:
        from auditor.collect.kube import Cluster
        from auditor.collect.live import take_snapshot

        Cluster(settings.cluster).close()  # a missing kubeconfig or unknown context will not fix itself
        take = take_snapshot
    say = echo or (lambda line: click.echo(line, err=True))
    final, poll_path = out_dir / SNAPSHOT_NAME, out_dir / _POLL_NAME
    grace = settings.config.options.grace_seconds
    start = clock()
    deadline = start + settings.timeout
    good: _Good | None = None
    streak: datetime | None = None  # taken_at of the first poll of the current converged run
    partial = False  # the last poll read the cluster only in part
    last_error = ""
    polls = failures = 0
    interrupted = False
    try:
        with terminate_as_interrupt():
            while True:
                polls += 1
                began = clock()
                partial = False
                prefix = f"verify {_clock(began - start)} poll {polls}:"
                try:
                    # A poll ends by the deadline too, mid-request included (a floor so the first poll can run).
                    cluster = replace(settings.cluster, time_limit=max(2.0, deadline - clock()))
                    outcome = take(cluster, poll_path, "after", eks=settings.eks, kinds=FOLLOWED_KINDS)
                    partial = any(kinds.is_required(str(m.get("kind"))) for m in outcome.missing)
                    if partial:  # rules would run on a part of the cluster: never a verdict
                        raise _PollFailed(f"snapshot incomplete: {outcome.cause()}")
                    os.replace(poll_path, final)
                    state = snapshot.load(final)
                except (CollectionError, _PollFailed) as exc:
                    failures += 1
                    last_error = str(exc)
                    say(_line(f"{prefix} {exc} (not used)" if partial else f"{prefix} API error: {exc}"))
                except Exception as exc:  # noqa: BLE001 - e.g. a request that spent its retries
                    if not _is_request_failure(exc):
                        raise
                    failures += 1
                    last_error = str(exc)
                    say(_line(f"{prefix} API error: {exc}"))
                else:
                    result = _compare(before, state, settings)
                    streak = (streak or state.taken_at) if result.converged else None
                    window = timedelta(seconds=grace)
                    settled = streak is not None and (state.taken_at - streak >= window
                                                      or _latest_change(state) <= state.taken_at - window)
                    good = _Good(result, state.taken_at, settled)
                    say(_line(f"{prefix} {_progress(result, settled, grace)}"))
                    if settled:
                        break
                now = clock()
                if now >= deadline:
                    break
                wake = min(began + settings.interval, deadline)
                if wake > now:
                    sleep(wake - now)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if good is None and partial and poll_path.exists():
            os.replace(poll_path, final)  # no usable poll: keep the partial one (marked incomplete)
        _unlink(poll_path)

    elapsed = clock() - start
    if good is None:
        if interrupted:
            raise KeyboardInterrupt()
        kept = f" (partial snapshot: {final})" if partial else ""
        raise CollectionError(f"could not read the cluster in {polls} poll(s) over {elapsed:.0f}s: "
                              f"{last_error}{kept}")
    result = good.result
    notes: list[str] = []
    if not good.settled:
        how = "was interrupted" if interrupted else "timed out"
        notes.append(f"verify {how} after {polls} poll(s) in {elapsed:.0f}s without converging")
        if good.result.converged:  # converged, but not for long enough to rule out changes in flight
            notes.append(f"the last poll showed no reconvergence finding, but changes within the "
                         f"{grace}s grace period were still in flight")
            result = replace(result, converged=False, rotation={**(result.rotation or {}), "converged": False})
    if failures:
        notes.append(f"{failures} of {polls} poll(s) could not read the cluster; last error: {last_error}")
    result = replace(result, notices=result.notices + tuple(notes))
    code = present(app.finish(result, settings.report), quiet=settings.report.quiet,
                   verbose=settings.report.verbose)
    click.echo(f"last snapshot: {final}")
    if interrupted:
        raise KeyboardInterrupt()
    return code


class _PollFailed(AuditorError):
    """A poll that read the cluster only in part: reported, and polling goes on."""


def _is_request_failure(exc: Exception) -> bool:
    from auditor.collect.kube import RequestFailed, Stopped

    return isinstance(exc, (RequestFailed, Stopped))


def _compare(before: ClusterState, after: ClusterState, settings: VerifySettings) -> AuditResult:
    target = app.resolve_target(after, settings.target, settings.config, planning=False)
    config = replace(settings.config, options=replace(settings.config.options, target_version=target))
    return app.compare_states(before, after, config, settings.report, mode="verify")


def _latest_change(state: ClusterState) -> datetime:
    """The latest endpoint-relevant change the state shows (Pods, slices, Services): what may be in flight."""
    latest = datetime.min.replace(tzinfo=state.taken_at.tzinfo)
    for pod in state.of("Pod"):
        t = pod_changed_at(pod)
        if t is not None and t > latest:
            latest = t
    for obj in state.of("EndpointSlice") + state.of("Service"):
        for raw in (obj.metadata.creation_timestamp, (obj.metadata.annotations or {}).get(ANN_TRIGGER_TIME)):
            t = parse_time(raw)
            if t is not None and t > latest:
                latest = t
    return latest


def _progress(result: AuditResult, settled: bool, grace: int) -> str:
    left = [f for f in result.findings if f.rule in RECONVERGENCE_RULES and f.severity >= Severity.ERROR]
    if result.converged:
        if settled:
            return "converged (0 findings left)"
        return f"0 findings left; waiting out changes in flight (grace {grace}s)"
    services = list((result.rotation or {}).get("servicesNotConverged") or [])
    text = f"{len(left)} finding(s) left, {len(services)} Service(s) not converged"
    if services:
        text += ": " + ", ".join(services[:3]) + (f" and {len(services) - 3} more" if len(services) > 3 else "")
    return text


def _line(text: str) -> str:
    """One line whatever the cluster or the error put in it."""
    return _CONTROL.sub(" ", text)[:400]


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        LOG.info("cannot remove %s: %s", path, exc)


