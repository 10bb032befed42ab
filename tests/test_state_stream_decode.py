"""Snapshots and Lists written one object per line are decoded line by line (issue 22): the same state as the whole
decode, the raw input never whole in memory, and every malformed input falls back to the whole decode with its
usual error."""
from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import builders as b
import pytest
from test_cli_audit import small_cluster

from auditor.errors import InputError
from auditor.state import inputs, snapshot
from auditor.state.clusterstate import ClusterState
from auditor.state.writer import SnapshotWriter

T0 = b.at("2026-11-20T09:00:00Z")


def lines_layout(doc: dict[str, Any]) -> bytes:
    """The document as SnapshotWriter (and bench/synth.py) lay it out: the top level up to `"items":[` on the first
    line, one item per line, then `]` and the rest of the top level."""
    head = {k: v for k, v in doc.items() if k != "items"}
    opening = json.dumps({**head, "items": []}, separators=(",", ":"))[:-3]  # drop the `[]}`
    assert opening.endswith('"items":')
    body = ",\n".join(json.dumps(o, separators=(",", ":")) for o in doc["items"])
    return (opening + "[\n" + body + ("\n" if body else "") + "]}\n").encode()


def put(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return p


def load_streamed(p: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterState:
    """Load with the whole-input read forbidden: only the line-by-line path can succeed."""
    with monkeypatch.context() as m:
        m.setattr(snapshot, "read_input", _no_whole_read)
        return snapshot.load(p)


def _no_whole_read(*_: object, **__: object) -> bytes:
    raise AssertionError("the input was read whole")


def load_whole(p: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterState:
    """Load as before issue 22: the input read whole, then decoded."""
    with monkeypatch.context() as m:
        m.setattr(snapshot, "decode_lines", lambda lines, share=None: None)
        return snapshot.load(p)


def same_state(a: ClusterState, c: ClusterState) -> None:
    assert {k: v for k, v in a.objects.items() if v} == {k: v for k, v in c.objects.items() if v}
    assert (a.taken_at, a.present, a.missing, a.eks, a.label, a.warnings, a.server_version, a.consistent) == \
           (c.taken_at, c.present, c.missing, c.eks, c.label, c.warnings, c.server_version, c.consistent)
    assert [(i.label, i.taken_at, i.complete, i.format, i.missing) for i in a.inputs] == \
           [(i.label, i.taken_at, i.complete, i.format, i.missing) for i in c.inputs]


def error_of(p: Path, monkeypatch: pytest.MonkeyPatch, *, whole: bool) -> str:
    with pytest.raises(InputError) as exc:
        load_whole(p, monkeypatch) if whole else snapshot.load(p)
    return str(exc.value)


@pytest.mark.parametrize("name", ["snap.json", "snap.json.gz"])
def test_a_written_snapshot_is_decoded_line_by_line_into_the_same_state(tmp_path: Path, name: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    doc = b.snapshot_doc(small_cluster(), T0, label="before", eks={"cluster": {"name": "demo", "version": "1.30"}})
    with SnapshotWriter(tmp_path / name) as w:
        for obj in doc["items"]:
            w.add(obj)
        w.finish(doc["metadata"], doc["eks"])
    streamed = load_streamed(tmp_path / name, monkeypatch)
    assert streamed.label == "before" and streamed.eks == {"cluster": {"name": "demo", "version": "1.30"}}
    assert len(streamed.of("Pod")) == 2
    same_state(streamed, load_whole(put(tmp_path, "one-line.json", json.dumps(doc).encode()), monkeypatch))


def test_a_list_one_object_per_line_keeps_the_kinds_it_does_not_read_out(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    objs = small_cluster() + [{"kind": "ConfigMap", "apiVersion": "v1", "metadata": b.meta("cfg", "shop", T0),
                               "data": {"a": "b"}}]
    doc = b.kubectl_list(objs)
    p = put(tmp_path, "list.json", lines_layout(doc))
    streamed = load_streamed(p, monkeypatch)
    assert streamed.inputs[0].format == "kubectl" and len(streamed.of("EndpointSlice")) == 2
    same_state(streamed, load_whole(p, monkeypatch))
    # an item of a kind the auditor does not read whose fields clash with ours: the whole decode skips it
    clash = b.kubectl_list(objs + [{"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
                                    "metadata": b.meta("hpa", "shop", T0), "spec": {"replicas": "many"}}])
    p = put(tmp_path, "clash.json", lines_layout(clash))
    same_state(snapshot.load(p), load_whole(p, monkeypatch))
    empty = put(tmp_path, "empty-items.json", lines_layout({**b.snapshot_doc([], T0), "items": []}))
    assert load_streamed(empty, monkeypatch).objects["Pod"] == []


def _broken(doc: dict[str, Any]) -> dict[str, bytes]:
    good = lines_layout(doc)
    lines = good.split(b"\n")
    cut_in_item = good[: good.index(b"\n", good.index(b'"kind":"Pod"')) - 40]
    after_item = b"\n".join(lines[:4]) + b"\n"
    wrong_type = good.replace(b'"name":"cart-', b'"name":5,"x":"cart-', 1)
    trailing_comma = good.replace(b"\n]}", b",\n]}")
    no_comma = b"\n".join(line[:-1] if i == 2 else line for i, line in enumerate(lines))
    two_on_a_line = good.replace(b",\n", b",", 1)
    return {"cut-in-an-item": cut_in_item, "cut-after-an-item": after_item, "wrong-type": wrong_type,
            "trailing-comma": trailing_comma, "missing-comma": no_comma, "two-items-on-a-line": two_on_a_line,
            "unknown-version": good.replace(b"upgrade-auditor.io/v1", b"upgrade-auditor.io/v9", 1),
            "other-kinds-only": lines_layout(b.kubectl_list([{"kind": "ConfigMap", "apiVersion": "v1",
                                                              "metadata": b.meta("c", "shop", T0)}])),
            "no-taken-at": lines_layout({**doc, "metadata": {**doc["metadata"], "takenAt": "soon"}}),
            "items-twice": good.replace(b"\n]}", b'\n],"items":[]}')}


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_malformed_line_inputs_fail_as_the_whole_decode_does(tmp_path: Path, suffix: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    doc = b.snapshot_doc(small_cluster(), T0)
    expected = {"cut-in-an-item": "JSON is truncated", "cut-after-an-item": "JSON is truncated",
                "wrong-type": "item 3 (Pod): not a valid Pod: Expected `str`, got `int` - at `$.metadata.name`",
                "trailing-comma": "not valid JSON", "missing-comma": "not valid JSON",
                "two-items-on-a-line": None, "unknown-version": "unknown snapshot apiVersion 'upgrade-auditor.io/v9'",
                "other-kinds-only": "found only: ConfigMap", "no-taken-at": "snapshot has no valid metadata.takenAt",
                "items-twice": None}
    for name, data in _broken(doc).items():
        p = put(tmp_path, name + suffix, data)
        if expected[name] is None:  # valid JSON in another layout: the same state as the whole decode
            same_state(snapshot.load(p), load_whole(p, monkeypatch))
            continue
        err = error_of(p, monkeypatch, whole=False)
        assert expected[name] in err, (name, err)
        assert err == error_of(p, monkeypatch, whole=True), name


def test_gzip_faults_while_streaming_are_the_whole_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = gzip.compress(lines_layout(b.snapshot_doc(small_cluster(), T0)))
    cases = {"truncated.json.gz": (data[:-20], "truncated gzip data"),
             "trailing.json.gz": (data + b"garbage", "corrupt gzip data (trailing bytes after the compressed stream)"),
             "binary.json.gz": (gzip.compress(b"\x00" * 10_000), "is binary, not JSON or YAML")}
    for name, (raw, needle) in cases.items():
        p = tmp_path / name
        p.write_bytes(raw)
        err = error_of(p, monkeypatch, whole=False)
        assert needle in err and err == error_of(p, monkeypatch, whole=True), (name, err)
    big = put(tmp_path, "big.json", lines_layout(b.snapshot_doc(small_cluster(), T0)))
    inputs.set_max_input_size(1000)
    try:
        for p in (big, put(tmp_path, "big.json.gz", big.read_bytes())):
            err = error_of(p, monkeypatch, whole=False)
            assert "the input size limit" in err and err == error_of(p, monkeypatch, whole=True), err
    finally:
        inputs.set_max_input_size(None)


def test_lines_longer_than_the_buffer_and_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = b.snapshot_doc(small_cluster(), T0)
    p = put(tmp_path, "snap.json", lines_layout(doc))
    longest = max(len(line) for line in p.read_bytes().split(b"\n"))
    monkeypatch.setattr(inputs, "_LINE_BUFFER", 64)  # every line outgrows the buffer
    assert [bytes(v) for v in inputs.read_lines(p)] == p.read_bytes().split(b"\n")[:-1]
    same_state(load_streamed(p, monkeypatch), load_whole(p, monkeypatch))
    monkeypatch.setattr(inputs, "MAX_LINE", longest)  # the longest line is now too long: read whole instead
    with pytest.raises(AssertionError, match="read whole"):
        load_streamed(p, monkeypatch)
    same_state(snapshot.load(p), load_whole(p, monkeypatch))


def test_the_raw_input_and_its_objects_never_coexist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pods = [b.replicaset_pod("cart", "shop", i, T0, labels={"app": "cart"}, node_name="n1", ips=[f"10.1.{i // 250}."
                                                                                                 f"{i % 250}"])
            for i in range(1500)]
    for p in pods:  # what the decoder skips: most of a real Pod's bytes
        p["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "x" * 6000}
    data = lines_layout(b.snapshot_doc(small_cluster() + pods, T0))
    size = len(data)
    path = put(tmp_path, "big.json", data)
    del data, pods

    def peak(load: Any) -> int:
        tracemalloc.start()
        try:
            load(path)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(inputs, "_LINE_BUFFER", 1 << 16)  # the reading buffer: small beside the input here
    whole = peak(lambda q: snapshot.finalise(snapshot._to_state(str(q), *snapshot.decode(str(q), q.read_bytes()))))
    streamed = peak(snapshot.load)
    assert size > 9_000_000 and whole > size
    assert streamed < whole - size * 0.8, (streamed, whole, size)
