"""verify's own bounds (issue 19): --timeout includes the EKS calls, and objects left out make the verdict unknown,
in the run and in its replay."""
from __future__ import annotations

import json
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from auditor.app.replay import replay
from auditor.app.verify import verify
from auditor.errors import CollectionError
from auditor.model import Gate
from auditor.report.view import verdict_detail
from auditor.state import recording
from tests.verify import verify_states
from tests.verify.test_follow import T0, ScriptedSource, _settings


@pytest.fixture
def before_path(tmp_path: Path) -> Path:
    p = tmp_path / "before.json"
    p.write_text(json.dumps(verify_states.before_doc()))
    return p


def test_a_hanging_eks_read_ends_with_the_timeout(tmp_path: Path, before_path: Path) -> None:
    """--timeout 4 with --eks-cluster: following stops at 3 s (a quarter kept for EKS), the EKS read that never
    answers is given up at 4 s, and the reports are written without it."""
    hang = threading.Event()

    def never() -> dict[str, Any]:
        hang.wait(60)
        return {}

    src = ScriptedSource(verify_states.converged_after(), [])
    lines: list[str] = []
    began = time.monotonic()
    try:
        result = verify(_settings(tmp_path, before_path, timeout=4.0, settle=30.0, eks=never), source=src,
                        clock=src.clock, echo=lines.append).written.result
    finally:
        hang.set()
    assert time.monotonic() - began < 10
    assert T0 + 3.0 <= src.now < T0 + 3.6, src.now - T0
    assert result.eks is None and result.converged is True
    assert any(line.startswith("verify: EKS data not read: no answer within 1s") for line in lines), lines


def test_eks_read_in_time_is_in_the_report(tmp_path: Path, before_path: Path) -> None:
    src = ScriptedSource(verify_states.converged_after(), [])
    eks = {"cluster": {"name": "prod", "version": "1.31"}}
    result = verify(_settings(tmp_path, before_path, timeout=4.0, settle=30.0, eks=lambda: eks), source=src,
                    clock=src.clock, echo=lambda _: None).written.result
    assert result.eks is not None and result.eks.get("name") == "prod"


def test_an_eks_error_is_one_line_and_no_data(tmp_path: Path, before_path: Path) -> None:
    def refused() -> dict[str, Any]:
        raise CollectionError("AccessDeniedException on DescribeCluster")

    src = ScriptedSource(verify_states.converged_after(), [])
    lines: list[str] = []
    result = verify(_settings(tmp_path, before_path, timeout=4.0, settle=30.0, eks=refused), source=src,
                    clock=src.clock, echo=lines.append).written.result
    assert result.eks is None
    assert "verify: EKS data not read: AccessDeniedException on DescribeCluster" in lines


class _LeftOut(ScriptedSource):
    """A source whose collector left one mistyped object out."""

    def skipped(self) -> tuple[int, list[str]]:
        return 1, ["Service shop/cart left out (mistyped: Expected `array | null`, got `str` - at `$.spec.ports`)"]


def test_objects_left_out_make_the_verdict_unknown_in_the_run_and_its_replay(tmp_path: Path,
                                                                           before_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    src = _LeftOut(verify_states.converged_after(), [])
    settings = _settings(tmp_path, before_path, timeout=5.0, settle=1.0, record=events)
    result = verify(settings, source=src, clock=src.clock, echo=lambda _: None).written.result
    because = "1 object(s) left out because their fields have the wrong types: the state is incomplete"
    assert result.converged is None and result.gate is Gate.UNKNOWN
    assert result.unknown_reason == because and because in result.notices
    assert verdict_detail(result).endswith(f"convergence unknown: {because}")  # the banner and the terminal line
    rec = recording.read(events)
    assert rec.left_out == 1
    again = replay(_settings(tmp_path / "replayed", before_path), rec).result
    assert again.converged is None and again.gate is Gate.UNKNOWN and again.unknown_reason == because


def test_a_converged_run_has_no_unknown_reason(tmp_path: Path, before_path: Path) -> None:
    src = ScriptedSource(verify_states.converged_after(), [])
    result = verify(_settings(tmp_path, before_path, timeout=5.0, settle=1.0), source=src, clock=src.clock,
                    echo=lambda _: None).written.result
    assert result.converged is True and result.unknown_reason is None


def test_a_quiet_run_still_says_something_every_few_seconds(tmp_path: Path, before_path: Path) -> None:
    """Converged from the start and nothing changes for 20 s: a CI log still gets a line at least every 5 s."""
    src = ScriptedSource(verify_states.converged_after(), [])
    said: list[tuple[float, str]] = []
    verify(_settings(tmp_path, before_path, timeout=20.0, settle=60.0), source=src, clock=src.clock,
           echo=lambda text: said.append((src.now, text)))
    times = [T0] + [at for at, _ in said] + [src.now]
    gaps = [b - a for a, b in pairwise(times)]
    assert max(gaps) <= 5.0, said
    assert any(text.endswith("converged; settling (60s)") for at, text in said if at > T0 + 5), said
