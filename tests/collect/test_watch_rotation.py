"""The scripted rotation (tests/rotation_script.py): its states, and LiveCluster following it as it is played."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from auditor.collect.kube import Cluster
from auditor.collect.options import ClusterOptions
from auditor.collect.watch import Change, LiveCluster
from tests.apidouble import ApiDouble
from tests.rotation_script import SOLO, play, ready_endpoints, rotation

Obj = dict[str, Any]


def _of(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def test_the_rotation_moves_every_pod_to_green_and_solo_goes_to_zero_once() -> None:
    rot = rotation(services=3, replicas=2, handmade=True, pace=0.3, solo_gap=2.0)
    assert {n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] for n in _of(rot.before, "Node")} == {"ng-blue"}
    assert ready_endpoints(rot.before) == {("shop", "app-0"): 2, ("shop", "app-1"): 2, ("shop", "app-2"): 2,
                                           ("shop", "solo"): 1}
    for _, objects in rot.steps:  # every state is one the API could serve: unique names
        keys = [(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects]
        assert len(keys) == len(set(keys))
    final = rot.steps[-1][1]
    nodes = {n["metadata"]["name"] for n in _of(final, "Node")}
    assert nodes == set(rot.green)
    assert all(p["spec"]["nodeName"] in nodes and "deletionTimestamp" not in p["metadata"] for p in _of(final, "Pod"))
    cordoned = rot.steps[rot.labels.index("ng-blue nodes cordoned")][1]
    assert all(n["spec"].get("unschedulable") for n in _of(cordoned, "Node") if n["metadata"]["name"] in rot.blue)
    drain = rot.steps[rot.labels.index("drain wave 1: Pods terminating, replacements created (not ready)")][1]
    terminating = {p["status"]["podIP"] for p in _of(drain, "Pod") if "deletionTimestamp" in p["metadata"]}
    starting = {p["status"]["podIP"] for p in _of(drain, "Pod")
                if any(c["type"] == "Ready" and c["status"] == "False" for c in p["status"]["conditions"])
                and "deletionTimestamp" not in p["metadata"]}
    assert len(terminating) == 4 and len(starting) == 4
    for slc in _of(drain, "EndpointSlice"):
        for ep in slc["endpoints"]:
            if ep["addresses"][0] in terminating and slc["metadata"]["name"] != "app-0-manual":
                assert ep["conditions"] == {"ready": False, "serving": True, "terminating": True}
            if ep["addresses"][0] in starting:
                assert ep["conditions"] == {"ready": False, "serving": False, "terminating": False}
    # solo: zero ready endpoints from the first drain step until its replacement is ready, solo_gap later.
    counts = [ready_endpoints(objects)[("shop", SOLO)] for _, objects in rot.steps]
    down = [i for i, n in enumerate(counts) if n == 0]
    assert down == list(range(down[0], down[-1] + 1)) and counts[down[-1] + 1] == 1
    assert abs(sum(rot.steps[i][0] for i in range(down[0] + 1, down[-1] + 2)) - 2.0) < 1e-9
    for key in [("shop", "app-0"), ("shop", "app-1"), ("shop", "app-2")]:
        assert min(ready_endpoints(objects)[key] for _, objects in rot.steps) >= 1
    # The hand-made slice never follows: the same object in every state.
    manual = [next(o for o in objects if o["metadata"]["name"] == "app-0-manual")
              for objects in [rot.before, *(s for _, s in rot.steps)]]
    assert all(m == manual[0] for m in manual)
    assert not rotation(handmade=False).handmade


def test_play_applies_the_steps_on_time_and_knows_the_truth() -> None:
    rot = rotation(pace=0.05, solo_gap=0.3)
    with ApiDouble(rot.before, tls=False, token=None) as api:
        began = time.time()
        playback = play(api, rot.steps, rot.before)
        assert playback.join(5)
        assert len(playback.applied) == len(rot.steps) and playback.applied == sorted(playback.applied)
        planned = [sum(d for d, _ in rot.steps[:i + 1]) for i in range(len(rot.steps))]
        assert all(-0.01 < (t - began) - p < 0.2 for t, p in zip(playback.applied, planned, strict=True))
        assert playback.versions[-1] == api.resource_version
    outages = playback.outages()
    assert list(outages) == [("shop", SOLO)]
    (outage,) = outages[("shop", SOLO)]
    assert outage.seconds is not None and abs(outage.seconds - 0.3) < 0.1


def _ready(line: bytes) -> set[str]:
    slc = orjson.loads(line)
    return {a for ep in slc.get("endpoints") or () if (ep.get("conditions") or {}).get("ready", True) is not False
            for a in ep.get("addresses") or ()}


def test_live_cluster_follows_the_rotation_and_measures_solos_outage(tmp_path: Path) -> None:
    rot = rotation(pace=0.2, solo_gap=1.5, handmade=True)
    with ApiDouble(rot.before) as api:
        live = LiveCluster(Cluster(ClusterOptions(kubeconfig=str(api.write_kubeconfig(tmp_path / "kc")))),
                           say=lambda text: None)
        try:
            live.start()
            assert api.wait_watches(6)
            slices = {k: _ready(line) for k, line in live.objects["EndpointSlice"].items()
                      if orjson.loads(line)["metadata"]["labels"].get("kubernetes.io/service-name") == SOLO}
            solo: list[tuple[float, int]] = [(time.time(), len(set().union(*slices.values())))]
            got: list[Change] = []
            api.keep_states = 100  # keep every event, to count them at the end
            playback = play(api, rot.steps, rot.before)
            while True:
                finished = playback.done.is_set()  # before waiting: the last step's events may still be on the way
                batch = live.changes(0.3 if finished else 0.1)
                if not batch and finished:
                    break
                got += batch
                for c in batch:
                    if c.kind != "EndpointSlice" or not c.name.startswith(SOLO + "-"):
                        continue
                    if c.type == "DELETED":
                        slices.pop((c.namespace, c.name), None)
                    else:
                        slices[(c.namespace, c.name)] = _ready(c.line)
                    count = len(set().union(*slices.values()))
                    if count != solo[-1][1]:
                        solo.append((c.at, count))
            playback.join(1)
            truth = playback.outages()
            assert list(truth) == [("shop", SOLO)]
            (outage,) = truth[("shop", SOLO)]
            assert [n for _, n in solo[1:]] == [0, 1]
            start, end = solo[1][0], solo[2][0]
            assert outage.end is not None
            assert -0.01 <= start - outage.start < 0.3 and -0.01 <= end - outage.end < 0.3
            assert abs((end - start) - (outage.end - outage.start)) < 0.3
            # Every event reached the tool, once, and soon after its step was applied.
            bounds = [int(v) for v in playback.versions]
            lags = [c.at - playback.applied[next(i for i, b in enumerate(bounds) if int(c.resource_version) <= b)]
                    for c in got]
            assert len(got) == len(api.events()) == live.stats.events
            print(f"\nrotation: {len(got)} changes; lag from the step applied to delivery: max {max(lags):.4f}s, "
                  f"mean {sum(lags) / len(lags):.4f}s")
            assert max(lags) < 0.5
        finally:
            live.close()
