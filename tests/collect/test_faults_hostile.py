"""A hostile or broken API server (the double with fault modes): every cap and every bad object ends the run in one
line with exit 3, bounded in time and memory, and never costs an earlier snapshot file."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from auditor.collect import options
from auditor.collect.kube import Cluster
from auditor.collect.options import ClusterOptions
from auditor.collect.watch import LiveCluster
from auditor.errors import CollectionError
from tests import clusterfactory
from tests.apidouble import ApiDouble
from tests.verify import verify_states
from tests.waiting import wait_until

Obj = dict[str, Any]
PODS = r"^/api/v1/pods$"
RSS_LIMIT_MB = 300


@pytest.fixture
def objects() -> list[Obj]:
    return list(clusterfactory.cluster(pods=6, services=2, nodes=2, namespaces=1))


@pytest.fixture
def follow(kubeconfig: Path) -> Iterator[Callable[..., LiveCluster]]:
    """follow(**ClusterOptions fields) -> an unstarted LiveCluster on the double (closed at the end)."""
    made: list[LiveCluster] = []

    def make(**opts: Any) -> LiveCluster:
        live = LiveCluster(Cluster(ClusterOptions(kubeconfig=str(kubeconfig), **opts)), say=lambda _t: None)
        made.append(live)
        return live

    yield make
    for live in made:
        live.close()


def _mistyped_service(objects: list[Obj]) -> tuple[list[Obj], str]:
    """The objects with the first Service's spec.ports a string; that Service's namespace/name."""
    out = copy.deepcopy(objects)
    svc = next(o for o in out if o["kind"] == "Service")
    svc["spec"]["ports"] = "80"
    return out, f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"


# -- hostile answers ---------------------------------------------------------------------------


def _chunked_head(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")


def _chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def endless_line(h: BaseHTTPRequestHandler) -> None:
    """A watch whose first line never ends: 64 KiB chunks of one JSON string, no newline, until the client goes."""
    _chunked_head(h)
    _chunk(h, b'{"type":"ADDED","object":{"metadata":{"name":"')
    block = b"x" * (1 << 16)
    while True:
        _chunk(h, block)


def endless_list(h: BaseHTTPRequestHandler) -> None:
    """A list whose items never end."""
    _chunked_head(h)
    _chunk(h, b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[')
    item = b'{"metadata":{"name":"p","namespace":"team-0"}},' * 512
    while True:
        _chunk(h, item)


def endless_pages(h: BaseHTTPRequestHandler) -> None:
    """A page that always has a next one."""
    body = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"more"},"items":[]}'
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))


# -- a child process: exit code, output, peak RSS ----------------------------------------------


# Linux keeps a process's peak RSS across fork and exec (the parent's, here pytest's, is folded in): a launcher
# small at its fork starts the child and reports the peak of that child alone.
_LAUNCHER = """import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _child(args: list[str], tmp_path: Path, timeout: float = 30.0) -> tuple[int, str, str, float]:
    """`python -m auditor ARGS` in a child: (exit code, stdout, stderr, its peak RSS in MB). Killed past `timeout`."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    out, err, peak = tmp_path / "child.out", tmp_path / "child.err", tmp_path / "child.rss"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(peak), sys.executable, "-m", "auditor", *args],
                                stdout=o, stderr=e, env=env, cwd=tmp_path, start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"{args[0]} still running after {timeout:.0f}s (a hang)")
    return code, out.read_text(), err.read_text(), int(peak.read_text()) / 1024


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _before(tmp_path: Path) -> Path:
    path = tmp_path / "before.json"
    path.write_text(json.dumps(verify_states.before_doc()))
    return path


# -- 410 storms --------------------------------------------------------------------------------


def test_a_410_storm_relists_with_backoff_and_a_healthy_watch_resets_it(api: ApiDouble, follow: Any,
                                                                      objects: list[Obj]) -> None:
    live = follow()
    live.start()
    assert api.wait_watches(len(live.objects))
    storm = api.add_fault(PODS, status=410, watch=True, times=None)
    began = time.monotonic()
    api.drop_watches()
    assert wait_until(lambda: live.stats.relists >= 2, timeout=8.0)
    # 800 ms, then 1.6 s (each with jitter) before the relists: without backoff, hundreds in this time.
    assert time.monotonic() - began >= 0.8 + 1.6
    lists = [q for q in api.calls(PODS) if "watch" not in q]
    assert 2 <= len(lists) - 1 <= 3  # the first list, then the relists
    storm.times = 0  # the server is healthy again: a watch that delivers resets the backoff
    assert wait_until(lambda: api.open_watches >= len(live.objects), timeout=8.0)  # after one more relist or not
    api.update([_relabelled(objects)])
    assert wait_until(lambda: live.stats.events >= 1, timeout=5.0)
    relists = live.stats.relists
    api.add_fault(PODS, status=410, watch=True, times=1)
    again = time.monotonic()
    api.drop_watches()
    assert wait_until(lambda: live.stats.relists > relists, timeout=5.0)
    assert time.monotonic() - again < 0.8 * 1.25 + 0.5  # the shortest wait again, not 3.2 s or more


def _relabelled(objects: list[Obj]) -> Obj:
    pod = copy.deepcopy(next(o for o in objects if o["kind"] == "Pod"))
    pod["metadata"]["labels"]["touched"] = "yes"
    return pod


# -- caps --------------------------------------------------------------------------------------


def test_a_watch_line_without_newline_is_capped_and_ends_the_feed_in_one_line(api: ApiDouble, follow: Any) -> None:
    live = follow(max_line=1 << 20)
    live.start()
    assert api.wait_watches(len(live.objects))
    api.add_fault(PODS, respond=endless_line, watch=True, times=None)
    api.drop_watches()
    assert wait_until(lambda: bool(live.state.fatal), timeout=5.0)
    with pytest.raises(CollectionError) as caught:
        live.changes(0.1)
    assert str(caught.value) == "following pods stopped: a watch line longer than 1 MiB without a newline"


def test_verify_ends_with_exit_3_on_a_watch_line_without_newline(api: ApiDouble, kubeconfig: Path,
                                                                 tmp_path: Path) -> None:
    api.add_fault(PODS, respond=endless_line, watch=True, times=None)
    began = time.monotonic()
    code, _, err, rss = _child(["verify", "--before", str(_before(tmp_path)), "--kubeconfig", str(kubeconfig),
                                "--output-dir", str(tmp_path / "out"), "--follow", "--timeout", "60"], tmp_path)
    assert code == 3, err
    cause = "following pods stopped: a watch line longer than 16 MiB without a newline"
    assert _lines(err)[-1] == f"error: {cause}"
    assert time.monotonic() - began < 20
    assert rss < RSS_LIMIT_MB
    report = json.loads((tmp_path / "out" / "report.json").read_text())  # written all the same
    assert report["summary"]["converged"] is None and report["rotation"]["converged"] is None
    assert f"stopped: {cause}" in report["notices"]
    assert "**UNKNOWN**" in (tmp_path / "out" / "report.md").read_text()


def _good_snapshot(kubeconfig: Path, path: Path, tmp_path: Path) -> bytes:
    code, _, err, _ = _child(["snapshot", "--kubeconfig", str(kubeconfig), "-o", str(path)], tmp_path)
    assert code == 0, err
    return path.read_bytes()


def test_an_endless_list_body_is_capped_in_memory_and_keeps_the_earlier_file(api: ApiDouble, kubeconfig: Path,
                                                                              tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    earlier = _good_snapshot(kubeconfig, path, tmp_path)
    api.add_fault(PODS, respond=endless_list, watch=False, times=None)
    code, _, err, rss = _child(["snapshot", "--kubeconfig", str(kubeconfig), "-o", str(path)], tmp_path)
    assert code == 3, err
    assert _lines(err) == [f"error: GET {'/api/v1/pods'}: the response is larger than 128 MiB; stopped reading it"]
    assert rss < RSS_LIMIT_MB
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("cluster")) == ["cluster.json"]


def test_an_endless_continue_token_sequence_is_capped(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                      snap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cluster.json"
    assert snap("--kubeconfig", kubeconfig, "-o", path).exit_code == 0
    earlier = path.read_bytes()
    monkeypatch.setattr(options, "MAX_PAGES", 40)
    api.add_fault(PODS, respond=endless_pages, watch=False, times=None)
    result = snap("--kubeconfig", kubeconfig, "-o", path)
    assert result.exit_code == 3
    assert _lines(result.stderr) == ["error: GET /api/v1/pods: more than 40 pages (the server keeps returning a "
                                     "continue token); stopped listing"]
    assert path.read_bytes() == earlier


# -- mistyped objects --------------------------------------------------------------------------


def test_a_mistyped_object_in_a_list_makes_the_snapshot_incomplete_beside_the_earlier_file(
        api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Any, objects: list[Obj]) -> None:
    path = tmp_path / "cluster.json"
    assert snap("--kubeconfig", kubeconfig, "-o", path).exit_code == 0
    earlier = path.read_bytes()
    bad, name = _mistyped_service(objects)
    api.set_state(bad)
    result = snap("--kubeconfig", kubeconfig, "-o", path)
    assert result.exit_code == 3
    assert f"Service {name} left out (mistyped: Expected `array | null`, got `str` - at `$.spec.ports`)" \
        in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == earlier
    beside = [p for p in tmp_path.iterdir() if p.name.startswith("cluster") and p != path]
    assert len(beside) == 1
    doc = json.loads(beside[0].read_text())
    assert doc["metadata"]["complete"] is False
    assert name.split("/")[1] not in {o["metadata"]["name"] for o in doc["items"] if o["kind"] == "Service"}


def _started(live: LiveCluster) -> BaseException | None:
    """Start `live` in a thread: the exception it raised, bounded in time (a hang fails the test)."""
    got: list[BaseException | None] = []

    def run() -> None:
        try:
            live.start()
            got.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got.append(exc)

    threading.Thread(target=run, daemon=True).start()
    assert wait_until(lambda: bool(got), timeout=10.0), "start() hung"
    return got[0]


def test_a_mistyped_object_in_the_first_list_is_left_out_and_named(api: ApiDouble, follow: Any,
                                                                    objects: list[Obj]) -> None:
    bad, name = _mistyped_service(objects)
    api.set_state(bad)
    live = follow()
    assert _started(live) is None
    why = f"Service {name} left out (mistyped: Expected `array | null`, got `str` - at `$.spec.ports`)"
    assert live.skipped() == (1, [why])
    assert tuple(name.split("/")) not in live.objects["Service"]
    assert why in live.notices()


def test_a_mistyped_object_in_a_watch_event_is_left_out_and_the_feed_goes_on(api: ApiDouble, follow: Any,
                                                                             objects: list[Obj]) -> None:
    live = follow()
    assert _started(live) is None
    assert api.wait_watches(len(live.objects))
    bad, name = _mistyped_service(objects)
    api.set_state(bad)
    assert wait_until(lambda: live.skipped()[0] == 1, timeout=5.0)
    assert live.skipped()[1] == [f"Service {name} left out (mistyped: Expected `array | null`, got `str` - at "
                                 "`$.spec.ports`)"]
    fixed = copy.deepcopy(objects)  # the same Service, well typed again and relabelled: the feed still delivers
    [svc] = [o for o in fixed if o["kind"] == "Service" and _ref(o) == name]
    svc["metadata"].setdefault("labels", {})["fixed"] = "yes"
    api.set_state(fixed)
    seen: list[Any] = []

    def delivered() -> bool:
        seen.extend(live.changes(0.1))
        return any(c.kind == "Service" and c.name == svc["metadata"]["name"] for c in seen)

    assert wait_until(delivered, timeout=5.0), (seen, live.skipped(), live.notices())
    assert not live.state.fatal


def _ref(obj: Obj) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _unknown_report(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["converged"] is None
    return report


def test_verify_leaves_out_a_service_whose_ports_are_a_string_and_cannot_pass(api: ApiDouble, kubeconfig: Path,
                                                                              tmp_path: Path,
                                                                              objects: list[Obj]) -> None:
    """In the first list: named in one line and in the report, reports written, the verdict unknown (exit 3)."""
    bad, name = _mistyped_service(objects)
    api.set_state(bad)
    code, _, err, _ = _child(["verify", "--before", str(_before(tmp_path)), "--kubeconfig", str(kubeconfig),
                              "--output-dir", str(tmp_path / "out"), "--timeout", "20", "--settle", "0"], tmp_path)
    why = f"Service {name} left out (mistyped: Expected `array | null`, got `str` - at `$.spec.ports`)"
    assert code == 3, err
    assert f"verify: {why}" in _lines(err) and "Traceback" not in err
    report = _unknown_report(tmp_path)
    assert why in report["notices"]
    assert "1 object(s) left out because their fields have the wrong types: the state is incomplete" \
        in report["notices"]


def test_verify_on_a_mistyped_watch_event_goes_on_and_ends_unknown(api: ApiDouble, kubeconfig: Path,
                                                                    tmp_path: Path, objects: list[Obj]) -> None:
    bad, name = _mistyped_service(objects)

    def then_break() -> None:  # once verify watches every kind it follows
        if wait_until(lambda: api.open_watches >= 6, timeout=20.0):
            api.set_state(bad)

    threading.Thread(target=then_break, daemon=True).start()
    code, _, err, _ = _child(["verify", "--before", str(_before(tmp_path)), "--kubeconfig", str(kubeconfig),
                              "--output-dir", str(tmp_path / "out"), "--follow", "--timeout", "8"], tmp_path)
    why = f"Service {name} left out (mistyped: Expected `array | null`, got `str` - at `$.spec.ports`)"
    assert code == 3, err
    assert f"verify: {why}" in _lines(err) and "Traceback" not in err
    assert why in _unknown_report(tmp_path)["notices"]


# -- deadlines ---------------------------------------------------------------------------------


def test_a_hanging_credential_plugin_is_stopped_at_the_request_timeout(api: ApiDouble, tmp_path: Path,
                                                                       snap: Any) -> None:
    import base64

    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\nexec sleep 600\n")
    plugin.chmod(0o755)
    kc = tmp_path / "kc"
    ca = base64.b64encode(api.ca_pem).decode()
    cluster = f"    server: {api.url}\n    certificate-authority-data: {ca}\n"
    kc.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: c\n  cluster:\n{cluster}"
                  "users:\n- name: u\n  user:\n    exec:\n"
                  f"      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {plugin}\n"
                  "contexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\n")
    began = time.monotonic()
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kc)
    assert result.exit_code == 3
    assert time.monotonic() - began < 10  # the request timeout (1 s here) per plugin run, not forever
    lines = _lines(result.stderr)
    assert len(lines) == 1 and "credential plugin get-token gave no answer within 1s; stopped it" in lines[0], lines
    assert not (tmp_path / "s.json").exists()
