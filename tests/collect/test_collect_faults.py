"""Faults: retries (429, 5xx, resets, timeouts), 410 restarts, unreachable clusters, atomic writes."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.apidouble import ApiDouble
from tests.waiting import wait_until

Snap = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


def _pods(path: Path) -> list[str]:
    return [o["metadata"]["name"] for o in json.loads(path.read_bytes())["items"] if o["kind"] == "Pod"]


def _one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_429_honours_retry_after(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    api.add_fault(r"^/api/v1/pods$", status=429, headers={"Retry-After": "1"}, times=2, on_continue=True)
    start = time.monotonic()
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - start >= 2.0  # waited as told, twice
    assert len(_pods(tmp_path / "s.json")) == 1200


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"reset": True}],
                         ids=["500", "503", "connection-reset"])
def test_transient_faults_are_retried(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap,
                                      fault: dict[str, Any]) -> None:
    api.add_fault(r"^/api/v1/pods$", times=2, **fault)
    api.add_fault(r"endpointslices$", times=1, **fault)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert sorted(_pods(tmp_path / "s.json")) == sorted(o["metadata"]["name"] for o in api.served("Pod"))


def test_retry_budget_exhausted_is_exit_3_and_incomplete(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                         snap: Snap) -> None:
    api.add_fault(r"^/api/v1/services$", status=500, times=None, message="etcdserver: request timed out")
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    _one_line_error(result, "Service", "HTTP 500", "etcdserver: request timed out", "gave up after 4 attempts")
    assert len(api.calls(r"^/api/v1/services$")) == 4
    meta = json.loads(out.read_bytes())["metadata"]
    assert meta["complete"] is False and [m["kind"] for m in meta["missing"]] == ["Service"]


def test_expired_continue_token_restarts_the_list(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                  snap: Snap) -> None:
    api.add_fault(r"^/api/v1/pods$", status=410, on_continue=True, times=1)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    pods = _pods(tmp_path / "s.json")
    assert len(pods) == len(set(pods)) == 1200  # the first attempt's page was discarded, not duplicated
    assert sum("continue" not in q for q in api.calls(r"^/api/v1/pods$")) == 2


def test_state_changing_during_a_list_is_consistent(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                    snap: Snap, objects: list[dict[str, Any]]) -> None:
    # Real API servers answer continued lists from the first page's resourceVersion: a Pod added
    # mid-list is not half-seen. The double does the same; the snapshot must not mix states either.
    fault = api.add_fault(r"^/api/v1/pods$", on_continue=True, delay=0.3, times=1)
    import threading

    def change() -> None:  # while the double holds the continued page
        if wait_until(lambda: fault.hits > 0, timeout=20):
            api.set_state([o for o in objects if not (o["kind"] == "Pod" and o["metadata"]["name"].endswith("00000"))])

    t = threading.Thread(target=change)
    t.start()
    assert snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig).exit_code == 0
    t.join()
    assert fault.hits == 1, "the state never changed mid-list: the test proved nothing"
    assert len(_pods(tmp_path / "s.json")) == 1200


def test_slow_response_times_out_and_is_retried(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                snap: Snap) -> None:
    api.add_fault(r"^/api/v1/nodes$", delay=2.0, times=1)  # the request timeout is 1 s in tests
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert len(api.calls(r"^/api/v1/nodes$")) == 2


def test_always_slow_gives_up(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.collect import options

    monkeypatch.setattr(options, "REQUEST_TIMEOUT", 0.2)
    api.add_fault(r"^/api/v1/nodes$", delay=0.5, times=None)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    _one_line_error(result, "Node", "no complete response within 0.2s")


def test_bad_token_is_one_line(api: ApiDouble, tmp_path: Path, snap: Snap) -> None:
    kc = api.write_kubeconfig(tmp_path / "kc", token="expired")
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kc)
    _one_line_error(result, "'double'", "401", "credentials rejected")
    assert not (tmp_path / "s.json").exists()


def test_401_in_the_middle_stops_everything(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                            snap: Snap) -> None:
    api.add_fault(r"^/api/v1/pods$", status=401, on_continue=True, times=None)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    _one_line_error(result, "credentials rejected")
    assert not (tmp_path / "s.json").exists() and os.listdir(tmp_path) == ["kubeconfig"]


def _kubeconfig_for(tmp_path: Path, server: str, ca: str | None = None) -> Path:
    cluster = f"    server: {server}\n" + (f"    certificate-authority-data: {ca}\n" if ca else "")
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: c\n  cluster:\n"
                    f"{cluster}users:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: prod\n"
                    "  context:\n    cluster: c\n    user: u\n")
    return path


def test_connection_refused(tmp_path: Path, snap: Snap) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", _kubeconfig_for(tmp_path, f"https://127.0.0.1:{port}"))
    _one_line_error(result, "context 'prod'", f"127.0.0.1:{port}", "connection refused")


def test_unknown_host(tmp_path: Path, snap: Snap) -> None:
    result = snap("-o", tmp_path / "s.json",
                  "--kubeconfig", _kubeconfig_for(tmp_path, "https://no-such-cluster.invalid:6443"))
    _one_line_error(result, "context 'prod'", "no-such-cluster.invalid")


def test_untrusted_certificate(objects: list[dict[str, Any]], tmp_path: Path, snap: Snap) -> None:
    with ApiDouble(objects, tls=True) as api:
        result = snap("-o", tmp_path / "s.json", "--kubeconfig", api.write_kubeconfig(tmp_path / "kc", ca=False))
    _one_line_error(result, "context 'double'", "TLS error", "CERTIFICATE_VERIFY_FAILED")


def test_missing_kubeconfig_and_unknown_context(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                snap: Snap) -> None:
    _one_line_error(snap("-o", tmp_path / "s.json", "--kubeconfig", tmp_path / "nope"), "nope", "no such file")
    _one_line_error(snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig, "--context", "staging"),
                    "no context named 'staging'", "double")


def test_no_kubeconfig_anywhere(tmp_path: Path, snap: Snap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _one_line_error(snap("-o", tmp_path / "s.json"), "no kubeconfig found", "--kubeconfig")


def test_corrupt_kubeconfig(tmp_path: Path, snap: Snap) -> None:
    (tmp_path / "kc").write_text("clusters: [oops\n")
    _one_line_error(snap("-o", tmp_path / "s.json", "--kubeconfig", tmp_path / "kc"), "kubeconfig")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_killed_mid_write_keeps_the_old_file(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                             sig: signal.Signals) -> None:
    out = tmp_path / "snap.json"
    out.write_text('{"old": true}\n')
    slow = api.add_fault(r"^/api/v1/pods$", delay=0.5, times=None, on_continue=True)  # a long, slow list
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "snapshot", "-o", str(out), "--kubeconfig",
                             str(kubeconfig)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # well inside the listing: the temp file exists, and the double holds a continued page of Pods
    assert wait_until(lambda: slow.hits > 0 and any(p.startswith(".snap.json.") for p in os.listdir(tmp_path)),
                      timeout=20)
    assert proc.poll() is None
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert out.read_text() == '{"old": true}\n'
    left = sorted(set(os.listdir(tmp_path)) - {"snap.json", "kubeconfig"})
    if sig == signal.SIGKILL:  # nothing can clean up after SIGKILL: leftovers are hidden, never the snapshot
        assert all(p.startswith(".snap.json.") and p.endswith(".tmp") for p in left), left
    else:
        assert left == [] and b"Traceback" not in err and err.decode().strip() == "interrupted"


def test_failing_credential_plugin_is_named(api: ApiDouble, tmp_path: Path, snap: Snap) -> None:
    import base64

    kc = tmp_path / "kc"
    ca = base64.b64encode(api.ca_pem).decode()
    kc.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: c\n  cluster:\n"
                  f"    server: {api.url}\n    certificate-authority-data: {ca}\n"
                  "users:\n- name: u\n  user:\n    exec:\n"
                  "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: no-such-aws-cli\n"
                  "      args: [eks, get-token]\ncontexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\n")
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kc)
    _one_line_error(result, "context 'prod'", "401", "credential plugin failed", "no-such-aws-cli")


def test_full_disk_keeps_the_old_file(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from auditor.state.writer import SnapshotWriter

    out = tmp_path / "snap.json"
    out.write_text("old")
    real = SnapshotWriter.add_encoded

    def add_encoded(self: SnapshotWriter, kind: str, *spooled: Any) -> None:
        if kind == "Pod":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, kind, *spooled)

    monkeypatch.setattr(SnapshotWriter, "add_encoded", add_encoded)
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 2 and result.stderr == f"error: {out}: cannot write: No space left on device\n"
    assert out.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["kubeconfig", "snap.json"]


def test_version_endpoint_failing_past_the_budget_is_one_line_exit_3(api: ApiDouble, kubeconfig: Path,
                                                                      tmp_path: Path, snap: Snap) -> None:
    api.add_fault(r"^/version$", status=503, times=None)
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig)
    _one_line_error(result, "/version")
    assert not (tmp_path / "s.json").exists()
