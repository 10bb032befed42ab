"""Hostile and broken recordings for `replay`: each malformed one is exit 2 in one line naming the line, never a
traceback; recordings go through the input size limit; a cut end is still replayed."""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli.main import main

KINDS = ["Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice"]
POD = {"kind": "Pod", "metadata": {"name": "p-1", "namespace": "shop"}, "status": {"phase": "Running"}}


def _records(**override: Any) -> list[Any]:
    recs: list[Any] = [
        {"type": "BEGIN", "at": 1000.0, "version": 1, "source": {"context": "c", "server": "https://s"},
         "kinds": KINDS},
        {"type": "LIST", "at": 1000.5, "kind": "Pod", "object": POD},
        {"type": "START", "at": 1001.0},
        {"type": "MODIFIED", "at": 1002.0, "kind": "Pod", "object": POD, "batch": 1},
        {"type": "END", "at": 1003.0, "reason": "timeout", "settled": True, "notices": []},
    ]
    for index, value in override.items():
        recs[int(index[1:])] = value
    return recs


def _write(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _replay(before: Path, events: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["replay", "--before", str(before), "--events", str(events),
                                       "--output-dir", str(tmp_path / "out"), "--fail-on", "never", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stderr


MALFORMED = {
    "object-not-a-mapping": ({"_1": {"type": "LIST", "at": 1, "kind": "Pod", "object": 5}}, 2),
    "object-null-in-a-change": ({"_3": {"type": "MODIFIED", "at": 1002, "kind": "Pod", "object": None}}, 4),
    "mistyped-ports": ({"_3": {"type": "ADDED", "at": 1002, "kind": "Service", "batch": 1,
                               "object": {"kind": "Service", "metadata": {"name": "s", "namespace": "shop"},
                                          "spec": {"ports": "80"}}}}, 4),
    "nameless-object": ({"_1": {"type": "LIST", "at": 1, "kind": "Pod", "object": {"metadata": {}}}}, 2),
    "unknown-kind": ({"_1": {"type": "LIST", "at": 1, "kind": "Secret", "object": POD}}, 2),
    "time-a-string": ({"_2": {"type": "START", "at": "soon"}}, 3),
    "time-infinite": ({"_2": "{\"type\": \"START\", \"at\": 1e999}"}, 3),
    "negative-targets": ({"_3": {"type": "TARGETS", "at": 1002, "namespace": "shop", "name": "s", "arn": "a",
                                 "states": {"healthy": -1}}}, 4),
    "eks-not-a-mapping": ({"_4": {"type": "END", "at": 1003, "reason": "timeout", "eks": [1, 2]}}, 5),
    "server-version-a-string": ({"_0": {"type": "BEGIN", "at": 1000, "version": 1,
                                        "source": {"serverVersion": "v1.30"}, "kinds": KINDS}}, 1),
    "garbage-mid-file": ({"_2": "{not json"}, 3),
    "unknown-type": ({"_3": {"type": "PATCHED", "at": 1002}}, 4),
    "notices-not-strings": ({"_4": {"type": "END", "at": 1003, "notices": [{"x": 1}]}}, 5),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_recording_is_one_line_naming_the_line(before_file: Path, tmp_path: Path, case: str) -> None:
    override, line = MALFORMED[case]
    events = _write(tmp_path / "events.jsonl", _records(**override))
    code, err = _replay(before_file, events, tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {events}: line {line}"), lines[0]


def test_a_record_after_end_is_refused(before_file: Path, tmp_path: Path) -> None:
    events = _write(tmp_path / "e.jsonl", _records() + [{"type": "START", "at": 1004}])
    code, err = _replay(before_file, events, tmp_path)
    assert code == 2 and "line 6: a START record after END" in err


def test_a_valid_recording_replays(before_file: Path, tmp_path: Path) -> None:
    code, err = _replay(before_file, _write(tmp_path / "e.jsonl", _records()), tmp_path)
    assert code in (0, 1, 3) and "error:" not in err, err


def test_a_cut_last_line_and_a_cut_gzip_are_replayed(before_file: Path, tmp_path: Path) -> None:
    recs = _records()[:4]
    text = "".join(json.dumps(r) + "\n" for r in recs) + '{"type": "MODIFIED", "at": 10'
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text)
    code, err = _replay(before_file, cut, tmp_path)
    assert code != 2 and "error:" not in err, err
    data = gzip.compress(text.encode())
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(data[: len(data) - 12])  # no trailer: a run killed mid-write
    code, err = _replay(before_file, gz, tmp_path)
    assert code != 2 and "error:" not in err, err


def test_a_gzip_bomb_stops_at_the_size_limit(before_file: Path, tmp_path: Path) -> None:
    head = "".join(json.dumps(r) + "\n" for r in _records()[:3]).encode()
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = z.compress(head) + b"".join(z.compress(b"\n" * (1 << 20)) for _ in range(64)) + z.flush()
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(body)
    assert bomb.stat().st_size < 1 << 20
    code, err = _replay(before_file, bomb, tmp_path, "--max-input-size", "8M")
    assert code == 2 and "decompresses to more than 8 MiB" in err, err


def test_a_line_without_end_is_refused_at_its_cap(before_file: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.state import recording

    monkeypatch.setattr(recording, "MAX_LINE", 1 << 16)
    monkeypatch.setattr(recording._Lines.__init__, "__defaults__", (None, 1 << 16))
    events = tmp_path / "long.jsonl"
    events.write_bytes(json.dumps(_records()[0]).encode() + b"\n" + b"x" * (3 << 20))
    code, err = _replay(before_file, events, tmp_path)
    assert code == 2 and "line 2 is longer than 64 KiB" in err, err
