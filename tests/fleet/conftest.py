"""Fixtures for fleet tests: several API doubles behind one kubeconfig (a healthy cluster, one with a failing gate,
a dead one, one that denies EndpointSlices, one that answers 500, one named by an EKS ARN), and a CLI runner."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from auditor.cli.main import main
from tests import clusterfactory
from tests.apidouble import ApiDouble, fast_client_settings

ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds and 1 s requests: the settings travel to each cluster's process inside its job."""
    fast_client_settings(monkeypatch, max_retry_after=1.0, connect_timeout=1.0)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def healthy(pods: int = 20) -> list[dict[str, Any]]:
    return list(clusterfactory.cluster(pods=pods, services=4, nodes=3))


def failing() -> list[dict[str, Any]]:
    """A Service with ready Pods whose EndpointSlice is gone: service-missing-endpointslices, an error."""
    objs = healthy()
    gone = next(o for o in objs if o["kind"] == "EndpointSlice")
    return [o for o in objs if o is not gone]


def dead_url() -> str:
    """An address where nothing listens: connection refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}"


def kubeconfig(path: Path, servers: dict[str, tuple[str, dict[str, Any]]], current: str | None = None) -> Path:
    """One kubeconfig with a context per server: name -> (url, the cluster's and user's fields)."""
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for i, (name, (url, fields)) in enumerate(servers.items()):
        doc["clusters"].append({"name": f"c{i}", "cluster": {"server": url, **fields.get("cluster", {})}})
        doc["users"].append({"name": f"u{i}", "user": fields.get("user", {"token": "t0ken"})})
        doc["contexts"].append({"name": name, "context": {"cluster": f"c{i}", "user": f"u{i}"}})
    doc["current-context"] = current or next(iter(servers))
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass
class Fleet:
    kubeconfig: Path
    doubles: dict[str, ApiDouble]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Contexts: `good`, `bad` (a failing gate), `dead` (refused), `denied` (403 on EndpointSlices), `broken` (500
    on everything) and the EKS ARN one (healthy)."""
    doubles = {"good": ApiDouble(healthy()), "bad": ApiDouble(failing()), "denied": ApiDouble(healthy()),
               "broken": ApiDouble(healthy()), ARN: ApiDouble(healthy())}
    for d in doubles.values():
        d.__enter__()
    try:
        doubles["denied"].deny("endpointslices")
        doubles["broken"].add_fault(".*", status=500, times=None, message="etcd is on fire")
        servers = {}
        for name, d in doubles.items():
            fields = _fields(d, tmp_path)
            servers[name] = (d.url, fields)
        servers["dead"] = (dead_url(), {})
        yield Fleet(kubeconfig(tmp_path / "kubeconfig", servers), doubles)
    finally:
        for d in doubles.values():
            d.__exit__(None, None, None)


def _fields(api: ApiDouble, tmp: Path) -> dict[str, Any]:
    one = yaml.safe_load(api.write_kubeconfig(tmp / "one.yaml").read_text())
    return {"cluster": {k: v for k, v in one["clusters"][0]["cluster"].items() if k != "server"},
            "user": one["users"][0]["user"]}


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run `upgrade-auditor ARGS...` in-process; click's Result (exit_code, stdout, stderr)."""

    def invoke(*args: str | Path) -> Result:
        return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)

    return invoke
