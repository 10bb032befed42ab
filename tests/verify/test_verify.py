"""verify: polls the API double until the slices followed the Pods, the deadline, or never reads the cluster."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from auditor import snapshot
from auditor.cli import main
from auditor.collect.options import ClusterOptions
from auditor.settings import Config, ReportSettings
from auditor.verify import SNAPSHOT_NAME, VerifySettings, verify
from tests import builders as b
from tests.apidouble import ApiDouble
from tests.verify import verify_states
from tests.verify.conftest import serve_from_poll

Run = Callable[..., Result]


def _polls(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("verify ")]


def _report(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "out" / "report.json").read_text())
    return report


def test_converges_after_a_few_polls(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    serve_from_poll(api, 3, verify_states.converged_after())
    result = run_verify("--interval", "0.2", "--timeout", "20")
    assert result.exit_code == 0, result.output
    polls = _polls(result)
    assert len(polls) == 3, polls
    assert "poll 1:" in polls[0] and "finding(s) left" in polls[0] and "1 Service(s) not converged: shop/cart" \
        in polls[0]
    assert polls[2].endswith("converged (0 findings left)")
    report = _report(tmp_path)
    assert report["mode"] == "verify" and report["summary"]["converged"] is True
    assert report["summary"]["error"] == 0
    state = snapshot.load(tmp_path / "out" / SNAPSHOT_NAME)  # the last snapshot, next to the reports
    assert state.complete and state.label == "after"
    assert {n.metadata.name for n in state.of("Node")} == {n["metadata"]["name"] for n in api.served("Node")}
    assert "PASS" in result.stdout and SNAPSHOT_NAME in result.stdout
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no poll file left


def test_never_converges_exits_1_at_the_deadline(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    result = run_verify("--interval", "0.2", "--timeout", "1")
    assert result.exit_code == 1, result.output
    polls = _polls(result)
    assert len(polls) >= 3 and all("not converged: shop/cart" in p for p in polls), polls
    report = _report(tmp_path)
    assert report["mode"] == "verify" and report["summary"]["converged"] is False
    rules = {f["rule"] for f in report["findings"]}
    assert {"endpoints-on-removed-node", "stale-endpointslice"} <= rules
    assert any("timed out" in n for n in report.get("notices", []))
    assert (tmp_path / "out" / "report.junit.xml").is_file()
    assert snapshot.load(tmp_path / "out" / SNAPSHOT_NAME).complete
    assert result.stdout.startswith("FAIL") and "not converged" in result.stdout.lower()


def test_api_errors_on_some_polls_keep_polling(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    # poll 1: /version answers 500 past the retry budget (4 attempts); poll 2: connection resets past it;
    # poll 3: Pods fail with 500s (an incomplete snapshot is not a verdict); poll 4: still stuck; poll 5: converged.
    api.add_fault(r"^/version$", status=500, times=4, message="etcdserver: leader changed")
    api.add_fault(r"^/version$", reset=True, times=4)
    api.add_fault(r"^/api/v1/pods$", status=500, times=4)
    serve_from_poll(api, 11, verify_states.converged_after())  # /version: 4 + 4 + 1 + 1, then poll 5
    result = run_verify("--interval", "0.1", "--timeout", "30")
    assert result.exit_code == 0, result.output
    polls = _polls(result)
    assert len(polls) == 5, polls
    assert "API error" in polls[0] and "HTTP 500" in polls[0] and "etcdserver: leader changed" in polls[0]
    assert "API error" in polls[1] and "connection failed" in polls[1]
    assert "snapshot incomplete" in polls[2] and "Pod" in polls[2] and "(not used)" in polls[2]
    assert "not converged: shop/cart" in polls[3]
    assert polls[4].endswith("converged (0 findings left)")
    report = _report(tmp_path)
    assert report["summary"]["converged"] is True and report["inputs"][-1]["complete"] is True
    assert any("3 of 5 poll(s) could not read the cluster" in n for n in report.get("notices", []))


def test_cluster_never_readable_exits_3(before_file: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    with ApiDouble() as double:
        double.write_kubeconfig(kubeconfig)
    kubeconfig.write_text(kubeconfig.read_text().replace(double.url, f"https://127.0.0.1:{port}"))
    result = CliRunner().invoke(main, ["verify", "--before", str(before_file), "--kubeconfig", str(kubeconfig),
                                       "--output-dir", str(tmp_path / "out"), "--interval", "0.1",
                                       "--timeout", "0.5"], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert len(_polls(result)) >= 2 and all("connection refused" in p for p in _polls(result))
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and "could not read the cluster" in errors[0] and "connection refused" in errors[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.json").exists() and not (tmp_path / "out" / SNAPSHOT_NAME).exists()


def test_unknown_context_fails_at_once(before_file: Path, kubeconfig: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--before", str(before_file), "--kubeconfig", str(kubeconfig),
                                       "--context", "nope", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 3 and "no context named 'nope'" in result.stderr, result.output
    assert _polls(result) == []


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"kind": "ConfigMap", "metadata": {"name": "x"}}'],
                         ids=["empty", "broken-json", "no-cluster-objects"])
def test_bad_before_file_is_exit_2(tmp_path: Path, content: bytes) -> None:
    before = tmp_path / "before.json"
    before.write_bytes(content)
    result = CliRunner().invoke(main, ["verify", "--before", str(before), "--kubeconfig", str(tmp_path / "none"),
                                       "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {before}: ") and result.stderr.count("\n") == 1, result.stderr


# -- the loop's timing, with a fake clock and a fake snapshotter (no cluster, no waiting) ------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _fake_take(fake: FakeTime, objects: Callable[[int], list[dict[str, Any]]], start: datetime,
               poll_seconds: float = 2.0) -> Callable[..., Any]:
    """Writes snapshot files of objects(poll) taken at start + fake time; each poll takes `poll_seconds`."""
    polls = [0]

    def take(opts: ClusterOptions, output: Path, label: str, eks: Any = None, kinds: Any = None) -> Any:
        polls[0] += 1
        fake.now += poll_seconds
        doc = b.snapshot_doc(objects(polls[0]), start + timedelta(seconds=fake.now), label=label)
        Path(output).write_text(json.dumps(doc))
        return SimpleNamespace(missing=[], cause=lambda: "")

    return take


def _settings(before_file: Path, tmp_path: Path, **kw: Any) -> VerifySettings:
    return VerifySettings(before=before_file, cluster=ClusterOptions(), config=Config(),
                          report=ReportSettings(output_dir=tmp_path / "out", formats=("json",)), **kw)


def test_deadline_with_default_interval(before_file: Path, tmp_path: Path) -> None:
    fake, lines = FakeTime(), list[str]()
    take = _fake_take(fake, lambda n: verify_states.stuck_after(), datetime.now(timezone.utc))
    code = verify(_settings(before_file, tmp_path), clock=fake.clock, sleep=fake.sleep, take=take,
                  echo=lines.append)
    assert code == 1
    # Polls every 15 s (each took 2 s, so 13 s of sleep), the last one at the 600 s deadline.
    assert len(lines) == 41 and lines[-1].startswith("verify 10:00 poll 41:"), lines[-1]
    assert fake.sleeps[:3] == [13.0, 13.0, 13.0] and fake.now == 602.0


def test_changes_in_flight_are_waited_out(before_file: Path, tmp_path: Path) -> None:
    # The Pods moved just now: converged at once, but within the grace period (120 s) a stale slice would
    # not be a finding yet, so verify keeps polling until the converged verdict has held for the grace period.
    fake, lines = FakeTime(), list[str]()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    take = _fake_take(fake, lambda n: verify_states.converged_after(changed=start), start)
    code = verify(_settings(before_file, tmp_path), clock=fake.clock, sleep=fake.sleep, take=take,
                  echo=lines.append)
    assert code == 0
    assert "waiting out changes in flight (grace 120s)" in lines[0]
    assert lines[-1].endswith("converged (0 findings left)")
    assert len(lines) == 9  # taken at 2 s, 17 s, ... 122 s: 120 s after the first converged poll


def test_interrupt_writes_the_last_snapshot_and_reports(before_file: Path, tmp_path: Path) -> None:
    fake = FakeTime()
    inner = _fake_take(fake, lambda n: verify_states.stuck_after(), datetime.now(timezone.utc))

    def take(*args: Any, **kw: Any) -> Any:
        if len(fake.sleeps) == 2:  # Ctrl-C (or SIGTERM, turned into one) during the third poll
            raise KeyboardInterrupt()
        return inner(*args, **kw)

    with pytest.raises(KeyboardInterrupt):  # run() turns it into "interrupted", exit 130
        verify(_settings(before_file, tmp_path), clock=fake.clock, sleep=fake.sleep, take=take,
               echo=lambda line: None)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["converged"] is False
    assert any("interrupted after 3 poll(s)" in n for n in report["notices"])
    assert snapshot.load(tmp_path / "out" / SNAPSHOT_NAME).complete
