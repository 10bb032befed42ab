"""A hand-built AuditResult for the escaping and edge-case tests: a compare run after a blue/green node
group migration, with EKS data, suppressions, notices, rule runs, evidence, fixes and hostile names. The
golden files and the layout tests use the demo's real engine run instead (demo_results.py)."""
from __future__ import annotations

from dataclasses import replace

from auditor.model import (
    AuditResult,
    Finding,
    InputInfo,
    NotRun,
    ObjectRef,
    RuleInfo,
    RuleRun,
    Severity,
    Suppressed,
    cluster_ref,
)

GENERATED_AT = "2024-06-01T12:00:00Z"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_MSG = "</script><script>alert(2)</script> | **bold** @octo-org/team [x](http://evil.example) `tick`"
# Evidence values a cluster could carry (annotations, names in other fields): every markup a format knows.
HOSTILE_EV = "</details><details open><summary>@octo-org/team [click](javascript:alert(3)) | ``` `x`"


def _docs(what: str) -> dict[str, str]:
    return {"What it does": what,
            "Why it matters": "Clients keep sending traffic to addresses that no longer serve the Service.",
            "Example": "```yaml\nkind: EndpointSlice\nmetadata:\n  name: cart-manual\n```",
            "How to fix": "Delete the slice and let the controller publish the Pods.\n\nMore detail here."}


RULES = (
    RuleInfo("stale-endpointslice", Severity.ERROR, "Controller EndpointSlice does not match the Pods",
             _docs("Compares every controller-managed slice with the Pods."), "Restart the controller."),
    RuleInfo("endpoints-on-removed-node", Severity.ERROR, "Endpoint on a Node removed by the rotation",
             _docs("Looks for endpoints whose `nodeName` is gone."), "Delete the stale slice."),
    RuleInfo("handmade-endpointslice", Severity.WARNING, "EndpointSlice not written by a Kubernetes controller",
             _docs("Flags slices without the controller's `managed-by` label."), "Delete hand-made slices."),
    RuleInfo("service-capacity-dropped", Severity.WARNING, "Service has fewer ready endpoints",
             _docs("Compares ready endpoints before and after."), "Scale the Deployment back up."),
    RuleInfo("stale-endpoints", Severity.WARNING, "v1 Endpoints out of date",
             _docs("Compares v1 Endpoints with the Pods."), "Let the Endpoints controller resync."),
    RuleInfo("addon-version-incompatible", Severity.WARNING, "Add-on version not compatible with the target",
             _docs("Checks add-on versions against the target."), "Update the add-on."),
)


def _f(rule: str, sev: Severity, kind: str, ns: str, name: str, msg: str, evidence: dict | None = None,
       fix: tuple[str, ...] = ()) -> Finding:
    return Finding(rule=rule, severity=sev, object=ObjectRef(kind, ns, name), message=msg,
                   remediation=next(r.remediation for r in RULES if r.id == rule),
                   evidence=evidence if evidence is not None else {"n": 1}, fix=fix)


def _endpoints(n: int) -> list[dict[str, object]]:
    return [{"address": f"10.0.3.{i}", "pod": f"cart-7d9f-{i:03d}", "uid": f"0b1c2d3e-0000-4000-8000-{i:012d}",
             "node": f"ip-10-0-3-{i}.ec2.internal", "zone": "eu-west-1a", "problem": "pod-gone",
             "conditions": {"ready": True, "serving": True, "terminating": False}} for i in range(n)]


FINDINGS = tuple(sorted((
    _f("stale-endpointslice", Severity.ERROR, "EndpointSlice", "shop", "cart-x8k2p",
       "endpoint 10.0.3.7 names Pod cart-7d9f-abc which is gone",
       {"service": "cart", "endpoints": _endpoints(50)},
       ("kubectl -n shop get endpointslice cart-x8k2p -o yaml", "kubectl -n shop delete endpointslice cart-x8k2p")),
    _f("stale-endpointslice", Severity.ERROR, "EndpointSlice", "payments", HOSTILE, HOSTILE_MSG,
       {"service": HOSTILE, "note": HOSTILE_EV, "endpoints": [{"address": "10.0.9.9", "pod": HOSTILE_EV}]},
       (f"kubectl -n payments get endpointslice '{HOSTILE}' -o yaml", "echo ```` and `tick`")),
    _f("endpoints-on-removed-node", Severity.ERROR, "EndpointSlice", "shop", "checkout-2kq9d",
       "endpoint 10.0.5.9 is on Node ip-10-0-5-1.ec2.internal, removed by the rotation"),
    _f("handmade-endpointslice", Severity.WARNING, "EndpointSlice", "shop", "cart-manual",
       "hand-made EndpointSlice attached to selector Service 'cart'"),
    _f("handmade-endpointslice", Severity.INFO, "EndpointSlice", "mesh", "remote-eu-1",
       "slice written by a known multi-cluster controller (cilium-clustermesh)"),
    _f("service-capacity-dropped", Severity.WARNING, "Service", "payments", "ledger",
       "ready endpoints fell from 6 to 3", {"readyBefore": 6, "readyAfter": 3, "tolerance": 0.0}),
    _f("addon-version-incompatible", Severity.WARNING, "Cluster", "", "vpc-cni",
       "vpc-cni v1.15.0-eksbuild.2 is not compatible with Kubernetes 1.30"),
), key=lambda f: f.sort_key))

SUPPRESSED = (
    Suppressed(_f("handmade-endpointslice", Severity.WARNING, "EndpointSlice", "legacy", "db-external",
                  "hand-made EndpointSlice for a selectorless Service"), "managed by our Terraform, reviewed 2024-05"),
    Suppressed(_f("stale-endpoints", Severity.WARNING, "Endpoints", "kube-system", "kube-scheduler",
                  "Endpoints misses ready Pods"),
               "annotation upgrade-auditor.io/ignore: 'stale-endpoints' on Endpoints kube-system/kube-scheduler"),
)

INPUTS = (
    InputInfo(path="before.json.gz", label="before", taken_at="2024-06-01T10:00:00Z", complete=True),
    InputInfo(path="after.json.gz", label="after", taken_at="2024-06-01T11:30:00Z", complete=False,
              missing=({"kind": "EndpointSlice", "namespace": "restricted", "reason": "forbidden",
                        "permission": "list endpointslices.discovery.k8s.io"},)),
)

ROTATION = {
    "kind": "blue/green node group migration",
    "controlPlane": {"before": "1.29", "after": "1.30"},
    "nodes": {"before": 3, "after": 3, "removed": ["ip-10-0-5-1.ec2.internal", "ip-10-0-5-2.ec2.internal",
                                                   "ip-10-0-5-3.ec2.internal"],
              "added": ["ip-10-0-9-1.ec2.internal", "ip-10-0-9-2.ec2.internal", "ip-10-0-9-3.ec2.internal"],
              "removedCount": 3, "addedCount": 3},
    "nodeGroups": [
        {"name": "blue", "type": "eks-nodegroup", "before": 3, "after": 0, "removed": 3, "added": 0,
         "versionsBefore": ["v1.29.8-eks-a737599"], "versionsAfter": [],
         "eks": {"version": "1.29", "releaseVersion": "1.29.8-20240910", "status": "DELETING"}},
        {"name": "green", "type": "eks-nodegroup", "before": 0, "after": 3, "removed": 0, "added": 3,
         "versionsBefore": [], "versionsAfter": ["v1.30.4-eks-a737599"],
         "eks": {"version": "1.30", "releaseVersion": "1.30.4-20240917", "status": "ACTIVE"}},
    ],
    "kubeletVersions": {"before": {"v1.29.8-eks-a737599": 3}, "after": {"v1.30.4-eks-a737599": 3}},
    "podsMoved": 42,
    "services": [
        {"namespace": "shop", "name": "checkout", "readyBefore": 3, "readyAfter": 1,
         "nodesBefore": ["ip-10-0-5-1.ec2.internal"], "nodesAfter": ["ip-10-0-9-1.ec2.internal"],
         "zonesBefore": ["eu-west-1a"], "zonesAfter": ["eu-west-1b"], "converged": False},
        {"namespace": "payments", "name": HOSTILE, "readyBefore": 2, "readyAfter": 0,
         "nodesBefore": [], "nodesAfter": [], "zonesBefore": [], "zonesAfter": [], "converged": False},
        {"namespace": "shop", "name": "cart", "readyBefore": 4, "readyAfter": 4,
         "nodesBefore": ["ip-10-0-5-2.ec2.internal"], "nodesAfter": ["ip-10-0-9-2.ec2.internal"],
         "zonesBefore": ["eu-west-1a"], "zonesAfter": ["eu-west-1a"], "converged": True},
    ],
    "servicesNotConverged": ["shop/checkout", f"payments/{HOSTILE}"],
    "converged": False,
}

EKS_DATA = {
    "clusterName": "prod-eu", "region": "eu-west-1", "targetVersion": "1.30",
    "cluster": {"name": "prod-eu", "version": "1.30", "platformVersion": "eks.8", "status": "ACTIVE",
                "health": {"issues": []}},
    "nodegroups": [
        {"nodegroupName": "green", "version": "1.30", "releaseVersion": "1.30.4-20240917", "status": "ACTIVE",
         "health": {"issues": []}, "amiType": "AL2023_x86_64_STANDARD", "capacityType": "ON_DEMAND",
         "scalingConfig": {"minSize": 3, "maxSize": 6, "desiredSize": 3}, "labels": {"pool": "green"}},
        {"nodegroupName": "blue", "version": "1.29", "releaseVersion": "1.29.8-20240910", "status": "DEGRADED",
         "health": {"issues": [{"code": "AsgInstanceLaunchFailures", "message": "Could not launch"}]},
         "amiType": "AL2_x86_64", "capacityType": "SPOT",
         "scalingConfig": {"minSize": 0, "maxSize": 3, "desiredSize": 0}},
    ],
    "addons": [
        {"addonName": "vpc-cni", "addonVersion": "v1.15.0-eksbuild.2", "status": "ACTIVE", "health": {"issues": []}},
        {"addonName": "coredns", "addonVersion": "v1.11.1-eksbuild.9", "status": "ACTIVE", "health": {"issues": []}},
    ],
    "addonVersions": {
        "vpc-cni": {"targetVersion": "1.30", "defaultVersion": "v1.18.3-eksbuild.2",
                    "compatibleVersions": ["v1.18.3-eksbuild.2", "v1.18.1-eksbuild.1"]},
        "coredns": {"targetVersion": "1.30", "defaultVersion": "v1.11.1-eksbuild.9",
                    "compatibleVersions": ["v1.11.1-eksbuild.9"]},
    },
    "insights": [
        {"id": "a1", "name": "Kubelet version skew", "category": "UPGRADE_READINESS", "kubernetesVersion": "1.30",
         "insightStatus": {"status": "PASSING", "reason": "No kubelet skew."}, "recommendation": "",
         "description": "Checks kubelet versions."},
        {"id": "a2", "name": "Deprecated APIs removed in Kubernetes v1.32", "category": "UPGRADE_READINESS",
         "kubernetesVersion": "1.32", "insightStatus": {"status": "WARNING", "reason": "Deprecated API usage"},
         "recommendation": "Update manifests to use newer Kubernetes APIs.", "description": "flowcontrol v1beta3"},
    ],
    "updates": {},
    "missing": [{"part": "insights:describe", "reason": "AccessDenied", "permission": "eks:DescribeInsight"}],
}


def eks_view_of(data: dict) -> dict:
    """The report's EKS section as the engine builds it from typed EKS data (auditor.analysis.eksview)."""
    from datetime import datetime, timezone

    from auditor.analysis.eksview import eks_view
    from auditor.analysis.index import ClusterIndex
    from auditor.state.clusterstate import ClusterState
    state = ClusterState(objects={}, taken_at=datetime(2026, 11, 20, 10, tzinfo=timezone.utc), inputs=[],
                         present=set(), eks=data)
    view = eks_view(ClusterIndex(state), "1.30")
    assert view is not None
    return view


EKS = eks_view_of(EKS_DATA)


RUNS = (
    RuleRun("stale-endpointslice", True, findings=2), RuleRun("endpoints-on-removed-node", True, findings=1),
    RuleRun("handmade-endpointslice", True, findings=3), RuleRun("service-capacity-dropped", True, findings=1),
    RuleRun("stale-endpoints", False, NotRun.KIND_MISSING, "the state has no Endpoints"),
    RuleRun("addon-version-incompatible", True, findings=1),
)


def result(**changes: object) -> AuditResult:
    base = AuditResult(
        mode="compare", inputs=INPUTS, findings=FINDINGS, suppressed=SUPPRESSED, fail_on=Severity.ERROR,
        rules=RULES,
        cluster={"context": "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu",
                 "server": "https://ABC.gr7.eu-west-1.eks.amazonaws.com", "serverVersion": "v1.30.4-eks-a737599",
                 "eksCluster": "prod-eu", "eksVersion": "1.30", "eksPlatformVersion": "eks.8"},
        converged=False, rotation=ROTATION, eks=EKS,
        notices=("rule stale-endpoints did not run: the state has no Endpoints",
                 "after.json.gz: the EKS API throttled DescribeAddonVersions; retried 3 times"),
        generated_at=GENERATED_AT, runs=RUNS)
    return replace(base, **changes)  # type: ignore[arg-type]


def big_result(n: int = 10_000) -> AuditResult:
    """n findings over many namespaces and rules, worst first, with a hostile name among them; each carries
    the evidence and fix commands a real stale-slice finding has (three endpoints, two commands)."""
    sevs = (Severity.ERROR, Severity.WARNING, Severity.INFO)
    rules = [r.id for r in RULES]
    out = []
    for i in range(n):
        name = HOSTILE if i == n // 2 else f"svc-{i:05d}-{'x' * (i % 17)}"
        ns = f"team-{i % 40:02d}"
        ip = f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"
        evidence = {"service": f"svc-{i:05d}", "endpoints": [
            {"address": ip, "pod": f"svc-{i:05d}-7d9f{k}-x{k}k2p", "uid": f"0b1c2d3e-{i:04d}-4000-8000-{k:012d}",
             "node": f"ip-10-0-{k}-{i % 250}.eu-west-1.compute.internal", "zone": f"eu-west-1{'abc'[k]}",
             "problem": "pod-gone", "conditions": {"ready": True, "serving": True, "terminating": False}}
            for k in range(3)]}
        out.append(Finding(rule=rules[i % len(rules)], severity=sevs[i % 3],
                           object=ObjectRef("EndpointSlice", ns, name),
                           message=f"endpoint {ip} names a Pod that is gone (finding number {i})",
                           remediation="Delete the slice.", evidence=evidence,
                           fix=(f"kubectl -n {ns} get endpointslice svc-{i:05d} -o yaml",
                                f"kubectl -n {ns} get pods -l app=svc-{i:05d} -o wide")))
    out.sort(key=lambda f: f.sort_key)
    return result(findings=tuple(out), mode="audit", converged=None, rotation=None)


def empty_result() -> AuditResult:
    return result(findings=(), suppressed=(), notices=(), runs=(), rotation=None, eks=None, converged=None,
                  mode="audit",
                  inputs=(INPUTS[0],), cluster={}, fail_on=Severity.WARNING)


__all__ = ["result", "big_result", "empty_result", "HOSTILE", "HOSTILE_MSG", "GENERATED_AT", "cluster_ref"]
