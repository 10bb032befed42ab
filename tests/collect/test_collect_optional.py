"""Optional kinds (PDBs, workloads, Karpenter's CRDs): read when served, never making a snapshot incomplete."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ApiDouble
from tests.collect.test_collect_snapshot import Snap


def _read(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _pdb(ns: str, app: str) -> dict[str, Any]:
    return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
            "metadata": {"name": app, "namespace": ns, "uid": f"pdb-{ns}-{app}", "creationTimestamp": clusterfactory.T0,
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"secret": "x"}'}},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
            "status": {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}}


def _deployment(ns: str, app: str) -> dict[str, Any]:
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": app, "namespace": ns, "uid": f"dep-{ns}-{app}",
                         "creationTimestamp": clusterfactory.T0},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx",
                                                           "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
                                                           "command": ["sh", "-c", "TOKEN=s3cr3t run"],
                                                           "readinessProbe": {"httpGet": {"path": "/ready",
                                                                                          "port": 8080}}}]}}},
            "status": {"replicas": 2, "readyReplicas": 2}}


def _nodeclaim(name: str, node: str) -> dict[str, Any]:
    return {"kind": "NodeClaim", "apiVersion": "karpenter.sh/v1",
            "metadata": {"name": name, "uid": f"nc-{name}", "creationTimestamp": clusterfactory.T0,
                         "labels": {"karpenter.sh/nodepool": "default"}},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}},
            "status": {"nodeName": node, "conditions": [{"type": "Drifted", "status": "True",
                                                         "lastTransitionTime": clusterfactory.T0}]}}


def test_optional_kinds_are_read_and_scrubbed(tmp_path: Path, snap: Snap) -> None:
    objects = list(clusterfactory.cluster()) + [_pdb("team-0", "app-0"), _deployment("team-0", "app-0"),
                                                _nodeclaim("default-abc", "ip-10-0-0-1.ec2.internal")]
    with ApiDouble(objects, crds=True) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        out = tmp_path / "s.json"
        result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "1 PodDisruptionBudget" in result.stdout and "1 NodeClaim" in result.stdout
    text = out.read_text()
    for secret in ("hunter2", "s3cr3t", "DB_PASSWORD", "last-applied-configuration"):
        assert secret not in text, secret
    doc = _read(out)
    assert doc["metadata"]["complete"] is True and doc["metadata"].get("notServed", {}) == {}
    state = load(out)
    assert state.complete and state.has("PodDisruptionBudget") and state.has("NodeClaim")
    dep = state.of("Deployment")[0]
    assert dep.spec is not None and dep.spec.replicas == 2
    pdb = state.of("PodDisruptionBudget")[0]
    assert pdb.status is not None and pdb.status.disruptions_allowed == 1


def test_crds_not_installed_are_neither_missing_nor_incomplete(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                               snap: Snap) -> None:
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0 and result.stderr == ""
    meta = _read(out)["metadata"]
    assert meta["missing"] == [] and "NodePool" not in meta["kinds"]
    assert "not installed" in meta["notServed"]["NodeClaim"]
    state = load(out)
    assert state.complete and not state.has("NodePool") and state.has("Deployment")


def test_forbidden_optional_kind_is_a_note_not_exit_3(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                      snap: Snap) -> None:
    api.deny("poddisruptionbudgets")
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "PodDisruptionBudget" in result.stderr
    assert "list poddisruptionbudgets.policy, cluster-wide" in result.stderr
    meta = _read(out)["metadata"]
    assert meta["complete"] is True and [m["kind"] for m in meta["missing"]] == ["PodDisruptionBudget"]
    state = load(out)
    assert state.complete and not state.has("PodDisruptionBudget")


def _meta(name: str, ns: str | None, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": f"uid-{ns}-{name}", "resourceVersion": "7",
                         "creationTimestamp": clusterfactory.T0, **extra}
    if ns is not None:
        m["namespace"] = ns
    return m


def _traffic_objects() -> list[dict[str, Any]]:
    """One object of each traffic-path kind, shaped as the API serves them (the CRDs' as their controllers
    write them)."""
    backend = {"service": {"name": "app-0", "port": {"number": 80}}}
    return [
        {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": _meta("alb", None),
         "spec": {"controller": "ingress.k8s.aws/alb"}},
        {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
         "metadata": _meta("web", "team-0", annotations={"alb.ingress.kubernetes.io/target-type": "ip",
                                                          "example.com/owner-token": "tok-123"}),
         "spec": {"ingressClassName": "alb", "rules": [{"host": "shop.example.com", "http": {"paths": [
             {"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
         "status": {"loadBalancer": {"ingress": [{"hostname": "k8s-team0-web-1.eu-west-1.elb.amazonaws.com"}]}}},
        {"kind": "HTTPRoute", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": _meta("web", "team-0"),
         "spec": {"parentRefs": [{"name": "public"}], "hostnames": ["shop.example.com"], "rules": [
             {"filters": [{"type": "RequestHeaderModifier",
                           "requestHeaderModifier": {"set": [{"name": "Authorization", "value": "Bearer s3cr3t"}]}}],
              "backendRefs": [{"name": "app-0", "port": 80, "weight": 1}]}]}},
        {"kind": "TargetGroupBinding", "apiVersion": "elbv2.k8s.aws/v1beta1", "metadata": _meta("app-0", "team-0"),
         "spec": {"serviceRef": {"name": "app-0", "port": 80}, "targetType": "ip",
                  "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:"
                                    "targetgroup/app-0/6d0ecf831eec9f09"}},
        {"kind": "ValidatingWebhookConfiguration", "apiVersion": "admissionregistration.k8s.io/v1",
         "metadata": _meta("policy", None),
         "webhooks": [{"name": "validate.policy.example.com", "failurePolicy": "Fail", "sideEffects": "None",
                       "admissionReviewVersions": ["v1"],
                       "clientConfig": {"caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
                                        "service": {"namespace": "team-0", "name": "app-0", "port": 443}},
                       "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                  "resources": ["pods"], "scope": "*"}]}]},
        {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": _meta("scraper", None),
         "rules": [{"apiGroups": [""], "resources": ["endpoints"], "verbs": ["get", "list", "watch"]}]},
        {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": _meta("scraper", "team-0"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "scraper"},
         "subjects": [{"kind": "ServiceAccount", "name": "scraper", "namespace": "team-0"}]},
    ]


def test_traffic_path_kinds_are_read_and_projected(tmp_path: Path, snap: Snap) -> None:
    with ApiDouble(list(clusterfactory.cluster()) + _traffic_objects(), crds=True) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        out = tmp_path / "s.json"
        result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    # the webhook's CA bundle and a route's header filter are dropped; foreign annotations too
    for dropped in ("caBundle", "LS0tLS1CRUdJTi", "s3cr3t", "Authorization", "tok-123"):
        assert dropped not in text, dropped
    doc = _read(out)
    assert doc["metadata"]["complete"] is True and doc["metadata"].get("notServed", {}) == {}
    state = load(out)
    assert state.complete
    ing = state.of("Ingress")[0]
    assert ing.annotations == {"alb.ingress.kubernetes.io/target-type": "ip"}
    assert ing.spec is not None and ing.spec.ingress_class_name == "alb" and ing.spec.rules is not None
    path = ing.spec.rules[0].http.paths[0]  # type: ignore[union-attr,index]
    assert path.backend is not None and path.backend.service is not None
    assert (path.backend.service.name, path.backend.service.port.number) == ("app-0", 80)  # type: ignore[union-attr]
    (ic,) = state.of("IngressClass")
    assert ic.spec is not None and ic.spec.controller == "ingress.k8s.aws/alb"
    (route,) = state.of("HTTPRoute")
    assert route.spec is not None and route.spec.rules is not None
    assert [(r.kind, r.name, r.port) for r in route.spec.rules[0].backend_refs or ()] == [("Service", "app-0", 80)]
    (tgb,) = state.of("TargetGroupBinding")
    assert tgb.spec is not None and tgb.spec.target_type == "ip" and tgb.spec.service_ref is not None
    assert tgb.spec.target_group_arn.endswith("targetgroup/app-0/6d0ecf831eec9f09")
    (vwc,) = state.of("ValidatingWebhookConfiguration")
    (hook,) = vwc.webhooks or ()
    assert hook.failure_policy == "Fail" and hook.client_config is not None
    assert hook.client_config.service is not None and hook.client_config.service.name == "app-0"
    (role,) = state.of("ClusterRole")
    assert role.rules is not None and role.rules[0].resources == ["endpoints"]
    (binding,) = state.of("RoleBinding")
    assert binding.role_ref is not None and binding.role_ref.kind == "ClusterRole"
    assert [s.name for s in binding.subjects or ()] == ["scraper"]


def test_traffic_crds_not_installed_are_recorded_apart(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                       snap: Snap) -> None:
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0 and result.stderr == ""
    meta = _read(out)["metadata"]
    assert meta["missing"] == [] and meta["complete"] is True
    for kind, group in (("HTTPRoute", "gateway.networking.k8s.io/v1"), ("TargetGroupBinding", "elbv2.k8s.aws/v1beta1")):
        assert kind not in meta["kinds"] and f"{group} not installed" in meta["notServed"][kind]
    state = load(out)
    assert state.has("Ingress") and state.has("ClusterRole") and not state.has("HTTPRoute")


def test_forbidden_rbac_kinds_leave_the_snapshot_complete(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                          snap: Snap) -> None:
    api.deny("clusterroles")
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert "list clusterroles.rbac.authorization.k8s.io, cluster-wide" in result.stderr
    state = load(out)
    assert state.complete and not state.has("ClusterRole") and state.has("Role")
