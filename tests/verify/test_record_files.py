"""`verify --record` and the files around it (issue 19 item 6): never through a symlink, an earlier recording kept
until the run has started, a full disk is exit 3 with the reports written, a signal leaves a whole gzip member,
only followed kinds are written, one run per recording (a lock), and no file both read and written."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from auditor.app import verify as verify_app
from auditor.app.verify import verify
from auditor.app.verify_end import SNAPSHOT_NAME
from auditor.errors import CollectionError, InputError
from auditor.state import recording
from auditor.state.recorder import Recorder, lock_path
from auditor.state.recording import Change
from tests.apidouble import ApiDouble
from tests.verify import verify_states
from tests.verify.test_follow import T0, ScriptedSource, _settings, _without_endpoints
from tests.waiting import wait_until

KINDS = ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")))


def _rotation() -> ScriptedSource:
    after = verify_states.converged_after()
    return ScriptedSource(_without_endpoints(after, "cart"), [(T0 + 1.0, after)])


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path, before_file: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "events.jsonl"
    link.symlink_to(target)
    src = _rotation()
    with pytest.raises(InputError, match="symbolic link"):
        verify(_settings(tmp_path, before_file, record=link), source=src, clock=src.clock, echo=lambda _: None)
    assert target.read_text() == "keep me" and link.is_symlink()
    assert _leftovers(tmp_path) == []


def test_a_symlink_on_the_command_line_is_exit_2(run_verify: Any, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "ev.jsonl").symlink_to(target)
    result: Result = run_verify("--timeout", "5", "--record", tmp_path / "ev.jsonl")
    assert result.exit_code == 2 and "symbolic link" in result.stderr, result.output
    assert target.read_text() == "keep me"


def test_an_existing_recording_survives_a_run_that_fails_before_it_starts(tmp_path: Path,
                                                                           before_file: Path) -> None:
    events = tmp_path / "events.jsonl.gz"
    events.write_bytes(b"the previous run's recording")

    class Unreachable(ScriptedSource):
        def start(self) -> None:
            raise CollectionError("cannot reach the cluster")

    src = Unreachable([], [])
    with pytest.raises(CollectionError):
        verify(_settings(tmp_path, before_file, record=events), source=src, clock=src.clock, echo=lambda _: None)
    assert events.read_bytes() == b"the previous run's recording"
    assert _leftovers(tmp_path) == []
    # a run that does start replaces it, whole
    src = _rotation()
    verify(_settings(tmp_path, before_file, record=events), source=src, clock=src.clock, echo=lambda _: None)
    rec = recording.read(events)
    assert rec.reason == "converged" and rec.changes
    assert _leftovers(tmp_path) == []
    assert os.stat(events).st_mode & 0o777 == 0o600


class _OnDevFull(Recorder):
    """A recorder whose file is /dev/full: every flush is ENOSPC."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh.close()
        self._raw = self._fh = open("/dev/full", "wb")  # noqa: SIM115 - closed by the recorder


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_exit_3_with_the_reports_written(run_verify: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_app, "Recorder", _OnDevFull)
    events = tmp_path / "events.jsonl"
    events.write_text("earlier")
    result: Result = run_verify("--timeout", "30", "--record", events)
    assert result.exit_code == 3, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0], result.stderr
    assert "Traceback" not in result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("cannot write the recording" in n for n in report["notices"])
    assert (tmp_path / "out" / SNAPSHOT_NAME).exists()
    assert events.read_text() == "earlier" and _leftovers(tmp_path) == []


def test_sigint_leaves_a_gzip_recording_read_to_its_end(before_file: Path, kubeconfig: Path, api: ApiDouble,
                                                        tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl.gz"
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "verify", "--before", str(before_file),
                             "--kubeconfig", str(kubeconfig), "--output-dir", str(tmp_path / "out"),
                             "--format", "json", "--timeout", "60", "--record", str(events)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("verify: listed ")
        assert proc.stderr.readline().startswith("verify 0:")  # listed, evaluated, watching
        api.set_state(verify_states.converged_after()[:-1])  # a change on the watches, recorded
        assert wait_until(api.watches_caught_up, timeout=10)
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    with gzip.open(events, "rb") as fh:
        lines = fh.read().splitlines()  # the whole member: gzip checks the trailer's CRC and length
    assert json.loads(lines[0])["type"] == "BEGIN" and json.loads(lines[-1])["type"] == "END"
    rec = recording.read(events)
    assert not rec.truncated and rec.reason == "interrupted"
    assert not lock_path(events).exists()


def test_an_unexpected_kind_is_dropped_and_counted_never_written(tmp_path: Path, before_file: Path) -> None:
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "db", "namespace": "shop"},
              "data": {"password": "aHVudGVyMg=="}}
    line = json.dumps(secret).encode()

    class Leaky(ScriptedSource):
        def changes(self, timeout: float) -> list[Change]:
            batch = super().changes(timeout)
            if batch:  # one Secret on a watch of its own, one dressed as a Pod
                batch += [Change("Secret", "ADDED", "shop", "db", line, batch[0].at),
                          Change("Pod", "ADDED", "shop", "db", line, batch[0].at)]
            return batch

    events = tmp_path / "events.jsonl"
    src = Leaky(_without_endpoints(verify_states.converged_after(), "cart"),
                [(T0 + 1.0, verify_states.converged_after())])
    result = verify(_settings(tmp_path, before_file, record=events), source=src, clock=src.clock,
                    echo=lambda _: None).written.result
    raw = events.read_bytes()
    assert b"Secret" not in raw and b"password" not in raw
    assert any("2 object(s) of a kind verify does not follow" in n for n in result.notices), result.notices
    assert result.converged is True


def test_the_recorder_itself_writes_only_the_kinds_it_follows(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.jsonl")
    rec.begin(1.0, {}, KINDS)
    pod = b'{"kind":"Pod","metadata":{"name":"p","namespace":"n"}}'
    rec.listed("Pod", [pod, b'{"kind":"Secret","metadata":{"name":"s"},"data":{"k":"v"}}'], 1.0)
    rec.listed("Secret", [b'{"metadata":{"name":"s"},"data":{"k":"v"}}'], 1.0)
    rec.start(2.0)
    rec.changes([Change("ConfigMap", "ADDED", "n", "c", b'{"metadata":{"name":"c"}}', 3.0)])
    rec.close()
    assert rec.dropped == 3
    text = (tmp_path / "r.jsonl").read_text()
    assert '"data"' not in text and text.count('"type":"LIST"') == 1


def test_a_second_recorder_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first = Recorder(path)
    try:
        with pytest.raises(InputError, match=f"another verify \\(pid {os.getpid()}\\) is recording to it"):
            Recorder(path)
    finally:
        first.close()
    assert not lock_path(path).exists()
    Recorder(path).close()  # free again once the first is done


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "events.jsonl"
    lock_path(path).write_text(f"{dead.pid}\n")
    rec = Recorder(path)
    assert lock_path(path).read_text() == f"{os.getpid()}\n"
    rec.close()
    assert not lock_path(path).exists()


def test_before_may_not_be_the_output_or_its_last_state(tmp_path: Path, before_file: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    last = out / SNAPSHOT_NAME
    last.write_bytes(before_file.read_bytes())
    src = _rotation()
    with pytest.raises(InputError, match="last state verify writes"):
        verify(_settings(tmp_path, last), source=src, clock=src.clock, echo=lambda _: None)
    assert last.read_bytes() == before_file.read_bytes()
    with pytest.raises(InputError, match="--record names the same file as --before"):
        verify(_settings(tmp_path, before_file, record=tmp_path / "x" / ".." / before_file.name), source=src,
               clock=src.clock, echo=lambda _: None)
    assert json.loads(before_file.read_text())  # untouched


def test_before_as_the_output_dirs_last_state_is_exit_2_on_the_command_line(run_verify: Any, before_file: Path,
                                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    last = out / SNAPSHOT_NAME
    last.write_bytes(before_file.read_bytes())
    result: Result = run_verify("--timeout", "5", before=last)
    assert result.exit_code == 2, result.output
    assert "is the last state verify writes into --output-dir" in result.stderr
    assert last.read_bytes() == before_file.read_bytes()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_device_as_the_recording_is_refused_at_once(tmp_path: Path) -> None:
    """`--record /dev/full` hung once; a recording is a file renamed into place, never a device."""
    with pytest.raises(InputError, match="not a regular file"):
        Recorder(Path("/dev/full"))
    assert not Path("/dev/full.lock").exists()
    with pytest.raises(InputError, match="its folder does not exist"):
        Recorder(tmp_path / "no-such-folder" / "events.jsonl")
