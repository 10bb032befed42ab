"""One cut of the cluster (every kind at one resourceVersion), per-kind fallback when the server refuses,
410 recovery (restart once, then one unpaginated list), incomplete snapshots written beside complete ones,
and the smaller edges: gzip spools, control characters from the server, no token over plain HTTP."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli.main import main
from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ApiDouble

Snap = Callable[..., Result]
KINDS = ["Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice",  # served by the double (no CRDs)
         "PodDisruptionBudget", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Ingress", "IngressClass",
         "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Role", "ClusterRole", "RoleBinding",
         "ClusterRoleBinding"]


def _doc(path: Path) -> dict[str, Any]:
    import gzip

    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _drained(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cluster after a node drain: the first node's Pods are gone and the slices followed."""
    node = next(o["metadata"]["name"] for o in objects if o["kind"] == "Node")
    gone = {o["metadata"]["uid"] for o in objects if o["kind"] == "Pod" and o["spec"]["nodeName"] == node}
    out = []
    for o in objects:
        if o["kind"] == "Pod" and o["metadata"]["uid"] in gone:
            continue
        if o["kind"] == "EndpointSlice":
            o = {**o, "endpoints": [e for e in o["endpoints"] if e["targetRef"]["uid"] not in gone]}
        if o["kind"] == "Endpoints" and o["subsets"]:
            subset = o["subsets"][0]
            o = {**o, "subsets": [{**subset, "addresses": [a for a in subset["addresses"]
                                                          if a["targetRef"]["uid"] not in gone]}]}
        out.append(o)
    return out


def _drain_when(api: ApiDouble, objects: list[dict[str, Any]], path: str, compact: bool = False) -> None:
    """Drain a node the moment `path` is first requested (after the other kinds may have been read)."""
    done = [False]

    def on_request(method: str, p: str) -> None:
        if p == path and not done[0]:
            done[0] = True
            api.set_state(_drained(objects))
            if compact:
                api.compact()

    api.on_request = on_request


def test_every_kind_is_read_at_the_first_lists_resource_version(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                                snap: Snap, objects: list[dict[str, Any]]) -> None:
    rv = api.resource_version
    _drain_when(api, objects, "/apis/discovery.k8s.io/v1/endpointslices")  # drained while we read
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    for path in ("/api/v1/pods", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/nodes"):
        calls = [q for q in api.calls(f"^{path}$")]
        assert calls[0]["resourceVersion"] == [rv] and calls[0]["resourceVersionMatch"] == ["Exact"], path
        assert all("resourceVersion" not in q and "resourceVersionMatch" not in q for q in calls[1:]), path
    meta = _doc(tmp_path / "s.json")["metadata"]
    assert meta["consistent"] is True and meta["resourceVersion"] == rv and "inconsistency" not in meta
    assert set(meta["kindReads"]) == set(KINDS)
    assert {r["resourceVersion"] for r in meta["kindReads"].values()} == {rv}
    state = load(tmp_path / "s.json")
    assert state.consistent and set(state.kind_reads) == set(KINDS)
    assert all(start <= end for start, end in state.kind_reads.values())
    # One etcd revision: the slices still list every Pod of the snapshot, none of the drained state's.
    assert len(state.of("Pod")) == 1200
    audit = CliRunner().invoke(main, ["audit", str(tmp_path / "s.json"), "--output-dir", str(tmp_path / "r"),
                                      "--format", "json"])
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert not [f for f in report["findings"] if f["rule"] == "stale-endpointslice"], audit.output


def test_compacted_version_falls_back_to_per_kind_reads(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                        snap: Snap, objects: list[dict[str, Any]]) -> None:
    rv = api.resource_version
    _drain_when(api, objects, "/apis/discovery.k8s.io/v1/endpointslices", compact=True)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output  # complete, only not one cut
    meta = _doc(tmp_path / "s.json")["metadata"]
    assert meta["consistent"] is False and meta["resourceVersion"] == "" and meta["complete"] is True
    reads = meta["kindReads"]
    assert reads["EndpointSlice"]["resourceVersion"] == api.resource_version != rv
    assert "EndpointSlice: resourceVersion " + rv + " expired" in meta["inconsistency"]
    assert reads["EndpointSlice"]["startedAt"] <= reads["EndpointSlice"]["finishedAt"]
    slice_calls = api.calls(r"^/apis/discovery.k8s.io/v1/endpointslices$")
    assert slice_calls[0]["resourceVersionMatch"] == ["Exact"] and "resourceVersion" not in slice_calls[1]
    state = load(tmp_path / "s.json")
    assert state.consistent is False and set(state.kind_reads) == set(KINDS)


def test_old_snapshots_without_the_new_fields_still_load(tmp_path: Path) -> None:
    old = {"apiVersion": "upgrade-auditor.io/v1", "kind": "ClusterSnapshot",
           "items": list(clusterfactory.cluster(pods=4, services=1, nodes=1, namespaces=1)),
           "metadata": {"takenAt": "2025-06-01T08:01:00Z", "complete": True}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    state = load(tmp_path / "old.json")
    assert state.consistent is True and state.kind_reads == {} and len(state.of("Pod")) == 4


def test_double_refuses_resource_version_with_continue(api: ApiDouble) -> None:
    code, _ = api._page("Pod", None, {"limit": ["1"], "continue": ["MTox"], "resourceVersion": ["1000"]})
    assert code == 400
    code, _ = api._page("Pod", None, {"resourceVersionMatch": ["Exact"]})
    assert code == 400


def test_410_twice_falls_back_to_one_unpaginated_list(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                      snap: Snap) -> None:
    api.add_fault(r"^/api/v1/pods$", status=410, on_continue=True, times=2)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    pods = [o["metadata"]["name"] for o in _doc(tmp_path / "s.json")["items"] if o["kind"] == "Pod"]
    assert len(pods) == len(set(pods)) == 1200
    firsts = [q for q in api.calls(r"^/api/v1/pods$") if "continue" not in q]
    assert len(firsts) == 3
    assert firsts[0]["resourceVersionMatch"] == ["Exact"]  # at the snapshot's version,
    assert "resourceVersion" not in firsts[1] and firsts[1]["limit"] == ["500"]  # restarted once (latest),
    assert "limit" not in firsts[2] and "resourceVersion" not in firsts[2]  # then one unpaginated list
    assert _doc(tmp_path / "s.json")["metadata"]["consistent"] is False


def test_410_on_every_list_is_incomplete(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    api.add_fault(r"^/api/v1/pods$", status=410, times=None, message="too old resource version")
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    assert "Pod: list kept expiring (410 Gone): too old resource version" in result.stderr


@pytest.mark.parametrize("name,beside", [("snap.json", "snap.incomplete.json"),
                                         ("snap.json.gz", "snap.incomplete.json.gz"),
                                         ("snap", "snap.incomplete")])
def test_incomplete_snapshot_never_replaces_a_complete_one(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                           snap: Snap, name: str, beside: str) -> None:
    out = tmp_path / name
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 0
    complete = out.read_bytes()
    api.add_fault(r"^/api/v1/services$", status=500, times=None, message="etcdserver: request timed out")
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    assert out.read_bytes() == complete
    assert _doc(tmp_path / beside)["metadata"]["complete"] is False
    assert result.stdout.startswith(f"wrote {tmp_path / beside}: ") and "(INCOMPLETE)" in result.stdout
    assert result.stderr.startswith(f"error: snapshot {tmp_path / beside} is incomplete: Service: ")
    assert f"the complete snapshot at {out} is left as it was" in result.stderr
    # Again: the incomplete one beside is replaced, the complete one still stays.
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 3
    assert out.read_bytes() == complete
    assert sorted(os.listdir(tmp_path)) == sorted(["kubeconfig", name, beside])


def test_incomplete_snapshot_replaces_an_incomplete_one(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                        snap: Snap) -> None:
    out = tmp_path / "snap.json.gz"
    api.add_fault(r"^/api/v1/services$", status=500, times=None)
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 3
    first = _doc(out)["metadata"]["takenAt"]
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 3 and "left as it was" not in result.stderr
    assert _doc(out)["metadata"]["complete"] is False and _doc(out)["metadata"]["takenAt"] >= first
    assert sorted(os.listdir(tmp_path)) == ["kubeconfig", "snap.json.gz"]


def test_gz_snapshot_spools_compressed(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.collect.listing import Spool

    sizes: list[int] = []
    real_close = Spool.close

    def close(self: Spool) -> None:
        if not self.file.closed:
            sizes.append(self.file.seek(0, 2))
            assert self.compress
        real_close(self)

    monkeypatch.setattr(Spool, "close", close)
    assert snap("-o", tmp_path / "s.json.gz", "--kubeconfig", kubeconfig).exit_code == 0
    plain = len(json.dumps(_doc(tmp_path / "s.json.gz")["items"]))
    assert sum(sizes) < plain / 5, (sizes, plain)  # the spools hold compressed data only
    assert len(_doc(tmp_path / "s.json.gz")["items"]) == 1200 + 10 * 3 + 5 + 4


def test_spool_rolls_back_a_compressed_attempt(tmp_path: Path) -> None:
    import gzip

    from auditor.collect.listing import Spool

    spool = Spool(tmp_path, ".x.", compress=True)
    spool.begin()
    spool.write([b'{"a":1}'])
    spool.commit()
    spool.begin()
    spool.write([b'{"discarded":1}'] * 1000)
    spool.rollback()
    spool.begin()
    spool.write([b'{"b":2}'])
    spool.write([b'{"c":3}'])
    spool.commit()
    spool.begin()
    spool.commit()  # an empty list: no segment, not even an empty gzip member
    assert [s.objects for s in spool.segments] == [1, 2]
    spool.file.seek(0)
    data = spool.file.read()
    assert len(data) == sum(s.length for s in spool.segments)
    assert [gzip.decompress(data[s.offset:s.offset + s.length]) for s in spool.segments] == [
        b'{"a":1}', b'{"b":2},\n{"c":3}']


def test_server_text_reaches_the_terminal_without_control_characters(api: ApiDouble, kubeconfig: Path,
                                                                     tmp_path: Path, snap: Snap) -> None:
    api.add_fault(r"^/api/v1/services$", status=500, times=None,
                  message="boom\x1b[2J\x1b]0;pwned\x07\r\nnext\u202eline\x00\x9b31m")
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    err = result.stderr
    assert all(ch not in err for ch in "\x1b\x07\r\x00\u202e\x9b") and err.count("\n") == 1, repr(err)
    assert "boom[2J]0;pwned nextline31m" in err


def test_no_token_over_plain_http(objects: list[dict[str, Any]], tmp_path: Path, snap: Snap) -> None:
    with ApiDouble(objects, tls=False) as api:
        result = snap("-o", tmp_path / "s.json", "--kubeconfig", api.write_kubeconfig(tmp_path / "kc"))
        assert result.exit_code == 3
        assert result.stderr == (f"error: context 'double': {api.url} is plain http://; refusing to send the "
                                 "kubeconfig's token unencrypted (use the cluster's https:// address)\n")
        assert api.requests == [] and not (tmp_path / "s.json").exists()
    with ApiDouble(objects, tls=False, token=None) as anonymous:  # no credentials: nothing to leak
        result = snap("-o", tmp_path / "s.json", "--kubeconfig", anonymous.write_kubeconfig(tmp_path / "kc"))
        assert result.exit_code == 0, result.output
        assert set(anonymous.authorizations) == {""}
