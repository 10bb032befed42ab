"""Fixtures for verify tests: fast retries, a BEFORE file, an API double serving the AFTER states."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from auditor.cli.main import main
from tests.apidouble import ApiDouble, fast_client_settings
from tests.verify import verify_states

Obj = dict[str, Any]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds and short timeouts, so fault tests stay fast."""
    fast_client_settings(monkeypatch, max_retry_after=1.0, connect_timeout=1.0)


@pytest.fixture
def before_file(tmp_path: Path) -> Path:
    path = tmp_path / "before.json"
    path.write_text(json.dumps(verify_states.before_doc()))
    return path


@pytest.fixture
def api() -> Iterator[ApiDouble]:
    with ApiDouble(verify_states.stuck_after(), version="1.30") as double:
        yield double


@pytest.fixture
def kubeconfig(api: ApiDouble, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig")


def serve_from_poll(api: ApiDouble, poll: int, objects: list[Obj]) -> None:
    """Serve `objects` from the `poll`-th request of /version on (each snapshot asks /version once, first)."""
    seen = [0]

    def on_request(method: str, path: str) -> None:
        if path == "/version":
            seen[0] += 1
            if seen[0] == poll:
                api.set_state(objects)

    api.on_request = on_request


@pytest.fixture
def run_verify(before_file: Path, kubeconfig: Path, tmp_path: Path) -> Callable[..., Result]:
    """`upgrade-auditor verify --before BEFORE --kubeconfig K --output-dir OUT ARGS...`, in-process."""

    def invoke(*args: str | Path, before: Path | None = None) -> Result:
        argv = ["verify", "--before", str(before or before_file), "--kubeconfig", str(kubeconfig),
                "--output-dir", str(tmp_path / "out"), "--format", "json,junit", *map(str, args)]
        return CliRunner().invoke(main, argv, catch_exceptions=False)

    return invoke
