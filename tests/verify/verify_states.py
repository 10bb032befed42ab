"""A small blue/green node group migration as the API would serve it: BEFORE, stuck AFTER, converged AFTER.

Two Services (shop/cart, shop/web) with two Pods each. BEFORE runs on ng-blue; AFTER on ng-green with new
Pod names, uids and IPs. In the stuck AFTER, cart's controller slice still lists its old Pod on a removed
ng-blue node and misses one new ready Pod. Every change is hours old (beyond the grace period) unless
`changed` says otherwise, so what the rules see is settled.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests import builders as b

Obj = dict[str, Any]
ZONES = ("eu-west-1a", "eu-west-1b")
APPS = ("cart", "web")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _nodes(group: str, first: int, created: datetime, kubelet: str) -> list[Obj]:
    out = []
    for i in range(2):
        ip = f"10.0.{first}.{10 + i}"
        out.append(b.node(f"ip-{ip.replace('.', '-')}.eu-west-1.compute.internal", created, zone=ZONES[i],
                          kubelet=kubelet, nodegroup=group, ip=ip))
    return out


def _cluster(gen: int, *, stuck: bool = False, changed: datetime | None = None) -> list[Obj]:
    """gen 0: BEFORE on ng-blue; gen 1: AFTER on ng-green (`stuck`: cart's slice left behind)."""
    now = _now()
    old = now - timedelta(days=30)
    blue = _nodes("ng-blue", 1, old, "v1.29.8-eks-a737599")
    green = _nodes("ng-green", 2, now - timedelta(hours=3), "v1.30.4-eks-a737599")
    nodes = green if gen else blue
    by_name = {n["metadata"]["name"]: n for n in nodes}
    pod_time = changed or (now - timedelta(hours=2) if gen else now - timedelta(days=10))
    objs: list[Obj] = [b.namespace("default", old), b.namespace("shop", old), *nodes]
    for a_i, app in enumerate(APPS):
        labels = {"app.kubernetes.io/name": app}
        svc = b.service(app, "shop", old, selector=labels, cluster_ip=f"172.20.1.{10 + a_i}")
        pods = [b.replicaset_pod(app, "shop", r, pod_time, labels=labels,
                                 node_name=nodes[r]["metadata"]["name"],
                                 ips=[f"10.0.{64 + 16 * gen + r}.{20 + a_i}"], seed=f"gen{gen}")
                for r in range(2)]
        slices = b.controller_slices(svc, pods, by_name, pod_time + timedelta(seconds=5))
        if stuck and app == "cart":
            before_pods = _pods(0, app)
            slices = b.controller_slices(svc, [before_pods[0], pods[1]],
                                         {**by_name, **{n["metadata"]["name"]: n for n in blue}},
                                         now - timedelta(days=10))
        objs += [svc, *pods, *slices, b.endpoints_object(svc, pods, by_name, pod_time + timedelta(seconds=5))]
    return objs


def _pods(gen: int, app: str) -> list[Obj]:
    return [o for o in _cluster(gen) if o["kind"] == "Pod" and o["metadata"]["labels"]["app.kubernetes.io/name"]
            == app]


def before_doc() -> Obj:
    """BEFORE as a snapshot file's content (taken a day ago)."""
    return b.snapshot_doc(_cluster(0), _now() - timedelta(days=1), label="before",
                          server_version="v1.30.4-eks-a737599")


def stuck_after(changed: datetime | None = None) -> list[Obj]:
    return _cluster(1, stuck=True, changed=changed)


def converged_after(changed: datetime | None = None) -> list[Obj]:
    return _cluster(1, changed=changed)
