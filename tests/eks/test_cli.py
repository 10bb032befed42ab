"""`upgrade-auditor snapshot --eks-cluster` end to end: real subprocess, moto server, Kubernetes double."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import boto3
import eks_shapes as S
import fake_eks
import pytest
from moto.server import ThreadedMotoServer

from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ApiDouble

ROLE = f"arn:aws:iam::{S.ACCOUNT}:role/shop-prod-cluster"
NODE_ROLE = f"arn:aws:iam::{S.ACCOUNT}:role/shop-prod-node"


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("upgrade-auditor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditor"]


def _snapshot(tmp_path: Path, kubeconfig: Path, endpoint: str,
              *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "2"}
    cmd = [*_cli(), "snapshot", "-o", str(tmp_path / "snap.json"), "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    with ApiDouble(clusterfactory.cluster(pods=6, services=2, nodes=2, namespaces=1)) as api:
        yield api.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def moto_cluster(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    eks = boto3.client("eks", region_name=S.REGION)
    if S.CLUSTER not in eks.list_clusters()["clusters"]:
        eks.create_cluster(name=S.CLUSTER, version="1.33", roleArn=ROLE,
                           resourcesVpcConfig={"subnetIds": S.SUBNETS})
        eks.create_nodegroup(clusterName=S.CLUSTER, nodegroupName="ng-main", nodeRole=NODE_ROLE,
                             subnets=S.SUBNETS, version="1.33")
    return moto_server


def test_snapshot_against_moto_server(tmp_path: Path, kubeconfig: Path, moto_cluster: str) -> None:
    done = _snapshot(tmp_path, kubeconfig, moto_cluster, "--eks-cluster", S.CLUSTER, "--region", S.REGION)
    # moto lacks add-ons, insights and updates: those parts are missing, the snapshot incomplete (exit 3)
    assert done.returncode == 3, done.stderr
    assert "incomplete" in done.stderr and "EKS:addons" in done.stderr
    raw = json.loads((tmp_path / "snap.json").read_text())
    eks = raw["eks"]
    assert eks["clusterName"] == S.CLUSTER and eks["region"] == S.REGION and eks["targetVersion"] == "1.34"
    assert eks["cluster"]["version"] == "1.33" and "certificateAuthority" not in eks["cluster"]
    assert [ng["nodegroupName"] for ng in eks["nodegroups"]] == ["ng-main"]
    assert {m["kind"] for m in raw["metadata"]["missing"]} == {"EKS:addons", "EKS:insights", "EKS:updates"}
    assert raw["metadata"]["complete"] is False
    state = load(tmp_path / "snap.json")
    assert state.eks == eks and not state.inputs[0].complete and len(state.of("Node")) == 2


def test_snapshot_complete_with_eks(tmp_path: Path, kubeconfig: Path) -> None:
    with fake_eks.serve(throttle=1, version="1.33") as (url, handler):
        done = _snapshot(tmp_path, kubeconfig, url, "--eks-cluster", S.CLUSTER, "--region", S.REGION)
    assert done.returncode == 0, done.stderr
    raw = json.loads((tmp_path / "snap.json").read_text())
    assert raw["metadata"]["complete"] is True and raw["metadata"]["missing"] == []
    assert raw["eks"]["cluster"]["platformVersion"] == "eks.8" and raw["eks"]["missing"] == []
    assert handler.hits.count(f"/clusters/{S.CLUSTER}") == 2  # throttled once, retried by botocore


def test_snapshot_cluster_not_found(tmp_path: Path, kubeconfig: Path, moto_cluster: str) -> None:
    done = _snapshot(tmp_path, kubeconfig, moto_cluster, "--eks-cluster", "nope", "--region", S.REGION)
    assert done.returncode == 3
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert "EKS cluster 'nope' not found in region eu-west-1" in line
    raw = json.loads((tmp_path / "snap.json").read_text())  # the Kubernetes side is still written
    assert "eks" not in raw and raw["metadata"]["missing"][0]["kind"] == "EKS"
    assert raw["metadata"]["counts"]["Node"] == 2


def test_snapshot_without_credentials(tmp_path: Path, kubeconfig: Path, moto_cluster: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    done = _snapshot(tmp_path, kubeconfig, moto_cluster, "--eks-cluster", S.CLUSTER, "--region", S.REGION)
    assert done.returncode == 3 and "no AWS credentials found" in done.stderr
    assert "Traceback" not in done.stderr


def test_region_without_eks_cluster_is_a_usage_error(tmp_path: Path, kubeconfig: Path) -> None:
    done = _snapshot(tmp_path, kubeconfig, "http://127.0.0.1:1", "--region", S.REGION)
    assert done.returncode == 2 and "--region and --profile need --eks-cluster" in done.stderr
    assert not (tmp_path / "snap.json").exists()


def test_console_script_or_module_is_runnable() -> None:
    assert shutil.which(_cli()[0]) or Path(_cli()[0]).exists()
