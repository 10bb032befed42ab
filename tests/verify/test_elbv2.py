"""The load balancer's side of verify: DescribeTargetHealth polled through botocore's Stubber (moto's ELBv2 keeps
registered targets `healthy` and has no `initial` or `draining` to play back), at most once per target group every
5 s, throttling backed off, a denied call or a deleted target group ending the polling; then a verify run whose
endpoints stay ready while its targets are not, and its recording replayed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from auditor.analysis.timeline import Timeline
from auditor.app.replay import replay
from auditor.app.verify import verify
from auditor.collect import elbv2
from auditor.collect.elbv2 import TargetHealthPoller, Watched
from auditor.state import recording
from tests import builders as b
from tests.test_report_schema import validate
from tests.verify import verify_states
from tests.verify.test_follow import T0, ScriptedSource, _settings
from tests.waiting import wait_until

ARN = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/k8s-shop-web-5e1f2a3b4c/0123456789abcdef"
ARN2 = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/k8s-shop-cart-9a8b7c6d5e/fedcba9876543210"


def _client() -> Any:
    return boto3.client("elbv2", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def _reply(*states: str) -> dict[str, Any]:
    return {"TargetHealthDescriptions": [
        {"Target": {"Id": f"10.0.80.{i}", "Port": 8080}, "HealthCheckPort": "8080",
         "TargetHealth": {"State": s, **({"Reason": "Elb.InitialHealthChecking"} if s == "initial" else {})}}
        for i, s in enumerate(states)]}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_polls_each_target_group_at_most_every_5_s_and_once_for_all_its_services() -> None:
    client, clock = _client(), Clock()
    watched = [Watched("shop", "web", ARN), Watched("shop", "web-canary", ARN), Watched("shop", "cart", ARN2)]
    poller = TargetHealthPoller(client, watched, interval=1.0, clock=clock)  # asked for 1 s: the floor is 5 s
    with Stubber(client) as stub:
        stub.add_response("describe_target_health", _reply("healthy", "healthy"), {"TargetGroupArn": ARN})
        stub.add_response("describe_target_health", _reply("healthy"), {"TargetGroupArn": ARN2})
        assert poller.poll() == 2
        clock.now += 4.9
        assert poller.poll() == 0  # nothing is due before 5 s
        clock.now += 0.1
        stub.add_response("describe_target_health", _reply("initial", "draining"), {"TargetGroupArn": ARN})
        stub.add_response("describe_target_health", _reply("healthy"), {"TargetGroupArn": ARN2})
        assert poller.poll() == 2
        stub.assert_no_pending_responses()
    read, notices = poller.drain()
    assert notices == []
    assert [(t.name, t.at - T0, t.healthy, t.states) for t in read] == [
        ("web", 0.0, 2, {"healthy": 2}), ("web-canary", 0.0, 2, {"healthy": 2}), ("cart", 0.0, 1, {"healthy": 1}),
        ("web", 5.0, 0, {"draining": 1, "initial": 1}), ("web-canary", 5.0, 0, {"draining": 1, "initial": 1}),
        ("cart", 5.0, 1, {"healthy": 1})]
    assert poller.drain() == ([], [])


def test_throttling_backs_off_and_recovers() -> None:
    client, clock = _client(), Clock()
    poller = TargetHealthPoller(client, [Watched("shop", "web", ARN)], clock=clock)
    with Stubber(client) as stub:
        stub.add_client_error("describe_target_health", "Throttling", "Rate exceeded", 400)
        assert poller.poll() == 1
        clock.now += 5.0
        assert poller.poll() == 0  # backed off: 10 s after the throttled call
        clock.now += 5.0
        stub.add_client_error("describe_target_health", "Throttling", "Rate exceeded", 400)
        assert poller.poll() == 1
        clock.now += 19.9
        assert poller.poll() == 0  # 20 s after the second
        clock.now += 0.1
        stub.add_response("describe_target_health", _reply("healthy"), {"TargetGroupArn": ARN})
        assert poller.poll() == 1
        clock.now += 5.0
        stub.add_response("describe_target_health", _reply("healthy"), {"TargetGroupArn": ARN})
        assert poller.poll() == 1  # recovered: every 5 s again
        stub.assert_no_pending_responses()
    read, notices = poller.drain()
    assert len(read) == 2 and notices == [f"ELBv2 throttled DescribeTargetHealth; backing off {ARN}"]


def test_a_denied_call_stops_all_polling_and_a_deleted_group_stops_its_own() -> None:
    client, clock = _client(), Clock()
    poller = TargetHealthPoller(client, [Watched("shop", "web", ARN), Watched("shop", "cart", ARN2)], clock=clock)
    with Stubber(client) as stub:
        stub.add_client_error("describe_target_health", "TargetGroupNotFound", "gone", 400)
        stub.add_response("describe_target_health", _reply("healthy"), {"TargetGroupArn": ARN2})
        assert poller.poll() == 2
        clock.now += 5.0
        stub.add_client_error("describe_target_health", "AccessDenied", "no", 403)
        assert poller.poll() == 1  # only the group that still exists
        clock.now += 60.0
        assert poller.poll() == 0
        stub.assert_no_pending_responses()
    read, notices = poller.drain()
    assert [t.name for t in read] == ["cart"]
    assert notices[0] == f"target group {ARN} no longer exists: no longer followed"
    assert "elasticloadbalancing:DescribeTargetHealth" in notices[1]


def test_the_timeline_puts_a_service_down_at_the_load_balancer_while_any_target_group_has_no_healthy_target() -> None:
    tl = Timeline(start=T0, end=T0)
    key = ("shop", "web")
    tl.observe_targets(key, ARN, T0, {"healthy": 2}, ready_before=2)
    tl.observe_targets(key, ARN2, T0, {"healthy": 1}, ready_before=2)
    assert not tl.observe_targets(key, ARN, T0 + 5, {"healthy": 2}, ready_before=2)  # unchanged: not recorded
    tl.observe_targets(key, ARN2, T0 + 10, {"initial": 1}, ready_before=2)
    tl.observe_targets(key, ARN, T0 + 15, {"draining": 2}, ready_before=2)
    tl.observe_targets(key, ARN2, T0 + 20, {"healthy": 1}, ready_before=2)
    tl.observe_targets(key, ARN, T0 + 25, {"healthy": 2}, ready_before=2)
    tl.observe_targets(("shop", "new"), ARN, T0 + 25, {"initial": 2}, ready_before=0)  # never served: not an outage
    tl.end = T0 + 30
    line = tl.lines[key]
    assert line.lb_outages(tl.end) == [(T0 + 10, T0 + 25)] and line.lb_down_seconds(tl.end) == 15.0
    assert line.outages(tl.end) == []  # its endpoints never went down
    out = tl.to_json()["services"]
    assert [s["name"] for s in out] == ["web"]
    assert out[0]["lbDownSeconds"] == 15.0 and out[0]["lbOutages"][0]["to"] is not None
    groups = {g["arn"]: [x["healthy"] for x in g["samples"]] for g in out[0]["targetGroups"]}
    assert groups == {ARN: [2, 0, 2], ARN2: [1, 0, 1]}


class FakeElbv2:
    """Answers DescribeTargetHealth from the scripted clock: web's two targets healthy, then from +2 s the new
    Pods' targets `initial` and the old ones `draining` (no healthy one) until +8 s."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.calls: list[float] = []

    def describe_target_health(self, TargetGroupArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's spelling
        assert TargetGroupArn == ARN
        self.calls.append(self.clock())
        t = self.clock() - T0
        return _reply("initial", "initial", "draining", "draining") if 2.0 <= t < 8.0 else _reply("healthy", "healthy")


def _before_with_binding(tmp_path: Path) -> Path:
    doc = verify_states.before_doc()
    created = b.at("2026-11-01T10:00:00Z")
    doc["items"].append({"kind": "TargetGroupBinding", "apiVersion": "elbv2.k8s.aws/v1beta1",
                         "metadata": b.meta("k8s-shop-web-5e1f2a3b4c", "shop", created),
                         "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": ARN,
                                  "targetType": "ip"}})
    path = tmp_path / "before.json"
    path.write_text(json.dumps(doc))
    return path


def test_endpoints_ready_while_targets_are_not_is_down_at_the_load_balancer(tmp_path: Path) -> None:
    before = _before_with_binding(tmp_path)
    after = verify_states.converged_after()
    src = ScriptedSource(verify_states.before_doc()["items"], [(T0 + 1.0, after)])
    fake = FakeElbv2(src.clock)
    events = tmp_path / "events.jsonl"
    lines: list[str] = []
    settings = _settings(tmp_path, before, follow=True, timeout=12.0, record=events, elbv2=lambda: fake)
    verify(settings, source=src, clock=src.clock, echo=lines.append)
    assert any("following 1 target group(s)" in line for line in lines), lines
    gaps = [b2 - a for a, b2 in zip(fake.calls, fake.calls[1:], strict=False)]
    assert fake.calls and min(gaps) >= elbv2.MIN_INTERVAL - 1e-6  # bounded: one call per 5 s
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    validate(report)
    web = next(s for s in report["timeline"]["services"] if s["name"] == "web")
    assert web["outages"] == [] and web["minReady"] == 2  # kube-proxy's side was fine throughout
    assert len(web["lbOutages"]) == 1 and web["lbDownSeconds"] == pytest.approx(5.0, abs=0.01)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**Down at the load balancer:** 1 Service" in md
    assert "| shop/web | 2 | 2 → 0 | 5.0 | draining, initial |" in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'class="tl-lb"' in html and "1 down at the load balancer" in html
    rec = recording.read(events)
    assert [t.states for t in rec.targets][:2] == [{"healthy": 2}, {"draining": 2, "initial": 2}]
    again = replay(_settings(tmp_path / "replay", before), rec).result
    assert again.timeline == report["timeline"]


def test_a_recording_without_target_health_replays_as_before(tmp_path: Path) -> None:
    before = _before_with_binding(tmp_path)
    src = ScriptedSource(verify_states.before_doc()["items"], [(T0 + 1.0, verify_states.converged_after())])
    events = tmp_path / "events.jsonl"
    verify(_settings(tmp_path, before, follow=True, timeout=3.0, record=events), source=src, clock=src.clock,
           echo=lambda _: None)
    rec = recording.read(events)
    assert rec.targets == [] and b'"TARGETS"' not in events.read_bytes()
    result = replay(_settings(tmp_path / "replay", before), rec).result
    assert result.timeline is not None and not any("targetGroups" in s for s in result.timeline["services"])


def test_the_live_poller_runs_on_its_own_thread_and_stops_when_closed() -> None:
    client = _client()
    poller = TargetHealthPoller(client, [Watched("shop", "web", ARN)])
    with Stubber(client) as stub:
        stub.add_response("describe_target_health", _reply("healthy", "initial"), {"TargetGroupArn": ARN})
        poller.start()
        got: list[Any] = []
        assert wait_until(lambda: bool(got.extend(poller.drain()[0]) or got), timeout=5.0)
        poller.close()
        assert poller._thread is not None and not poller._thread.is_alive()
    assert got[0].states == {"healthy": 1, "initial": 1} and got[0].healthy == 1
