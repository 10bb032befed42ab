"""The API double's watch semantics, read with plain urllib3: what a real API server sends, byte for byte."""
from __future__ import annotations

import copy
import socket
import threading
import time
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
    with ApiDouble(objects, tls=False, token=None) as double:
        yield double


def _get(api: ApiDouble, path: str, **query: Any) -> Any:
    http = urllib3.PoolManager()
    return http.request("GET", api.url + path, fields={k: str(v) for k, v in query.items()},
                        preload_content=False, timeout=urllib3.Timeout(connect=2, read=5), retries=False)


def _events(resp: Any) -> list[Obj]:
    """Every line of a watch until the server ends it."""
    assert resp.status == 200 and resp.headers["Transfer-Encoding"] == "chunked"
    data = b"".join(resp.read_chunked(1 << 16))
    assert data.endswith(b"\n") or not data
    return [orjson.loads(line) for line in data.splitlines()]


def _relabel(obj: Obj, value: str) -> Obj:
    out = copy.deepcopy(obj)
    out["metadata"]["labels"]["v"] = value
    return out


def test_set_state_diffs_into_events_with_their_own_resource_versions(api: ApiDouble, objects: list[Obj]) -> None:
    assert api.resource_version == "1000" and api.events() == []  # the first state has no history
    pods = [o for o in objects if o["kind"] == "Pod"]
    extra = clusterfactory.pod("team-0", "app-0", 99, pods[0]["spec"]["nodeName"], "10.9.0.1")
    api.set_state([_relabel(o, "1") if o is pods[0] else o for o in objects if o is not pods[1]] + [extra])
    assert [(e.rv, e.type, e.kind, e.name) for e in api.events()] == [
        (1001, "MODIFIED", "Pod", pods[0]["metadata"]["name"]), (1002, "ADDED", "Pod", extra["metadata"]["name"]),
        (1003, "DELETED", "Pod", pods[1]["metadata"]["name"])]
    assert api.resource_version == "2000"
    lst = orjson.loads(_get(api, "/api/v1/pods").read())
    assert lst["metadata"]["resourceVersion"] == "2000"
    by_name = {i["metadata"]["name"]: i for i in lst["items"]}
    assert by_name[pods[0]["metadata"]["name"]]["metadata"]["resourceVersion"] == "1001"
    assert by_name[extra["metadata"]["name"]]["metadata"]["resourceVersion"] == "1002"
    # untouched objects keep the resourceVersion they were given
    assert by_name[pods[2]["metadata"]["name"]]["metadata"]["resourceVersion"] == pods[2]["metadata"]["resourceVersion"]
    served = {o["metadata"]["name"]: o for o in api.served("Pod")}
    assert served[pods[0]["metadata"]["name"]]["metadata"]["resourceVersion"] == "1001"
    api.set_state(api.served())  # the same content again: no events, a new version all the same
    assert len(api.events()) == 3 and api.resource_version == "3000"


def test_list_then_watch_from_its_version_misses_and_duplicates_nothing(api: ApiDouble, objects: list[Obj]) -> None:
    api.set_state([_relabel(o, "a") if o["kind"] == "Pod" else o for o in objects])
    rv = orjson.loads(_get(api, "/api/v1/pods").read())["metadata"]["resourceVersion"]
    api.set_state([_relabel(o, "b") if o["kind"] == "Pod" else o for o in objects])
    events = _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=rv, timeoutSeconds=1))
    assert [e["type"] for e in events] == ["MODIFIED"] * 6
    assert all(e["object"]["metadata"]["labels"]["v"] == "b" for e in events)
    assert all(e["object"]["kind"] == "Pod" and e["object"]["apiVersion"] == "v1" for e in events)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and all(r > int(rv) for r in rvs)


def test_watch_streams_new_events_and_ends_at_its_timeout(api: ApiDouble, objects: list[Obj]) -> None:
    rv = api.resource_version
    node = next(o for o in objects if o["kind"] == "Node")
    threading.Timer(0.2, api.set_state, args=([_relabel(o, "n") if o is node else o for o in objects],)).start()
    began = time.monotonic()
    resp = _get(api, "/api/v1/nodes", watch="true", resourceVersion=rv, timeoutSeconds=1)
    lines = []
    for chunk in resp.read_chunked(1 << 16):
        lines.append((time.monotonic() - began, chunk))
    assert 0.15 < lines[0][0] < 0.6  # streamed as it happened, not at the end
    assert orjson.loads(lines[0][1])["type"] == "MODIFIED"
    assert 0.95 < time.monotonic() - began < 2.0  # and ended cleanly at timeoutSeconds (no bookmarks asked)
    assert len(lines) == 1


def test_watch_filters_by_kind_and_namespace(api: ApiDouble, objects: list[Obj]) -> None:
    rv = api.resource_version
    api.set_state([_relabel(o, "x") if o["kind"] in ("Pod", "Service") else o for o in objects])
    pods = _events(_get(api, "/api/v1/namespaces/team-1/pods", watch=1, resourceVersion=rv, timeoutSeconds=0.2))
    assert pods and {(e["object"]["kind"], e["object"]["metadata"]["namespace"]) for e in pods} == {("Pod", "team-1")}
    slices = _events(_get(api, "/apis/discovery.k8s.io/v1/endpointslices", watch=1, resourceVersion=rv,
                          timeoutSeconds=0.2))
    assert slices == []


def test_watch_without_a_version_starts_with_every_object_added(api: ApiDouble) -> None:
    events = _events(_get(api, "/api/v1/services", watch=1, timeoutSeconds=0.2))
    assert [(e["type"], e["object"]["kind"]) for e in events] == [("ADDED", "Service")] * 2


def test_bookmarks_carry_only_the_resource_version(api: ApiDouble) -> None:
    api.bookmark_every = 0.1
    events = _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version,
                          allowWatchBookmarks="true", timeoutSeconds=0.35))
    assert len(events) >= 3 and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"] == {"kind": "Pod", "apiVersion": "v1",
                                   "metadata": {"resourceVersion": "1000", "creationTimestamp": None},
                                   "spec": {"containers": None}, "status": {}}


def test_too_old_version_is_one_error_event_with_a_410_status(api: ApiDouble, objects: list[Obj]) -> None:
    old = api.resource_version
    api.set_state([_relabel(o, "1") for o in objects])
    api.compact()
    resp = _get(api, "/api/v1/pods", watch=1, resourceVersion=old)
    assert _events(resp) == [{"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {old} ({api.resource_version})", "reason": "Expired", "code": 410}}]
    assert _events(_get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version,
                        timeoutSeconds=0.1)) == []
    for _ in range(api.keep_states):  # older states compacted by the window: the same for watches
        api.set_state(api.served())
    assert _events(_get(api, "/api/v1/pods", watch=1, resourceVersion="1"))[0]["object"]["code"] == 410


def test_compaction_ends_an_open_watch_that_has_not_sent_what_was_forgotten(api: ApiDouble,
                                                                           objects: list[Obj]) -> None:
    resp = _get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version, timeoutSeconds=5)
    assert api.wait_watches(1)
    api.set_state([_relabel(o, "1") for o in objects], compact=True)  # forgotten before the watch could send them
    events = _events(resp)
    assert [(e["type"], e["object"].get("code")) for e in events] == [("ERROR", 410)]
    # A watch that had sent everything is not affected by a later compaction.
    resp = _get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version, timeoutSeconds=0.5)
    assert api.wait_watches(1)
    api.set_state([_relabel(o, "2") for o in objects])
    assert wait_until(api.watches_caught_up)  # the watch has sent them: compaction comes after
    api.compact()
    assert [e["type"] for e in _events(resp)] == ["MODIFIED"] * 6


def test_drop_watches_cuts_the_stream_mid_way(api: ApiDouble) -> None:
    resp = _get(api, "/api/v1/pods", watch=1, resourceVersion=api.resource_version, timeoutSeconds=30)
    assert api.wait_watches(1)
    threading.Timer(0.1, api.drop_watches).start()
    began = time.monotonic()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for _ in resp.read_chunked(1 << 16):
            pass
    assert time.monotonic() - began < 1.0


def test_deny_watch_forbids_watching_only(api: ApiDouble) -> None:
    api.deny_watch("pods")
    resp = _get(api, "/api/v1/pods", watch=1)
    assert resp.status == 403
    assert orjson.loads(resp.read())["message"] == ('pods is forbidden: User "tester" cannot watch resource "pods" '
                                                    'in API group "" at the cluster scope')
    assert _get(api, "/api/v1/pods").status == 200
    assert _get(api, "/api/v1/services", watch=1, timeoutSeconds=0.1).status == 200


def test_shutdown_does_not_wait_for_open_watches(objects: list[Obj]) -> None:
    api = ApiDouble(objects, tls=False, token=None)
    with api:
        conn = socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])))
        conn.sendall(b"GET /api/v1/pods?watch=1&timeoutSeconds=600 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert api.wait_watches(1)
        began = time.monotonic()
    assert time.monotonic() - began < 1.0
    conn.settimeout(2)
    data = b""
    while chunk := conn.recv(1 << 16):
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and not data.endswith(b"0\r\n\r\n")  # cut, not ended
    conn.close()


def test_watch_over_tls_with_the_token(objects: list[Obj], tmp_path: Any) -> None:
    with ApiDouble(objects) as api:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(api.ca_pem)
        http = urllib3.PoolManager(ca_certs=str(ca))
        resp = http.request("GET", api.url + "/api/v1/nodes?watch=1&timeoutSeconds=0.2", preload_content=False,
                            headers={"Authorization": "Bearer t0ken"})
        assert [e["type"] for e in _events(resp)] == ["ADDED", "ADDED"]
        assert http.request("GET", api.url + "/api/v1/nodes?watch=1").status == 401


def test_update_changes_a_part_and_keeps_the_rest(api: ApiDouble, objects: list[Obj]) -> None:
    pods = [o for o in objects if o["kind"] == "Pod"]
    extra = clusterfactory.pod("team-1", "app-1", 98, pods[0]["spec"]["nodeName"], "10.9.0.2")
    nodes_before = orjson.loads(_get(api, "/api/v1/nodes").read())["items"]
    api.update([_relabel(pods[0], "u"), extra, pods[2]], delete=[("Pod", "team-0", pods[1]["metadata"]["name"]),
                                                                  ("Pod", "team-0", "no-such-pod")])
    assert [(e.type, e.name) for e in api.events()] == [
        ("MODIFIED", pods[0]["metadata"]["name"]), ("ADDED", extra["metadata"]["name"]),
        ("DELETED", pods[1]["metadata"]["name"])]  # pods[2] was given unchanged: no event
    names = sorted(i["metadata"]["name"] for i in orjson.loads(_get(api, "/api/v1/pods").read())["items"])
    assert names == sorted({p["metadata"]["name"] for p in pods} - {pods[1]["metadata"]["name"]}
                           | {extra["metadata"]["name"]})
    assert orjson.loads(_get(api, "/api/v1/nodes").read())["items"] == nodes_before
    assert {o["metadata"]["name"] for o in api.served("Pod")} == set(names)
    team1 = orjson.loads(_get(api, "/api/v1/namespaces/team-1/pods").read())["items"]
    assert extra["metadata"]["name"] in {i["metadata"]["name"] for i in team1}
