"""Ready-to-paste commands for a finding's fix, with the real names filled in and shell-quoted. Pure."""
from __future__ import annotations

import json
import shlex
from typing import Mapping

import orjson

from auditor.facts import versions

#: `aws eks` operations whose cluster parameter is `--name` rather than `--cluster-name`
_NAME_PARAM = {"describe-cluster", "describe-update", "list-updates", "update-cluster-version"}


def q(value: str) -> str:
    """One shell word. A value with a character a reader cannot see (a control, bidi or zero-width character from
    the cluster) is written in ANSI-C quoting, `$'a\\u202eb'`: bash and zsh read it back as the real name, and the
    command carries no raw control for a report or a terminal to pass on."""
    if value.isprintable():
        return shlex.quote(value)
    return "$'" + "".join(_c_escape(ch) for ch in value) + "'"


def _c_escape(ch: str) -> str:
    if ch in "\\'":
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


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


def slices_of_service(namespace: str, service: str, output: str | None = "yaml") -> str:
    cmd = f"kubectl -n {q(namespace)} get endpointslices -l {q('kubernetes.io/service-name=' + service)}"
    return cmd + (f" -o {output}" if output else "")


def describe_pods(namespace: str, selector: Mapping[str, str]) -> str:
    return kubectl("describe", "pods", "", namespace, "-l", q(selector_text(selector)))


def pod_events(namespace: str) -> str:
    """The namespace's Pod events, oldest first: what happened to the Pods behind a Service."""
    return kubectl("get", "events", "", namespace, "--field-selector", "involvedObject.kind=Pod",
                   "--sort-by=.lastTimestamp")


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


def _json(value: object) -> str:
    """Compact JSON with sorted keys, as `json.dumps(value, separators=(",", ":"), sort_keys=True)` writes it.

    orjson writes the same bytes for what a patch holds (names, numbers, booleans, null) several times faster. Where
    the two differ, json's text is kept: non-ASCII and DEL (json escapes them, orjson does not), floats (the
    exponent: json `1e+16`, orjson `1e16`; NaN), and what orjson refuses (non-string keys, integers past 64 bits)."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if out.isascii() and out.isprintable() and not _has_float(value):
        return out
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _has_float(value: object) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return False


def scale(kind: str, name: str, namespace: str, replicas: int) -> str:
    """`kubectl -n NS scale deployment/NAME --replicas=N`."""
    return f"kubectl -n {q(namespace)} scale {q(kind.lower() + '/' + name)} --replicas={int(replicas)}"


def create_pdb(name: str, namespace: str, selector: Mapping[str, str], *, max_unavailable: int = 1) -> str:
    """`kubectl create poddisruptionbudget` for Pods matching `selector`."""
    return (f"kubectl -n {q(namespace)} create poddisruptionbudget {q(name)} "
            f"--selector={q(selector_text(selector))} --max-unavailable={int(max_unavailable)}")


def patch_merge(kind: str, name: str, namespace: str, patch: object) -> str:
    """`kubectl -n NS patch KIND NAME --type merge -p '{...}'` (null deletes a field)."""
    return f"kubectl -n {q(namespace)} patch {kind.lower()} {q(name)} --type merge -p {q(_json(patch))}"


def patch_json(kind: str, name: str, namespace: str, ops: list[dict[str, object]]) -> str:
    """`kubectl -n NS patch KIND NAME --type json -p '[...]'` (RFC 6902 operations)."""
    return f"kubectl -n {q(namespace)} patch {kind.lower()} {q(name)} --type json -p {q(_json(ops))}"


def nodegroup_skew_fix(region: str | None, cluster: str | None, nodegroup: str, problem: versions.SkewProblem,
                       cp: versions.Minor | None, target: versions.Minor | None) -> list[str]:
    """Update the node group up to the control plane, or (a node group newer than its cluster cannot be rolled back)
    bring the control plane one minor closer to it."""
    update_to = versions.node_update_version(problem, cp, target)
    if update_to is not None:
        return [aws_eks("update-nodegroup-version", region, cluster, nodegroup_name=nodegroup,
                        kubernetes_version=str(update_to))]
    catch_up = versions.control_plane_catch_up(problem, cp)
    return [aws_eks("update-cluster-version", region, cluster, kubernetes_version=str(catch_up))] if catch_up else []


def label(kind: str, name: str, key: str, value: str, namespace: str = "") -> str:
    """`kubectl label KIND NAME key=value --overwrite` (namespaced when `namespace` is given)."""
    return kubectl("label", kind, name, namespace, q(f"{key}={value}"), "--overwrite")


def annotate(kind: str, name: str, namespace: str, key: str, value: str) -> str:
    return kubectl("annotate", kind, name, namespace, q(f"{key}={value}"), "--overwrite")


def rollout_restart(kind: str, name: str, namespace: str) -> str:
    """Recreate a workload's Pods (through its update strategy): what a Pod admission change needs."""
    return f"kubectl -n {q(namespace)} rollout restart {q(kind.lower() + '/' + name)}"


def patch_json_cluster(kind: str, name: str, ops: list[dict[str, object]]) -> str:
    """`kubectl patch KIND NAME --type json -p '[...]'` for a cluster-scoped object."""
    return f"kubectl patch {kind.lower()} {q(name)} --type json -p {q(_json(ops))}"


def target_group_attribute(arn: str, key: str, value: str) -> str:
    """Set one attribute of a target group the controller does not own (a TargetGroupBinding's)."""
    return (f"aws elbv2 modify-target-group-attributes --target-group-arn {q(arn)} "
            f"--attributes {q(f'Key={key},Value={value}')}")
