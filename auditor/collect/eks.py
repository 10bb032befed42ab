"""Read an EKS cluster's AWS side with boto3 into the JSON-ready `eks` section of a snapshot."""
from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from auditor.errors import CollectionError
from auditor.facts import versions
from auditor.state.clusterstate import format_time

LOG = logging.getLogger(__name__)

# Throttling and transient faults are retried by botocore itself (standard mode: exponential backoff
# with jitter, retries on throttling codes, 5xx and connection errors). AWS_RETRY_MODE and
# AWS_MAX_ATTEMPTS still win when the user sets them.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 5  # in all, the first try included
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30

#: Updates older than this that are no longer in progress are not worth carrying.
RECENT_UPDATES = timedelta(days=30)
#: Per cluster or node group; list_updates returns every update ever made.
MAX_UPDATES = 50

_CREDENTIAL_CODES = frozenset({
    "ExpiredTokenException", "ExpiredToken", "RequestExpired", "InvalidClientTokenId",
    "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
    "IncompleteSignature", "MissingAuthenticationTokenException", "MissingAuthenticationToken",
    "AuthFailure", "InvalidAccessKeyId", "InvalidToken",
})
NO_CREDENTIALS = ("no AWS credentials found (environment, --profile, shared config files, container or "
                  "instance role): configure credentials and try again")
_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
# Dropped wherever they appear: the CA bundle, idempotency tokens, free-form add-on configuration.
_DROP_KEYS = frozenset({"certificateAuthority", "clientRequestToken", "configurationValues",
                        "ResponseMetadata"})
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|private.?key|session.?key", re.I)


def client_config() -> Config:
    """Retries and timeouts for every EKS call; the user's AWS_RETRY_MODE / AWS_MAX_ATTEMPTS win."""
    retries: dict[str, Any] = {"mode": os.environ.get("AWS_RETRY_MODE") or RETRY_MODE}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = MAX_ATTEMPTS  # first try included
    return Config(retries=retries, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                  user_agent_extra="eks-upgrade-auditor")


def make_client(region: str | None = None, profile: str | None = None) -> BaseClient:
    """An EKS client from the standard credential chain; AWS_ENDPOINT_URL(_EKS) is honoured by boto3."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise CollectionError(f"AWS profile {profile!r} is not in the AWS config files "
                              "(check --profile / AWS_PROFILE)") from None
    if not session.region_name:
        raise CollectionError("no AWS region: pass --region or set AWS_REGION")
    try:
        credentials = session.get_credentials()
        client = session.client("eks", config=client_config())
    except BotoCoreError as exc:
        raise CollectionError(f"cannot set up the EKS client: {exc}") from None
    if credentials is None:
        raise CollectionError(NO_CREDENTIALS)
    return client


def collect_eks(cluster_name: str, region: str | None = None, profile: str | None = None,
                target_version: str | None = None, *, client: BaseClient | None = None) -> dict[str, Any]:
    """Describe the cluster, its node groups, add-ons, upgrade insights and recent updates.

    Faults that stop everything (credentials, connectivity, no such cluster) raise CollectionError;
    a part that cannot be read (AccessDenied on one call, a call the endpoint lacks) is listed in
    `missing` with the IAM action it needs, and the rest is still collected.
    """
    if client is None:
        client = make_client(region, profile)
    return _Collector(client, cluster_name).collect(target_version)


def missing_as_resources(eks: dict[str, Any] | None) -> list[dict[str, str]]:
    """The `missing` parts of an eks dict as entries for the snapshot metadata's `missing` list."""
    out: list[dict[str, str]] = []
    for m in (eks or {}).get("missing", []):
        entry = {"kind": f"EKS:{m.get('part', '?')}", "reason": str(m.get("reason", ""))}
        if m.get("permission"):
            entry["permission"] = str(m["permission"])
        out.append(entry)
    return out


def next_minor(version: str | None) -> str | None:
    """'1.30' (or 'v1.30.4-eks-...') -> '1.31' (auditor.facts.versions); None when the version is not of that form."""
    return versions.next_minor(version)


def sanitise(value: Any) -> Any:
    """JSON-ready copy: datetimes as RFC 3339, CA data, tokens and anything credential-like dropped."""
    if isinstance(value, dict):
        return {k: sanitise(v) for k, v in value.items()
                if k not in _DROP_KEYS and not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [sanitise(v) for v in value]
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, (bytes, bytearray)):
        return None
    return value


class _Collector:
    """One collection run: the client, the cluster, and the parts that could not be read."""

    def __init__(self, client: BaseClient, cluster_name: str) -> None:
        self.client = client
        self.cluster = cluster_name
        self.missing: dict[tuple[str, str], dict[str, Any]] = {}
        self._repeats: dict[tuple[str, str], int] = {}
        self.now = datetime.now(timezone.utc)

    def collect(self, target_version: str | None) -> dict[str, Any]:
        region = self.client.meta.region_name
        cluster = self._call("cluster", "eks:DescribeCluster", "describe_cluster", name=self.cluster)
        assert cluster is not None  # failures of the cluster call are fatal
        cluster = cluster["cluster"]
        target = target_version or next_minor(cluster.get("version"))
        LOG.info("EKS cluster %s in %s: version %s, target %s", self.cluster, region,
                 cluster.get("version"), target)

        nodegroups = self._describe_all("nodegroups", "list_nodegroups", "nodegroups", "describe_nodegroup",
                                        "nodegroupName", "nodegroup", clusterName=self.cluster)
        addons = self._describe_all("addons", "list_addons", "addons", "describe_addon", "addonName", "addon",
                                    clusterName=self.cluster)
        addon_versions: dict[str, Any] = {}
        # compatibility for every version a later command may target: the current minor (compare, verify),
        # the next (audit) and an explicit target (issue: no silent gaps)
        current = versions.parse(cluster.get("version"))
        targets = [str(v) for v in (versions.parse(target), current) if v is not None]
        if current is not None:
            targets.append(str(current.next()))
        by_target: dict[str, dict[str, Any]] = {}
        for version in dict.fromkeys(targets):
            for addon in addons:
                entry = self._addon_versions(addon["addonName"], version)
                if entry is not None:
                    by_target.setdefault(version, {})[addon["addonName"]] = entry
                    if version == target:
                        addon_versions[addon["addonName"]] = entry
        insights = self._describe_all("insights", "list_insights", "insights", "describe_insight", "id",
                                      "insight", clusterName=self.cluster,
                                      filter={"categories": ["UPGRADE_READINESS"]})
        updates = {"cluster": self._updates(),
                   "nodegroups": {ng["nodegroupName"]: self._updates(ng["nodegroupName"])
                                  for ng in nodegroups}}
        return sanitise({
            "clusterName": self.cluster,
            "region": region,
            "targetVersion": target,
            "cluster": cluster,
            "nodegroups": nodegroups,
            "addons": addons,
            "addonVersions": addon_versions,
            "addonVersionsByTarget": by_target,
            "insights": insights,
            "updates": updates,
            "missing": list(self.missing.values()),
        })

    # -- parts ---------------------------------------------------------------------------------

    def _describe_all(self, part: str, list_op: str, list_key: str, describe_op: str, id_param: str,
                      result_key: str, **list_args: Any) -> list[dict[str, Any]]:
        """List with the paginator, then describe each item; items that vanished in between are skipped."""
        items = self._pages(part, list_op, list_key, **list_args)
        describe_args = {"clusterName": self.cluster}
        out = []
        for item in items or []:
            key = item["id"] if isinstance(item, dict) else item
            got = self._call(part, _action(describe_op), describe_op, **describe_args, **{id_param: key})
            if got is not None:
                out.append(got[result_key])
        return out

    def _addon_versions(self, name: str, target: str) -> dict[str, Any] | None:
        pages = self._pages("addonVersions", "describe_addon_versions", "addons", kubernetesVersion=target,
                            addonName=name)
        if pages is None:
            return None
        compatible: list[str] = []
        default: str | None = None
        for addon in pages:
            if addon.get("addonName") != name:
                continue
            for v in addon.get("addonVersions", []):
                matches = [c for c in v.get("compatibilities", []) if c.get("clusterVersion") == target]
                if not matches:
                    continue
                compatible.append(v["addonVersion"])
                if default is None and any(c.get("defaultVersion") for c in matches):
                    default = v["addonVersion"]
        return {"targetVersion": target, "defaultVersion": default, "compatibleVersions": compatible}

    def _updates(self, nodegroup: str | None = None) -> list[dict[str, Any]]:
        scope = {"nodegroupName": nodegroup} if nodegroup else {}
        ids = self._pages("updates", "list_updates", "updateIds", name=self.cluster, **scope)
        out = []
        for update_id in (ids or [])[:MAX_UPDATES]:
            got = self._call("updates", "eks:DescribeUpdate", "describe_update", name=self.cluster,
                             updateId=update_id, **scope)
            if got is None:
                continue
            update = got["update"]
            created = update.get("createdAt")
            if update.get("status") == "InProgress" or not isinstance(created, datetime) \
                    or created >= self.now - RECENT_UPDATES:
                out.append(update)
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        out.sort(key=lambda u: u.get("createdAt") if isinstance(u.get("createdAt"), datetime) else epoch,
                 reverse=True)
        return out

    # -- calls and faults ----------------------------------------------------------------------

    def _pages(self, part: str, op: str, key: str, **kwargs: Any) -> list[Any] | None:
        def run() -> list[Any]:
            out: list[Any] = []
            for page in self.client.get_paginator(op).paginate(**kwargs):
                out.extend(page.get(key, []))
            return out

        return self._guard(part, _action(op), run)

    def _call(self, part: str, action: str, op: str, **kwargs: Any) -> dict[str, Any] | None:
        return self._guard(part, action, lambda: getattr(self.client, op)(**kwargs))

    def _guard(self, part: str, action: str, fn: Callable[[], Any]) -> Any:
        """Run one call; raise what stops the whole collection, record what loses only this part."""
        try:
            return fn()
        except NoCredentialsError:
            raise CollectionError(NO_CREDENTIALS) from None
        except PartialCredentialsError as exc:
            raise CollectionError(f"incomplete AWS credentials: {exc}") from None
        except (BotoConnectionError, HTTPClientError) as exc:
            meta = self.client.meta
            raise CollectionError(f"cannot reach the EKS API at {meta.endpoint_url} (region "
                                  f"{meta.region_name}): {exc}; check --region, AWS_ENDPOINT_URL and the "
                                  "network") from None
        except NoRegionError:
            raise CollectionError("no AWS region: pass --region or set AWS_REGION") from None
        except BotoCoreError as exc:  # SSO token expired, credential process failed, ...
            raise CollectionError(f"cannot call {action}: {exc}") from None
        except ClientError as exc:
            self._client_error(part, action, exc)
            return None

    def _client_error(self, part: str, action: str, exc: ClientError) -> None:
        """The service answered with an error: fatal for credentials and the cluster, else a missing part."""
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = str(err.get("Message", "")).strip()
        if message.startswith("<"):  # an HTML error page from a proxy or a local endpoint
            message = f"HTTP {status} from {self.client.meta.endpoint_url}"
        message = message.splitlines()[0][:300] if message else ""
        denied = code in _DENIED_CODES or status == 403
        if code in _CREDENTIAL_CODES:
            raise CollectionError(f"AWS rejected the credentials ({code}: {message}); refresh them "
                                  "(for example `aws sso login`) and try again")
        if part == "cluster":
            where = f"cluster {self.cluster!r}"
            if code == "ResourceNotFoundException":
                raise CollectionError(f"EKS {where} not found in region {self.client.meta.region_name} "
                                      "(check the name and --region)")
            if denied:
                raise CollectionError(f"access denied to {action} on {where}: grant that IAM action to the "
                                      f"caller ({message})")
            raise CollectionError(f"{action} on {where} failed ({code}: {message})")
        if code == "ResourceNotFoundException":
            LOG.info("%s: %s (gone since it was listed)", action, message)
            return
        self._record(part, f"{code or status}: {message}" if message else str(code or status),
                     action if denied else "")

    def _record(self, part: str, reason: str, permission: str) -> None:
        LOG.warning("EKS %s not collected: %s", part, reason)
        key = (part, permission)
        if key in self.missing:  # one entry per part and permission, however many calls failed
            self._repeats[key] = self._repeats.get(key, 1) + 1
            first = self.missing[key]["reason"].split(" (and ")[0]
            self.missing[key]["reason"] = f"{first} (and {self._repeats[key] - 1} more calls)"
            return
        entry: dict[str, Any] = {"part": part, "reason": reason}
        if permission:
            entry["permission"] = permission
        self.missing[key] = entry


def _action(op: str) -> str:
    """boto3 operation name -> IAM action: 'list_nodegroups' -> 'eks:ListNodegroups'."""
    return "eks:" + "".join(w.capitalize() for w in op.split("_"))
