"""Snapshots never hold credentials: a marker planted in every field that can carry a secret reaches no output.

The API double serves real-shaped objects whose env values, envFrom, args, commands (containers, init and
ephemeral containers, probes, hooks), HTTP probe headers and query strings, volume sources, termination
messages and annotations (last-applied-configuration included) all carry the marker. The snapshot, verify's
after-snapshot, every report format written from them and the S3 upload must not contain it anywhere.
"""
from __future__ import annotations

import copy
import gzip
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

import boto3
import moto
import pytest
from click.testing import CliRunner

from auditor.cli.main import main
from auditor.collect.project import project
from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ApiDouble

MARKER = "s3cr3t-MARKER-7f1d"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _secret_manifest() -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                       "stringData": {"password": MARKER}})


def _container(name: str) -> dict[str, Any]:
    return {"name": name, "image": f"registry.example/{name}:1.0",
            "command": ["/bin/sh", "-c", f"echo {MARKER}"], "args": [f"--password={MARKER}"],
            "env": [{"name": "DB_PASSWORD", "value": MARKER},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": f"s-{MARKER}", "key": MARKER}}}],
            "envFrom": [{"secretRef": {"name": MARKER}}, {"configMapRef": {"name": MARKER}, "prefix": MARKER}],
            "workingDir": f"/srv/{MARKER}",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": f"/ready?token={MARKER}", "port": "http",
                                           "httpHeaders": [{"name": "Authorization", "value": f"Bearer {MARKER}"}]},
                               "periodSeconds": 5},
            "livenessProbe": {"exec": {"command": ["check", MARKER]}, "periodSeconds": 10},
            "startupProbe": {"tcpSocket": {"port": 8080}},
            "lifecycle": {"preStop": {"exec": {"command": ["drain", MARKER]}},
                          "postStart": {"httpGet": {"path": "/start", "port": 8080,
                                                    "httpHeaders": [{"name": "X-Key", "value": MARKER}]}}},
            "volumeMounts": [{"name": "creds", "mountPath": f"/etc/{MARKER}"}],
            "resources": {"requests": {"cpu": "100m"}}}


def _plant(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta.setdefault("annotations", {}).update({LAST_APPLIED: _secret_manifest(), "example.com/api-key": MARKER,
                                               "kubernetes.io/change-cause": f"kubectl set env X={MARKER}"})
    if obj["kind"] == "Pod":
        spec, status = obj["spec"], obj["status"]
        main_name = spec["containers"][0]["name"]
        spec["containers"] = [_container(main_name)]
        spec["initContainers"] = [_container("init-db"), {**_container("sidecar"), "restartPolicy": "Always"}]
        spec["ephemeralContainers"] = [{**_container("debugger"), "targetContainerName": main_name}]
        spec["volumes"] = [{"name": "creds", "secret": {"secretName": MARKER}},
                           {"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io",
                                                   "volumeAttributes": {"token": MARKER},
                                                   "nodePublishSecretRef": {"name": MARKER}}}]
        status["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                                                      "message": f"panic: {MARKER}"}}
        status["initContainerStatuses"] = [{"name": "init-db", "ready": False, "restartCount": 2, "image": "x",
                                            "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                                                 "message": MARKER}}}]
    return obj


@pytest.fixture
def planted() -> list[dict[str, Any]]:
    return [_plant(o) for o in clusterfactory.cluster(pods=40, services=4, nodes=3, namespaces=2)]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="audits", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()


def _assert_clean(directory: Path) -> list[Path]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    for p in files:
        assert MARKER not in _text(p), p
    return files


def test_marker_reaches_no_output(planted: list[dict[str, Any]], tmp_path: Path, aws: None) -> None:
    assert MARKER in json.dumps(planted)
    runner = CliRunner()
    with ApiDouble(planted) as api:
        kc = api.write_kubeconfig(tmp_path / "kc")
        for name in ("before.json", "before.json.gz"):
            result = runner.invoke(main, ["snapshot", "-o", str(tmp_path / name), "--kubeconfig", str(kc)],
                                   catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert MARKER not in _text(tmp_path / name)
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
        out = tmp_path / "verify-out"
        result = runner.invoke(main, ["verify", "--before", str(tmp_path / "before.json"), "--kubeconfig", str(kc),
                                      "--timeout", "5", "--interval", "0.2", "--output-dir", str(out),
                                      "--format", "html,md,json,junit", "--upload", "s3://audits/verify"],
                               catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output
        assert MARKER not in result.output
        assert (out / "after-snapshot.json.gz").is_file()
        assert {p.name for p in _assert_clean(out)} >= {"after-snapshot.json.gz", "report.html", "report.md",
                                                      "report.json", "report.junit.xml"}
    audit_out = tmp_path / "audit-out"
    result = runner.invoke(main, ["audit", str(tmp_path / "before.json.gz"), "--output-dir", str(audit_out),
                                  "--format", "html,md,json,junit", "--fail-on", "never",
                                  "--upload", "s3://audits/audit"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert MARKER not in result.output
    assert len(_assert_clean(audit_out)) == 4
    s3 = boto3.client("s3", region_name="eu-west-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="audits")["Contents"]]
    assert len(keys) >= 8
    for key in keys:
        body = s3.get_object(Bucket="audits", Key=key)["Body"].read()
        assert MARKER.encode() not in (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body), key


def test_projection_keeps_what_rules_and_reports_read(planted: list[dict[str, Any]], tmp_path: Path) -> None:
    with ApiDouble(planted) as api:
        result = CliRunner().invoke(main, ["snapshot", "-o", str(tmp_path / "s.json"), "--kubeconfig",
                                           str(api.write_kubeconfig(tmp_path / "kc"))], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "s.json").read_text())
    pod = next(o for o in doc["items"] if o["kind"] == "Pod")
    served = next(o for o in planted if o["kind"] == "Pod" and o["metadata"]["name"] == pod["metadata"]["name"])
    meta = pod["metadata"]
    assert "managedFields" not in meta and meta["ownerReferences"] == served["metadata"]["ownerReferences"]
    assert meta["labels"] == served["metadata"]["labels"] and meta["uid"] == served["metadata"]["uid"]
    assert "annotations" not in meta  # last-applied, change-cause and a third-party key: all dropped
    c = pod["spec"]["containers"][0]
    assert set(c) == {"name", "image", "ports", "resources", "readinessProbe", "livenessProbe", "startupProbe",
                      "lifecycle"}
    assert c["readinessProbe"] == {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}
    assert c["livenessProbe"] == {"exec": {}, "periodSeconds": 10}
    assert c["lifecycle"] == {"preStop": {"exec": {}}, "postStart": {"httpGet": {"path": "/start", "port": 8080}}}
    assert [i["name"] for i in pod["spec"]["initContainers"]] == ["init-db", "sidecar"]
    assert pod["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert pod["spec"]["ephemeralContainers"][0]["targetContainerName"] == c["name"]
    assert pod["spec"]["volumes"] == [{"name": "creds", "secret": {}}, {"name": "csi", "csi": {}}]
    assert pod["spec"]["nodeName"] == served["spec"]["nodeName"]
    st = pod["status"]
    assert st["podIP"] == served["status"]["podIP"] and st["conditions"] == served["status"]["conditions"]
    assert st["containerStatuses"][0]["lastState"] == {"terminated": {"exitCode": 1, "reason": "Error"}}
    assert st["initContainerStatuses"][0]["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    svc = next(o for o in doc["items"] if o["kind"] == "Service")
    served_svc = next(o for o in planted if o["kind"] == "Service" and o["metadata"]["name"] ==
                      svc["metadata"]["name"])
    assert svc["spec"] == served_svc["spec"]
    ep = next(o for o in doc["items"] if o["kind"] == "Endpoints")
    assert ep["metadata"]["annotations"] == {"endpoints.kubernetes.io/last-change-trigger-time": clusterfactory.T1}
    state = load(tmp_path / "s.json")  # the loader reads the projection as it read full objects
    p = state.of("Pod")[0]
    assert p.spec is not None and p.spec.containers and p.spec.containers[0].ports
    assert p.spec.init_containers and p.spec.init_containers[1].restart_policy == "Always"


def test_kinds_without_a_projection_lose_secrets_anywhere() -> None:
    deployment = {"metadata": {"name": "web", "namespace": "shop", "managedFields": [{"manager": "x"}],
                               "annotations": {LAST_APPLIED: _secret_manifest(),
                                               "deployment.kubernetes.io/revision": "3"}},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"},
                                                     "annotations": {"vault.example/secret": MARKER}},
                                        "spec": {"containers": [_container("web")],
                                                 "initContainers": [_container("init")]}}},
                  "status": {"readyReplicas": 3}}
    line = project("Deployment", "apps/v1", json.dumps(deployment).encode())
    out = json.loads(line)
    assert MARKER not in line.decode()
    assert list(out)[:2] == ["kind", "apiVersion"] and out["kind"] == "Deployment"
    assert out["metadata"] == {"name": "web", "namespace": "shop",
                               "annotations": {"deployment.kubernetes.io/revision": "3"}}
    web = out["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["periodSeconds"] == 5 and "exec" in web["livenessProbe"]
    assert out["spec"]["replicas"] == 3 and out["status"] == {"readyReplicas": 3}
    cron = {"metadata": {"name": "backup"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "b", "args": [MARKER], "env": [{"name": "K", "value": MARKER}]}]}}}}}}
    assert MARKER not in project("CronJob", "batch/v1", json.dumps(cron).encode()).decode()
    node_class = {"metadata": {"name": "default"}, "spec": {"amiFamily": "AL2023", "userData": f"#!/bin/sh\n{MARKER}"}}
    assert MARKER not in project("EC2NodeClass", "karpenter.k8s.aws/v1", json.dumps(node_class).encode()).decode()


def test_a_pod_of_unexpected_shape_still_loses_its_secrets() -> None:
    odd = {"metadata": {"name": "p", "namespace": "x"},
           "spec": {"containers": "not-a-list", "initContainers": [_container("i")]}}
    line = project("Pod", "v1", json.dumps(odd).encode())
    assert MARKER not in line.decode() and json.loads(line)["spec"]["containers"] == "not-a-list"


@pytest.mark.parametrize("key,kept", [
    ("upgrade-auditor.io/ignore", True), ("endpoints.kubernetes.io/last-change-trigger-time", True),
    ("control-plane.alpha.kubernetes.io/leader", True), ("service.beta.kubernetes.io/aws-load-balancer-type", True),
    ("karpenter.sh/do-not-disrupt", True), ("eks.amazonaws.com/role-arn", True),
    ("deployment.kubernetes.io/revision", True),
    (LAST_APPLIED, False), ("kubernetes.io/change-cause", False), ("example.com/api-key", False),
    ("vault.hashicorp.com/agent-inject-secret-db", False), ("notkubernetes.io/x", False), ("plain", False)])
def test_annotation_filter(key: str, kept: bool) -> None:
    from auditor.collect.project import keep_annotation

    assert keep_annotation(key) is kept
