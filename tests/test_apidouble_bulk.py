"""The API double's bulk path (prepare/publish, for benchmarks at event rate): the same watch and list semantics as
set_state/update, read with plain urllib3."""
from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3

from tests import clusterfactory
from tests.apidouble import ApiDouble
from tests.waiting import wait_until

Obj = dict[str, Any]


@pytest.fixture
def objects() -> list[Obj]:
    return list(clusterfactory.cluster(pods=6, services=2, nodes=2, namespaces=2))


@pytest.fixture
def api(objects: list[Obj]) -> Iterator[ApiDouble]:
    double = ApiDouble(tls=False, token=None)
    double.set_state(objects, keep=False, compact=True)  # no history: the events below are the only ones
    with double:
        yield double


def _get(api: ApiDouble, path: str, **query: Any) -> Any:
    return urllib3.PoolManager().request("GET", api.url + path, fields={k: str(v) for k, v in query.items()},
                                         preload_content=False, timeout=urllib3.Timeout(connect=2, read=5),
                                         retries=False)


def _events(resp: Any) -> list[Obj]:
    assert resp.status == 200
    return [orjson.loads(line) for line in b"".join(resp.read_chunked(1 << 16)).splitlines()]


def _relabel(obj: Obj, value: str) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"]["labels"]["v"] = value
    return out


def _key(obj: Obj) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def test_published_batches_are_watched_in_order_and_listed(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    start = int(api.resource_version)
    batches = list(api.prepare([[_relabel(pods[0], "1"), pods[1]],  # pods[1] unchanged: no event
                                [_key(pods[2]), ("Pod", "team-0", "no-such-pod"), _relabel(pods[0], "2")]]))
    assert [(b.base, b.after, len(b.events)) for b in batches] == [(start, start + 1, 1), (start + 1, start + 3, 2)]
    assert api.events() == [] and api.resource_version == str(start)  # prepared, not served
    for batch in batches:
        api.publish(batch)
    assert api.resource_version == str(start + 3)
    watched = _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=start, timeoutSeconds=0.2))
    assert [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"])
            for e in watched] == [("MODIFIED", pods[0]["metadata"]["name"], str(start + 1)),
                                  ("DELETED", pods[2]["metadata"]["name"], str(start + 2)),
                                  ("MODIFIED", pods[0]["metadata"]["name"], str(start + 3))]
    assert watched[2]["object"]["metadata"]["labels"]["v"] == "2"
    listed = orjson.loads(_get(api, "/api/v1/pods").read())
    assert listed["metadata"]["resourceVersion"] == str(start + 3)  # the list holds every published change
    by_name = {i["metadata"]["name"]: i for i in listed["items"]}
    assert pods[2]["metadata"]["name"] not in by_name and len(by_name) == len(pods) - 1
    last = {k: v for k, v in watched[2]["object"].items() if k not in ("kind", "apiVersion")}
    assert by_name[pods[0]["metadata"]["name"]] == last  # listed as the last event served it
    assert _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=start + 3, timeoutSeconds=0.2)) == []


def test_a_watch_open_before_publish_gets_the_events_and_bookmarks_at_the_newest_version(
        api: ApiDouble, objects: list[Obj]) -> None:
    api.bookmark_every = 0.1
    node = next(o for o in objects if o["kind"] == "Node")
    resp = _get(api, "/api/v1/nodes", watch=1, resourceVersion=api.resource_version, allowWatchBookmarks="true",
                timeoutSeconds=0.5)
    assert api.wait_watches(1)
    (batch,) = api.prepare([[_relabel(node, "x")]])
    api.publish(batch)
    events = _events(resp)
    assert events[0]["type"] in ("MODIFIED", "BOOKMARK") and any(e["type"] == "MODIFIED" for e in events)
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[-1]["object"]["metadata"]["resourceVersion"] == str(batch.after)
    modified = next(i for i, e in enumerate(events) if e["type"] == "MODIFIED")
    assert all(e["type"] == "BOOKMARK" for e in events[modified + 1:])  # nothing sent twice after a bookmark


def test_history_is_per_kind_and_a_watch_from_before_it_gets_410(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    node = next(o for o in objects if o["kind"] == "Node")
    start = api.resource_version
    api.history = 3
    for batch in list(api.prepare([[_relabel(node, "1")]] + [[_relabel(p, "1")] for p in pods])):
        api.publish(batch)
    assert [e["object"]["code"] for e in _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=start))] == [410]
    recent = _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=int(start) + 4, timeoutSeconds=0.2))
    assert [e["object"]["metadata"]["name"] for e in recent] == [p["metadata"]["name"] for p in pods[3:]]
    # the Node's one event is within its kind's history, however many Pod events came after it
    nodes = _events(_get(api, "/api/v1/nodes", watch=1, resourceVersion=start, timeoutSeconds=0.2))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in nodes] == [("MODIFIED", node["metadata"]["name"])]


def test_an_open_watch_behind_its_kinds_history_gets_410(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    api.history = 2
    # One batch of 6, published at once: 4 are forgotten before the watch can send any.
    batches = list(api.prepare([[_relabel(p, "1") for p in pods]]))
    resp = _get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version, timeoutSeconds=5)
    assert api.wait_watches(1)
    api.publish(batches[0])
    assert [(e["type"], e["object"].get("code")) for e in _events(resp)] == [("ERROR", 410)]


def test_batches_are_published_in_order_only(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    first, second = api.prepare([[_relabel(pods[0], "1")], [_relabel(pods[1], "1")]])
    with pytest.raises(ValueError, match="prepared at resourceVersion"):
        api.publish(second)
    api.publish(first)
    api.publish(second)
    with pytest.raises(ValueError, match="prepared at resourceVersion"):
        api.publish(first)


def test_published_written_waits_for_a_watch_that_has_not_sent_everything(api: ApiDouble, objects: list[Obj]) -> None:
    pod = next(o for o in objects if o["kind"] == "Pod")
    big = []
    for i in range(20):  # 20 MB: more than the sockets can buffer for a client that reads nothing
        obj = _relabel(pod, str(i))
        obj["metadata"]["annotations"] = {"pad": "x" * 2**20}
        big.append(obj)
    batches = list(api.prepare([[obj] for obj in big]))
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(("127.0.0.1", int(api.url.rsplit(":", 1)[1])))
    conn.sendall(b"GET /api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=30 HTTP/1.1\r\nHost: x\r\n\r\n"
                 % api.resource_version.encode())
    assert api.wait_watches(1) and wait_until(api.published_written)  # nothing published yet
    for batch in batches:
        api.publish(batch)
    assert not api.published_written()
    conn.settimeout(5)
    received, expected = 0, sum(len(e.line) for b in batches for e in b.events)
    while received < expected:  # every event line (and the chunks' framing)
        received += len(conn.recv(1 << 20))
    assert wait_until(api.published_written)
    conn.close()


def test_update_after_publish_diffs_against_what_was_published(api: ApiDouble, objects: list[Obj]) -> None:
    pod = next(o for o in objects if o["kind"] == "Pod")
    (batch,) = api.prepare([[_relabel(pod, "1")]])
    api.publish(batch)
    api.update([_relabel(pod, "1")], keep=False)  # what was published: no event
    assert len(api.events()) == 1 and int(api.resource_version) > batch.after
    at = int(api.resource_version)
    api.update([_relabel(pod, "2")], keep=False)
    assert [(e.type, e.rv) for e in api.events()] == [("MODIFIED", batch.after), ("MODIFIED", at + 1)]


def test_prepare_needs_states_set_without_keep(objects: list[Obj]) -> None:
    with pytest.raises(ValueError, match="keep=False"):
        list(ApiDouble(objects, tls=False, token=None).prepare([[]]))


def test_a_paginated_list_reads_one_state_while_batches_are_published(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    batches = iter(api.prepare([[_relabel(p, "new")] for p in pods]))
    page = orjson.loads(_get(api, "/api/v1/pods", limit=1).read())
    names, version = [page["items"][0]["metadata"]["name"]], page["metadata"]["resourceVersion"]
    while page["metadata"].get("continue"):
        api.publish(next(batches))  # more than keep_states times: the list's state must outlive them
        resp = _get(api, "/api/v1/pods", limit=1, **{"continue": page["metadata"]["continue"]})
        assert resp.status == 200
        page = orjson.loads(resp.read())
        assert page["metadata"]["resourceVersion"] == version
        assert "v" not in page["items"][0]["metadata"]["labels"]  # as listed at the first page
        names.append(page["items"][0]["metadata"]["name"])
    assert sorted(names) == sorted(p["metadata"]["name"] for p in pods) and len(pods) > api.keep_states
