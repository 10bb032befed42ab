"""`verify`'s load balancer side (with --eks-cluster): which target groups to poll, and their health into the
timeline and the recording."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from auditor.analysis.index import ClusterIndex
from auditor.analysis.timeline import Timeline
from auditor.analysis.traffic import target_groups
from auditor.collect.elbv2 import TargetHealth, TargetHealthPoller, Watched
from auditor.errors import CollectionError
from auditor.state.clusterstate import ClusterState
from auditor.state.recorder import Recorder
from auditor.state.recording import Targets


def watched_groups(before: ClusterState) -> list[Watched]:
    """The target groups BEFORE's TargetGroupBindings name, per Service (the controller keeps one binding per
    target group it manages, for ALB Ingresses and NLB Services alike): target groups outlive a node rotation."""
    return [Watched(ns, name, tg.arn) for (ns, name), groups in sorted(target_groups(ClusterIndex(before)).items())
            for tg in groups]


class LoadBalancerSide:
    """The poller of one verify run: started after the first lists, fed into the timeline after every batch."""

    def __init__(self, poller: TargetHealthPoller, threaded: bool) -> None:
        self.poller = poller
        self.threaded = threaded

    @classmethod
    def start(cls, make_client: Callable[[], Any] | None, before: ClusterState, say: Callable[[str], None], *,
              clock: Callable[[], float], threaded: bool) -> LoadBalancerSide | None:
        """The running poller, or None: no --eks-cluster, or no Service bound to a target group in BEFORE.
        `threaded`: AWS calls on their own thread (a live run: the watch loop never waits on AWS); otherwise
        each `feed` makes the calls that are due (a run driven by a scripted clock)."""
        if make_client is None:
            return None
        watched = watched_groups(before)
        if not watched:
            say("verify: no TargetGroupBinding in BEFORE: the load balancer's side is not followed")
            return None
        try:
            client = make_client()
        except CollectionError as exc:  # the cluster's side still decides the verdict
            say(f"verify: the load balancer's side is not followed: {exc}")
            return None
        poller = TargetHealthPoller(client, watched, clock=clock)
        if threaded:
            poller.start()
        say(f"verify: following {len({w.arn for w in watched})} target group(s) of {len(watched)} Service binding(s)"
            " (ELBv2 DescribeTargetHealth, at most every 5 s each)")
        return cls(poller, threaded)

    def feed(self, timeline: Timeline, ready_before: Callable[[tuple[str, str]], int], recorder: Recorder | None,
             note: Callable[[str], None]) -> None:
        """What the poller read since the last call: into the timeline, the recording, and notices."""
        if not self.threaded:
            self.poller.poll()
        read, notices = self.poller.drain()
        observe(timeline, read, ready_before)
        if recorder is not None and read:
            recorder.targets(read)
        for text in notices:
            note(text)

    def close(self) -> None:
        self.poller.close()


def observe(timeline: Timeline, read: Iterable[TargetHealth | Targets],
            ready_before: Callable[[tuple[str, str]], int]) -> None:
    """Target health into the timeline (verify as it polls, replay from the recording)."""
    for t in read:
        key = (t.namespace, t.name)
        timeline.observe_targets(key, t.arn, t.at, t.states, ready_before(key))
