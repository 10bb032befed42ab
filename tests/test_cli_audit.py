"""The audit command as a user meets it: real files, wrong files, exit codes, reports, config."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import builders as b
import pytest
import yaml
from click.testing import CliRunner

from auditor.cli.main import main

T0 = b.at("2026-11-20T08:00:00Z")


def small_cluster(*, handmade: bool = True) -> list[dict]:
    nodes = {n["metadata"]["name"]: n for n in [
        b.node("ip-10-0-1-10.ec2.internal", T0 - b.timedelta(days=3), zone="us-east-1a", ip="10.0.1.10",
               nodegroup="ng-1", heartbeat=T0 + b.timedelta(hours=1))]}
    svc = b.service("cart", "shop", T0 - b.timedelta(days=10), selector={"app": "cart"})
    pods = [b.replicaset_pod("cart", "shop", i, T0 - b.timedelta(days=1), labels={"app": "cart"},
                             node_name="ip-10-0-1-10.ec2.internal", ips=[f"10.0.1.{20 + i}"]) for i in range(2)]
    objs = [b.namespace("shop", T0 - b.timedelta(days=30)), *nodes.values(), svc, *pods,
            *b.controller_slices(svc, pods, nodes, T0 - b.timedelta(hours=20)),
            b.endpoints_object(svc, pods, nodes, T0 - b.timedelta(hours=20))]
    if handmade:
        objs.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                     "metadata": b.meta("cart-manual", "shop", T0 - b.timedelta(days=2),
                                        labels={"kubernetes.io/service-name": "cart"}),
                     "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.9.9"]}]})
    return objs


def write(tmp: Path, name: str, doc: object, *, gz: bool = False, as_yaml: bool = False) -> Path:
    p = tmp / name
    text = yaml.safe_dump(doc) if as_yaml else json.dumps(doc)
    p.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return p


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture()
def dump(tmp_path: Path) -> Path:
    return write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))


def test_audit_kubectl_dump_writes_reports_and_exit_codes(tmp_path: Path, dump: Path) -> None:
    out = tmp_path / "r"
    code, stdout, _ = invoke("audit", str(dump), "--output-dir", str(out), "--format", "json,md,html,junit")
    assert code == 0, stdout  # a hand-made slice is a warning; default fail-on is error
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "report.html", "report.junit.xml"}
    report = json.loads((out / "report.json").read_text())
    assert report["schemaVersion"] == 1 and report["mode"] == "audit"
    assert report["summary"] == {"error": 0, "warning": 1, "info": 0, "suppressed": 0}
    f = report["findings"][0]
    assert f["rule"] == "handmade-endpointslice" and f["severity"] == "warning"
    assert f["object"] == {"kind": "EndpointSlice", "namespace": "shop", "name": "cart-manual"}
    assert f["remediation"] and isinstance(f["evidence"], dict)
    assert report["inputs"][0]["takenAt"] == "2026-11-20T09:00:00Z"  # latest timestamp (node heartbeat)
    assert "warning" in stdout and str(out / "report.html") in stdout
    code, _, _ = invoke("audit", str(dump), "--output-dir", str(out), "--fail-on", "warning")
    assert code == 1


@pytest.mark.parametrize("gz,as_yaml", [(True, False), (False, True), (True, True)])
def test_yaml_and_gzip_inputs_give_the_same_findings(tmp_path: Path, dump: Path, gz: bool, as_yaml: bool) -> None:
    other = write(tmp_path, "dump2", b.kubectl_list(small_cluster()), gz=gz, as_yaml=as_yaml)
    invoke("audit", str(dump), "--output-dir", str(tmp_path / "a"), "--format", "json")
    invoke("audit", str(other), "--output-dir", str(tmp_path / "b"), "--format", "json")
    a = json.loads((tmp_path / "a/report.json").read_text())["findings"]
    bb = json.loads((tmp_path / "b/report.json").read_text())["findings"]
    assert a == bb and a


def test_audit_merges_several_files(tmp_path: Path) -> None:
    objs = small_cluster()
    pods = [o for o in objs if o["kind"] == "Pod"]
    rest = [o for o in objs if o["kind"] != "Pod"]
    p1 = write(tmp_path, "rest.json", b.kubectl_list(rest))
    p2 = write(tmp_path, "pods.yaml", b.kubectl_list(pods), as_yaml=True)
    code, stdout, _ = invoke("audit", str(p1), "--output-dir", str(tmp_path / "r1"), "--format", "json")
    assert code == 1  # alone, the first file lacks Pods: incomplete, never healthy
    report = json.loads((tmp_path / "r1/report.json").read_text())
    assert any(f["rule"] == "incomplete-snapshot" and "Pod" in f["message"] for f in report["findings"])
    code, stdout, _ = invoke("audit", str(p1), str(p2), "--output-dir", str(tmp_path / "r2"), "--format", "json")
    assert code == 0, stdout
    report = json.loads((tmp_path / "r2/report.json").read_text())
    assert [i["path"] for i in report["inputs"]] == [str(p1), str(p2)]


def test_single_object_input(tmp_path: Path) -> None:
    slc = [o for o in small_cluster() if o["metadata"]["name"] == "cart-manual"][0]
    p = write(tmp_path, "one.yaml", slc, as_yaml=True)
    code, stdout, _ = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"), "--format", "json",
                             "--fail-on", "never")
    assert code == 0
    report = json.loads((tmp_path / "r/report.json").read_text())
    assert {f["rule"] for f in report["findings"]} >= {"handmade-endpointslice", "incomplete-snapshot"}


BAD_INPUTS = {
    "missing": (None, "no such file"),
    "truncated.json": (b'{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod", "metadata": {"na', "truncated"),
    "garbage.txt": (b"this is: not: yaml: at all: [", "neither JSON nor valid YAML"),
    "empty.json": (b"   \n", "empty"),
    "array.json": (b"[1, 2]", "JSON array"),
    "version.json": (json.dumps({"apiVersion": "upgrade-auditor.io/v9", "kind": "ClusterSnapshot",
                                 "metadata": {"takenAt": "2026-11-20T08:00:00Z"}, "items": []}).encode(),
                     "unknown snapshot apiVersion"),
    "deploy.json": (json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "x", "namespace": "y"}}).encode(), "found only: Deployment"),
    "empty-list.json": (json.dumps({"apiVersion": "v1", "kind": "List", "items": []}).encode(),
                        "holds no Kubernetes objects"),
    "scalar.yaml": (b"just a string\n", "not a Kubernetes object"),
    "nokind.yaml": (b"foo: bar\nbaz: [1, 2]\n", "no 'kind' field"),
    "badtype.json": (json.dumps({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": 5}}]}).encode(),
                     "Expected `str`"),
    "corrupt.json.gz": (b"\x1f\x8b\x08\x00garbage", "gzip"),
    "binary.bin": (bytes(range(256)) * 4, ""),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_keeps_old_reports(tmp_path: Path, dump: Path, name: str) -> None:
    out = tmp_path / "r"
    assert invoke("audit", str(dump), "--output-dir", str(out), "--format", "json")[0] == 0
    before = (out / "report.json").read_bytes()
    content, needle = BAD_INPUTS[name]
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    code, stdout, stderr = invoke("audit", str(p), "--output-dir", str(out), "--format", "json")
    assert code == 2, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(p) in lines[0], stderr
    assert needle in lines[0]
    assert "Traceback" not in stderr
    assert (out / "report.json").read_bytes() == before


def test_unknown_format_and_fail_on_are_usage_errors(dump: Path, tmp_path: Path) -> None:
    code, _, err = invoke("audit", str(dump), "--format", "pdf", "--output-dir", str(tmp_path))
    assert code == 2 and "unknown format 'pdf'" in err
    code, _, err = invoke("audit", str(dump), "--fail-on", "critical", "--output-dir", str(tmp_path))
    assert code == 2 and err.startswith("error: --fail-on: 'critical'")
    code, _, err = invoke("audit", str(dump), "--target-version", "banana", "--output-dir", str(tmp_path))
    assert code == 2 and err.startswith("error: --target-version: 'banana'") and "1.N" in err


def test_directory_inputs_and_config_are_one_line_errors(tmp_path: Path, dump: Path) -> None:
    d = tmp_path / "adir"
    d.mkdir()
    for args in (["compare", str(d), str(dump)], ["compare", str(dump), str(d)],
                 ["verify", "--before", str(d), "--timeout", "0"], ["audit", str(d)]):
        code, _, err = invoke(*args, "--output-dir", str(tmp_path / "r"))
        # a folder is read for its dumps (issue 11); an empty one is a one-line error naming it
        assert code == 2 and err.strip().splitlines() == [
            f"error: {d}: folder holds no *.json, *.yaml or *.yml files (optionally .gz)"], (args, err)
    code, _, err = invoke("audit", str(dump), "--config", str(d), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and err.strip().splitlines() == [f"error: {d}: is a directory, not a YAML config file"]


def test_help_texts_read_whole() -> None:
    code, out, _ = invoke("--help")
    commands = out.split("Commands:")[1]
    assert code == 0 and "..." not in commands  # command summaries are not cut off
    assert "upgrade-auditor demo" in out and "Exit codes" in out
    code, out, _ = invoke("verify", "--help")
    assert code == 0 and "convergence" in out  # --fail-on does not set verify's exit code


def test_config_excludes_annotations_and_overrides(tmp_path: Path) -> None:
    objs = small_cluster()
    manual = [o for o in objs if o["metadata"]["name"] == "cart-manual"][0]
    dump = write(tmp_path, "d.json", b.kubectl_list(objs))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"fail-on": "warning", "exclude": [
        {"rule": "handmade-endpointslice", "namespace": "shop", "name": "cart-*",
         "reason": "migration script, ticket OPS-12"}]}))
    code, _, _ = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r"),
                        "--format", "json")
    report = json.loads((tmp_path / "r/report.json").read_text())
    assert code == 0 and report["findings"] == []
    assert report["summary"]["suppressed"] == 1
    assert report["suppressed"][0]["reason"] == "migration script, ticket OPS-12"
    # The annotation on the object suppresses too, and says so.
    manual["metadata"]["annotations"] = {"upgrade-auditor.io/ignore": "handmade-endpointslice"}
    dump = write(tmp_path, "d2.json", b.kubectl_list(objs))
    invoke("audit", str(dump), "--output-dir", str(tmp_path / "r2"), "--format", "json")
    report = json.loads((tmp_path / "r2/report.json").read_text())
    assert report["findings"] == [] and "upgrade-auditor.io/ignore" in report["suppressed"][0]["reason"]
    # Severity override and disabling.
    cfg.write_text(yaml.safe_dump({"rules": {"handmade-endpointslice": {"severity": "error"}}}))
    manual["metadata"].pop("annotations")
    dump = write(tmp_path, "d3.json", b.kubectl_list(objs))
    code, _, _ = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r3"),
                        "--format", "json")
    assert code == 1
    cfg.write_text(yaml.safe_dump({"rules": {"handmade-endpointslice": {"enabled": False}}}))
    code, _, _ = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r4"),
                        "--format", "json", "--fail-on", "info")
    assert code == 0


@pytest.mark.parametrize("text,needle", [
    ("rules: {no-such-rule: {enabled: false}}", "unknown rule"),
    ("exclude: [{rule: stale-endpoints}]", "reason"),
    ("grace-seconds: -5", "grace-seconds"),
    ("fail-on: sometimes", "fail-on"),
    ("bogus: 1", "unknown key"),
    ("rules: [", "invalid YAML"),
    ("rules: {service-capacity-dropped: {tolerance: lots}}", "tolerance"),
    ("rules: {stale-endpoints: {tolerance: 3}}", "only service-capacity-dropped"),
    ("target-version: 1.30", "quote it"),  # YAML would read 1.3
    ("target-version: banana", "target-version: 'banana'"),
    ("exclude: {rule: stale-endpoints, reason: x}", "exclude must be a list"),
    ("exclude: [{rule: stale-endpoints, namespace: null, reason: x}]", "namespace has no value"),
])
def test_bad_config_is_exit_2(tmp_path: Path, dump: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    code, _, err = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and needle in err and str(cfg) in err and "Traceback" not in err


def test_missing_explicit_config_is_exit_2(tmp_path: Path, dump: Path) -> None:
    code, _, err = invoke("audit", str(dump), "--config", str(tmp_path / "nope.yaml"))
    assert code == 2 and "not found" in err


def test_rules_and_explain() -> None:
    code, out, _ = invoke("rules")
    assert code == 0 and "stale-endpointslice" in out and "handmade-endpointslice-stale" in out
    code, out, _ = invoke("explain", "stale-endpointslice")
    assert code == 0 and "## What it does" in out and "## How to fix" in out
    code, _, err = invoke("explain", "nope")
    assert code == 2 and "unknown rule" in err


def test_demo_writes_every_report(tmp_path: Path) -> None:
    code, out, _ = invoke("demo", "--output-dir", str(tmp_path))
    assert code == 0
    for mode in ("audit", "compare"):
        for name in ("report.html", "report.md", "report.json", "report.junit.xml"):
            assert (tmp_path / mode / name).stat().st_size > 0
    audit = json.loads((tmp_path / "audit/report.json").read_text())
    rules = {f["rule"] for f in audit["findings"]}
    assert {"handmade-endpointslice", "stale-endpointslice", "stale-endpoints"} <= rules
    compare = json.loads((tmp_path / "compare/report.json").read_text())
    assert compare["summary"]["converged"] is False
    assert compare["rotation"]["kind"] == "blue/green node group migration"


def test_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "upgrade-auditor" in r.stdout


def test_compare_exit_code_follows_fail_on_and_reports_convergence(tmp_path: Path) -> None:
    from importlib import resources
    demo = resources.files("auditor.demo")
    with resources.as_file(demo / "before.json.gz") as before, resources.as_file(demo / "after.json.gz") as after:
        code, out, _ = invoke("compare", str(before), str(after), "--output-dir", str(tmp_path / "a"),
                              "--format", "json", "--fail-on", "never")
        assert code == 0, out  # exit 1 means findings at or above --fail-on, nothing else (README: exit codes)
        report = json.loads((tmp_path / "a/report.json").read_text())
        assert report["summary"]["converged"] is False and report["summary"]["error"] > 0
        code, _, _ = invoke("compare", str(before), str(after), "--output-dir", str(tmp_path / "b"), "--format", "json")
        assert code == 1


def test_compare_of_incomplete_inputs_is_never_converged(tmp_path: Path) -> None:
    """Convergence rules that could not run: unknown (null), never true; findings still exit 1 first, and
    without them (--fail-on never) the unknown is exit 3, never a pass."""
    pods = [o for o in small_cluster(handmade=False) if o["kind"] == "Pod"]
    p = write(tmp_path, "pods.json", b.kubectl_list(pods))
    code, _, _ = invoke("compare", str(p), str(p), "--output-dir", str(tmp_path / "r"), "--format", "json")
    report = json.loads((tmp_path / "r/report.json").read_text())
    assert code == 1 and report["summary"]["converged"] is None  # incomplete-snapshot errors at --fail-on error
    assert any("convergence is unknown because" in n and "could not run" in n for n in report["notices"])
    code, out, _ = invoke("compare", str(p), str(p), "--output-dir", str(tmp_path / "n"), "--format", "json",
                          "--fail-on", "never")
    assert code == 3 and out.startswith("UNKNOWN  compare (fail-on never · convergence unknown)"), out


KUBECTL_GET_ALL_EXTRAS = [
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "cart", "namespace": "shop", "uid": "d-1", "creationTimestamp": "2026-11-10T08:00:00Z"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cart"}},
              "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
              "template": {"metadata": {"labels": {"app": "cart"}},
                           "spec": {"containers": [{"name": "cart", "image": "cart:1"}]}}},
     "status": {"replicas": 2, "readyReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]}},
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
     "metadata": {"name": "cart", "namespace": "shop"},
     "spec": {"selector": "app=cart", "ports": "not-a-list", "containers": {"odd": True},
              "scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": 2, "maxReplicas": 5}},
    {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"},
     "spec": {"schedule": "0 1 * * *", "type": {"nested": 1}}},
]


@pytest.mark.parametrize("as_yaml", [False, True])
def test_kubectl_get_all_is_accepted_and_unread_kinds_are_ignored_whatever_their_shape(
        tmp_path: Path, as_yaml: bool) -> None:
    doc = b.kubectl_list(small_cluster(handmade=False) + KUBECTL_GET_ALL_EXTRAS)
    p = write(tmp_path, "all.yaml" if as_yaml else "all.json", doc, as_yaml=as_yaml)
    out = tmp_path / "r"
    code, stdout, stderr = invoke("audit", str(p), "--output-dir", str(out), "--format", "json")
    assert code == 0, (stdout, stderr)
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"][0]["complete"] is True
    assert report["cluster"]["objects"]["Deployment"] == 1


def test_a_known_kind_with_a_wrong_field_is_still_an_input_error(tmp_path: Path) -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "y"},
           "spec": {"replicas": "two"}}
    p = write(tmp_path, "bad.json", b.kubectl_list(small_cluster(handmade=False) + [bad]))
    code, _, stderr = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and "Deployment" in stderr and "Traceback" not in stderr, stderr
