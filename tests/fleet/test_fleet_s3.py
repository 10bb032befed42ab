"""S3 and EKS for fleets: `fleet report s3://...` under moto (a paginated listing, links to the objects), and a
`fleet audit` of an EKS ARN context whose worker reads the EKS API and uploads, both through AWS_ENDPOINT_URL."""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from click.testing import Result
from moto import mock_aws

from tests.fleet.conftest import ARN, Fleet
from tests.fleet.test_fleet_report import SCHEMA, report_json

BUCKET = "fleet-reports"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def fleet_json(folder: Path) -> dict[str, Any]:
    doc = json.loads((folder / "fleet.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_report_from_an_s3_prefix_across_pages(s3: Any, cli: Callable[..., Result], tmp_path: Path) -> None:
    # 1,000 other objects first (the listing's page size): the reports are only on the second page
    for i in range(1000):
        s3.put_object(Bucket=BUCKET, Key=f"wave-1/aaa-snapshots/{i:04d}.json.gz", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="wave-1/prod/report.json", Body=json.dumps(report_json("in-cluster", errors=1)))
    s3.put_object(Bucket=BUCKET, Key="wave-1/prod/report.html", Body=b"<html>")
    s3.put_object(Bucket=BUCKET, Key="wave-1/dev/report.json", Body=json.dumps(report_json("dev-ctx")))
    s3.put_object(Bucket=BUCKET, Key="wave-2/other/report.json", Body=json.dumps(report_json("other")))
    res = cli("fleet", "report", f"s3://{BUCKET}/wave-1/", "--output-dir", tmp_path / "o")
    assert res.exit_code == 1, res.output
    doc = fleet_json(tmp_path / "o")
    assert [(c["name"], c["verdict"]) for c in doc["clusters"]] == [("prod", "fail"), ("dev-ctx", "pass")]
    by = {c["name"]: c for c in doc["clusters"]}
    assert by["prod"]["report"] == f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/wave-1/prod/report.html"
    assert by["dev-ctx"]["report"] == f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/wave-1/dev/report.json"
    html = (tmp_path / "o" / "fleet.html").read_text()
    assert f'href="https://{BUCKET}.s3.eu-west-1.amazonaws.com/wave-1/prod/report.html"' in html


def test_s3_sources_exit_2_when_missing_or_empty(s3: Any, cli: Callable[..., Result], tmp_path: Path) -> None:
    res = cli("fleet", "report", "s3://no-such-bucket-here/x/", "--output-dir", tmp_path / "o")
    assert res.exit_code == 2 and "no such bucket" in res.stderr
    s3.put_object(Bucket=BUCKET, Key="empty/readme.txt", Body=b"")
    res = cli("fleet", "report", f"s3://{BUCKET}/empty/", "--output-dir", tmp_path / "o")
    assert res.exit_code == 2 and "holds no report.json" in res.stderr
    res = cli("fleet", "report", "s3://Bad_Bucket/", "--output-dir", tmp_path / "o")
    assert res.exit_code == 2 and "s3://BUCKET/PREFIX/" in res.stderr


def test_s3_reads_are_bounded(s3: Any, cli: Callable[..., Result], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPGRADE_AUDITOR_MAX_INPUT_SIZE", "4K")
    big = report_json("big", warnings=40)
    assert len(json.dumps(big)) > 4096
    s3.put_object(Bucket=BUCKET, Key="w/big/report.json", Body=json.dumps(big))
    s3.put_object(Bucket=BUCKET, Key="w/ok/report.json", Body=json.dumps(report_json("ok")))
    res = cli("fleet", "report", f"s3://{BUCKET}/w/", "--output-dir", tmp_path / "o")
    assert res.exit_code == 1
    by = {c["name"]: c for c in fleet_json(tmp_path / "o")["clusters"]}
    assert by["ok"]["verdict"] == "pass"
    assert by["big"]["verdict"] == "incomplete" and "larger than 4096 bytes" in by["big"]["error"]


@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server in a thread: the fleet's worker processes reach it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


def test_arn_context_reads_its_eks_cluster_and_uploads(moto_server: str, fleet: Fleet, cli: Callable[..., Result],
                                                      tmp_path: Path) -> None:
    eks = boto3.client("eks", region_name="eu-west-1")
    eks.create_cluster(name="prod-eu", version="1.33", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    out = tmp_path / "out"
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", ARN, "--context", "good",
              "--output-dir", out, "--upload", f"s3://{BUCKET}/wave-1")
    folder = out / "arn_aws_eks_eu-west-1_123456789012_cluster_prod-eu"
    snapshot = json.loads(gzip.decompress((folder / "snapshot.json.gz").read_bytes()))
    assert snapshot["eks"]["clusterName"] == "prod-eu" and snapshot["eks"]["region"] == "eu-west-1"
    assert snapshot["eks"]["cluster"]["version"] == "1.33"
    doc = fleet_json(out)
    assert {c["name"] for c in doc["clusters"]} == {ARN, "good"}
    assert res.exit_code == doc_exit(doc), res.output
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="wave-1/")["Contents"]}
    assert {"wave-1/fleet.json", "wave-1/fleet.html", "wave-1/fleet.md", "wave-1/good/report.json",
            f"wave-1/{folder.name}/report.json", f"wave-1/{folder.name}/report.html"} <= keys
    # the fleet report of what was uploaded names the same clusters with the same verdicts
    res = cli("fleet", "report", f"s3://{BUCKET}/wave-1/", "--output-dir", tmp_path / "again")
    again = fleet_json(tmp_path / "again")
    assert [(c["name"], c["verdict"]) for c in again["clusters"]] == [
        (c["name"], c["verdict"]) for c in doc["clusters"]]


def doc_exit(doc: dict[str, Any]) -> int:
    verdicts = {c["verdict"] for c in doc["clusters"]}
    return 3 if verdicts & {"unreachable", "incomplete"} else 1 if "fail" in verdicts else 0
