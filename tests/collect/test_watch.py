"""LiveCluster against the API double over HTTPS: list, then watch; resume, relist on 410, polling, bookmarks, close."""
from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from auditor.collect.kube import Cluster
from auditor.collect.options import ClusterOptions
from auditor.collect.project import as_followed
from auditor.collect.watch import Change, LiveCluster
from auditor.errors import CollectionError
from auditor.state.objects import KubeObject
from tests import clusterfactory
from tests.apidouble import ApiDouble
from tests.waiting import wait_until as _wait

Obj = dict[str, Any]
Make = Callable[..., LiveCluster]


@pytest.fixture
def objects() -> list[Obj]:
    return list(clusterfactory.cluster(pods=30, services=3, nodes=3, namespaces=2))


@pytest.fixture
def make(api: ApiDouble, kubeconfig: Path) -> Iterator[Make]:
    """make(**kw) -> a started LiveCluster on the double (closed at the end of the test)."""
    made: list[LiveCluster] = []

    def start(*, start: bool = True, namespaces: tuple[str, ...] = (), **kw: Any) -> LiveCluster:
        kw.setdefault("say", lambda text: None)
        live = LiveCluster(Cluster(ClusterOptions(kubeconfig=str(kubeconfig), namespaces=namespaces)), **kw)
        made.append(live)
        if start:
            live.start()
            assert api.wait_watches(len(live.objects)), "the watches did not open"
        return live

    yield start
    for live in made:
        live.close()


def _pods(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] == "Pod"]


def _relabel(obj: Obj, value: str) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"]["labels"]["rollout"] = value
    return out


def _collect(live: LiveCluster, until: Callable[[list[Change]], bool], timeout: float = 5.0) -> list[Change]:
    got: list[Change] = []
    end = time.monotonic() + timeout
    while not until(got) and time.monotonic() < end:
        got += live.changes(max(0.0, end - time.monotonic()))
    return got


def _expected(api: ApiDouble) -> dict[str, dict[tuple[str, str], bytes]]:
    """What the double serves now, as verify keeps it: each object decoded as the rules read it (`as_followed`,
    the same object as a snapshot projection decodes to), as JSON."""
    out: dict[str, dict[tuple[str, str], bytes]] = {}
    for obj in api.served():
        meta = obj["metadata"]
        item = orjson.dumps({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
        out.setdefault(obj["kind"], {})[(meta.get("namespace", ""), meta["name"])] = \
            msgspec.json.encode(as_followed(obj["kind"], obj["apiVersion"], item))
    return out


def _same_state(live: LiveCluster, api: ApiDouble) -> bool:
    with live._lock:
        return {k: v for k, v in live.objects.items() if v} == _expected(api)


def test_list_then_watch_sees_added_modified_deleted_in_order(api: ApiDouble, make: Make,
                                                              objects: list[Obj]) -> None:
    live = make()
    assert live.consistent and set(live.resource_versions.values()) == {api.resource_version}
    assert {k: len(v) for k, v in live.objects.items()} == {"Namespace": 4, "Node": 3, "Pod": 30, "Service": 3,
                                                            "Endpoints": 3, "EndpointSlice": 3}
    assert live.list_seconds > 0 and live.listed_at <= time.time()
    pod = _pods(objects)[0]
    extra = clusterfactory.pod(pod["metadata"]["namespace"], "app-0", 999, pod["spec"]["nodeName"], "10.9.9.9")
    api.set_state([*objects, extra])
    api.set_state([*[_relabel(o, "2") if o is pod else o for o in objects], extra])
    api.set_state([o for o in objects if o is not pod] + [extra])
    got = _collect(live, lambda g: len(g) >= 3)
    assert [(c.kind, c.type, c.name) for c in got] == [
        ("Pod", "ADDED", extra["metadata"]["name"]), ("Pod", "MODIFIED", pod["metadata"]["name"]),
        ("Pod", "DELETED", pod["metadata"]["name"])]
    assert [int(c.resource_version) for c in got] == sorted(int(c.resource_version) for c in got)
    assert all(c.namespace == pod["metadata"]["namespace"] for c in got)
    modified = json.loads(got[1].line)
    assert list(modified)[:2] == ["kind", "apiVersion"] and modified["metadata"]["labels"]["rollout"] == "2"
    assert "managedFields" not in modified["metadata"]
    assert json.loads(got[2].line)["metadata"]["name"] == pod["metadata"]["name"]  # the last known object
    assert _same_state(live, api)
    assert live.changes(0.05) == [] and live.stats.duplicates == 0 and live.stats.failures == 0


def test_objects_are_updated_before_the_change_is_queued(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make()
    pod = _pods(objects)[3]
    api.set_state([_relabel(o, "x") if o is pod else o for o in objects])
    (change,) = _collect(live, lambda g: len(g) >= 1)
    key = (change.namespace, change.name)
    assert live.objects["Pod"][key] == change.line
    lines = live.snapshot()["Pod"]
    assert change.line in lines and len(lines) == 30


def test_resume_after_dropped_watches_misses_nothing_and_duplicates_nothing(api: ApiDouble, make: Make,
                                                                          objects: list[Obj]) -> None:
    api.keep_states = 1000  # no compaction: every resume must continue exactly where it stopped
    live = make()
    start_rv = int(api.resource_version)
    pods = _pods(objects)
    state = list(objects)
    for step in range(12):
        target = pods[step % len(pods)]
        state = [_relabel(o, str(step)) if o["metadata"]["name"] == target["metadata"]["name"]
                 and o["kind"] == "Pod" else o for o in state]
        if step % 3 == 2:  # delete one, add one
            state = [o for o in state if o["metadata"]["name"] != pods[step]["metadata"]["name"]]
            state.append(clusterfactory.pod("team-0", "app-0", 500 + step, pods[0]["spec"]["nodeName"],
                                            f"10.8.0.{step}"))
        api.set_state(state)
        if step % 2:
            api.drop_watches()  # cut mid-stream, often before the events were sent
    truth = [(e.kind, e.type, e.name, str(e.rv)) for e in api.events() if e.rv > start_rv]
    got = _collect(live, lambda g: len(g) >= len(truth))
    assert sorted((c.kind, c.type, c.name, c.resource_version) for c in got) == sorted(truth)
    per_kind = [c.resource_version for c in got if c.kind == "Pod"]
    assert per_kind == sorted(per_kind, key=int)  # in order within the kind
    assert live.changes(0.2) == []
    assert _same_state(live, api)
    assert live.stats.resumes >= 6 and live.stats.relists == 0 and live.stats.duplicates == 0


def test_server_timeout_ends_the_watch_cleanly_and_it_resumes(api: ApiDouble, make: Make,
                                                              objects: list[Obj]) -> None:
    live = make(watch_timeout=1)
    kinds = len(live.objects)

    def resumed() -> bool:  # every kind's watch has ended once (timeoutSeconds) and been asked for again
        watches = Counter(path for _, path, query in list(api.requests) if "watch" in query)
        return len(watches) == kinds and min(watches.values()) >= 2

    assert _wait(resumed, timeout=10)
    pod = _pods(objects)[1]
    api.set_state([_relabel(o, "t") if o is pod else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 1)
    assert [(c.type, c.name) for c in got] == [("MODIFIED", pod["metadata"]["name"])]
    assert live.stats.resumes >= 6 and live.stats.failures == 0
    timeouts = {q["timeoutSeconds"][0] for q in api.calls(r"^/api/v1/pods$") if "watch" in q}
    assert timeouts == {"1"}


def test_410_while_disconnected_relists_and_queues_the_difference(api: ApiDouble, make: Make,
                                                                  objects: list[Obj]) -> None:
    live = make()
    pods = _pods(objects)
    gone, changed, back = pods[0], pods[1], pods[2]
    transient = clusterfactory.pod("team-0", "app-0", 777, pods[0]["spec"]["nodeName"], "10.7.7.7")
    new = clusterfactory.pod("team-1", "app-1", 778, pods[0]["spec"]["nodeName"], "10.7.7.8")
    hold = api.add_fault(r"^/api/v1/pods$", status=503, watch=True, times=None)  # keep the Pod watch away
    api.drop_watches()
    assert _wait(lambda: hold.hits >= 1)
    # While it is away: one Pod deleted, one changed, one deleted and re-created as it was, one created and
    # deleted again (no trace left), one created; then the history is compacted.
    api.set_state([o for o in objects if o is not gone and o is not back] + [transient])
    api.set_state([_relabel(o, "r") if o is changed else o for o in objects if o is not gone] + [new])
    api.compact()
    api.faults.remove(hold)
    got = _collect(live, lambda g: len(g) >= 4)
    assert sorted((c.type, c.name) for c in got if c.kind == "Pod") == sorted(
        [("DELETED", gone["metadata"]["name"]), ("MODIFIED", changed["metadata"]["name"]),
         ("ADDED", new["metadata"]["name"]), ("MODIFIED", back["metadata"]["name"])])
    assert {c.kind for c in got} == {"Pod"}  # kinds relisted without a change (no bookmark moved them) queue nothing
    for c in got:  # the relist's objects travel with their changes, as decoded: nothing decodes them again
        if c.type != "DELETED":
            assert c.obj is not None and c.obj == msgspec.json.decode(c.line, type=KubeObject)
            assert c.resource_version and c.resource_version == c.obj.metadata.resource_version
    assert live.stats.relists >= 1
    assert "watch on pods expired (410 Gone); listed them again" in live.notices()
    assert _same_state(live, api)
    # Back to watching from the relist's version: later changes arrive as events.
    api.set_state([o for o in api.served() if o["metadata"]["name"] != new["metadata"]["name"]])
    got = _collect(live, lambda g: len(g) >= 1)
    assert [(c.type, c.name) for c in got] == [("DELETED", new["metadata"]["name"])]


def test_http_410_on_the_watch_request_relists_too(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make()
    api.add_fault(r"^/api/v1/nodes$", status=410, watch=True, times=1)
    api.drop_watches()
    assert _wait(lambda: live.stats.relists == 1)
    node = next(o for o in objects if o["kind"] == "Node")
    api.set_state([_relabel(o, "n") if o is node else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 1)
    assert [(c.kind, c.type) for c in got] == [("Node", "MODIFIED")]  # the relist itself changed nothing
    assert live.stats.duplicates == 0


def test_forbidden_watch_falls_back_to_polling_and_says_so_once(api: ApiDouble, make: Make,
                                                                objects: list[Obj]) -> None:
    said: list[str] = []
    api.deny_watch("pods")
    live = make(poll_interval=0.1, say=said.append, start=False)
    live.start()
    assert api.wait_watches(5)
    pod = _pods(objects)[0]
    api.set_state([_relabel(o, "p") if o is pod else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 1, timeout=3)
    assert [(c.kind, c.type, c.name) for c in got] == [("Pod", "MODIFIED", pod["metadata"]["name"])]
    assert _wait(lambda: live.stats.polls >= 3)
    assert said == ["watch on pods forbidden; polling the list every 0.1s"]
    assert live.notices() == said
    assert live.changes(0.25) == []  # polls that find nothing new queue nothing
    assert _same_state(live, api)


def test_bookmarks_move_the_resume_point(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    api.bookmark_every = 0.05
    live = make()
    node = next(o for o in objects if o["kind"] == "Node")
    api.set_state([_relabel(o, "b") if o is node else o for o in objects])  # nothing for the Pod watch
    rv = api.resource_version
    pod_feed = next(f for f in live._feeds if f.kind == "Pod")
    assert _wait(lambda: pod_feed.rv == rv)  # only a BOOKMARK can have told it
    assert live.stats.bookmarks > 0
    before = len([q for q in api.calls(r"^/api/v1/pods$") if "watch" in q])
    api.drop_watches()
    assert _wait(lambda: len([q for q in api.calls(r"^/api/v1/pods$") if "watch" in q]) > before)
    resumed = [q for q in api.calls(r"^/api/v1/pods$") if "watch" in q][before]
    assert resumed["resourceVersion"] == [rv] and resumed["allowWatchBookmarks"] == ["true"]
    assert [c.kind for c in _collect(live, lambda g: len(g) >= 1)] == ["Node"]
    assert live.changes(0.2) == []


def test_lines_split_across_chunks_are_joined(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    api.watch_chunk = 7
    live = make()
    api.set_state([_relabel(o, "c") if o["kind"] == "Pod" else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 30)
    assert len(got) == 30 and {c.type for c in got} == {"MODIFIED"}
    assert _same_state(live, api)


def test_failing_watches_back_off_and_recover(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make()
    fault = api.add_fault(r"^/api/v1/pods$", status=500, watch=True, times=5)
    api.drop_watches()
    pod = _pods(objects)[2]
    api.set_state([_relabel(o, "f") if o is pod else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 1)
    assert [(c.type, c.name) for c in got] == [("MODIFIED", pod["metadata"]["name"])]
    assert fault.hits == 5 and live.stats.failures >= 5 and live.problems() == {}


def test_namespaced_scopes_watch_each_namespace(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make(namespaces=("team-1",), start=False)
    live.start()
    assert api.wait_watches(6)
    assert {ns for ns, _ in live.objects["Pod"]} == {"team-1"}
    assert api.calls(r"^/api/v1/namespaces/team-1/pods$") and not api.calls(r"^/api/v1/pods$")
    pods = _pods(objects)
    a = next(p for p in pods if p["metadata"]["namespace"] == "team-0")
    b = next(p for p in pods if p["metadata"]["namespace"] == "team-1")
    api.set_state([_relabel(o, "n") if o is a or o is b else o for o in objects])
    got = _collect(live, lambda g: len(g) >= 1)
    assert [(c.namespace, c.name) for c in got] == [("team-1", b["metadata"]["name"])]
    assert live.changes(0.2) == []


def test_a_required_kind_that_cannot_be_listed_is_a_collection_error(api: ApiDouble, make: Make) -> None:
    api.deny("endpointslices")
    live = make(start=False)
    with pytest.raises(CollectionError, match=r"cannot list endpointslices: forbidden.*needs list "
                                              r"endpointslices.discovery.k8s.io, cluster-wide"):
        live.start()


def test_an_optional_kind_that_cannot_be_listed_is_left_out(api: ApiDouble, make: Make) -> None:
    said: list[str] = []
    api.deny("namespaces")
    live = make(start=False, say=said.append)
    live.start()
    assert "Namespace" not in live.objects and "forbidden" in live.missing["Namespace"]
    assert said == [n for n in live.notices()] and len(said) == 1 and "namespaces" in said[0]


def test_unreachable_cluster_is_a_collection_error(tmp_path: Path) -> None:
    with ApiDouble() as double:
        kubeconfig = double.write_kubeconfig(tmp_path / "kc")
    live = LiveCluster(Cluster(ClusterOptions(kubeconfig=str(kubeconfig))), say=lambda t: None)
    with pytest.raises(CollectionError, match="cannot reach"):
        live.start()


def test_watch_events_are_projected_like_snapshots(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make()
    pod = copy.deepcopy(_pods(objects)[0])
    pod["spec"]["containers"][0]["env"] = [{"name": "DB_PASSWORD", "value": "hunter2"}]
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{\"secret\": 1}"}
    api.set_state([pod if o["kind"] == "Pod" and o["metadata"]["name"] == pod["metadata"]["name"] else o
                   for o in objects])
    (change,) = _collect(live, lambda g: len(g) >= 1)
    assert b"hunter2" not in change.line and b"DB_PASSWORD" not in change.line and b"secret" not in change.line


def test_close_is_prompt_whatever_the_threads_are_doing(api: ApiDouble, make: Make) -> None:
    live = make(poll_interval=30)
    api.deny_watch("nodes")  # the next Node watch is refused: that thread will sit in its 30 s poll wait
    api.drop_watches()
    assert _wait(lambda: any(f.polling for f in live._feeds))
    assert api.wait_watches(5)
    began = time.monotonic()
    live.close()
    assert time.monotonic() - began < 1.0
    assert not any(f.thread is not None and f.thread.is_alive() for f in live._feeds)
    assert live.changes(5) == []  # stopped: returns at once
    assert _wait(lambda: api.open_watches == 0, 2)


def test_a_batch_of_500_changes_among_2000_pods_arrives_within_a_second(tmp_path: Path) -> None:
    objects = list(clusterfactory.cluster(pods=2000, services=20, nodes=10, namespaces=4))
    with ApiDouble(objects) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kc")
        live = LiveCluster(Cluster(ClusterOptions(kubeconfig=str(kubeconfig))), say=lambda t: None)
        try:
            live.start()
            assert api.wait_watches(6) and len(live.objects["Pod"]) == 2000
            pods = _pods(objects)[:500]
            names = {p["metadata"]["name"] for p in pods}
            changed = [_relabel(o, "big") if o["kind"] == "Pod" and o["metadata"]["name"] in names else o
                       for o in objects]
            began = time.monotonic()
            api.set_state(changed)
            applied = time.monotonic()
            got = _collect(live, lambda g: len(g) >= 500, timeout=5)
            done = time.monotonic()
            assert len(got) == 500 and {c.name for c in got} == names
            print(f"\n2000 Pods: set_state {applied - began:.3f}s, 500 changes delivered "
                  f"{done - applied:.3f}s after it ({500 / max(done - applied, 1e-6):.0f} events/s); "
                  f"initial list {live.list_seconds:.3f}s")
            assert done - applied < 1.0
        finally:
            live.close()


def test_changes_wait_for_the_first_then_return_the_batch(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    live = make()
    began = time.monotonic()
    assert live.changes(0.2) == [] and time.monotonic() - began >= 0.19
    pods = _pods(objects)[:3]
    timer = threading.Timer(0.1, api.set_state, args=([_relabel(o, "w") if o in pods else o for o in objects],))
    timer.start()
    began = time.monotonic()
    got = live.changes(5)
    assert time.monotonic() - began < 1.0 and 1 <= len(got) <= 3
    timer.join()


def test_a_silent_watch_is_resumed_after_the_read_timeout(api: ApiDouble, make: Make, objects: list[Obj]) -> None:
    api.bookmark_every = 30  # nothing at all on the wire
    live = make(read_timeout=0.3)
    assert _wait(lambda: live.stats.watches >= 12, 3)  # every kind timed out and resumed at least once
    assert live.stats.failures == 0 and live.problems() == {}
    pod = _pods(objects)[4]
    api.set_state([_relabel(o, "s") if o is pod else o for o in objects])
    assert [(c.type, c.name) for c in _collect(live, lambda g: len(g) >= 1)] == [("MODIFIED", pod["metadata"]["name"])]
