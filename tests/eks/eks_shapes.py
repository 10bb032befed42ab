"""EKS API responses shaped exactly like the service's (botocore eks 2017-11-01), for Stubber and cases."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CLUSTER = "shop-prod"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"]
CLUSTER_ID = "4F2C1A9B7E6D5C3B2A1F0E9D8C7B6A5F"
# base64 of a (truncated, made-up) PEM: describe_cluster always carries one; the collector must drop it
CA_DATA = ("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFR"
           "c0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")


def ts(text: str) -> datetime:
    """The datetimes botocore hands back for EKS timestamps (aware, UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def cluster(version: str = "1.30", platform: str = "eks.8", status: str = "ACTIVE",
            issues: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": CLUSTER,
        "arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "createdAt": ts("2024-03-11T09:12:44Z"),
        "version": version,
        "endpoint": f"https://{CLUSTER_ID}.gr7.{REGION}.eks.amazonaws.com",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/shop-prod-cluster",
        "resourcesVpcConfig": {"subnetIds": SUBNETS, "securityGroupIds": ["sg-0f1e2d3c4b5a69788"],
                               "clusterSecurityGroupId": "sg-0a9b8c7d6e5f40312",
                               "vpcId": "vpc-0c1d2e3f4a5b6c7d8",
                               "endpointPublicAccess": False, "endpointPrivateAccess": True,
                               "publicAccessCidrs": []},
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4",
                                    "elasticLoadBalancing": {"enabled": False}},
        "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True},
                                       {"types": ["authenticator", "controllerManager", "scheduler"],
                                        "enabled": False}]},
        "identity": {"oidc": {"issuer": f"https://oidc.eks.{REGION}.amazonaws.com/id/{CLUSTER_ID}"}},
        "status": status,
        "certificateAuthority": {"data": CA_DATA},
        "clientRequestToken": "d4c1e9b2-6f0a-4e1b-9c3d-2a7b8e5f6c10",
        "platformVersion": platform,
        "tags": {"team": "shop"},
        "health": {"issues": issues or []},
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
        "upgradePolicy": {"supportType": "STANDARD"},
        "zonalShiftConfig": {"enabled": False},
    }


def nodegroup(name: str, version: str = "1.30", release: str | None = None, status: str = "ACTIVE",
              issues: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    release = release or {"1.24": "1.24.17-20240315", "1.25": "1.25.16-20240514", "1.26": "1.26.15-20240807",
                          "1.27": "1.27.16-20241024", "1.28": "1.28.15-20241121",
                          "1.29": "1.29.10-20241121", "1.30": "1.30.6-20241121",
                          "1.31": "1.31.2-20241121"}.get(version, f"{version}.0-20241121")
    ng_id = "8ac9d2f1-4b3e-7c6a-1d2e-0f9a8b7c6d5e"
    return {
        "nodegroupName": name,
        "nodegroupArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/{CLUSTER}/{name}/{ng_id}",
        "clusterName": CLUSTER,
        "version": version,
        "releaseVersion": release,
        "createdAt": ts("2024-10-02T14:03:11Z"),
        "modifiedAt": ts("2024-11-20T08:41:27Z"),
        "status": status,
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 2, "maxSize": 6, "desiredSize": 3},
        "instanceTypes": ["m6i.large"],
        "subnets": SUBNETS,
        "amiType": "AL2023_x86_64_STANDARD",
        "nodeRole": f"arn:aws:iam::{ACCOUNT}:role/shop-prod-node",
        "labels": {"workload": "general"},
        "taints": [],
        "resources": {"autoScalingGroups": [{"name": f"eks-{name}-{ng_id}"}]},
        "diskSize": 50,
        "health": {"issues": issues or []},
        "updateConfig": {"maxUnavailable": 1, "updateStrategy": "DEFAULT"},
        "nodeRepairConfig": {"enabled": False},
        "tags": {"team": "shop"},
    }


def addon(name: str, version: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "addonName": name,
        "clusterName": CLUSTER,
        "status": status,
        "addonVersion": version,
        "health": {"issues": []},
        "addonArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:addon/{CLUSTER}/{name}/"
                    "1ec9d2f1-7a3b-4c5d-8e9f-0a1b2c3d4e5f",
        "createdAt": ts("2024-03-11T09:30:02Z"),
        "modifiedAt": ts("2024-10-02T15:10:45Z"),
        "tags": {},
        "configurationValues": '{"env":{"WARM_IP_TARGET":"2"}}',
    }


def addon_versions(name: str, target: str, versions: list[str], default: str | None) -> dict[str, Any]:
    """One `addons[]` element of describe_addon_versions(kubernetesVersion=target, addonName=name)."""
    return {
        "addonName": name,
        "type": "networking",
        "addonVersions": [
            {"addonVersion": v, "architecture": ["amd64", "arm64"], "computeTypes": ["ec2", "hybrid"],
             "compatibilities": [{"clusterVersion": target, "platformVersions": ["*"],
                                  "defaultVersion": v == default}],
             "requiresConfiguration": False, "requiresIamPermissions": False}
            for v in versions],
        "publisher": "eks",
        "owner": "aws",
    }


def insight(name: str, status: str, version: str = "1.31", category: str = "UPGRADE_READINESS",
            insight_id: str = "a1c0f5b2-9d3e-4f7a-8b6c-5d4e3f2a1b0c") -> dict[str, Any]:
    reasons = {"PASSING": "No deprecated API usage detected within the last 30 days.",
               "WARNING": "Deprecated API usage detected within last 30 days, removal in a later version.",
               "ERROR": "Deprecated API usage detected within last 30 days.",
               "UNKNOWN": "Unable to determine status of node kubelet versions."}
    return {
        "id": insight_id,
        "name": name,
        "category": category,
        "kubernetesVersion": version,
        "lastRefreshTime": ts("2024-11-20T06:12:09Z"),
        "lastTransitionTime": ts("2024-11-18T06:11:54Z"),
        "description": f"Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes "
                       f"v{version}. Upgrading your cluster before migrating to the updated APIs "
                       f"supported by v{version} could cause application impact.",
        "insightStatus": {"status": status, "reason": reasons[status]},
        "recommendation": f"Update manifests and API clients to use newer Kubernetes APIs if applicable "
                          f"before upgrading to Kubernetes v{version}.",
        "additionalInfo": {
            "EKS update cluster documentation":
                "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html",
            f"Kubernetes v{version} deprecation guide":
                "https://kubernetes.io/docs/reference/using-api/deprecation-guide/#v1-"
                + version.split(".")[1],
        },
        "resources": [] if status == "PASSING" else [
            {"insightStatus": {"status": status},
             "kubernetesResourceUri": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"}],
        "categorySpecificSummary": {"deprecationDetails": [] if status == "PASSING" else [
            {"usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
             "replacedWith": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
             "stopServingVersion": version, "startServingReplacementVersion": "1.29",
             "clientStats": [{"userAgent": "kube-prometheus-stack/v0.68.0",
                              "numberOfRequestsLast30Days": 4312,
                              "lastRequestTime": ts("2024-11-19T23:58:01Z")}]}]},
    }


def insight_summary(full: dict[str, Any]) -> dict[str, Any]:
    """The list_insights element for a describe_insight body."""
    keys = ("id", "name", "category", "kubernetesVersion", "lastRefreshTime", "lastTransitionTime",
            "description", "insightStatus")
    return {k: full[k] for k in keys}


def update(update_id: str, kind: str = "VersionUpdate", status: str = "Successful",
           created: str = "2024-11-20T08:41:27Z", params: list[dict[str, str]] | None = None,
           errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": update_id,
        "status": status,
        "type": kind,
        "params": params if params is not None else [{"type": "Version", "value": "1.30"},
                                                    {"type": "ReleaseVersion", "value": "1.30.6-20241121"}],
        "createdAt": ts(created),
        "errors": errors or [],
    }
