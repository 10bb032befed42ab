"""auditor.collect.eks: moto for clusters and node groups, Stubber for what moto lacks, every fault."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import boto3
import eks_shapes as S
import fake_eks
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber
from fake_eks import FakeEks
from moto import mock_aws

from auditor.collect.eks import (
    MAX_ATTEMPTS,
    RETRY_MODE,
    client_config,
    collect_eks,
    make_client,
    missing_as_resources,
    sanitise,
)
from auditor.errors import CollectionError, ExitCode

ROLE = f"arn:aws:iam::{S.ACCOUNT}:role/shop-prod-cluster"
NODE_ROLE = f"arn:aws:iam::{S.ACCOUNT}:role/shop-prod-node"
TOP_KEYS = {"clusterName", "region", "targetVersion", "cluster", "nodegroups", "addons", "addonVersions",
            "addonVersionsByTarget", "insights", "updates", "missing"}


def _moto_cluster(version: str = "1.30", nodegroups: dict[str, str] | None = None) -> None:
    eks = boto3.client("eks", region_name=S.REGION)
    eks.create_cluster(name=S.CLUSTER, version=version, roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": S.SUBNETS})
    for name, ng_version in (nodegroups or {}).items():
        eks.create_nodegroup(clusterName=S.CLUSTER, nodegroupName=name, nodeRole=NODE_ROLE, subnets=S.SUBNETS,
                             version=ng_version, scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})


# ------------------------------------------------------------------------------------------ moto


@mock_aws
def test_moto_cluster_and_nodegroups() -> None:
    _moto_cluster("1.30", {"ng-main": "1.30", "ng-legacy": "1.27"})
    got = collect_eks(S.CLUSTER, region=S.REGION)
    assert set(got) == TOP_KEYS
    assert got["clusterName"] == S.CLUSTER and got["region"] == S.REGION
    assert got["targetVersion"] == "1.31"  # the control plane's next minor
    assert got["cluster"]["version"] == "1.30" and got["cluster"]["status"] == "ACTIVE"
    assert "certificateAuthority" not in got["cluster"] and "clientRequestToken" not in got["cluster"]
    assert isinstance(got["cluster"]["createdAt"], str) and got["cluster"]["createdAt"].endswith("Z")
    versions = {ng["nodegroupName"]: ng["version"] for ng in got["nodegroups"]}
    assert versions == {"ng-main": "1.30", "ng-legacy": "1.27"}
    assert set(got["updates"]["nodegroups"]) == {"ng-main", "ng-legacy"}
    json.dumps(got)  # JSON-ready as is
    # moto does not implement add-ons, insights or updates: those parts are missing, the rest is kept
    assert {m["part"] for m in got["missing"]} == {"addons", "insights", "updates"}
    assert all("permission" not in m for m in got["missing"])  # not a permission problem


@mock_aws
def test_moto_cluster_not_found() -> None:
    _moto_cluster()
    with pytest.raises(CollectionError, match="EKS cluster 'nope' not found in region eu-west-1") as err:
        collect_eks("nope", region=S.REGION)
    assert err.value.exit_code == ExitCode.COLLECTION


@mock_aws
def test_moto_other_region_is_cluster_not_found() -> None:
    _moto_cluster()
    with pytest.raises(CollectionError, match="not found in region us-east-2.*--region"):
        collect_eks(S.CLUSTER, region="us-east-2")


# --------------------------------------------------------------------------------------- Stubber


def _client() -> BaseClient:
    return boto3.session.Session(region_name=S.REGION).client("eks", config=client_config())


Step = tuple[str, Any, dict[str, Any]]  # operation, response dict or ("error", code, status), expected params


def _happy_path(now: datetime) -> list[Step]:
    """Every call collect_eks makes for a 1.30 cluster with two node groups, two add-ons and two insights."""
    c = S.CLUSTER
    recent = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = (now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ins_err = S.insight("Deprecated APIs removed in Kubernetes v1.32", "ERROR", version="1.32")
    ins_ok = S.insight("Kubelet version skew", "PASSING", insight_id="0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f")
    kp = ["v1.31.2-eksbuild.3", "v1.31.1-eksbuild.2"]
    cni_p1, cni_p2 = ["v1.19.0-eksbuild.1"], ["v1.18.6-eksbuild.1", "v1.18.5-eksbuild.1"]
    return [
        ("describe_cluster", {"cluster": S.cluster("1.30")}, {"name": c}),
        ("list_nodegroups", {"nodegroups": ["ng-main"], "nextToken": "page-2"}, {"clusterName": c}),
        ("list_nodegroups", {"nodegroups": ["ng-blue"]}, {"clusterName": c, "nextToken": "page-2"}),
        ("describe_nodegroup", {"nodegroup": S.nodegroup("ng-main", "1.30")},
         {"clusterName": c, "nodegroupName": "ng-main"}),
        ("describe_nodegroup", {"nodegroup": S.nodegroup("ng-blue", "1.29", status="UPDATING")},
         {"clusterName": c, "nodegroupName": "ng-blue"}),
        ("list_addons", {"addons": ["kube-proxy", "vpc-cni"]}, {"clusterName": c}),
        ("describe_addon", {"addon": S.addon("kube-proxy", "v1.30.6-eksbuild.3")},
         {"clusterName": c, "addonName": "kube-proxy"}),
        ("describe_addon", {"addon": S.addon("vpc-cni", "v1.18.5-eksbuild.1")},
         {"clusterName": c, "addonName": "vpc-cni"}),
        ("describe_addon_versions", {"addons": [S.addon_versions("kube-proxy", "1.31", kp, kp[0])]},
         {"kubernetesVersion": "1.31", "addonName": "kube-proxy"}),
        ("describe_addon_versions",
         {"addons": [S.addon_versions("vpc-cni", "1.31", cni_p1, None)], "nextToken": "v2"},
         {"kubernetesVersion": "1.31", "addonName": "vpc-cni"}),
        ("describe_addon_versions", {"addons": [S.addon_versions("vpc-cni", "1.31", cni_p2, cni_p2[0])]},
         {"kubernetesVersion": "1.31", "addonName": "vpc-cni", "nextToken": "v2"}),
        # then the current minor, which compare and verify target (no silent gaps)
        ("describe_addon_versions", {"addons": [S.addon_versions("kube-proxy", "1.30", ["v1.30.6-eksbuild.3"],
                                                                 "v1.30.6-eksbuild.3")]},
         {"kubernetesVersion": "1.30", "addonName": "kube-proxy"}),
        ("describe_addon_versions", {"addons": []}, {"kubernetesVersion": "1.30", "addonName": "vpc-cni"}),
        ("list_insights", {"insights": [S.insight_summary(ins_err), S.insight_summary(ins_ok)]},
         {"clusterName": c, "filter": {"categories": ["UPGRADE_READINESS"]}}),
        ("describe_insight", {"insight": ins_err}, {"clusterName": c, "id": ins_err["id"]}),
        ("describe_insight", {"insight": ins_ok}, {"clusterName": c, "id": ins_ok["id"]}),
        ("list_updates", {"updateIds": ["u-cluster-recent", "u-cluster-old"]}, {"name": c}),
        ("describe_update", {"update": S.update("u-cluster-recent", created=recent)},
         {"name": c, "updateId": "u-cluster-recent"}),
        ("describe_update", {"update": S.update("u-cluster-old", created=old)},
         {"name": c, "updateId": "u-cluster-old"}),
        ("list_updates", {"updateIds": []}, {"name": c, "nodegroupName": "ng-main"}),
        ("list_updates", {"updateIds": ["u-ng-blue"]}, {"name": c, "nodegroupName": "ng-blue"}),
        ("describe_update", {"update": S.update("u-ng-blue", status="InProgress", created=running)},
         {"name": c, "updateId": "u-ng-blue", "nodegroupName": "ng-blue"}),
    ]


def _stub(client: BaseClient, steps: list[Step]) -> Stubber:
    stubber = Stubber(client)
    for op, resp, params in steps:
        if isinstance(resp, tuple):
            _, code, status = resp
            stubber.add_client_error(op, service_error_code=code, service_message=f"{code} for {op}",
                                     http_status_code=status, expected_params=params)
        else:
            stubber.add_response(op, resp, params)
    stubber.activate()
    return stubber


def _replace(steps: list[Step], op: str, resp: Any, drop_after: int = 0) -> list[Step]:
    """Make the first call to op answer with resp, and drop the drop_after calls that then never happen."""
    i = next(i for i, s in enumerate(steps) if s[0] == op)
    return steps[:i] + [(op, resp, steps[i][2])] + steps[i + 1 + drop_after:]


def test_stubbed_full_collection() -> None:
    client = _client()
    stubber = _stub(client, _happy_path(datetime.now(timezone.utc)))
    got = collect_eks(S.CLUSTER, client=client)
    stubber.assert_no_pending_responses()
    json.dumps(got)
    assert set(got) == TOP_KEYS and got["missing"] == []
    assert [ng["nodegroupName"] for ng in got["nodegroups"]] == ["ng-main", "ng-blue"]  # both pages
    assert got["nodegroups"][1]["status"] == "UPDATING"
    assert [a["addonName"] for a in got["addons"]] == ["kube-proxy", "vpc-cni"]
    assert all("configurationValues" not in a for a in got["addons"])
    assert got["addonVersions"] == {
        "kube-proxy": {"targetVersion": "1.31", "defaultVersion": "v1.31.2-eksbuild.3",
                       "compatibleVersions": ["v1.31.2-eksbuild.3", "v1.31.1-eksbuild.2"]},
        "vpc-cni": {"targetVersion": "1.31", "defaultVersion": "v1.18.6-eksbuild.1",
                    "compatibleVersions": ["v1.19.0-eksbuild.1", "v1.18.6-eksbuild.1", "v1.18.5-eksbuild.1"]},
    }
    assert [i["insightStatus"]["status"] for i in got["insights"]] == ["ERROR", "PASSING"]
    assert isinstance(got["insights"][0]["categorySpecificSummary"]["deprecationDetails"][0]["clientStats"][0]
                      ["lastRequestTime"], str)
    # recent and in-progress updates are kept, the 90-day-old one is not
    assert [u["id"] for u in got["updates"]["cluster"]] == ["u-cluster-recent"]
    ng_updates = got["updates"]["nodegroups"]
    assert list(ng_updates) == ["ng-main", "ng-blue"] and ng_updates["ng-main"] == []
    assert [(u["id"], u["status"]) for u in ng_updates["ng-blue"]] == [("u-ng-blue", "InProgress")]


def test_explicit_target_version_is_used_for_addon_versions() -> None:
    steps = [(op, resp, {**params, "kubernetesVersion": "1.32"} if op == "describe_addon_versions"
              and params["kubernetesVersion"] == "1.31" else params)
             for op, resp, params in _happy_path(datetime.now(timezone.utc))]
    at = max(i for i, s in enumerate(steps) if s[0] == "describe_addon_versions") + 1
    steps[at:at] = [("describe_addon_versions", {"addons": []}, {"kubernetesVersion": "1.31", "addonName": a})
                    for a in ("kube-proxy", "vpc-cni")]
    client = _client()
    stubber = _stub(client, steps)
    got = collect_eks(S.CLUSTER, client=client, target_version="1.32")
    stubber.assert_no_pending_responses()
    assert got["targetVersion"] == "1.32"
    # the stubbed versions speak of 1.31 only: nothing is compatible with 1.32
    assert got["addonVersions"]["kube-proxy"] == {"targetVersion": "1.32", "defaultVersion": None,
                                                  "compatibleVersions": []}


def test_access_denied_on_list_insights_keeps_the_rest() -> None:
    steps = _replace(_happy_path(datetime.now(timezone.utc)), "list_insights",
                     ("error", "AccessDeniedException", 403), drop_after=2)
    client = _client()
    stubber = _stub(client, steps)
    got = collect_eks(S.CLUSTER, client=client)
    stubber.assert_no_pending_responses()
    assert got["insights"] == []
    assert got["missing"] == [{"part": "insights", "permission": "eks:ListInsights",
                               "reason": "AccessDeniedException: AccessDeniedException for list_insights"}]
    assert len(got["nodegroups"]) == 2 and len(got["addons"]) == 2 and got["addonVersions"]
    assert missing_as_resources(got) == [{"kind": "EKS:insights", "reason": got["missing"][0]["reason"],
                                          "permission": "eks:ListInsights"}]


def test_access_denied_on_describe_addon_versions_is_one_missing_part() -> None:
    denied = ("error", "AccessDeniedException", 403)
    steps = [(op, denied if op == "describe_addon_versions" else resp, params)
             for op, resp, params in _happy_path(datetime.now(timezone.utc))]
    del steps[10]  # the second page of vpc-cni versions is never asked for
    client = _client()
    stubber = _stub(client, steps)
    got = collect_eks(S.CLUSTER, client=client)
    stubber.assert_no_pending_responses()
    assert got["addonVersions"] == {}
    assert len(got["addons"]) == 2
    [missing] = got["missing"]
    assert missing["part"] == "addonVersions" and missing["permission"] == "eks:DescribeAddonVersions"
    assert "(and 3 more calls)" in missing["reason"]


def test_access_denied_on_describe_cluster_is_fatal() -> None:
    client = _client()
    _stub(client, [("describe_cluster", ("error", "AccessDeniedException", 403), {"name": S.CLUSTER})])
    with pytest.raises(CollectionError, match="access denied to eks:DescribeCluster"):
        collect_eks(S.CLUSTER, client=client)


@pytest.mark.parametrize("op", ["describe_cluster", "list_addons"])
def test_expired_token_is_fatal(op: str) -> None:
    steps = _replace(_happy_path(datetime.now(timezone.utc)), op, ("error", "ExpiredTokenException", 403))
    client = _client()
    _stub(client, steps)
    with pytest.raises(CollectionError, match=r"AWS rejected the credentials \(ExpiredTokenException") as err:
        collect_eks(S.CLUSTER, client=client)
    assert "\n" not in str(err.value)


def test_nodegroup_deleted_between_list_and_describe_is_skipped() -> None:
    steps = _replace(_happy_path(datetime.now(timezone.utc)), "describe_nodegroup",
                     ("error", "ResourceNotFoundException", 404))
    steps = [s for s in steps if s[2].get("nodegroupName") != "ng-main" or s[0] == "describe_nodegroup"]
    client = _client()
    stubber = _stub(client, steps)
    got = collect_eks(S.CLUSTER, client=client)
    stubber.assert_no_pending_responses()
    assert [ng["nodegroupName"] for ng in got["nodegroups"]] == ["ng-blue"] and got["missing"] == []


# ---------------------------------------------------------------------------------- client faults


def test_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CollectionError, match="no AWS credentials found") as err:
        collect_eks(S.CLUSTER, region=S.REGION)
    assert err.value.exit_code == ExitCode.COLLECTION


def test_unknown_profile() -> None:
    with pytest.raises(CollectionError, match="AWS profile 'prod' is not in the AWS config files"):
        make_client(S.REGION, "prod")


def test_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(CollectionError, match="no AWS region: pass --region"):
        make_client()


def test_endpoint_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(CollectionError, match=f"cannot reach the EKS API at http://127.0.0.1:{port} "
                                              r"\(region eu-west-1\)"):
        collect_eks(S.CLUSTER)


def test_endpoint_url_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert make_client().meta.endpoint_url == "http://127.0.0.1:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", "http://127.0.0.1:2")  # the service-specific one wins
    assert make_client().meta.endpoint_url == "http://127.0.0.1:2"


def test_retry_config(monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(S.REGION)
    assert client.meta.config.retries == {"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS}
    assert client.meta.config.connect_timeout and client.meta.config.read_timeout
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert client_config().retries == {"mode": "adaptive"}  # botocore then reads AWS_MAX_ATTEMPTS itself


# ------------------------------------------------------------------- throttling over real HTTP


@pytest.fixture
def throttling_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeEks]]:
    """An EKS endpoint that throttles describe_cluster twice before answering."""
    with fake_eks.serve(throttle=2) as (url, handler):
        monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", url)
        yield handler


def test_throttling_is_retried_by_botocore(throttling_endpoint: type[FakeEks]) -> None:
    got = collect_eks(S.CLUSTER)
    assert got["cluster"]["version"] == "1.30" and got["missing"] == []
    assert throttling_endpoint.hits.count(f"/clusters/{S.CLUSTER}") == 3  # two throttled, one answered


def test_throttling_beyond_max_attempts_fails(throttling_endpoint: type[FakeEks],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    with pytest.raises(CollectionError, match="ThrottlingException"):
        collect_eks(S.CLUSTER)
    assert throttling_endpoint.hits.count(f"/clusters/{S.CLUSTER}") == 2


# ----------------------------------------------------------------------------------- helpers


def test_sanitise_drops_credential_like_keys() -> None:
    raw = {"a": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "certificateAuthority": {"data": "x"},
           "nested": [{"secretAccessKey": "x", "sessionToken": "y", "Password": "z", "keep": 1}],
           "blob": b"\x00"}
    assert sanitise(raw) == {"a": "2024-01-02T03:04:05Z", "nested": [{"keep": 1}], "blob": None}


def test_missing_as_resources() -> None:
    eks = {"missing": [{"part": "insights", "reason": "AccessDeniedException: no",
                        "permission": "eks:ListInsights"},
                       {"part": "updates", "reason": "404: Not yet implemented"}]}
    assert missing_as_resources(eks) == [
        {"kind": "EKS:insights", "reason": "AccessDeniedException: no", "permission": "eks:ListInsights"},
        {"kind": "EKS:updates", "reason": "404: Not yet implemented"}]
    assert missing_as_resources(None) == []
