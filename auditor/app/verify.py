"""`verify`: list the live cluster once, then watch it; evaluate what changed; end at convergence or follow on."""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from auditor.app.inputs import baseline_of, check_target, output_dir, with_options
from auditor.app.publish import finish
from auditor.app.verify_end import (
    SNAPSHOT_NAME,
    Ending,
    VerifySettings,
    compare_followed,
    conclude,
    latest_change,
    strict,
    write_last_state,
)
from auditor.app.verify_io import (
    Source,
    check_paths,
    clean_line,
    clock_text,
    live_cluster,
    names,
    projected_only,
    read_eks,
    release_memory,
    trim,
)
from auditor.app.verify_lb import LoadBalancerSide
from auditor.collect.heartbeat import Heartbeat, elapsed_text, pulse
from auditor.engine.follow import FOLLOWED_KINDS, Follower
from auditor.errors import CollectionError
from auditor.interrupts import terminate_as_interrupt
from auditor.model import AuditResult, Written
from auditor.state import snapshot
from auditor.state.clusterstate import ClusterState
from auditor.state.recorder import Recorder

LOG = logging.getLogger(__name__)

#: Changes of one moment come on several watches (a Service, its slices, its Pods): gather them this long
#: into one batch, as kube-proxy batches its own syncs (its minimum sync period is 1 s).
COALESCE_SECONDS = 0.05
#: While changes keep coming, the touched Services are re-judged at least this often (more rarely when judging
#: takes long: see _Run._evaluate_now).
EVALUATE_EVERY = 1.0
#: With --eks-cluster, the end of --timeout kept for reading EKS: this much at most, a quarter of it at least.
EKS_RESERVE_SECONDS = 20.0


@dataclass(frozen=True)
class Verified:
    """A verify run's outcome for the CLI to print: the written reports, then `lines` (where the last state and
    the recording went); `interrupted` when a signal cut a run that was to stop at convergence (exit 130 once
    the reports are out)."""

    written: Written
    lines: tuple[str, ...] = ()
    interrupted: bool = False
    error: str | None = None  # the recording could not be written: exit 3 once the reports are out


def verify(settings: VerifySettings, *, echo: Callable[[str], None], source: Optional[Source] = None,
           clock: Callable[[], float] = time.time) -> Verified:
    """Follow the cluster until converged, or to the end of the run; progress lines go to `echo` as they come.

    Exit codes (README), which the CLI takes from the result's gate (`AuditResult.gate`, as for every command):
    0 converged and nothing at or above `--fail-on`, 1 findings at or above it (a `service-outage` included) or
    not converged when the run ended (the timeout, or the end of a `--follow` run), 3 convergence unknown or the
    cluster could never be read (CollectionError), 2 a bad BEFORE/config. `--fail-on-outage` exits 1 on a
    `service-outage` finding whatever `--fail-on` says. Without
    `--follow`, Ctrl-C / SIGTERM writes the last state and the reports, then exits 130 (no verdict was reached);
    with `--follow` a signal is how the run is meant to end, and it exits by the final verdict.
    """
    baseline_of(settings.report)  # a bad --baseline: exit 2 before touching the cluster
    check_paths(settings)  # no file both read and written
    # A line at least every few seconds whatever verify is doing (a CI log shows no progress bar).
    beat = Heartbeat(echo, clock=clock)
    with pulse(beat, lambda: f"verify {elapsed_text(beat.elapsed())}: reading BEFORE ({settings.before})"):
        before = snapshot.load_inputs([str(settings.before)])  # InputError: exit 2 before touching the cluster
    check_target([before], settings.target, settings.config)  # a downgrade target: exit 2 as well
    output_dir(settings.report.output_dir)
    # Refused (a symlink, another run's lock) before touching the cluster; an earlier recording stays until START.
    recorder = Recorder(settings.record) if settings.record is not None else None
    try:
        context = server = ""
        if source is None:
            source, context, server = live_cluster(settings)
        run = _Run(settings, before, source, clock, echo, recorder, beat)
        interrupted = run.follow(context, server)
        if run.follower is None:  # never read the cluster
            if interrupted:
                raise KeyboardInterrupt()
            raise CollectionError("could not read the cluster")
        with pulse(beat, lambda: f"verify {elapsed_text(beat.elapsed())}: comparing the last state with BEFORE "
                                 "and writing the reports"):
            verified = _end(run, interrupted)
    finally:
        if recorder is not None:
            recorder.close()  # whatever happened: the gzip member finished, the lock gone
    error = (recorder.failed if recorder is not None else None) or run.lost
    return replace(verified, error=error) if error is not None else verified


def _end(run: _Run, interrupted: bool) -> Verified:
    """The run is over: the last state, the final comparison, the recording's END, the reports."""
    settings, follower, source, recorder = run.settings, run.follower, run.source, run.recorder
    assert follower is not None
    run.progress_final()
    if run.lb is not None:  # what was read after the last batch
        run.lb.feed(follower.timeline, follower.ready_before, recorder, run._note)
    ending = run.ending(interrupted)
    if settings.eks is not None:
        ending.eks = read_eks(settings.eks, run.say, run.deadline - run.clock())
    final = settings.report.output_dir / SNAPSHOT_NAME
    write_last_state(follower, final, ending, run.source_info, warn=run.say)
    if hasattr(source, "objects"):
        source.objects = {}  # the collector's digests: not needed for the final comparison
    gc.collect()
    # The comparison that ended the run is the report's when nothing changed since (and no EKS data was added).
    reuse = run.checked[1] if run.checked and run.checked[0] == follower.version and ending.eks is None \
        and ending.reason == "converged" else None
    result = conclude(run.before, follower, settings, ending, source_info=run.source_info, compared=reuse)
    extra = run.final_notes(ending, result.converged)
    if extra:  # the recording's END carries them too: a replay says the same
        ending.notices += extra
        result = replace(result, notices=result.notices + extra)
    if recorder is not None:
        recorder.end(ending.at, ending.reason, ending.settled, ending.notices, ending.eks, ending.left_out)
        recorder.close()
    written = finish(result, settings.report)
    line = f"last state: {final}" + (f"; events recorded in {settings.record}" if settings.record else "")
    return Verified(written, (line,), interrupted=interrupted and not settings.follow)


class _Run:
    """One verify run: the follower, the loop and its decisions.

    The loop is driven by the changes the collector delivers (auditor.collect.watch.LiveCluster) and the
    `Follower` model (auditor.engine.follow): the timeline is updated change by change, the touched Services are
    re-evaluated after each batch, and only when they are all converged and settled does the whole state get the
    full comparison that decides the verdict. `replay` feeds a recording to the same conclusion.
    """

    def __init__(self, settings: VerifySettings, before: ClusterState, source: Source, clock: Callable[[], float],
                 say: Callable[[str], None], recorder: Recorder | None, beat: Heartbeat | None = None) -> None:
        self.settings = settings
        self.beat = beat or Heartbeat(say)
        self.before = before
        self.source = source
        self.clock = clock
        self.say = say
        self.recorder = recorder
        self.follower: Follower | None = None
        self.source_info: dict[str, Any] = {}
        self.start = clock()
        self.deadline = self.start + settings.timeout
        # --timeout bounds the EKS calls too: with --eks-cluster, following stops early enough to leave them time.
        reserve = min(EKS_RESERVE_SECONDS, settings.timeout / 4) if settings.eks is not None else 0.0
        self.follow_until = self.deadline - reserve
        self.settle = settings.settle_window
        self.streak: float | None = None  # since when the touched Services have all been converged
        self.full_after = 0.0  # no full check before this time (one that failed sets it later)
        self.full_ok = False
        self.reason = "timeout"
        self.lost: str | None = None  # a followed kind's feed died (the collector's one line): exit 3, unknown
        self._said = ""
        self._said_at = 0.0
        self._full_cost = 0.0
        self.checked: tuple[int, AuditResult] | None = None  # the last whole-state comparison, at which version
        self.notes: list[str] = []
        self._dropped = 0
        self._evaluate_after = 0.0  # while changes keep coming, no re-judging before this time
        self.lb: LoadBalancerSide | None = None  # with --eks-cluster: the target groups' health

    def follow(self, context: str, server: str) -> bool:
        """List, then watch until the run ends; True when a signal ended it. The source is closed either way,
        the recording too when something failed."""
        interrupted = False
        try:
            with terminate_as_interrupt():
                try:
                    self.begin(context, server)
                    self.loop()
                except KeyboardInterrupt:
                    interrupted = True
        except BaseException:
            if self.recorder is not None:
                self.recorder.close()
            raise
        finally:
            self.source.close()
            if self.lb is not None:
                self.lb.close()
        return interrupted

    def begin(self, context: str, server: str) -> None:
        with pulse(self.beat, lambda: f"verify {elapsed_text(self.beat.elapsed())}: listing the cluster"):
            self.source.start()  # CollectionError: exit 3
        listed = self.source.listed_at or self.clock()
        version = self.source.server_version or {}
        self.source_info = {"context": context, "server": server, "serverVersion": version,
                            "namespaces": list(self.settings.cluster.namespaces)}
        follower = Follower(self.before, strict(with_options(self.settings.config, self.settings.target)),
                            started=listed)
        if self.recorder is not None:
            self.recorder.begin(listed, self.source_info, FOLLOWED_KINDS)
        drain = getattr(self.source, "drain_objects", None)
        # The collector hands its lines out a chunk at a time (with the objects it decoded to check them),
        # keeping a digest of each: loaded, the JSON goes.
        chunks = drain() if drain is not None else ((k, v, None) for k, v in self.source.snapshot().items())
        for kind, lines, objs in chunks:
            follower.load(kind, lines, listed, objs)
            if self.recorder is not None:
                self.recorder.listed(kind, lines, listed)
            del lines, objs  # the next chunk replaces it: one chunk of JSON at a time
            trim()  # hand the chunk's JSON back now: the decoded objects grow from other memory
        del chunks
        release_memory()
        follower.start(listed)
        follower.last_change = latest_change(follower.state(listed))
        if self.recorder is not None:
            self.recorder.start(listed)
        self.follower = follower
        count = sum(len(v) for v in follower.objects.values())
        took = getattr(self.source, "list_seconds", 0.0)
        self.say(clean_line(f"verify: listed {count} objects" + (f" in {took:.1f}s" if took else "")
                       + "; watching for changes"))
        follower.evaluate(listed)
        self._progress(listed, force=True)
        self.lb = LoadBalancerSide.start(self.settings.elbv2, self.before, self.say, clock=self.clock,
                                         threaded=self.clock is time.time)

    def loop(self) -> None:
        follower = self.follower
        assert follower is not None
        while True:
            now = self.clock()
            if now >= self.follow_until:
                self.reason = "timeout"
                return
            try:
                batch = self.source.changes(timeout=max(0.01, min(0.5, self.follow_until - now)))
                gather = self.clock() + COALESCE_SECONDS
                more = batch
                while more and self.clock() < gather:  # what the other kinds' watches deliver with it
                    more = self.source.changes(timeout=0.01)
                    batch += more
            except CollectionError as exc:  # a feed died (LiveState.fail): no verdict can hold without it
                self.reason, self.lost = "lost", str(exc)
                self._note(f"stopped: {exc}")
                return
            for text in self.source.notices():
                self._note(text)
            now = self.clock()
            batch, dropped = projected_only(batch)
            self._dropped += dropped
            if batch:
                follower.apply(batch)
                if self.recorder is not None:
                    self.recorder.changes(batch)
            if self.recorder is not None and self.recorder.failed is not None:
                self.reason = "failed"
                self._note(f"stopped: {self.recorder.failed}")
                return
            if self.lb is not None:
                self.lb.feed(follower.timeline, follower.ready_before, self.recorder, self._note)
            if not self._evaluate_now(now, busy=bool(batch)):
                continue  # changes keep coming: applied (the timeline has them), judged a little later
            verdict = follower.verdict
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

    def _evaluate_now(self, now: float, busy: bool) -> bool:
        """Whether to re-judge the touched Services now: whenever a wait for changes brought none, and while they
        keep coming at most as often as keeps judging to a fifth of the time (`busy`: this turn applied some).
        Watches deliver a rotation in bursts a few ms apart, so a pause between two is no sign of the end:
        judging after each would take most of the CPU, and applying the changes must keep up with the watches,
        or they fall behind the server's window and relist."""
        assert self.follower is not None
        if busy and self.clock() < self._evaluate_after:
            return False
        began = time.monotonic()
        self.follower.evaluate(now)
        cost = time.monotonic() - began
        self._evaluate_after = self.clock() + max(EVALUATE_EVERY, 4 * cost)
        return True

    def settled(self, now: float) -> bool:
        """Converged (judged strictly, as the watches see it) for the whole settle window."""
        return self.streak is not None and now - self.streak >= self.settle

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
        # The final comparison (conclude) gives the verdict; `settled` only says whether it had held long enough.
        settled = reason == "converged" or self.settled(now)
        notes = list(self.notes)
        elapsed = now - self.start
        if reason == "interrupted":
            notes.append(f"verify was interrupted after {elapsed:.0f}s" + ("" if settled else " without converging"))
        elif self.settings.follow and reason not in ("failed", "lost"):
            how = "stopped by a signal" if reason == "stopped" else "reached --timeout"
            notes.append(f"verify --follow {how} after {elapsed:.0f}s")
        if self._dropped:
            notes.append(f"{self._dropped} object(s) of a kind verify does not follow came on a watch: dropped, "
                         "neither followed nor recorded")
        skipped = getattr(self.source, "skipped", None)
        left_out = skipped()[0] if skipped is not None else 0
        return Ending(now, reason, settled, tuple(notes), lost=self.lost or "", left_out=left_out)

    def final_notes(self, ending: Ending, converged: bool | None) -> tuple[str, ...]:
        """What the verdict adds to the ending: a run the timeout ended says whether it had converged, and a
        converged one that had not yet held for the settle window says so (it is converged all the same)."""
        if ending.reason != "timeout":
            return ()
        elapsed = ending.at - self.start
        if converged is True and not ending.settled:
            return (f"converged when the run ended after {elapsed:.0f}s, but not yet for the whole "
                    f"{self.settle:g}s settle window",)
        if converged is not True and not self.settings.follow:
            return (f"verify timed out after {elapsed:.0f}s without converging",)
        return ()

    # -- output --------------------------------------------------------------------------------
    def _progress(self, now: float, force: bool = False) -> None:
        """Services not converged and Services at zero ready endpoints now: a line when it changes, at most
        once a second."""
        follower = self.follower
        assert follower is not None
        left = sorted(f"{ns}/{name}" for ns, name in follower.verdict.not_converged)
        down = sorted(f"{ns}/{name}" for ns, name in follower.timeline.down_now())
        if left:
            text = f"{len(left)} Service(s) not converged: " + names(left)
        elif self.streak is not None and not self.settled(now) and not self.settings.follow:
            text = f"converged; settling ({self.settle:g}s)"
        else:
            text = "converged"
        if down:
            text += f"; {len(down)} at zero ready endpoints: " + names(down)
        if text == self._said or (not force and now - self._said_at < 1.0):
            # Nothing new: the same line again once the log has been quiet for a while (a CI log must show
            # that verify is alive).
            self.beat.beat(lambda: clean_line(f"verify {clock_text(now - self.start)}: {self._said}"))
            return
        self._said, self._said_at = text, now
        self.say(clean_line(f"verify {clock_text(now - self.start)}: {text}"))
        self.beat.said()

    def progress_final(self) -> None:
        """The last progress line, whatever the rate limit held back."""
        self._progress(self.clock(), force=True)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.say(clean_line(f"verify: {text}"))
            self.beat.said()
