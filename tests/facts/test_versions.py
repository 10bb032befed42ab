"""auditor.facts.versions: one parser for every spelling, one skew policy, one control-plane precedence."""
from __future__ import annotations

import pytest

from auditor.facts import versions
from auditor.facts.versions import ControlPlane, Minor, SkewProblem, SkewVerdict


@pytest.mark.parametrize(("text", "minor", "patch"), [
    ("1.30", (1, 30), (1, 30, 0)),
    ("v1.30", (1, 30), (1, 30, 0)),
    ("v1.30.4-eks-a737599", (1, 30), (1, 30, 4)),   # kubelet and /version on EKS
    ("v1.30.4-eks-abc", (1, 30), (1, 30, 4)),
    ("1.31+", (1, 31), (1, 31, 0)),                  # GKE-style minor in /version
    ("v1.29.3+k3s1", (1, 29), (1, 29, 3)),
    ("1.30.4-20240514", (1, 30), (1, 30, 4)),        # an EKS AMI release version
    ("v1.28.15-eks-1-28-2024.11.1", (1, 28), (1, 28, 15)),
    (" 1.30 ", (1, 30), (1, 30, 0)),
    ("\t1.30\n", (1, 30), (1, 30, 0)),
    ("v1.100.1000", (1, 100), (1, 100, 1000)),      # three-digit minor, four-digit patch
    (1.3, (1, 3), (1, 3, 0)),                        # a YAML float keeps its spelling: 1.30 reads as 1.3
    ("1234.1", None, None),
    ("x.30", None, None),
    ("v1", None, None),
    ("1.", None, None),
    ("1..30", None, None),
    ("v 1.30", None, None),
    ("eks.12", None, None),
    ("", None, None),
    (None, None, None),
])
def test_parse_every_spelling(text: object, minor: tuple[int, int] | None, patch: tuple[int, int, int] | None) -> None:
    assert versions.parse(text) == minor
    assert versions.parse_patch(text) == patch


@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_is_no_version(flag: bool) -> None:
    assert versions.parse(flag) is None  # YAML `on`/`yes`: never Minor(1, 0)


@pytest.mark.parametrize(("text", "want"), [
    ("eks.12", 12), (" eks.7 ", 7), ("eks.123456", 123456), ("eks.1234567", None), ("eks.", None),
    ("EKS.12", None), ("1.30", None), ("", None), (None, None)])
def test_parse_platform(text: object, want: int | None) -> None:
    assert versions.parse_platform(text) == want


@pytest.mark.parametrize(("text", "want"), [
    ("1.31", Minor(1, 31)), ("v1.31", Minor(1, 31)), (" 1.31 ", Minor(1, 31)), ("1.10", Minor(1, 10)),
    ("1.100", Minor(1, 100))])
def test_parse_target(text: str, want: Minor) -> None:
    assert versions.parse_target(text) == want
    assert versions.normalise_target(text) == str(want)


@pytest.mark.parametrize(("bad", "reason"), [
    ("1.3", "not a Kubernetes version EKS runs"),   # 1.3: a float that lost its zero
    ("1.9", "not a Kubernetes version EKS runs"),
    ("2.31", "not a Kubernetes version EKS runs"),
    ("0.31", "not a Kubernetes version EKS runs"),
    ("1", "not a Kubernetes version of the form 1.N"),
    ("1.31.2", "not a Kubernetes version of the form 1.N"),
    ("v1.31.2-eks-1", "not a Kubernetes version of the form 1.N"),
    ("latest", "not a Kubernetes version of the form 1.N"),
    ("v1.x", "not a Kubernetes version of the form 1.N"),
    ("", "not a Kubernetes version of the form 1.N"),
])
def test_targets_must_be_1_N(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as e:
        versions.parse_target(bad)
    assert repr(bad) in str(e.value)
    with pytest.raises(ValueError):
        versions.normalise_target(bad)


@pytest.mark.parametrize(("text", "want"), [
    ("1.30", "1.31"), ("v1.29.8-eks-1", "1.30"), ("1.99", "1.100"), ("nope", None), (None, None)])
def test_next_minor(text: object, want: str | None) -> None:
    assert versions.next_minor(text) == want


def test_minor_orders_and_counts() -> None:
    assert str(Minor(1, 30)) == "1.30" and Minor(1, 30).next() == Minor(1, 31)
    assert Minor(1, 28) < Minor(1, 30) < Minor(2, 0)
    assert Minor(1, 30).behind(Minor(1, 27)) == 3
    assert Minor(1, 27).behind(Minor(1, 30)) == -3
    assert Minor(2, 1).behind(Minor(1, 30)) == 71  # a major counts 100 minors: always "too old"


@pytest.mark.parametrize(("cp", "allowed"), [
    (Minor(1, 25), 2), (Minor(1, 27), 2), (Minor(1, 28), 3), (Minor(1, 31), 3), (Minor(2, 0), 3)])
def test_allowed_lag_from_1_28(cp: Minor, allowed: int) -> None:
    assert versions.allowed_lag(cp) == allowed


@pytest.mark.parametrize(("node", "cp", "want"), [
    (Minor(1, 30), Minor(1, 30), SkewVerdict(True, 0, 3, "")),
    (Minor(1, 27), Minor(1, 30), SkewVerdict(True, 3, 3, "")),         # n-3 from 1.28: inside
    (Minor(1, 26), Minor(1, 30), SkewVerdict(False, 4, 3, "too-old")),
    (Minor(1, 25), Minor(1, 27), SkewVerdict(True, 2, 2, "")),         # n-2 before 1.28: inside
    (Minor(1, 24), Minor(1, 27), SkewVerdict(False, 3, 2, "too-old")),
    (Minor(1, 31), Minor(1, 30), SkewVerdict(False, -1, 3, "newer")),  # never newer
])
def test_check_skew_boundaries(node: Minor, cp: Minor, want: SkewVerdict) -> None:
    assert versions.check_skew(node, cp) == want


@pytest.mark.parametrize(("node", "cp", "target", "want"), [
    pytest.param(Minor(1, 26), Minor(1, 27), None, None, id="one behind"),
    pytest.param(Minor(1, 24), Minor(1, 27), None, SkewProblem("too-old", "control plane", Minor(1, 27), 3, 2),
                 id="n-3 before 1.28: too old"),
    pytest.param(Minor(1, 25), Minor(1, 28), None, None, id="n-3 from 1.28: inside"),
    pytest.param(Minor(1, 24), Minor(1, 28), None, SkewProblem("too-old", "control plane", Minor(1, 28), 4, 3),
                 id="n-4 from 1.28"),
    pytest.param(Minor(1, 31), Minor(1, 30), Minor(1, 31),
                 SkewProblem("newer", "control plane", Minor(1, 30), -1, 3), id="newer than the control plane"),
    pytest.param(Minor(1, 30), Minor(1, 30), Minor(1, 31), None, id="equal, target one ahead"),
    pytest.param(Minor(1, 27), Minor(1, 30), Minor(1, 31), SkewProblem("too-old", "target", Minor(1, 31), 4, 3),
                 id="inside now, too old after the upgrade"),
    pytest.param(Minor(1, 28), Minor(1, 30), Minor(1, 31), None, id="n-3 of the target: inside"),
    pytest.param(Minor(1, 26), Minor(1, 30), Minor(1, 31),
                 SkewProblem("too-old", "control plane", Minor(1, 30), 4, 3), id="too old already: the control plane"),
    pytest.param(Minor(1, 27), Minor(1, 30), Minor(1, 30), None, id="target equal to the control plane"),
    pytest.param(Minor(1, 28), Minor(1, 31), Minor(1, 30), None, id="target behind the control plane: ignored"),
    pytest.param(Minor(1, 31), None, Minor(1, 30), SkewProblem("newer", "target", Minor(1, 30), -1, 3),
                 id="no control plane: newer than the target"),
    pytest.param(Minor(1, 26), None, Minor(1, 30), SkewProblem("too-old", "target", Minor(1, 30), 4, 3),
                 id="no control plane: too old for the target"),
    pytest.param(Minor(1, 27), None, Minor(1, 30), None, id="no control plane: inside the target's window"),
    pytest.param(Minor(1, 30), None, Minor(1, 30), None, id="no control plane: at the target"),
    pytest.param(Minor(1, 20), None, None, None, id="nothing to judge against"),
])
def test_judge_skew(node: Minor, cp: Minor | None, target: Minor | None, want: SkewProblem | None) -> None:
    assert versions.judge_skew(node, cp, target) == want


@pytest.mark.parametrize(("problem", "text"), [
    (SkewProblem("newer", "control plane", Minor(1, 30), -1, 3), "is newer than the control plane 1.30"),
    (SkewProblem("newer", "target", Minor(1, 30), -1, 3), "is newer than target 1.30"),
    (SkewProblem("too-old", "target", Minor(1, 31), 4, 3),
     "would be 4 minors behind after the upgrade to 1.31 (at most 3 allowed)"),
    (SkewProblem("too-old", "control plane", Minor(1, 27), 3, 2),
     "is 3 minors behind the control plane 1.27 (at most 2 allowed)"),
])
def test_skew_problem_describes_itself(problem: SkewProblem, text: str) -> None:
    assert problem.describe() == text


@pytest.mark.parametrize(("server", "eks", "want"), [
    ("v1.29.8-eks-1", "1.30", ControlPlane(Minor(1, 29), "apiserver", "v1.29.8-eks-1")),
    (None, "1.30", ControlPlane(Minor(1, 30), "eks", "1.30")),
    ("garbage", "1.30", ControlPlane(Minor(1, 30), "eks", "1.30")),
    ("v1.30.2", None, ControlPlane(Minor(1, 30), "apiserver", "v1.30.2")),
    (None, None, None),
    ("", "", None),
])
def test_control_plane_precedence(server: str | None, eks: str | None, want: ControlPlane | None) -> None:
    assert versions.control_plane(server, eks) == want


@pytest.mark.parametrize(("server", "eks", "want"), [
    ("v1.29.8", "1.30", (Minor(1, 29), Minor(1, 30))),
    ("v1.31.1-eks-2", "1.30", (Minor(1, 31), Minor(1, 30))),
    ("v1.30.8", "1.30", None),
    (None, "1.30", None),
    ("v1.30.8", None, None),
])
def test_control_plane_disagreement(server: str | None, eks: str | None, want: tuple[Minor, Minor] | None) -> None:
    assert versions.control_plane_disagreement(server, eks) == want


TOO_OLD = SkewProblem("too-old", "control plane", Minor(1, 30), 4, 3)
NEWER = SkewProblem("newer", "control plane", Minor(1, 30), -1, 3)


@pytest.mark.parametrize(("problem", "cp", "target", "update_to", "catch_up"), [
    pytest.param(TOO_OLD, Minor(1, 30), Minor(1, 31), Minor(1, 30), None, id="too old: up to the control plane"),
    pytest.param(TOO_OLD._replace(against="target"), None, Minor(1, 31), Minor(1, 31), None,
                 id="no control plane known: up to the target"),
    pytest.param(TOO_OLD, None, None, None, None, id="nothing known"),
    pytest.param(NEWER, Minor(1, 30), Minor(1, 31), None, Minor(1, 31),
                 id="newer: no roll-back, the control plane one minor up"),
    pytest.param(NEWER, None, Minor(1, 31), None, None, id="newer, control plane unknown"),
])
def test_what_fixes_a_skew(problem: SkewProblem, cp: Minor | None, target: Minor | None, update_to: Minor | None,
                           catch_up: Minor | None) -> None:
    assert versions.node_update_version(problem, cp, target) == update_to
    assert versions.control_plane_catch_up(problem, cp) == catch_up
