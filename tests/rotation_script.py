"""A scripted blue/green node rotation for the API double: timed states, played in a thread, with the truth.

`rotation()` builds, from `tests.clusterfactory` objects, the states a real rotation goes through:

1. BEFORE: 3 `ng-blue` nodes; Services `app-0`..`app-N` with `replicas` Pods each (spread over the nodes)
   and `solo` with one Pod; each with its Endpoints and one controller-managed EndpointSlice;
2. three `ng-green` nodes join (Ready);
3. the blue nodes are cordoned (`spec.unschedulable`, the `node.kubernetes.io/unschedulable` taint);
4. the drain, one replica of every Service at a time (a wave): the old Pods get a `deletionTimestamp` and
   their slice endpoints turn terminating (ready false, serving true, terminating true; gone from the
   Endpoints' addresses); replacements are created on green nodes, not ready (in the slices with ready
   false, in `notReadyAddresses`); a step later they are ready and the slices follow; then the old Pods are
   deleted and leave the slices. `solo`'s only Pod is evicted in the first wave: it sits at zero ready
   endpoints for `solo_gap` seconds before its replacement is ready;
5. the blue nodes are deleted.

With `handmade=True` a hand-made slice `app-0-manual` (managed-by `staff`, no targetRefs) lists the first
Pods of `app-0` from BEFORE on and never follows. `play(api, rotation.steps)` applies the steps to an
ApiDouble in a daemon thread with their delays and records when each was applied; `Playback.outages()`
says, from those times, which Services were at zero ready endpoints and when (the truth to compare a
measurement with). Ready endpoints are counted as kube-proxy does: ready endpoints (ready unset counts as
ready) of every slice labelled with the Service's name, de-duplicated by address.
"""
from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tests import clusterfactory as cf

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
NAMESPACE = "shop"
SOLO = "solo"
BLUE_KUBELET = "v1.32.3-eks-473151a"
GREEN_KUBELET = "v1.33.1-eks-b9b5b5e"


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(n: int, group: str, kubelet: str, created: datetime) -> Obj:
    node = cf.node(n, kubelet)
    meta = node["metadata"]
    meta["labels"]["eks.amazonaws.com/nodegroup"] = group
    meta["creationTimestamp"] = _ts(created)
    for cond in node["status"]["conditions"]:
        cond["lastTransitionTime"] = _ts(created)
    return node


@dataclass
class _Member:
    pod: Obj
    phase: str  # "ready" | "starting" | "terminating"
    original: bool = False  # was there BEFORE (a drain evicts these)


@dataclass
class _World:
    """The cluster as the script moves it; `render()` is what the API serves at that moment."""

    start: datetime
    services: list[Obj]
    nodes: dict[str, Obj]
    members: dict[str, list[_Member]]
    changed: dict[str, str]  # Service -> when its endpoints last changed (the slices' trigger time)
    handmade: Obj | None = None
    next_pod: int = 1000
    next_ip: int = 1

    def zones(self) -> dict[str, str]:
        return {n: o["metadata"]["labels"]["topology.kubernetes.io/zone"] for n, o in self.nodes.items()}

    def new_pod(self, app: str, node: str, at: datetime) -> Obj:
        ip = f"10.2.{self.next_ip // 250}.{self.next_ip % 250 + 1}"
        self.next_ip += 1
        pod = cf.pod(NAMESPACE, app, self.next_pod, node, ip)
        self.next_pod += 1
        meta = pod["metadata"]
        meta["creationTimestamp"] = _ts(at)
        status = pod["status"]
        status["startTime"] = _ts(at)
        status["hostIP"] = self.nodes[node]["status"]["addresses"][0]["address"]
        for cond in status["conditions"]:
            cond["lastTransitionTime"] = _ts(at)
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["status"] = "False"
                cond["reason"] = "ContainersNotReady"
        for cs in status["containerStatuses"]:
            cs["ready"] = False
            cs["state"] = {"running": {"startedAt": _ts(at)}}
        return pod

    def render(self) -> list[Obj]:
        zones = self.zones()
        out: list[Obj] = [cf.namespace("default", 0), cf.namespace("kube-system", 1), cf.namespace(NAMESPACE, 2)]
        out += [copy.deepcopy(n) for n in self.nodes.values()]
        for svc in self.services:
            name = svc["metadata"]["name"]
            members = self.members[name]
            pods = [m.pod for m in members]
            out.append(svc)
            out += [copy.deepcopy(p) for p in pods]
            ep = cf.endpoints(svc, [m.pod for m in members if m.phase == "ready"])
            starting = [m.pod for m in members if m.phase == "starting"]
            if starting:
                addrs = [{"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                          "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": p["metadata"]["name"],
                                        "uid": p["metadata"]["uid"]}} for p in starting]
                if ep["subsets"]:
                    ep["subsets"][0]["notReadyAddresses"] = addrs
                else:
                    ep["subsets"] = [{"notReadyAddresses": addrs,
                                      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
            ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = self.changed[name]
            slc = cf.endpointslice(svc, pods, zones)
            slc["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = self.changed[name]
            for endpoint, member in zip(slc["endpoints"], members, strict=True):
                endpoint["conditions"] = {"ready": member.phase == "ready",
                                          "serving": member.phase != "starting",
                                          "terminating": member.phase == "terminating"}
            out += [ep, slc]
        if self.handmade is not None:
            out.append(copy.deepcopy(self.handmade))
        return out


@dataclass
class Rotation:
    """The script: start the double with `before`, then play `steps` ((delay in seconds, objects) each)."""

    before: list[Obj]
    steps: list[tuple[float, list[Obj]]]
    labels: list[str]  # what each step does
    blue: list[str]  # node names
    green: list[str]
    solo: Key = (NAMESPACE, SOLO)
    handmade: Key | None = None

    def ready_before(self) -> dict[Key, int]:
        return ready_endpoints(self.before)


def rotation(*, services: int = 3, replicas: int = 2, handmade: bool = False, pace: float = 0.3,
             solo_gap: float = 2.0, start: datetime | None = None) -> Rotation:
    """The rotation's states; `pace` seconds between steps, `solo_gap` seconds of `solo` at zero ready endpoints.

    Timestamps in the objects (creation, deletion, the slices' trigger times) are `start` (default now) plus
    each step's planned offset, so they agree with the wall clock when the steps are played right away.
    """
    if replicas < 2:
        raise ValueError("replicas must be 2 or more (only `solo` runs one Pod)")
    began = start or datetime.now(timezone.utc).replace(microsecond=0)
    old = began - timedelta(days=20)
    blue = {n["metadata"]["name"]: n for n in (_node(i, "ng-blue", BLUE_KUBELET, old) for i in range(3))}
    world = _World(began, [], dict(blue), {}, {})
    blue_names = list(blue)
    apps = [f"app-{i}" for i in range(services)] + [SOLO]
    for i, app in enumerate(apps):
        svc = cf.service(NAMESPACE, app, i)
        world.services.append(svc)
        count = 1 if app == SOLO else replicas
        pods = []
        for r in range(count):
            pod = cf.pod(NAMESPACE, app, i * 100 + r, blue_names[(i + r) % 3], f"10.1.{i}.{r + 1}")
            pods.append(_Member(pod, "ready", original=True))
        world.members[app] = pods
        world.changed[app] = _ts(old)
    if handmade:
        first = world.members["app-0"][0].pod
        second = world.members["app-0"][1].pod
        world.handmade = {
            "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": "app-0-manual", "namespace": NAMESPACE, "uid": cf.uid("eps-manual", 0),
                         "resourceVersion": "4242", "generation": 1, "creationTimestamp": _ts(old),
                         "labels": {"kubernetes.io/service-name": "app-0",
                                    "endpointslice.kubernetes.io/managed-by": "staff"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True}}
                          for p in (first, second)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    before = world.render()
    steps: list[tuple[float, list[Obj]]] = []
    labels: list[str] = []
    offset = 0.0

    def step(delay: float, label: str) -> None:
        nonlocal offset
        offset += delay
        steps.append((delay, world.render()))
        labels.append(label)

    def at() -> datetime:
        return began + timedelta(seconds=offset)

    # Green nodes join.
    green = [_node(3 + i, "ng-green", GREEN_KUBELET, at() + timedelta(seconds=pace)) for i in range(3)]
    for n in green:
        world.nodes[n["metadata"]["name"]] = n
    step(pace, "ng-green nodes join")
    green_names = [n["metadata"]["name"] for n in green]
    # Blue nodes cordoned.
    for name in blue_names:
        node = world.nodes[name]
        node["spec"]["unschedulable"] = True
        node["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                                   "timeAdded": _ts(at() + timedelta(seconds=pace))}]
    step(pace, "ng-blue nodes cordoned")

    def evict(app: str, wave: int, when: datetime) -> None:
        member = next(m for m in world.members[app] if m.original and m.phase == "ready")
        member.phase = "terminating"
        meta = member.pod["metadata"]
        meta["deletionTimestamp"] = _ts(when + timedelta(seconds=30))
        meta["deletionGracePeriodSeconds"] = 30
        for cond in member.pod["status"]["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["status"], cond["lastTransitionTime"] = "False", _ts(when)
        for cs in member.pod["status"]["containerStatuses"]:
            cs["ready"] = False
        node = green_names[(apps.index(app) + wave) % 3]
        world.members[app].append(_Member(world.new_pod(app, node, when), "starting"))
        world.changed[app] = _ts(when)

    def ready(app: str, when: datetime) -> None:
        for member in world.members[app]:
            if member.phase == "starting":
                member.phase = "ready"
                for cond in member.pod["status"]["conditions"]:
                    if cond["type"] in ("Ready", "ContainersReady"):
                        cond["status"], cond["lastTransitionTime"] = "True", _ts(when)
                        cond.pop("reason", None)
                for cs in member.pod["status"]["containerStatuses"]:
                    cs["ready"] = True
        world.changed[app] = _ts(when)

    def delete_terminated(app: str, when: datetime) -> None:
        before_count = len(world.members[app])
        world.members[app] = [m for m in world.members[app] if m.phase != "terminating"]
        if len(world.members[app]) != before_count:
            world.changed[app] = _ts(when)

    multi = [a for a in apps if a != SOLO]
    for wave in range(replicas):
        when = at() + timedelta(seconds=pace)
        for app in multi:
            evict(app, wave, when)  # one original replica per wave
        if wave == 0:
            evict(SOLO, 0, when)
        step(pace, f"drain wave {wave + 1}: Pods terminating, replacements created (not ready)")
        when = at() + timedelta(seconds=pace)
        for app in multi:
            ready(app, when)
        step(pace, f"drain wave {wave + 1}: replacements ready")
        when = at() + timedelta(seconds=pace)
        for app in multi:
            delete_terminated(app, when)
        if wave == 0:
            delete_terminated(SOLO, when)
        step(pace, f"drain wave {wave + 1}: old Pods deleted")
        if wave == 0:
            # solo went to zero at the first step of this wave; its replacement is ready solo_gap after it.
            spent = 2 * pace
            when = at() + timedelta(seconds=max(0.0, solo_gap - spent))
            ready(SOLO, when)
            step(max(0.0, solo_gap - spent), "solo's replacement ready")
    for name in blue_names:
        del world.nodes[name]
    step(pace, "ng-blue nodes deleted")
    return Rotation(before, steps, labels, blue_names, green_names,
                    handmade=(NAMESPACE, "app-0-manual") if handmade else None)


def ready_endpoints(objects: Sequence[Obj]) -> dict[Key, int]:
    """Ready endpoints per Service as kube-proxy sees them: addresses of ready endpoints in the slices that name
    the Service (ready unset counts as ready), de-duplicated. Every Service is listed, 0 included."""
    out: dict[Key, set[str]] = {}
    for obj in objects:
        if obj["kind"] == "Service":
            out.setdefault((obj["metadata"]["namespace"], obj["metadata"]["name"]), set())
    for obj in objects:
        if obj["kind"] != "EndpointSlice":
            continue
        svc = (obj["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if not svc:
            continue
        addrs = out.setdefault((obj["metadata"]["namespace"], svc), set())
        for endpoint in obj.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready", True) is not False:
                addrs.update(endpoint.get("addresses") or ())
    return {k: len(v) for k, v in out.items()}


@dataclass
class Outage:
    start: float  # wall clock (time.time()) of the step that took the Service to zero
    end: float | None  # of the step that brought it back (None: still down at the end)

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass
class Playback:
    """A rotation being played: `applied[i]` is when step i was applied (time.time(), after set_state returned)."""

    before: list[Obj]
    steps: list[tuple[float, list[Obj]]]
    started: float = 0.0
    applied: list[float] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # the double's resourceVersion after each step
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the last step (True), or `timeout` (False). Re-raises what failed in the thread."""
        finished = self.done.wait(timeout)
        if self.error is not None:
            raise self.error
        return finished

    def cancel(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def ready_over_time(self) -> dict[Key, list[tuple[float, int]]]:
        """Per Service, (time applied, ready endpoints) at the start and after every applied step that changed it."""
        series: dict[Key, list[tuple[float, int]]] = {k: [(self.started, n)]
                                                      for k, n in ready_endpoints(self.before).items()}
        for when, (_, objects) in zip(self.applied, self.steps, strict=False):
            for key, count in ready_endpoints(objects).items():
                points = series.setdefault(key, [(self.started, 0)])
                if points[-1][1] != count:
                    points.append((when, count))
        return series

    def outages(self) -> dict[Key, list[Outage]]:
        """Services that had ready endpoints BEFORE and were at zero at some point, with when (the truth)."""
        before = ready_endpoints(self.before)
        out: dict[Key, list[Outage]] = {}
        for key, points in self.ready_over_time().items():
            if not before.get(key):
                continue
            for when, count in points[1:]:
                down = out.get(key, [])
                if count == 0 and (not down or down[-1].end is not None):
                    out.setdefault(key, []).append(Outage(when, None))
                elif count > 0 and down and down[-1].end is None:
                    down[-1].end = when
        return out


def play(api: Any, steps: Sequence[tuple[float, list[Obj]]], before: Sequence[Obj] = ()) -> Playback:
    """Apply each step's objects to `api` (an ApiDouble) after its delay, in a daemon thread; returns at once."""
    playback = Playback(list(before), list(steps), started=time.time())

    def run() -> None:
        try:
            for delay, objects in playback.steps:
                if delay and playback._stop.wait(delay):
                    return
                if playback._stop.is_set():
                    return
                api.set_state(objects)
                playback.applied.append(time.time())
                playback.versions.append(str(getattr(api, "resource_version", "")))
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            playback.error = exc
        finally:
            playback.done.set()

    playback._thread = threading.Thread(target=run, name="rotation", daemon=True)
    playback._thread.start()
    return playback
