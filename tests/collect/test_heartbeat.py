"""Saying what a long command does on a CI log: the heartbeat's rule on a fake clock, its thread, and `snapshot`
on a non-terminal stderr against a slow API double (issue 19: a line at least every 5 s, plain text)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.collect import live
from auditor.collect.heartbeat import EVERY, Heartbeat, elapsed_text, pulse
from auditor.collect.live import take_snapshot
from auditor.collect.options import ClusterOptions
from tests.apidouble import ApiDouble
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^snapshot \d+:\d\d: \S")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _beat(every: float = 4.0) -> tuple[Heartbeat, Clock, list[str]]:
    clock, said = Clock(), []
    return Heartbeat(said.append, every=every, clock=clock), clock, said


def test_a_line_only_once_a_period_has_passed() -> None:
    beat, clock, said = _beat()
    assert not beat.due() and beat.beat("listing") is False and said == []
    clock.now += 3.99
    assert beat.beat("listing") is False
    clock.now += 0.01
    assert beat.due() and beat.beat("listing Pod: 500") is True and said == ["listing Pod: 500"]
    clock.now += 3.0
    assert beat.beat("listing Pod: 1000") is False  # never two within a period
    clock.now += 1.0
    assert beat.beat("listing Pod: 1500") is True
    clock.now += 60.0  # a long silence (a stalled machine) gives one line, not a burst
    assert beat.beat("a") is True and beat.beat("b") is False
    assert said == ["listing Pod: 500", "listing Pod: 1500", "a"]


def test_something_else_said_postpones_the_beat() -> None:
    beat, clock, said = _beat()
    clock.now += 3.0
    beat.said()  # verify printed a change: the heartbeat waits a whole period from now
    clock.now += 3.0
    assert beat.beat("still") is False
    clock.now += 1.0
    assert beat.beat("still") is True and said == ["still"]


def test_the_text_is_asked_for_only_when_due_and_may_decline() -> None:
    beat, clock, said = _beat(every=2.0)
    asked: list[float] = []

    def describe() -> str | None:
        asked.append(clock.now)
        return None if len(asked) == 1 else f"step {len(asked)}"

    assert beat.beat(describe) is False and asked == []
    clock.now += 2.0
    assert beat.beat(describe) is False and said == []  # nothing to say: no line, and still due
    assert beat.due() and beat.beat(describe) is True and said == ["step 2"]
    assert beat.beat(lambda: "") is False and said == ["step 2"]


def test_elapsed_and_its_text() -> None:
    beat, clock, _ = _beat()
    clock.now += 83.7
    assert beat.elapsed() == pytest.approx(83.7) and elapsed_text(beat.elapsed()) == "1:23"
    assert elapsed_text(0) == "0:00" and elapsed_text(-1) == "0:00" and elapsed_text(3600) == "60:00"
    assert EVERY < 5.0  # the period leaves room for a tick under the 5 s a CI log may stay silent
    with pytest.raises(ValueError):
        Heartbeat(print, every=0)


def test_pulse_says_from_its_thread_and_stops_with_the_block() -> None:
    beat, clock, said = _beat(every=1.0)
    with pulse(beat, lambda: f"at {clock.now:g}", tick=0.01):
        assert not wait_until(lambda: bool(said), timeout=0.1)  # not due yet
        clock.now += 1.0
        assert wait_until(lambda: said == ["at 101"])
        clock.now += 0.5
        assert not wait_until(lambda: len(said) > 1, timeout=0.1)
        clock.now += 0.5
        assert wait_until(lambda: said == ["at 101", "at 102"])
    clock.now += 10.0
    assert not wait_until(lambda: len(said) > 2, timeout=0.1)  # the block is over: silence
    assert "heartbeat" not in {t.name for t in threading.enumerate()}


def test_a_failing_describe_ends_the_pulse_not_the_work() -> None:
    beat, clock, _ = _beat(every=1.0)

    def describe() -> str:
        raise KeyError("boom")

    with pulse(beat, describe, tick=0.01):
        clock.now += 1.0
        assert wait_until(lambda: "heartbeat" not in {t.name for t in threading.enumerate()})


def _slow_pods(api: ApiDouble, delay: float) -> None:
    api.add_fault(r"^/api/v1/pods$", delay=delay, times=None, watch=False)


def test_snapshot_says_what_it_does_on_a_non_terminal(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a short period (the lines' rule is the test above) and a slow Pod list (under the 1 s test request timeout)
    monkeypatch.setattr(live, "Heartbeat", lambda say: Heartbeat(say, every=0.2))
    _slow_pods(api, 0.5)
    outcome = take_snapshot(ClusterOptions(kubeconfig=str(kubeconfig)), tmp_path / "s.json.gz")
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert outcome.complete and lines and err.endswith("\n")
    assert "\r" not in err and "\x1b" not in err
    assert all(LINE.match(line) for line in lines), lines
    # the slow Pods are being listed (other kinds too, on a busy machine)
    assert any(re.search(r"listing (\w+: \d+, )*Pod: \d+(, \w+: \d+)* objects so far( \(and \d+ more kinds\))?; "
                         r"\d+ of \d+ kinds read, \d+ written to s\.json\.gz$", line) for line in lines), lines

    _slow_pods(api, 0.5)
    take_snapshot(ClusterOptions(kubeconfig=str(kubeconfig)), tmp_path / "s.json", progress=False)
    assert capsys.readouterr().err == ""  # fleet's concurrent snapshots say nothing


def test_slow_list_gives_a_line_at_least_every_5_s_in_a_ci_log(objects: list[dict[str, Any]],
                                                                tmp_path: Path) -> None:
    # The real command and period, stderr a pipe: three Pod pages of 3 s each, about 9 s of listing.
    started: list[float] = []
    with ApiDouble(objects) as api:
        api.on_request = lambda method, path: started.append(time.monotonic()) if not started else None
        _slow_pods(api, 3.0)
        kc = api.write_kubeconfig(tmp_path / "kc")
        proc = subprocess.Popen([sys.executable, "-m", "auditor", "snapshot", "-o", str(tmp_path / "s.json"),
                                 "--kubeconfig", str(kc)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        seen: list[tuple[float, bytes]] = [(time.monotonic(), line) for line in iter(proc.stderr.readline, b"")]
        ended = time.monotonic()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, seen
    assert out.startswith(b"wrote ")
    text = [line.decode() for _, line in seen]
    assert len(seen) >= 2 and all(LINE.match(t) and t.endswith("\n") for t in text), text
    assert not any("\r" in t or "\x1b" in t for t in text)
    assert any("listing Pod: " in t for t in text), text
    times = [started[0]] + [at for at, _ in seen] + [ended]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= 5.0, gaps  # from the first request to the end: never 5 s without a line
    assert min(gaps[1:-1]) >= 3.0, gaps  # and not chatty: one line every few seconds
