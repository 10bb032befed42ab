"""`verify`: list the live cluster once, then watch it; evaluate what changed; end at convergence or follow on.

Exit codes (CONTRACT.md): 0 converged, 1 not converged when the run ended (the timeout, or the end of a
`--follow` run), 3 the cluster could never be read, 2 a bad BEFORE/config/recording. `--fail-on-outage`
also exits 1 when a `service-outage` finding is left. `--fail-on` does not change the exit code of
`verify`: it decides which findings the JUnit report marks as failures. Without `--follow`, Ctrl-C /
SIGTERM writes the last state and the reports, then exits 130 (no verdict was reached); with `--follow`
a signal is how the run is meant to end, and it exits by the final verdict.

The loop (`_Run`) is driven by the changes the collector delivers (auditor.collect.watch.LiveCluster) and
the `Follower` model (auditor.engine.follow): the timeline is updated change by change, the touched Services are
re-evaluated after each batch, and only when they are all converged and settled does the whole state get
the full comparison that decides the verdict. `replay` feeds a recording to the same conclusion.
"""
from __future__ import annotations

import gc
import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol

import click
import msgspec

from auditor.app import commands as app
from auditor.collect.options import ClusterOptions
from auditor.engine.follow import FOLLOWED_KINDS, Follower
from auditor.errors import CollectionError, ConfigError
from auditor.facts.pods import pod_changed_at
from auditor.interrupts import terminate_as_interrupt
from auditor.model import AuditResult, InputInfo
from auditor.report.terminal import present
from auditor.settings import Config, ReportSettings
from auditor.state import snapshot
from auditor.state.clusterstate import ClusterState, format_time, parse_time
from auditor.state.labels import ANN_TRIGGER_TIME
from auditor.state.recording import Recorder, Recording

LOG = logging.getLogger(__name__)

SNAPSHOT_NAME = "after-snapshot.json.gz"  # the last state, next to the reports
#: Changes of one moment come on several watches (a Service, its slices, its Pods): gather them this long
#: into one batch, as kube-proxy batches its own syncs (its minimum sync period is 1 s).
COALESCE_SECONDS = 0.05
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


class Source(Protocol):
    """What verify follows: auditor.collect.watch.LiveCluster (tests may pass another)."""

    listed_at: float
    server_version: dict[str, Any]

    def start(self) -> None: ...
    def snapshot(self) -> dict[str, list[bytes]]: ...
    def changes(self, timeout: float) -> list[Any]: ...
    def notices(self) -> list[str]: ...
    def close(self) -> None: ...


@dataclass
class Ending:
    """How a run ended: what the report and the recording say about it."""

    at: float
    reason: str  # converged | timeout | interrupted | stopped
    settled: bool
    notices: tuple[str, ...] = ()
    eks: dict[str, Any] | None = None


def verify(settings: VerifySettings, *, source: Optional[Source] = None, clock: Callable[[], float] = time.time,
           echo: Optional[Callable[[str], None]] = None) -> int:
    """Follow the cluster until converged (0), the end of the run (1 when not converged) or, when it cannot be
    read at all, raise CollectionError (3)."""
    app.baseline_of(settings.report)  # a bad --baseline: exit 2 before touching the cluster
    before = snapshot.load_inputs([str(settings.before)])  # InputError: exit 2 before touching the cluster
    app.check_target([before], settings.target, settings.config)  # a downgrade target: exit 2 as well
    _output_dir(settings.report.output_dir)
    say = echo or (lambda line: click.echo(line, err=True))
    context = server = ""
    if source is None:
        from auditor.collect.kube import Cluster
        from auditor.collect.watch import LiveCluster

        # A bad kubeconfig will not fix itself: it fails here. Every list request ends by --timeout (the
        # watches are bounded by their own server timeout and end when the run does).
        cluster = Cluster(replace(settings.cluster, time_limit=settings.timeout))
        context, server = cluster.context, cluster.server
        # What the collector has to say (a watch denied, a relist) reaches stderr and the report through
        # source.notices(), once each.
        source = LiveCluster(cluster, FOLLOWED_KINDS, poll_interval=settings.interval, say=lambda _t: None)
    recorder = Recorder(settings.record) if settings.record is not None else None
    run = _Run(settings, before, source, clock, say, recorder)
    interrupted = False
    try:
        with terminate_as_interrupt():
            try:
                run.begin(context, server)
                run.loop()
            except KeyboardInterrupt:
                interrupted = True
    except BaseException:
        if recorder is not None:
            recorder.close()
        raise
    finally:
        source.close()
    if run.follower is None:  # never read the cluster
        if recorder is not None:
            recorder.close()
        if interrupted:
            raise KeyboardInterrupt()
        raise CollectionError("could not read the cluster")
    run.progress_final()
    ending = run.ending(interrupted)
    if settings.eks is not None:
        ending.eks = _read_eks(settings.eks, say)
    final = settings.report.output_dir / SNAPSHOT_NAME
    write_last_state(run.follower, final, ending, run.source_info)
    if hasattr(source, "objects"):
        source.objects = {}  # the collector's digests: not needed for the final comparison
    gc.collect()
    # The comparison that ended the run is the report's when nothing changed since (and no EKS data was added).
    reuse = run.checked[1] if run.checked and run.checked[0] == run.follower.version and ending.eks is None \
        and ending.reason == "converged" else None
    result = conclude(before, run.follower, settings, ending, source_info=run.source_info, compared=reuse)
    if recorder is not None:
        recorder.end(ending.at, ending.reason, ending.settled, ending.notices, ending.eks)
        recorder.close()
    code = present(app.finish(result, settings.report), quiet=settings.report.quiet,
                   verbose=settings.report.verbose)
    click.echo(f"last state: {final}" + (f"; events recorded in {settings.record}" if settings.record else ""))
    if interrupted and not settings.follow:
        raise KeyboardInterrupt()
    return code


class _Run:
    """One verify run: the follower, the loop and its decisions."""

    def __init__(self, settings: VerifySettings, before: ClusterState, source: Source, clock: Callable[[], float],
                 say: Callable[[str], None], recorder: Recorder | None) -> None:
        self.settings = settings
        self.before = before
        self.source = source
        self.clock = clock
        self.say = say
        self.recorder = recorder
        self.follower: Follower | None = None
        self.source_info: dict[str, Any] = {}
        self.start = clock()
        self.deadline = self.start + settings.timeout
        self.grace = settings.config.options.grace_seconds
        self.streak: float | None = None  # since when the touched Services have all been converged
        self.full_after = 0.0  # no full check before this time (one that failed sets it later)
        self.full_ok = False
        self.reason = "timeout"
        self._said = ""
        self._said_at = 0.0
        self._full_cost = 0.0
        self.checked: tuple[int, AuditResult] | None = None  # the last whole-state comparison, at which version
        self.notes: list[str] = []

    def begin(self, context: str, server: str) -> None:
        self.source.start()  # CollectionError: exit 3
        listed = self.source.listed_at or self.clock()
        version = self.source.server_version or {}
        self.source_info = {"context": context, "server": server, "serverVersion": version,
                            "namespaces": list(self.settings.cluster.namespaces)}
        config = _with_target(self.settings.config, self.settings.target)
        follower = Follower(self.before, config, started=listed)
        if self.recorder is not None:
            self.recorder.begin(listed, self.source_info, FOLLOWED_KINDS)
        drain = getattr(self.source, "drain_lines", None)
        # The collector hands its lines out a chunk at a time, keeping a digest of each: decoded, the JSON goes.
        chunks = drain() if drain is not None else iter(self.source.snapshot().items())
        for kind, lines in chunks:
            follower.load(kind, lines, listed)
            if self.recorder is not None:
                self.recorder.listed(kind, lines, listed)
            del lines  # the next chunk replaces it: one chunk of JSON at a time
            _trim()  # hand the chunk's JSON back now: the decoded objects grow from other memory
        del chunks
        _release_memory()
        follower.start(listed)
        follower.last_change = latest_change(follower.state(listed))
        if self.recorder is not None:
            self.recorder.start(listed)
        self.follower = follower
        count = sum(len(v) for v in follower.objects.values())
        took = getattr(self.source, "list_seconds", 0.0)
        self.say(_line(f"verify: listed {count} objects" + (f" in {took:.1f}s" if took else "")
                       + "; watching for changes"))
        follower.evaluate(listed)
        self._progress(listed, force=True)

    def loop(self) -> None:
        follower = self.follower
        assert follower is not None
        while True:
            now = self.clock()
            if now >= self.deadline:
                self.reason = "timeout"
                return
            batch = self.source.changes(timeout=max(0.01, min(0.5, self.deadline - now)))
            gather = self.clock() + COALESCE_SECONDS
            while batch and self.clock() < gather:  # what the other kinds' watches deliver with it
                more = self.source.changes(timeout=0.01)
                if not more:
                    break
                batch += more
            for text in self.source.notices():
                self._note(text)
            now = self.clock()
            if batch:
                follower.apply(batch)
                if self.recorder is not None:
                    self.recorder.changes(batch)
            verdict = follower.evaluate(now)
            if verdict.converged:
                self.streak = self.streak if self.streak is not None else now
            else:
                self.streak = None
                self.full_ok = False
            self._progress(now)
            if not self.settled(now):
                continue
            if self.settings.follow:
                continue  # the verdict is taken once, at the end: a whole-state check would only stall the watch
            if not self.full_ok and now >= self.full_after:
                self.full_ok = self._full_check(now)
            if self.full_ok:
                self.reason = "converged"
                return

    def settled(self, now: float) -> bool:
        """Converged, and either for longer than the grace period or with no change within it."""
        if self.streak is None or self.follower is None:
            return False
        return now - self.streak >= self.grace or self.follower.last_change <= now - self.grace

    def _full_check(self, now: float) -> bool:
        """The whole state's comparison: the verdict the report will carry. Costly at scale: not repeated
        more often than every few seconds while it disagrees with the touched-Services view."""
        assert self.follower is not None
        t0 = time.monotonic()
        result = compare_followed(self.before, self.follower, self.settings, now, None, self.source_info)
        self._full_cost = time.monotonic() - t0
        self.checked = (self.follower.version, result)  # the report reuses it if nothing changes after it
        if not result.converged:
            left = [n for n in (result.rotation or {}).get("servicesNotConverged") or []][:3]
            self._note("the whole state is not converged yet" + (f" ({', '.join(left)})" if left else ""))
            self.full_after = now + max(5.0, 3 * self._full_cost)
        return bool(result.converged)

    def ending(self, interrupted: bool) -> Ending:
        now = self.clock()
        assert self.follower is not None
        reason = ("stopped" if self.settings.follow else "interrupted") if interrupted else self.reason
        if self.settings.follow:
            settled = self.settled(now)  # the final comparison (conclude) then says whether the whole state agrees
        else:
            settled = reason == "converged" or (self.settled(now) and self.full_ok)
        notes = list(self.notes)
        elapsed = now - self.start
        if reason == "timeout" and not self.settings.follow:
            notes.append(f"verify timed out after {elapsed:.0f}s without converging")
        elif reason == "interrupted":
            notes.append(f"verify was interrupted after {elapsed:.0f}s" + ("" if settled else " without converging"))
        elif self.settings.follow:
            how = "stopped by a signal" if reason == "stopped" else "reached --timeout"
            notes.append(f"verify --follow {how} after {elapsed:.0f}s")
        if not settled and self.streak is not None:
            notes.append(f"no reconvergence finding was left, but changes within the {self.grace}s grace period "
                         f"were still in flight")
        return Ending(now, reason, settled, tuple(notes))

    # -- output --------------------------------------------------------------------------------
    def _progress(self, now: float, force: bool = False) -> None:
        """Services not converged and Services at zero ready endpoints now: a line when it changes, at most
        once a second."""
        follower = self.follower
        assert follower is not None
        left = sorted(f"{ns}/{name}" for ns, name in follower.verdict.not_converged)
        down = sorted(f"{ns}/{name}" for ns, name in follower.timeline.down_now())
        if left:
            text = f"{len(left)} Service(s) not converged: " + _names(left)
        elif self.streak is not None and not self.settled(now):
            text = f"converged; waiting out changes in flight (grace {self.grace}s)"
        else:
            text = "converged"
        if down:
            text += f"; {len(down)} at zero ready endpoints: " + _names(down)
        if text == self._said or (not force and now - self._said_at < 1.0):
            return
        self._said, self._said_at = text, now
        self.say(_line(f"verify {_clock(now - self.start)}: {text}"))

    def progress_final(self) -> None:
        """The last progress line, whatever the rate limit held back."""
        self._progress(self.clock(), force=True)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.say(_line(f"verify: {text}"))


def conclude(before: ClusterState, follower: Follower, settings: VerifySettings, ending: Ending, *,
             source_info: dict[str, Any], compared: AuditResult | None = None) -> AuditResult:
    """The report's result: the whole followed state compared with BEFORE (`compared`, when that comparison
    was just made of this very state), with the timeline and the ending."""
    result = compared or compare_followed(before, follower, settings, ending.at, ending.eks, source_info)
    converged = bool(result.converged) and ending.settled
    rotation = {**(result.rotation or {}), "converged": converged}
    outage_gate = settings.fail_on_outage
    return replace(result, converged=converged, rotation=rotation, timeline=follower.timeline.to_json(),
                   notices=result.notices + ending.notices, fail_on_outage=outage_gate)


def compare_followed(before: ClusterState, follower: Follower, settings: VerifySettings, at: float,
                     eks: dict[str, Any] | None, source_info: dict[str, Any]) -> AuditResult:
    """The whole followed state at `at` compared with BEFORE, as `compare` would."""
    info = InputInfo(path="(live cluster, followed)", label="after", taken_at=_iso(at), complete=True,
                     source=source_info)
    version = (source_info.get("serverVersion") or {}).get("gitVersion")
    after = follower.state(at, info, server_version=version if isinstance(version, str) else None,
                           context=str(source_info.get("context", "")), server=str(source_info.get("server", "")),
                           eks=eks)
    target = app.resolve_target(after, settings.target, settings.config, planning=False)
    return app.compare_states(before, after, _with_target(settings.config, target), settings.report, mode="verify")


def write_last_state(follower: Follower, path: Path, ending: Ending, source: dict[str, Any]) -> None:
    """The last state as a snapshot file next to the reports (replaced atomically): each object as the rules
    read it (the fields of `auditor.state.objects`, a subset of the snapshot projection), as last observed."""
    from auditor.state.snapshot import SnapshotWriter

    taken = _iso(ending.at)
    encode = msgspec.json.Encoder().encode
    try:
        with SnapshotWriter(path) as writer:
            for kind in FOLLOWED_KINDS:
                for obj in follower.objects[kind].values():
                    writer.add_raw(kind, encode(obj))
            writer.finish({"label": "after", "takenAt": taken, "startedAt": _iso(follower.timeline.start),
                           "complete": True, "consistent": False, "kinds": list(FOLLOWED_KINDS), "missing": [],
                           "source": source, "inconsistency": "followed by watches: each object as last observed"},
                          eks=ending.eks)
    except OSError as exc:
        click.echo(f"warning: could not write the last state to {path}: {exc.strerror or exc}", err=True)


def replay(before_path: Path, recording: Recording, settings: VerifySettings) -> int:
    """`upgrade-auditor replay`: the recorded run through the same follower and conclusion, offline."""
    app.baseline_of(settings.report)
    before = snapshot.load_inputs([str(before_path)])
    app.check_target([before], settings.target, settings.config)
    _output_dir(settings.report.output_dir)
    assert recording.started is not None
    follower = Follower(before, _with_target(settings.config, settings.target), started=recording.listed_at)
    for kind, lines in recording.lists.items():
        follower.load(kind, lines, recording.listed_at)
    follower.start(recording.started)
    follower.last_change = latest_change(follower.state(recording.started))
    for batch in recording.batches:  # as they were delivered: the timeline counts once per batch
        follower.apply(batch)
    notes = list(recording.notices)
    if recording.end is None:
        end = max([recording.started] + [c.at for c in recording.changes])
        notes.append("the recording has no END record (the run was killed): replayed up to its last event")
        ending = Ending(end, "interrupted", False, tuple(notes))
    else:
        ending = Ending(recording.end, recording.reason, recording.settled, tuple(notes), recording.eks)
    result = conclude(before, follower, settings, ending, source_info=recording.source)
    result = replace(result, inputs=result.inputs + (InputInfo(path=str(recording.path), label="events",
                                                                taken_at=_iso(ending.at), complete=True),))
    return present(app.finish(result, settings.report), quiet=settings.report.quiet, verbose=settings.report.verbose)


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


def _release_memory() -> None:
    """Hand freed memory back to the system: the first lists' JSON (hundreds of MB at 100k Pods) was allocated
    by the listing threads' malloc arenas, which glibc keeps unless asked to trim."""
    gc.collect()
    _trim()


def _trim() -> None:
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: Any = None


def _with_target(config: Config, target: str | None) -> Config:
    return replace(config, options=replace(config.options, target_version=target))


def _read_eks(reader: Callable[[], dict[str, Any] | None], say: Callable[[str], None]) -> dict[str, Any] | None:
    try:
        return reader()
    except CollectionError as exc:
        say(_line(f"verify: EKS data not read: {exc}"))
        return None


def _output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {out_dir}: cannot create it ({exc.strerror or exc})") from None


def _names(names: Iterable[str]) -> str:
    items = list(names)
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def _iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, timezone.utc))


def _line(text: str) -> str:
    """One line whatever the cluster or the error put in it."""
    return _CONTROL.sub(" ", text)[:400]


def _clock(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 60}:{s % 60:02d}"


__all__ = ["VerifySettings", "verify", "replay", "conclude", "SNAPSHOT_NAME", "FOLLOWED_KINDS"]
