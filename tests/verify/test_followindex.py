"""verify's live re-judging: the rules on a view scoped to the touched Services (`FollowedIndex`) find what they
find on the whole state, and only for those Services."""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from auditor.analysis.index import ClusterIndex
from auditor.collect.project import project
from auditor.engine.follow import FOLLOWED_KINDS, Follower
from auditor.engine.followindex import FollowedIndex
from auditor.engine.run import run_rules
from auditor.engine.verdict import FOLLOWED_RULES, holds_back, services_held_back
from auditor.settings import Config, Options
from auditor.state import snapshot
from tests import builders as b
from tests.verify import verify_states

Obj = dict[str, Any]
CART, WEB = ("shop", "cart"), ("shop", "web")


def _before(tmp_path: Path) -> Any:
    path = tmp_path / "before.json"
    path.write_bytes(orjson.dumps(verify_states.before_doc()))
    return snapshot.load_inputs([str(path)])


def _after() -> list[Obj]:
    """The stuck AFTER (cart's slice left on a removed node, missing a ready Pod), with web's slice and Endpoints
    gone (no ready endpoint left) and a hand-made slice for web listing one of cart's old, gone Pod IPs."""
    objs = [o for o in verify_states.stuck_after()
            if not (o["kind"] in ("EndpointSlice", "Endpoints") and o["metadata"]["name"].startswith("web"))]
    old = verify_states._pods(0, "cart")[0]
    created = verify_states._now() - timedelta(days=2)
    handmade = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": b.meta("web-extra", "shop", created, labels={"kubernetes.io/service-name": "web"}),
                "endpoints": [{"addresses": [old["status"]["podIP"]], "conditions": {"ready": True}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    return [*objs, handmade]


def _follower(tmp_path: Path, objs: list[Obj]) -> tuple[Follower, Any]:
    before = _before(tmp_path)
    now = time.time()
    follower = Follower(before, Config(options=Options()), started=now)
    for kind in FOLLOWED_KINDS:
        follower.load(kind, [project(o["kind"], o["apiVersion"], orjson.dumps(o)) for o in objs
                             if o["kind"] == kind], now)
    follower.start(now)
    return follower, before


def _whole(follower: Follower, before: Any, now: float) -> list[Any]:
    """The followed rules on the whole followed state: what the final comparison finds."""
    state = follower.state(now)
    return run_rules(FOLLOWED_RULES, ClusterIndex(state), follower.config, before=ClusterIndex(before),
                     command="verify").findings


def _seen(findings: list[Any]) -> list[tuple[str, str, str]]:
    return sorted((f.rule, str(f.object), f.message) for f in findings)


def test_the_scoped_judging_finds_what_the_whole_state_does(tmp_path: Path) -> None:
    follower, before = _follower(tmp_path, _after())
    now = time.time()
    verdict = follower.evaluate(now)
    whole = _whole(follower, before, now)
    rules = {f.rule for f in whole}
    # every followed rule has something to say here, or the comparison would prove little
    assert {"stale-endpointslice", "endpoints-on-removed-node", "service-lost-endpoints",
            "handmade-endpointslice-stale"} <= rules
    assert sorted(f"{ns}/{n}" for ns, n in verdict.not_converged) == services_held_back(whole) \
        == ["shop/cart", "shop/web"]
    live = [f for held in verdict.not_converged.values() for f in held]
    assert _seen(live) == _seen([f for f in whole if holds_back(f)])


def test_a_scoped_judging_judges_only_its_services(tmp_path: Path) -> None:
    follower, _ = _follower(tmp_path, _after())
    verdict = follower.evaluate(time.time(), {WEB})
    assert set(verdict.not_converged) == {WEB}
    assert follower.pending == {CART}  # still to judge
    verdict = follower.evaluate(time.time())
    assert set(verdict.not_converged) == {CART, WEB}
    assert not follower.pending


def test_a_converged_cluster_holds_no_service_back(tmp_path: Path) -> None:
    follower, _ = _follower(tmp_path, verify_states.converged_after())
    assert follower.evaluate(time.time()).converged


def test_the_view_iterates_its_services_and_looks_up_the_whole_cluster(tmp_path: Path) -> None:
    objs = _after()
    follower, _ = _follower(tmp_path, objs)
    view = FollowedIndex(follower, {WEB, ("shop", "gone")}, time.time(), FOLLOWED_KINDS)
    assert list(view.services) == [WEB]
    assert [s.metadata.name for s in view.slices] == ["web-extra"]
    assert view.endpoints == {}  # web's were deleted
    cart_pods = [o for o in objs if o["kind"] == "Pod" and o["metadata"]["labels"]["app.kubernetes.io/name"] == "cart"]
    cart = cart_pods[0]
    assert view.pods[("shop", cart["metadata"]["name"])].metadata.uid == cart["metadata"]["uid"]
    assert set(view.nodes) == {o["metadata"]["name"] for o in objs if o["kind"] == "Node"}
    assert set(view.namespaces) == {"default", "shop"}
    held = view.pods_holding({cart["status"]["podIP"], "192.0.2.1"})
    assert {ip: [p.metadata.name for p in pods] for ip, pods in held.items()} == \
        {cart["status"]["podIP"]: [cart["metadata"]["name"]]}
    selected = view.pods_with_labels("shop", {"app.kubernetes.io/name": "cart"})
    assert sorted(p.metadata.name for p in selected) == sorted(p["metadata"]["name"] for p in cart_pods)
    assert len(view.pods_with_labels("shop", {})) == sum(1 for o in objs if o["kind"] == "Pod")
    assert view.has("Node") and view.node_exists(cart["spec"]["nodeName"]) is True
    assert [s.metadata.name for s in view.of("Service")] == ["web"]
    assert [s.metadata.name for s in view.of("EndpointSlice")] == ["web-extra"]
    assert len(view.of("Pod")) == sum(1 for o in objs if o["kind"] == "Pod")  # as a lookup sees them: all
    assert {n.metadata.name for n in view.of("Node")} == set(view.nodes)
    assert view.of("Endpoints") == [] and view.of("Deployment") == []
