"""`-n NS` checked before use: not a DNS-1123 label is exit 2 before any request; a namespace the server does not
have is exit 2 naming it, for `snapshot` and `verify`, with no file written or replaced."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli.main import main
from tests.apidouble import ApiDouble


@pytest.mark.parametrize("bad", ["x/../../../../api/v1/secrets#", "Team-0", "-lead", "trail-", "a" * 64, "a b",
                                 "ns?watch=1", "", "caf\u00e9", "x\u202ey"])
def test_a_name_that_is_not_a_label_is_exit_2_before_any_request(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                                 snap: Callable[..., Result], bad: str) -> None:
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig, "-n", "team-0", "-n", bad)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error: -n ") and "not a namespace name" in lines[0], lines
    assert "\u202e" not in result.output
    assert not list(api.requests) and not out.exists()


def test_a_namespace_the_server_does_not_have_is_exit_2_naming_it(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                                 snap: Callable[..., Result]) -> None:
    out = tmp_path / "s.json"
    out.write_text("the previous snapshot")
    result = snap("-o", out, "--kubeconfig", kubeconfig, "-n", "team-0", "-n", "no-such-ns")
    assert result.exit_code == 2, result.output
    assert "error: -n no-such-ns: no such namespace" in result.output
    assert out.read_text() == "the previous snapshot"  # nothing replaced
    assert not api.calls(r"/pods$")  # refused before any kind was read


def test_namespaces_that_cannot_be_listed_are_not_held_against_the_run(api: ApiDouble, kubeconfig: Path,
                                                                       tmp_path: Path,
                                                                       snap: Callable[..., Result]) -> None:
    api.deny("namespaces")
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig, "-n", "team-0")
    assert result.exit_code == 0, result.output  # Namespace is an optional kind; the server could not tell
    assert "no such namespace" not in result.output
    warnings = json.loads((tmp_path / "s.json").read_text())["metadata"]["warnings"]
    assert any("-n team-0 could not be checked" in w for w in warnings), warnings


def test_verify_refuses_an_unknown_namespace(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                             snap: Callable[..., Result]) -> None:
    before = tmp_path / "before.json"
    assert snap("-o", before, "--kubeconfig", kubeconfig, "-n", "team-0").exit_code == 0
    result = CliRunner().invoke(main, ["verify", "--before", str(before), "--kubeconfig", str(kubeconfig),
                                       "-n", "nope", "--timeout", "5", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "error: -n nope: no such namespace" in result.output
    result = CliRunner().invoke(main, ["verify", "--before", str(before), "--kubeconfig", str(kubeconfig),
                                       "-n", "../secrets", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a namespace name" in result.output
