"""auditor.facts.fixcmd: the ready-to-paste commands of a fix, exactly as a user pastes them (hostile names quoted)."""
from __future__ import annotations

import shlex
from typing import Any, Callable

import pytest

from auditor.facts import fixcmd, versions
from auditor.facts.versions import Minor

HOSTILE = "a b;$(rm -rf ~)'x"  # a name no API server accepts, but a hand-edited snapshot may hold
TG = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/k8s-shop-cart-0a1b2c3d4e/0123456789abcdef"


@pytest.mark.parametrize(("call", "want"), [
    pytest.param(lambda: fixcmd.kubectl("get", "Service", "cart", "shop"), "kubectl -n shop get service cart",
                 id="kubectl: kind lower-cased, namespace first"),
    pytest.param(lambda: fixcmd.kubectl("get", "Node"), "kubectl get node", id="kubectl: cluster-scoped, no name"),
    pytest.param(lambda: fixcmd.kubectl("delete", "EndpointSlice", "cart-x7k2p", "shop", "--wait=false"),
                 "kubectl -n shop delete endpointslice cart-x7k2p --wait=false", id="kubectl: extra arguments"),
    pytest.param(lambda: fixcmd.kubectl("cordon", "Node", "ip-10-0-1-17"), "kubectl cordon node ip-10-0-1-17",
                 id="kubectl: a name without namespace"),
    pytest.param(lambda: fixcmd.kubectl("get", "Pod", "", "shop", "-o", "wide"), "kubectl -n shop get pod -o wide",
                 id="kubectl: a namespace without name"),
    pytest.param(lambda: fixcmd.kubectl_yaml("Endpoints", "cart", "shop"), "kubectl -n shop get endpoints cart -o yaml",
                 id="kubectl_yaml"),
    pytest.param(lambda: fixcmd.kubectl_yaml("Node", "ip-10-0-1-17"), "kubectl get node ip-10-0-1-17 -o yaml",
                 id="kubectl_yaml: cluster-scoped"),
    pytest.param(lambda: fixcmd.selector_text({"tier": "web", "app": "cart"}), "app=cart,tier=web",
                 id="selector_text: sorted keys"),
    pytest.param(lambda: fixcmd.selector_text({}), "", id="selector_text: empty"),
    pytest.param(lambda: fixcmd.pods_by_selector("shop", {"tier": "web", "app": "cart"}),
                 "kubectl -n shop get pods -l app=cart,tier=web -o wide", id="pods_by_selector"),
    pytest.param(lambda: fixcmd.pods_by_selector("shop", {"app": "cart"}, wide=False),
                 "kubectl -n shop get pods -l app=cart", id="pods_by_selector: not wide"),
    pytest.param(lambda: fixcmd.slices_of_service("shop", "cart"),
                 "kubectl -n shop get endpointslices -l kubernetes.io/service-name=cart -o yaml",
                 id="slices_of_service"),
    pytest.param(lambda: fixcmd.slices_of_service("shop", "cart", "wide"),
                 "kubectl -n shop get endpointslices -l kubernetes.io/service-name=cart -o wide",
                 id="slices_of_service: another output"),
    pytest.param(lambda: fixcmd.slices_of_service("shop", "cart", None),
                 "kubectl -n shop get endpointslices -l kubernetes.io/service-name=cart",
                 id="slices_of_service: the default output"),
    pytest.param(lambda: fixcmd.describe_pods("shop", {"tier": "web", "app": "cart"}),
                 "kubectl -n shop describe pods -l app=cart,tier=web", id="describe_pods"),
    pytest.param(lambda: fixcmd.pod_events("shop"),
                 "kubectl -n shop get events --field-selector involvedObject.kind=Pod --sort-by=.lastTimestamp",
                 id="pod_events"),
    pytest.param(lambda: fixcmd.label("Node", "ip-10-0-1-17", "eks.amazonaws.com/nodegroup", "ng-blue"),
                 "kubectl label node ip-10-0-1-17 eks.amazonaws.com/nodegroup=ng-blue --overwrite",
                 id="label: cluster-scoped"),
    pytest.param(lambda: fixcmd.label("Namespace", "shop", "elbv2.k8s.aws/pod-readiness-gate-inject", "enabled"),
                 "kubectl label namespace shop elbv2.k8s.aws/pod-readiness-gate-inject=enabled --overwrite",
                 id="label: a namespace"),
    pytest.param(lambda: fixcmd.label("Service", "cart", "app", "cart", "shop"),
                 "kubectl -n shop label service cart app=cart --overwrite", id="label: namespaced"),
    pytest.param(lambda: fixcmd.annotate("Service", "cart", "shop", "example.com/x", "a b"),
                 "kubectl -n shop annotate service cart 'example.com/x=a b' --overwrite", id="annotate"),
    pytest.param(lambda: fixcmd.rollout_restart("Deployment", "cart", "shop"),
                 "kubectl -n shop rollout restart deployment/cart", id="rollout_restart"),
    pytest.param(lambda: fixcmd.patch_json_cluster("ValidatingWebhookConfiguration", "policy",
                                                   [{"op": "replace", "path": "/webhooks/0/failurePolicy",
                                                     "value": "Ignore"}]),
                 "kubectl patch validatingwebhookconfiguration policy --type json -p "
                 """'[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]'""",
                 id="patch_json_cluster"),
    pytest.param(lambda: fixcmd.target_group_attribute(TG, "deregistration_delay.timeout_seconds", "30"),
                 f"aws elbv2 modify-target-group-attributes --target-group-arn {TG} "
                 "--attributes Key=deregistration_delay.timeout_seconds,Value=30", id="target_group_attribute"),
    pytest.param(lambda: fixcmd.events_of("Endpoints", "cart", "shop"),
                 "kubectl -n shop get events --field-selector involvedObject.kind=Endpoints,involvedObject.name=cart",
                 id="events_of"),
    pytest.param(lambda: fixcmd.scale("Deployment", "cart", "shop", 3),
                 "kubectl -n shop scale deployment/cart --replicas=3", id="scale"),
    pytest.param(lambda: fixcmd.create_pdb("cart", "shop", {"app": "cart"}),
                 "kubectl -n shop create poddisruptionbudget cart --selector=app=cart --max-unavailable=1",
                 id="create_pdb"),
    pytest.param(lambda: fixcmd.create_pdb("cart", "shop", {"app": "cart", "tier": "web"}, max_unavailable=2),
                 "kubectl -n shop create poddisruptionbudget cart --selector=app=cart,tier=web --max-unavailable=2",
                 id="create_pdb: max unavailable"),
    pytest.param(lambda: fixcmd.patch_merge("Service", "cart", "shop", {"spec": {"selector": None}}),
                 """kubectl -n shop patch service cart --type merge -p '{"spec":{"selector":null}}'""",
                 id="patch_merge: compact JSON, null deletes"),
    pytest.param(lambda: fixcmd.patch_merge("Deployment", "cart", "shop", {"spec": {"replicas": 2, "paused": False}}),
                 """kubectl -n shop patch deployment cart --type merge -p '{"spec":{"paused":false,"replicas":2}}'""",
                 id="patch_merge: sorted keys"),
    pytest.param(lambda: fixcmd.patch_json("Service", "cart", "shop",
                                           [{"op": "remove", "path": "/spec/selector"}]),
                 """kubectl -n shop patch service cart --type json -p '[{"op":"remove","path":"/spec/selector"}]'""",
                 id="patch_json"),
])
def test_kubectl_commands(call: Callable[[], str], want: str) -> None:
    assert call() == want


@pytest.mark.parametrize(("op", "region", "cluster", "params", "want"), [
    pytest.param("describe-cluster", "eu-west-1", "prod-eu", {},
                 "aws eks describe-cluster --region eu-west-1 --name prod-eu", id="--name for cluster operations"),
    pytest.param("update-cluster-version", "eu-west-1", "prod-eu", {"kubernetes_version": "1.31"},
                 "aws eks update-cluster-version --region eu-west-1 --name prod-eu --kubernetes-version 1.31",
                 id="update-cluster-version"),
    pytest.param("list-updates", None, "prod-eu", {}, "aws eks list-updates --name prod-eu", id="list-updates"),
    pytest.param("describe-update", "eu-west-1", "prod-eu", {"update_id": "b9a1"},
                 "aws eks describe-update --region eu-west-1 --name prod-eu --update-id b9a1", id="describe-update"),
    pytest.param("describe-nodegroup", "eu-west-1", "prod-eu", {"nodegroup_name": "ng-blue"},
                 "aws eks describe-nodegroup --region eu-west-1 --cluster-name prod-eu --nodegroup-name ng-blue",
                 id="--cluster-name elsewhere"),
    pytest.param("update-addon", None, None, {"addon_name": "vpc-cni", "addon_version": "v1.19.0-eksbuild.1",
                                              "resolve_conflicts": ""},
                 "aws eks update-addon --addon-name vpc-cni --addon-version v1.19.0-eksbuild.1",
                 id="no region or cluster; empty parameters left out"),
    pytest.param("describe-addon-versions", "", "", {"kubernetes_version": "1.31", "addon_name": "coredns"},
                 "aws eks describe-addon-versions --kubernetes-version 1.31 --addon-name coredns",
                 id="parameters in the order given"),
])
def test_aws_eks(op: str, region: str | None, cluster: str | None, params: dict[str, Any], want: str) -> None:
    assert fixcmd.aws_eks(op, region, cluster, **params) == want


@pytest.mark.parametrize(("problem", "want"), [
    pytest.param(versions.SkewProblem("too-old", "control plane", Minor(1, 30), 4, 3),
                 ["aws eks update-nodegroup-version --region eu-west-1 --cluster-name prod-eu --nodegroup-name ng-blue "
                  "--kubernetes-version 1.30"], id="too old: the node group up to the control plane"),
    pytest.param(versions.SkewProblem("newer", "control plane", Minor(1, 30), -1, 3),
                 ["aws eks update-cluster-version --region eu-west-1 --name prod-eu --kubernetes-version 1.31"],
                 id="newer: the control plane one minor up"),
])
def test_nodegroup_skew_fix(problem: versions.SkewProblem, want: list[str]) -> None:
    assert fixcmd.nodegroup_skew_fix("eu-west-1", "prod-eu", "ng-blue", problem, Minor(1, 30), Minor(1, 31)) == want


def test_nodegroup_skew_fix_to_the_target_when_the_control_plane_is_unknown() -> None:
    too_old = versions.SkewProblem("too-old", "target", Minor(1, 31), 4, 3)
    assert fixcmd.nodegroup_skew_fix(None, "prod-eu", "ng-blue", too_old, None, Minor(1, 31)) == [
        "aws eks update-nodegroup-version --cluster-name prod-eu --nodegroup-name ng-blue --kubernetes-version 1.31"]


def test_nodegroup_skew_fix_without_a_version_to_go_to() -> None:
    newer = versions.SkewProblem("newer", "target", Minor(1, 30), -1, 3)
    assert fixcmd.nodegroup_skew_fix("eu-west-1", "prod-eu", "ng-blue", newer, None, Minor(1, 30)) == []


@pytest.mark.parametrize(("region", "cluster", "want"), [
    ("eu-west-1", "prod-eu", "aws logs filter-log-events --region eu-west-1 --log-group-name /aws/eks/prod-eu/cluster "
                             "--log-stream-name-prefix kube-controller-manager --filter-pattern EndpointSlice"),
    (None, None, "aws logs filter-log-events --log-group-name /aws/eks/CLUSTER_NAME/cluster "
                 "--log-stream-name-prefix kube-controller-manager --filter-pattern EndpointSlice"),
], ids=["known cluster", "unknown cluster: a placeholder"])
def test_controller_logs(region: str | None, cluster: str | None, want: str) -> None:
    assert fixcmd.controller_logs(region, cluster) == want


@pytest.mark.parametrize("call", [
    pytest.param(lambda: fixcmd.kubectl("get", "Service", HOSTILE, HOSTILE), id="kubectl"),
    pytest.param(lambda: fixcmd.pods_by_selector(HOSTILE, {"app": HOSTILE}), id="pods_by_selector"),
    pytest.param(lambda: fixcmd.slices_of_service(HOSTILE, HOSTILE), id="slices_of_service"),
    pytest.param(lambda: fixcmd.events_of("Pod", HOSTILE, HOSTILE), id="events_of"),
    pytest.param(lambda: fixcmd.scale("Deployment", HOSTILE, HOSTILE, 1), id="scale"),
    pytest.param(lambda: fixcmd.create_pdb(HOSTILE, HOSTILE, {"app": HOSTILE}), id="create_pdb"),
    pytest.param(lambda: fixcmd.patch_merge("Service", HOSTILE, HOSTILE, {"x": HOSTILE}), id="patch_merge"),
    pytest.param(lambda: fixcmd.patch_json("Service", HOSTILE, HOSTILE, [{"value": HOSTILE}]), id="patch_json"),
    pytest.param(lambda: fixcmd.aws_eks("describe-nodegroup", HOSTILE, HOSTILE, nodegroup_name=HOSTILE),
                 id="aws_eks"),
    pytest.param(lambda: fixcmd.controller_logs(HOSTILE, HOSTILE), id="controller_logs"),
])
def test_names_are_quoted_for_the_shell(call: Callable[[], str]) -> None:
    words = shlex.split(call())
    assert all(";" not in w or HOSTILE in w for w in words)  # the `;` never splits a command
    assert any(HOSTILE in w for w in words)
    assert "rm" not in words


@pytest.mark.parametrize(("value", "want"), [
    pytest.param("cart", "cart", id="a plain name: as is"),
    pytest.param("a b", "'a b'", id="a space: single quotes"),
    pytest.param("it's", """'it'"'"'s'""", id="a quote, printable: POSIX quoting"),
    pytest.param("a\u202eb", "$'a\\u202eb'", id="a bidi override: ANSI-C quoting"),
    pytest.param("x\u200by", "$'x\\u200by'", id="a zero-width space"),
    pytest.param("x\x00y", "$'x\\x00y'", id="NUL"),
    pytest.param("back\\slash\n", "$'back\\\\slash\\x0a'", id="a backslash and a newline"),
    pytest.param("it's\x07", "$'it\\'s\\x07'", id="a quote beside a control"),
    pytest.param("XX\x07", "$'XX\\x07'", id="only a backslash and a quote are escaped"),
    pytest.param("\x7f\x80", "$'\\x7f\\u0080'", id="the last one-byte code and the first above it"),
    pytest.param("\uffffz", "$'\\uffffz'", id="a noncharacter of the basic plane"),
    pytest.param("\U000e0001z", "$'\\U000e0001z'", id="a tag character beyond the basic plane"),
])
def test_q_quotes_one_shell_word(value: str, want: str) -> None:
    assert fixcmd.q(value) == want


@pytest.mark.parametrize("value", ["a\u202eb", "x\x00y", "back\\slash\n", "it's\x07", "\x7f\x80", "\U000e0001z"])
def test_ansi_c_quoting_reads_back_as_the_name(value: str) -> None:
    quoted = fixcmd.q(value)
    assert quoted.startswith("$'") and quoted.endswith("'") and quoted.isprintable()
    # bash's $'...' escapes are Python's for \\, \', \xHH, \uHHHH and \UHHHHHHHH
    assert quoted[2:-1].encode().decode("unicode_escape") == value


def test_quoted_words_round_trip() -> None:
    cmd = fixcmd.kubectl("get", "Service", HOSTILE, "shop")
    assert shlex.split(cmd) == ["kubectl", "-n", "shop", "get", "service", HOSTILE]
    assert fixcmd.q("plain-name") == "plain-name"
