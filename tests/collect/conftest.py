"""Fixtures for collector tests: a running API double, a kubeconfig for it, fast retries, a CLI runner."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli.main import main
from tests import clusterfactory
from tests.apidouble import ApiDouble, fast_client_settings


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds and a 1 s request timeout, so fault tests stay fast."""
    fast_client_settings(monkeypatch, max_retry_after=5.0, connect_timeout=2.0)


@pytest.fixture
def objects() -> list[dict[str, Any]]:
    """1200 Pods (three pages of 500), 10 Services with Endpoints and slices, 5 Nodes, 4 Namespaces."""
    return list(clusterfactory.cluster(pods=1200, services=10, nodes=5, namespaces=2))


@pytest.fixture
def api(objects: list[dict[str, Any]]) -> Iterator[ApiDouble]:
    with ApiDouble(objects) as double:
        yield double


@pytest.fixture
def kubeconfig(api: ApiDouble, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def snap(tmp_path: Path) -> Callable[..., Result]:
    """Run `upgrade-auditor snapshot ARGS...` in-process; returns click's Result (exit_code, stdout, stderr)."""

    def invoke(*args: str | Path) -> Result:
        return CliRunner().invoke(main, ["snapshot", *map(str, args)], catch_exceptions=False)

    return invoke
