"""deploy/: the manifests load, the ClusterRole grants exactly the kinds the tool reads (read-only, no Secrets), and
the CronJob's own commands, run with the kubernetes client's in-cluster configuration against an API double (a
token and CA file of the test's own), upload a report that `fleet report s3://...` then finds."""
from __future__ import annotations

import gzip
import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import Result
from moto import mock_aws

from auditor.state.kinds import REGISTRY
from tests.apidouble import ApiDouble
from tests.fleet.conftest import healthy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def manifests() -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def test_cluster_role_grants_exactly_what_the_tool_reads() -> None:
    (role,) = manifests()["ClusterRole"]
    grants = {(group, res): set(r["verbs"]) for r in role["rules"] for group in r["apiGroups"]
              for res in r["resources"]}
    reads = {(k.group, k.plural) for k in REGISTRY}
    ssar = ("authorization.k8s.io", "selfsubjectaccessreviews")
    assert set(grants) == reads | {ssar}, "one grant per kind read, no more"
    assert grants.pop(ssar) == {"create"}
    for (group, res), verbs in grants.items():
        assert "list" in verbs and verbs <= {"get", "list", "watch"}, f"{group}/{res}: {verbs}"
    assert not {res for _, res in grants} & {"secrets", "configmaps", "serviceaccounts"}


def test_binding_account_and_cronjob_fit_together() -> None:
    m = manifests()
    (ns,) = m["Namespace"]
    (sa,) = m["ServiceAccount"]
    (binding,) = m["ClusterRoleBinding"]
    (role,) = m["ClusterRole"]
    (cron,) = m["CronJob"]
    name = ns["metadata"]["name"]
    assert sa["metadata"]["namespace"] == cron["metadata"]["namespace"] == name
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": name}]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "work", "mountPath": "/work"} in container["volumeMounts"]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in DEPLOY.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")
    assert kustomization["configMapGenerator"][0]["name"] == container["envFrom"][0]["configMapRef"]["name"]


def cronjob_commands(env: dict[str, str], work: Path) -> list[list[str]]:
    """The `upgrade-auditor` commands of the CronJob's script, with its variables set and /work moved to `work`."""
    (cron,) = manifests()["CronJob"]
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    (script,) = container["args"]
    commands = []
    for line in script.splitlines():
        first = line.split(" ; ")[0].strip()
        if first.startswith("upgrade-auditor "):
            words = shlex.split(first.replace("$", "\0"))  # expand after splitting, as the shell does in quotes
            for k, v in env.items():
                words = [w.replace(f"\0{k}", v) for w in words]
            commands.append([w.replace("/work", str(work)) for w in words[1:]])
    return commands


def configmap_env() -> dict[str, str]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    literals = kustomization["configMapGenerator"][0]["literals"]
    return dict(line.split("#")[0].strip().split("=", 1) for line in literals)


@pytest.fixture
def in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An API double as the cluster the Pod runs in: the in-cluster loader reads our token and CA files."""
    from kubernetes.config import incluster_config

    with ApiDouble(healthy(), token="sa-t0ken") as api:
        secrets = tmp_path / "serviceaccount"
        secrets.mkdir()
        (secrets / "token").write_text("sa-t0ken")
        (secrets / "ca.crt").write_bytes(api.ca_pem)
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(secrets / "token"))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(secrets / "ca.crt"))
        host, port = api.url.removeprefix("https://").split(":")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config: in-cluster it is
        yield api


def test_cronjob_commands_run_in_cluster_and_meet_in_s3(in_cluster: ApiDouble, cli: Callable[..., Result],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = configmap_env()
    bucket = env["REPORTS_S3_PREFIX"].removeprefix("s3://").split("/")[0]
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **env}.items():
        monkeypatch.setenv(k, v)
    work = tmp_path / "work"
    work.mkdir()
    with mock_aws():
        boto3.client("s3", region_name=env["AWS_REGION"]).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env["AWS_REGION"]})
        snapshot, audit = cronjob_commands(env, work)
        res = cli(*snapshot)
        assert res.exit_code == 0, res.output
        source = json.loads(gzip.decompress((work / "snapshot.json.gz").read_bytes()))["metadata"]["source"]
        assert source["inCluster"] is True and source["context"] == "in-cluster"
        assert {a.lower() for a in in_cluster.authorizations} == {"bearer sa-t0ken"}  # the loader writes "bearer"
        res = cli(*audit)
        assert res.exit_code == 0, res.output
        res = cli("fleet", "report", env["REPORTS_S3_PREFIX"] + "/", "--output-dir", tmp_path / "fleet")
        assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    assert [(c["name"], c["verdict"]) for c in doc["clusters"]] == [(env["CLUSTER_NAME"], "pass")]
    assert doc["clusters"][0]["report"].endswith(f"/fleet/{env['CLUSTER_NAME']}/report.html")
    assert not os.path.exists(tmp_path / "home" / ".kube")
