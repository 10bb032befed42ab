"""The follow model and verify's loop without a cluster: a scripted source, a fake clock, exact times."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from auditor.rules.base import Options

from auditor.analysis.timeline import ServiceLine, Timeline
from auditor.app.replay import replay
from auditor.app.verify import verify
from auditor.app.verify_end import SNAPSHOT_NAME, VerifySettings
from auditor.collect.options import ClusterOptions
from auditor.collect.project import project
from auditor.model import Gate
from auditor.settings import Config, ReportSettings
from auditor.state import recording, snapshot
from auditor.state.recording import Change
from tests.test_report_schema import validate
from tests.verify import verify_states

Obj = dict[str, Any]
T0 = 1_800_000_000.0


def _line(obj: Obj) -> bytes:
    return project(obj["kind"], obj["apiVersion"], orjson.dumps(obj))


def _key(obj: Obj) -> tuple[str, str, str]:
    m = obj["metadata"]
    return obj["kind"], m.get("namespace", ""), m["name"]


def diff(old: list[Obj], new: list[Obj], at: float) -> list[Change]:
    """The changes a watch would deliver going from `old` to `new`."""
    a = {_key(o): o for o in old}
    b = {_key(o): o for o in new}
    out = [Change(k[0], "DELETED", k[1], k[2], _line(o), at) for k, o in a.items() if k not in b]
    out += [Change(k[0], "ADDED" if k not in a else "MODIFIED", k[1], k[2], _line(o), at)
            for k, o in b.items() if k not in a or a[k] != o]
    return out


class ScriptedSource:
    """Serves `initial`, then each (at, objects) step as the diff from the previous one; the clock follows."""

    def __init__(self, initial: list[Obj], steps: list[tuple[float, list[Obj]]]) -> None:
        self.initial, self.steps = initial, list(steps)
        self.now = T0
        self.listed_at = T0
        self.server_version = {"gitVersion": "v1.30.4-eks-a737599"}
        self.current = initial
        self.closed = False

    def clock(self) -> float:
        return self.now

    def start(self) -> None:
        pass

    def snapshot(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for o in self.initial:
            out.setdefault(o["kind"], []).append(_line(o))
        return out

    def changes(self, timeout: float) -> list[Change]:
        if self.steps and self.steps[0][0] <= self.now + timeout:
            at, objs = self.steps.pop(0)
            self.now = max(self.now, at)
            batch = diff(self.current, objs, at)
            self.current = objs
            return batch
        self.now += timeout
        return []

    def notices(self) -> list[str]:
        return []

    def close(self) -> None:
        self.closed = True


def _without_endpoints(objs: list[Obj], app: str) -> list[Obj]:
    """`app`'s slices with no ready endpoint (its Pods evicted, replacements not ready yet)."""
    out = []
    for o in objs:
        if o["kind"] == "EndpointSlice" and o["metadata"]["labels"].get("kubernetes.io/service-name") == app:
            o = {**o, "endpoints": [{**e, "conditions": {"ready": False, "serving": False, "terminating": True}}
                                    for e in o.get("endpoints") or []]}
        out.append(o)
    return out


def _settings(tmp_path: Path, before: Path, **kw: Any) -> VerifySettings:
    config = Config(options=Options(grace_seconds=0, **kw.pop("options", {})))
    return VerifySettings(before=before, cluster=ClusterOptions(), config=config,
                          report=ReportSettings(output_dir=tmp_path / "out", formats=("json", "md", "html")),
                          timeout=kw.pop("timeout", 60.0), settle=kw.pop("settle", 0.0), **kw)


@pytest.fixture
def before_path(tmp_path: Path) -> Path:
    p = tmp_path / "before.json"
    p.write_text(json.dumps(verify_states.before_doc()))
    return p


def _rotation() -> tuple[list[Obj], list[tuple[float, list[Obj]]]]:
    """Start as BEFORE; at +1 s the rotation lands with cart at zero ready endpoints; at +3.5 s cart is back."""
    before = verify_states.before_doc()["items"]
    after = verify_states.converged_after()
    return before, [(T0 + 1.0, _without_endpoints(after, "cart")), (T0 + 3.5, after)]


def test_outage_is_measured_and_reported(tmp_path: Path, before_path: Path, capsys: pytest.CaptureFixture) -> None:
    initial, steps = _rotation()
    src = ScriptedSource(initial, steps)
    lines: list[str] = []
    verified = verify(_settings(tmp_path, before_path, record=tmp_path / "events.jsonl.gz", follow=True,
                                timeout=10.0), source=src, clock=src.clock, echo=lines.append)
    # converged, and the outage (an error finding) fails the gate at the default --fail-on error
    assert verified.written.result.converged is True and not verified.interrupted, lines
    assert not verified.written.result.passed
    assert src.closed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    validate(report)  # the schema in the repo knows the timeline
    assert report["summary"]["converged"] is True
    services = {s["name"]: s for s in report["timeline"]["services"]}
    cart = services["cart"]
    assert cart["readyBefore"] == 2 and cart["minReady"] == 0 and cart["readyAtEnd"] == 2
    assert cart["downSeconds"] == pytest.approx(2.5, abs=0.01)
    assert len(cart["outages"]) == 1 and cart["outages"][0]["to"] is not None
    assert "web" not in services or services["web"]["downSeconds"] == 0
    outage = [f for f in report["findings"] if f["rule"] == "service-outage"]
    assert [f["object"]["name"] for f in outage] == ["cart"]
    assert outage[0]["evidence"]["downSeconds"] == pytest.approx(2.5, abs=0.01)
    assert outage[0]["evidence"]["nodesLeft"]  # its Pods left the ng-blue nodes
    assert any("cart" in line and "zero ready" in line for line in lines), lines
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Timeline: 1 Service went down" in md and "shop/cart" in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="timeline"' in html and "tl-out" in html
    last = snapshot.load(tmp_path / "out" / SNAPSHOT_NAME)
    assert {p.metadata.name for p in last.of("Pod")} == {o["metadata"]["name"] for o in steps[-1][1]
                                                         if o["kind"] == "Pod"}


def test_replay_reproduces_the_report(tmp_path: Path, before_path: Path) -> None:
    initial, steps = _rotation()
    src = ScriptedSource(initial, steps)
    events = tmp_path / "events.jsonl.gz"
    assert verify(_settings(tmp_path, before_path, record=events, follow=True, timeout=10.0), source=src,
                  clock=src.clock, echo=lambda _: None).written.result.converged is True
    live = json.loads((tmp_path / "out" / "report.json").read_text())
    rec = recording.read(events)
    assert rec.reason == "timeout" and rec.settled and len(rec.changes) > 0
    settings = _settings(tmp_path / "replay", before_path)
    replayed = replay(settings, rec).result
    assert replayed.converged is True and replayed.gate is Gate.FAIL  # the same verdict, the outage failing it
    again = json.loads((tmp_path / "replay" / "out" / "report.json").read_text())
    assert again["timeline"] == live["timeline"]
    assert [(f["rule"], f["object"]) for f in again["findings"]] == [(f["rule"], f["object"]) for f in live["findings"]]
    assert again["summary"] == live["summary"]


def test_fail_on_outage_and_tolerance(tmp_path: Path, before_path: Path) -> None:
    initial, steps = _rotation()
    src = ScriptedSource(initial, steps)
    assert not verify(_settings(tmp_path, before_path, fail_on_outage=True, follow=True, timeout=10.0), source=src,
                      clock=src.clock, echo=lambda _: None).written.result.passed
    src = ScriptedSource(initial, steps)
    tolerant = _settings(tmp_path / "t", before_path, fail_on_outage=True, follow=True, timeout=10.0,
                         options={"outage_tolerance_seconds": 5})
    assert verify(tolerant, source=src, clock=src.clock, echo=lambda _: None).written.result.passed


def test_without_follow_it_ends_once_converged(tmp_path: Path, before_path: Path) -> None:
    """Started mid-rotation (cart already at zero), it ends as soon as cart is back: the outage runs from the
    start of the run."""
    after = verify_states.converged_after()
    src = ScriptedSource(_without_endpoints(after, "cart"), [(T0 + 2.0, after)])
    assert verify(_settings(tmp_path, before_path, timeout=60.0), source=src, clock=src.clock,
                  echo=lambda _: None).written.result.converged is True
    assert src.now < T0 + 4.0  # within a few seconds of converging (settle 0)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    cart = next(s for s in report["timeline"]["services"] if s["name"] == "cart")
    assert cart["downSeconds"] == pytest.approx(2.0, abs=0.01) and cart["readyAtEnd"] == 2


def test_never_converges_exits_1_at_the_timeout(tmp_path: Path, before_path: Path) -> None:
    src = ScriptedSource(verify_states.stuck_after(), [])
    assert not verify(_settings(tmp_path, before_path, timeout=5.0), source=src, clock=src.clock,
                      echo=lambda _: None).written.result.passed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["converged"] is False
    assert any("timed out" in n for n in report["notices"])
    assert src.now == pytest.approx(T0 + 5.0, abs=0.6)


def test_follow_runs_to_the_timeout_and_exits_by_the_verdict(tmp_path: Path, before_path: Path) -> None:
    initial, steps = _rotation()
    src = ScriptedSource(initial, steps)
    assert verify(_settings(tmp_path, before_path, follow=True, timeout=20.0), source=src, clock=src.clock,
                  echo=lambda _: None).written.result.converged is True
    assert src.now >= T0 + 20.0  # did not stop at convergence
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["converged"] is True and any("--follow" in n for n in report["notices"])


def test_service_line_outages() -> None:
    line = ServiceLine("ns", "a", ready_before=2)
    for at, c in ((0.0, 2), (1.0, 0), (3.0, 1), (4.0, 0)):
        line.observe(at, c)
    assert line.outages(10.0) == [(1.0, 3.0), (4.0, None)]
    assert line.down_seconds(10.0) == pytest.approx(8.0)
    assert line.min_ready() == 0 and line.ready_at_end() == 0
    none_before = ServiceLine("ns", "b", ready_before=0)
    none_before.observe(0.0, 0)
    assert none_before.outages(5.0) == [] and not none_before.changed
    tl = Timeline(start=0.0, end=0.0)
    tl.observe(("ns", "c"), 0.0, 1, 1)
    tl.observe(("ns", "c"), 2.0, 0, 1)
    tl.deleted(("ns", "c"), 5.0)
    assert tl.lines[("ns", "c")].outages(9.0) == [(2.0, 5.0)]
    assert tl.down_now() == []
