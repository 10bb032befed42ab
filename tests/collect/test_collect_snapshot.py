"""`upgrade-auditor snapshot` against the API double: round trip, scoping, RBAC, files, warnings."""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from auditor.collect.live import take_snapshot
from auditor.collect.options import ClusterOptions
from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ENDPOINTS_WARNING, ApiDouble

Snap = Callable[..., Result]


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    m = obj["metadata"]
    return obj["kind"], m.get("namespace", ""), m["name"]


def _as_snapshotted(obj: dict[str, Any]) -> dict[str, Any]:
    """What the snapshot keeps of a served object from the factory: no managedFields; Pod containers without
    the fields outside the projection (here only terminationMessagePath)."""
    out = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    if obj["kind"] == "Pod":
        containers = [{k: v for k, v in c.items() if k != "terminationMessagePath"} for c in obj["spec"]["containers"]]
        out["spec"] = {**obj["spec"], "containers": containers}
    return out


def _read(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def test_round_trip_gives_exactly_the_served_objects(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                     snap: Snap) -> None:
    out = tmp_path / "before.json"
    result = snap("-o", out, "--label", "before", "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # not a terminal: no progress, and no deprecation warning printed
    doc = _read(out)
    assert doc["apiVersion"] == "upgrade-auditor.io/v1" and doc["kind"] == "ClusterSnapshot"
    items = {_key(o): o for o in doc["items"]}
    assert len(items) == len(doc["items"])  # no duplicates
    assert items == {_key(o): _as_snapshotted(o) for o in api.served()}
    meta = doc["metadata"]
    assert meta["label"] == "before" and meta["complete"] is True and meta["missing"] == []
    # every kind the double serves; the CRDs are not installed there: recorded apart, never missing
    assert meta["kinds"] == ["Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice",
                             "PodDisruptionBudget", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                             "Ingress", "IngressClass", "ValidatingWebhookConfiguration",
                             "MutatingWebhookConfiguration", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
    assert set(meta["notServed"]) == {"NodePool", "NodeClaim", "Gateway", "HTTPRoute", "GRPCRoute",
                                      "TargetGroupBinding"}
    assert meta["startedAt"] <= meta["takenAt"] and meta["takenAt"].endswith("Z")
    assert meta["source"] == {"context": "double", "server": api.url, "namespaces": [], "inCluster": False,
                              "serverVersion": meta["source"]["serverVersion"]}
    assert meta["source"]["serverVersion"]["gitVersion"] == api.git_version
    assert meta["counts"]["Pod"] == 1200
    assert api.token not in out.read_text()  # credentials are never written
    assert not api.calls("secrets")

    state = load(out)
    assert state.complete and state.label == "before" and state.server_version == api.git_version
    for kind in ("Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice"):
        served = sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"], o["metadata"]["uid"])
                        for o in api.served(kind))
        assert sorted((o.metadata.namespace, o.metadata.name, o.metadata.uid) for o in state.of(kind)) == served


def test_lists_are_paged_with_continue_tokens(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                              snap: Snap) -> None:
    assert snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig).exit_code == 0
    calls = api.calls(r"^/api/v1/pods$")
    assert [q["limit"] for q in calls] == [["500"]] * 3
    assert "continue" not in calls[0] and all("continue" in q for q in calls[1:])


def test_kubeconfig_from_environment_and_named_context(api: ApiDouble, tmp_path: Path, snap: Snap,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kc = api.write_kubeconfig(tmp_path / "kc", context="prod-eu")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{kc}")  # absent entries are skipped, like kubectl
    result = snap("-o", tmp_path / "s.json", "--context", "prod-eu")
    assert result.exit_code == 0, result.output
    assert _read(tmp_path / "s.json")["metadata"]["source"]["context"] == "prod-eu"


def test_namespace_scoping(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    out = tmp_path / "s.json"
    assert snap("-o", out, "--kubeconfig", kubeconfig, "-n", "team-0").exit_code == 0
    doc = _read(out)
    kinds_in = {(o["kind"], o["metadata"].get("namespace", "")) for o in doc["items"]}
    assert {ns for kind, ns in kinds_in if kind in ("Pod", "Service", "Endpoints", "EndpointSlice")} == {"team-0"}
    assert sum(o["kind"] == "Node" for o in doc["items"]) == 5  # cluster-scoped kinds are read whole
    assert sum(o["kind"] == "Namespace" for o in doc["items"]) == 4
    assert doc["metadata"]["source"]["namespaces"] == ["team-0"]
    assert api.calls(r"^/api/v1/namespaces/team-0/pods$") and not api.calls(r"^/api/v1/pods$")
    served = {_key(o) for o in api.served() if o["metadata"].get("namespace") in (None, "team-0")}
    assert {_key(o) for o in doc["items"]} == served


def test_forbidden_list_is_recorded_missing_and_exits_3(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                       snap: Snap) -> None:
    # SSAR says yes (say, a webhook authorizer disagrees), the list itself is refused.
    api.add_fault(r"endpointslices$", status=403, times=None, message="endpointslices.discovery.k8s.io is "
                  'forbidden: User "tester" cannot list resource "endpointslices"')
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "EndpointSlice" in result.stderr
    assert "list endpointslices.discovery.k8s.io, cluster-wide" in result.stderr
    meta = _read(out)["metadata"]
    assert meta["complete"] is False
    assert meta["missing"] == [{"kind": "EndpointSlice", "reason": meta["missing"][0]["reason"],
                                "permission": "list endpointslices.discovery.k8s.io, cluster-wide"}]
    assert "forbidden" in meta["missing"][0]["reason"]
    state = load(out)
    assert not state.complete and not state.has("EndpointSlice") and state.has("Pod")
    assert not any(o["kind"] == "EndpointSlice" for o in _read(out)["items"])


def test_ssar_denial_skips_the_list(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    api.deny("endpointslices")
    out = tmp_path / "s.json"
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 3
    assert not api.calls("endpointslices")  # asked first, never tried
    missing = _read(out)["metadata"]["missing"]
    assert [(m["kind"], m["permission"]) for m in missing] == [
        ("EndpointSlice", "list endpointslices.discovery.k8s.io, cluster-wide")]
    assert "SelfSubjectAccessReview" in missing[0]["reason"]


def test_ssar_denial_in_one_namespace(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    api.deny("pods", "team-1")
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig, "-n", "team-0", "-n", "team-1")
    assert result.exit_code == 3
    doc = _read(out)
    assert doc["metadata"]["missing"] == [{"kind": "Pod", "reason": doc["metadata"]["missing"][0]["reason"],
                                           "permission": "list pods, in namespace team-1", "namespace": "team-1"}]
    assert {o["metadata"]["namespace"] for o in doc["items"] if o["kind"] == "Pod"} == {"team-0"}


def test_gzip_output(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap) -> None:
    out = tmp_path / "s.json.gz"
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert len(load(out).of("Pod")) == 1200


def test_endpoints_deprecation_warning_recorded_once(tmp_path: Path) -> None:
    objs = list(clusterfactory.cluster(pods=60, services=30, nodes=2))
    with ApiDouble(objs, version="1.33") as api:
        kc = api.write_kubeconfig(tmp_path / "kc")
        opts = ClusterOptions(kubeconfig=str(kc), page_size=7)  # five pages of Endpoints, five warnings
        outcome = take_snapshot(opts, tmp_path / "s.json")
        assert len(api.calls(r"/endpoints$")) == 5
    assert outcome.complete and outcome.warnings == [ENDPOINTS_WARNING]
    assert _read(tmp_path / "s.json")["metadata"]["warnings"] == [ENDPOINTS_WARNING]
    with ApiDouble(objs, version="1.32") as api:
        outcome = take_snapshot(ClusterOptions(kubeconfig=str(api.write_kubeconfig(tmp_path / "kc2"))),
                                tmp_path / "s2.json")
    assert outcome.warnings == []


def test_https_with_ca_from_kubeconfig(objects: list[dict[str, Any]], tmp_path: Path, snap: Snap) -> None:
    with ApiDouble(objects, tls=True) as api:
        result = snap("-o", tmp_path / "s.json", "--kubeconfig", api.write_kubeconfig(tmp_path / "kc"))
    assert result.exit_code == 0, result.output
    assert _read(tmp_path / "s.json")["metadata"]["source"]["server"].startswith("https://127.0.0.1:")


def test_progress_only_when_asked(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    take_snapshot(ClusterOptions(kubeconfig=str(kubeconfig)), tmp_path / "s.json", progress=True)
    err = capsys.readouterr().err
    assert "reading:" in err and "Pod 1200" in err
    assert err.endswith("\r\x1b[K")  # the progress line is cleared when done


def test_eks_hook_result_is_written(api: ApiDouble, kubeconfig: Path, tmp_path: Path) -> None:
    take_snapshot(ClusterOptions(kubeconfig=str(kubeconfig)), tmp_path / "s.json",
                  eks=lambda: {"cluster": {"name": "prod", "version": "1.33"}})
    assert _read(tmp_path / "s.json")["eks"] == {"cluster": {"name": "prod", "version": "1.33"}}


def test_in_cluster_service_account(objects: list[dict[str, Any]], tmp_path: Path, snap: Snap,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import incluster_config

    with ApiDouble(objects, tls=True) as api:
        (tmp_path / "token").write_text(api.token)
        (tmp_path / "ca.crt").write_bytes(api.ca_pem)
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", api.url.rsplit(":", 1)[1])
        result = snap("-o", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    source = _read(tmp_path / "s.json")["metadata"]["source"]
    assert source["inCluster"] is True and source["context"] == "in-cluster" and source["server"] == api.url


def test_audit_finds_the_same_on_snapshot_and_kubectl_dump(objects: list[dict[str, Any]], tmp_path: Path,
                                                           snap: Snap) -> None:
    import copy

    from click.testing import CliRunner

    from auditor.cli.main import main

    slice0 = next(o for o in objects if o["kind"] == "EndpointSlice")
    handmade = copy.deepcopy(slice0)
    handmade["metadata"].update(name="app-0-manual", uid=clusterfactory.uid("manual", 1))
    del handmade["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], handmade["metadata"]["generateName"]
    del handmade["metadata"]["ownerReferences"]
    gone = slice0["endpoints"][0]["targetRef"]["name"]  # its Pod is deleted: the slice is now stale
    late = clusterfactory.namespace("late", 9)  # an hour later: the dump's own time, past every grace period
    late["metadata"]["creationTimestamp"] = "2025-06-01T09:00:00Z"
    state = [o for o in objects if not (o["kind"] == "Pod" and o["metadata"]["name"] == gone)] + [handmade, late]
    with ApiDouble(state) as api:
        assert snap("-o", tmp_path / "s.json", "--kubeconfig", api.write_kubeconfig(tmp_path / "kc")).exit_code == 0
    (tmp_path / "dump.json").write_bytes(json.dumps({"apiVersion": "v1", "kind": "List", "items": state}).encode())
    found = {}
    for name in ("s.json", "dump.json"):
        result = CliRunner().invoke(main, ["audit", str(tmp_path / name), "--output-dir", str(tmp_path / f"r-{name}"),
                                           "--format", "json"])
        assert result.exit_code in (0, 1), result.output
        report = json.loads((tmp_path / f"r-{name}" / "report.json").read_text())
        found[name] = [(f["rule"], f["object"].get("namespace"), f["object"]["name"]) for f in report["findings"]]
    assert found["s.json"] == found["dump.json"]
    assert {"stale-endpointslice", "handmade-endpointslice"} <= {rule for rule, _, _ in found["s.json"]}


def test_benchmark_runs_small(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("bench_snapshot", Path(__file__).parents[2] / "bench" /
                                                  "bench_snapshot.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_snapshot", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    results = bench.run_bench(pods=300, kubectl=False)
    assert results["snapshot"]["exit_code"] == 0 and results["snapshot"]["output_mb"] > 0
