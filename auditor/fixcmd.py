"""Ready-to-paste commands for a finding's fix, with the real names filled in and shell-quoted. Pure."""
from __future__ import annotations

import shlex
from typing import Mapping

#: `aws eks` operations whose cluster parameter is `--name` rather than `--cluster-name`
_NAME_PARAM = {"describe-cluster", "describe-update", "list-updates", "update-cluster-version"}


def q(value: str) -> str:
    return shlex.quote(value)


def kubectl(verb: str, kind: str, name: str = "", namespace: str = "", *extra: str) -> str:
    parts = ["kubectl"]
    if namespace:
        parts += ["-n", q(namespace)]
    parts += [verb, kind.lower()]
    if name:
        parts.append(q(name))
    parts += list(extra)
    return " ".join(parts)


def kubectl_yaml(kind: str, name: str, namespace: str = "") -> str:
    return kubectl("get", kind, name, namespace, "-o", "yaml")


def selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def pods_by_selector(namespace: str, selector: Mapping[str, str], wide: bool = True) -> str:
    cmd = f"kubectl -n {q(namespace)} get pods -l {q(selector_text(selector))}"
    return cmd + (" -o wide" if wide else "")


def slices_of_service(namespace: str, service: str) -> str:
    return (f"kubectl -n {q(namespace)} get endpointslices -l "
            f"{q('kubernetes.io/service-name=' + service)} -o yaml")


def events_of(kind: str, name: str, namespace: str) -> str:
    return (f"kubectl -n {q(namespace)} get events --field-selector "
            f"{q(f'involvedObject.kind={kind},involvedObject.name={name}')}")


def aws_eks(op: str, region: str | None, cluster: str | None, **params: str) -> str:
    """`aws eks OP --region R --cluster-name C --param value`; a missing region or cluster is left out."""
    parts = ["aws", "eks", op]
    if region:
        parts += ["--region", q(region)]
    if cluster:
        parts += ["--name" if op in _NAME_PARAM else "--cluster-name", q(cluster)]
    for key, value in params.items():
        if value:
            parts += ["--" + key.replace("_", "-"), q(str(value))]
    return " ".join(parts)


def controller_logs(region: str | None, cluster: str | None) -> str:
    """Where EKS shows kube-controller-manager: the control-plane log group (controllerManager logging)."""
    name = cluster or "CLUSTER_NAME"
    group = q(f"/aws/eks/{name}/cluster")
    where = f" --region {q(region)}" if region else ""
    return (f"aws logs filter-log-events{where} --log-group-name {group} "
            f"--log-stream-name-prefix kube-controller-manager --filter-pattern EndpointSlice")
