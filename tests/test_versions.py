"""auditor.facts.versions: one parser for every spelling, one skew policy, one control-plane precedence."""
from __future__ import annotations

import pytest

from auditor.facts import versions
from auditor.facts.versions import Minor


@pytest.mark.parametrize(("text", "minor"), [
    ("1.30", (1, 30)), ("v1.30.4-eks-a737599", (1, 30)), ("1.31+", (1, 31)), ("v1.29.3+k3s1", (1, 29)),
    ("1.30.4-20240514", (1, 30)), (" 1.30 ", (1, 30)), ("x.30", None), ("", None), (None, None), ("v1", None),
    ("eks.12", None), (True, None)])
def test_parse_every_spelling(text: object, minor: tuple[int, int] | None) -> None:
    assert versions.parse(text) == minor


def test_platform_and_patch() -> None:
    assert versions.parse_platform("eks.12") == 12 and versions.parse_platform("1.30") is None
    assert versions.parse_patch("v1.30.4-eks-a737599") == (1, 30, 4) and versions.parse_patch("1.30") == (1, 30, 0)


@pytest.mark.parametrize("bad", ["1.3", "1", "1.31.2", "2.1", "latest", "v1.x"])
def test_targets_must_be_1_N(bad: str) -> None:
    with pytest.raises(ValueError):
        versions.parse_target(bad)


def test_target_normalised() -> None:
    assert versions.normalise_target("v1.31") == "1.31" and versions.normalise_target("1.31") == "1.31"


def test_one_skew_window_for_kubelets_and_node_groups() -> None:
    # n-3 from a 1.28 control plane, n-2 before: the case the two old rules disagreed on
    assert versions.judge_skew(Minor(1, 26), Minor(1, 27), None) is None  # 1 behind
    assert versions.judge_skew(Minor(1, 24), Minor(1, 27), None).problem == "too-old"  # 3 > 2
    assert versions.judge_skew(Minor(1, 25), Minor(1, 28), None) is None  # 3 <= 3
    assert versions.judge_skew(Minor(1, 24), Minor(1, 28), None).lag == 4
    newer = versions.judge_skew(Minor(1, 31), Minor(1, 30), Minor(1, 31))
    assert newer is not None and newer.problem == "newer" and newer.against == "control plane"
    future = versions.judge_skew(Minor(1, 27), Minor(1, 30), Minor(1, 31))
    assert future is not None and future.against == "target" and future.lag == 4


def test_control_plane_precedence() -> None:
    cp = versions.control_plane("v1.29.8-eks-1", "1.30")
    assert cp == versions.ControlPlane(Minor(1, 29), "apiserver", "v1.29.8-eks-1")
    assert versions.control_plane(None, "1.30").source == "eks"
    assert versions.control_plane(None, None) is None
    assert versions.control_plane_disagreement("v1.29.8", "1.30") == (Minor(1, 29), Minor(1, 30))
    assert versions.control_plane_disagreement("v1.30.8", "1.30") is None
