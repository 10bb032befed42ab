"""verify's clock (issue 19 item 2): live convergence judged strictly, a settle window instead of a grace wait, and
a cluster converged at --timeout is converged (with a note), over the scripted source and its fake clock."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.app.verify import verify
from auditor.model import Gate
from auditor.state import recording
from tests.verify import verify_states
from tests.verify.test_follow import T0, ScriptedSource, _settings, _without_endpoints


@pytest.fixture
def before_path(tmp_path: Path) -> Path:
    p = tmp_path / "before.json"
    p.write_text(json.dumps(verify_states.before_doc()))
    return p


def _report(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "out" / "report.json").read_text())
    return report


def test_it_ends_once_converged_for_the_settle_window(tmp_path: Path, before_path: Path) -> None:
    """cart comes back at T0+2: converged then, so the run ends at T0+2+S (the loop looks twice a second)."""
    after = verify_states.converged_after()
    src = ScriptedSource(_without_endpoints(after, "cart"), [(T0 + 2.0, after)])
    lines: list[str] = []
    result = verify(_settings(tmp_path, before_path, timeout=120.0, settle=10.0), source=src, clock=src.clock,
                    echo=lines.append).written.result
    assert T0 + 12.0 <= src.now < T0 + 12.6, src.now - T0
    assert result.converged is True
    assert not any("settle window" in n for n in result.notices), result.notices
    assert any("converged; settling (10s)" in line for line in lines), lines


def test_a_change_restarts_the_settle_window(tmp_path: Path, before_path: Path) -> None:
    """Converged at T0+2, not at T0+5, converged again at T0+7: the window counts from T0+7."""
    after = verify_states.converged_after()
    down = _without_endpoints(after, "cart")
    src = ScriptedSource(down, [(T0 + 2.0, after), (T0 + 5.0, down), (T0 + 7.0, after)])
    result = verify(_settings(tmp_path, before_path, timeout=120.0, settle=4.0), source=src, clock=src.clock,
                    echo=lambda _: None).written.result
    assert T0 + 11.0 <= src.now < T0 + 11.6, src.now - T0
    assert result.converged is True


def test_converged_at_the_timeout_is_converged_with_a_note(tmp_path: Path, before_path: Path) -> None:
    """Converged from the start, but --timeout (10 s) comes before the settle window (30 s): converged, the gate
    decides the exit (PASS here), and a note says it had not settled; the recording says the same."""
    events = tmp_path / "events.jsonl"
    src = ScriptedSource(verify_states.converged_after(), [])
    result = verify(_settings(tmp_path, before_path, timeout=10.0, settle=30.0, record=events), source=src,
                    clock=src.clock, echo=lambda _: None).written.result
    assert src.now >= T0 + 10.0
    assert result.converged is True and result.gate is Gate.PASS
    [note] = [n for n in result.notices if "settle window" in n]
    assert "not yet for the whole 30s settle window" in note
    assert not any("without converging" in n for n in result.notices)
    report = _report(tmp_path)
    assert report["summary"]["converged"] is True and note in report["notices"]
    rec = recording.read(events)
    assert rec.reason == "timeout" and rec.settled is False and note in rec.notices


def test_converged_at_the_timeout_still_exits_by_the_gate(tmp_path: Path, before_path: Path) -> None:
    """Converged at the timeout but unsettled, with cart's outage on record: --fail-on error fails it (exit 1),
    and the verdict stays "converged"."""
    after = verify_states.converged_after()
    src = ScriptedSource(_without_endpoints(after, "cart"), [(T0 + 2.0, after)])
    result = verify(_settings(tmp_path, before_path, timeout=8.0, settle=30.0), source=src, clock=src.clock,
                    echo=lambda _: None).written.result
    assert result.converged is True and result.gate is Gate.FAIL
    assert any(f.rule == "service-outage" for f in result.findings)
    assert any("settle window" in n for n in result.notices)


def test_not_converged_at_the_timeout_says_so_without_a_settle_note(tmp_path: Path, before_path: Path) -> None:
    src = ScriptedSource(verify_states.stuck_after(), [])
    result = verify(_settings(tmp_path, before_path, timeout=5.0, settle=1.0), source=src, clock=src.clock,
                    echo=lambda _: None).written.result
    assert result.converged is False and result.gate is Gate.FAIL
    assert any("timed out after 5s without converging" in n for n in result.notices), result.notices
    assert not any("settle window" in n for n in result.notices)


def test_settle_seconds_from_the_config_and_the_flag(tmp_path: Path) -> None:
    from auditor.app.verify_end import VerifySettings
    from auditor.collect.options import ClusterOptions
    from auditor.errors import ConfigError
    from auditor.settings import ReportSettings, load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("settle-seconds: 7.5\n")
    config = load_config(str(cfg), set(), explicit=True)
    base = VerifySettings(before=tmp_path, cluster=ClusterOptions(), config=config, report=ReportSettings())
    assert base.settle_window == 7.5
    assert VerifySettings(before=tmp_path, cluster=ClusterOptions(), config=config, report=ReportSettings(),
                          settle=0.0).settle_window == 0.0
    for bad in ("-1", "true", "'10'", ".inf"):
        cfg.write_text(f"settle-seconds: {bad}\n")
        try:
            load_config(str(cfg), set(), explicit=True)
        except ConfigError as exc:
            assert "settle-seconds must be a number of seconds >= 0" in str(exc)
        else:
            raise AssertionError(f"settle-seconds: {bad} was accepted")
