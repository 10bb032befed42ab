"""`upgrade-auditor compare BEFORE AFTER` on whole before/after scenario pairs (tests/compare/scenarios.py).

Each scenario runs the real CLI on files in tmp_path (snapshot documents and kubectl List dumps,
JSON and YAML, mixed) and asserts the exit code, exactly the findings (rule, object), and the
rotation summary: kind, node groups, kubelet versions, podsMoved, per-Service figures, convergence.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenarios as s  # noqa: E402

from auditor.cli.main import main  # noqa: E402

K129, K130 = s.KUBELET_129, s.KUBELET_130


def run(tmp: Path, pair: s.Pair, before_how: str = "snapshot", after_how: str = "snapshot",
        *extra: str) -> tuple[int, dict[str, Any]]:
    bp, ap = pair.write(tmp, before_how, after_how)
    args = ["compare", str(bp), str(ap), "--output-dir", str(tmp / "out"), "--format", "json", *extra]
    if pair.config is not None:
        (tmp / ".upgrade-auditor.yaml").write_text(pair.config)
        args += ["--config", str(tmp / ".upgrade-auditor.yaml")]
    res = CliRunner().invoke(main, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, json.loads((tmp / "out" / "report.json").read_text())


def findings(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {(f["rule"], f["object"]["kind"], f["object"].get("namespace", ""), f["object"]["name"])
            for f in report["findings"]}


def slice_of(report: dict[str, Any], rule: str) -> str:
    return next(f["object"]["name"] for f in report["findings"] if f["rule"] == rule)


def groups(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {g["name"]: (g["type"], g["before"], g["after"], g["removed"], g["added"],
                        g["versionsBefore"], g["versionsAfter"]) for g in report["rotation"]["nodeGroups"]}


def services(report: dict[str, Any]) -> dict[str, tuple[int, int, bool]]:
    return {f"{r['namespace']}/{r['name']}": (r["readyBefore"], r["readyAfter"], r["converged"])
            for r in report["rotation"]["services"]}


def no_errors(report: dict[str, Any]) -> None:
    assert report["summary"]["error"] == 0, report["findings"]
    assert report["summary"]["converged"] is True and report["rotation"]["converged"] is True
    assert report["rotation"]["servicesNotConverged"] == []


# -- control plane only -------------------------------------------------------------------------

def test_control_plane_only_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.control_plane_only(), "snapshot", "snapshot.gz")
    assert code == 0
    no_errors(rep)
    # the selectorless Service's hand-made slice is the documented pattern: info, before and after
    assert findings(rep) == {("handmade-endpointslice", "EndpointSlice", "shop", "legacy-db-1")}
    rot = rep["rotation"]
    assert rot["kind"] == "control plane only"
    assert rot["controlPlane"] == {"before": "1.29", "after": "1.30"}
    assert rot["nodes"]["removedCount"] == rot["nodes"]["addedCount"] == 0
    assert groups(rep) == {"general": ("eks-nodegroup", 3, 3, 0, 0, [K129], [K129])}
    assert rot["kubeletVersions"] == {"before": {K129: 3}, "after": {K129: 3}}
    assert rot["podsMoved"] == 0
    assert rot["services"] == []  # nothing changed for any Service (default/kubernetes' new ENIs aside)


def test_control_plane_only_broken(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.control_plane_only(broken=True))
    assert code == 1
    assert findings(rep) == {("handmade-endpointslice-removed", "EndpointSlice", "shop", "legacy-db-1"),
                             ("service-lost-endpoints", "Service", "shop", "legacy-db")}
    rot = rep["rotation"]
    assert rot["kind"] == "control plane only" and rot["podsMoved"] == 0
    assert services(rep) == {"shop/legacy-db": (2, 0, False)}
    assert rot["servicesNotConverged"] == ["shop/legacy-db"]
    assert rep["summary"]["converged"] is False


# -- managed node group rolling update --------------------------------------------------------

def test_rolling_update_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.rolling_update(), "list", "snapshot")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    rot = rep["rotation"]
    assert rot["kind"] == "rolling node group update"
    assert groups(rep) == {"general": ("eks-nodegroup", 3, 3, 3, 3, [K129], [K130])}
    assert rot["kubeletVersions"] == {"before": {K129: 3}, "after": {K130: 3}}
    assert rot["podsMoved"] == 5
    assert services(rep) == {"shop/cart": (3, 3, True), "shop/checkout": (2, 2, True)}
    row = next(r for r in rot["services"] if r["name"] == "cart")
    assert set(row["nodesBefore"]).isdisjoint(row["nodesAfter"])
    assert row["zonesBefore"] == row["zonesAfter"] == list(s.ZONES)


def test_rolling_update_broken(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.rolling_update(broken=True), "snapshot", "list")
    assert code == 1
    stuck = slice_of(rep, "endpoints-on-removed-node")
    assert stuck.startswith("checkout-")
    assert findings(rep) == {("endpoints-on-removed-node", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "Service", "shop", "checkout")}
    rot = rep["rotation"]
    assert rot["kind"] == "rolling node group update"
    assert services(rep) == {"shop/checkout": (2, 2, False), "shop/cart": (3, 3, True)}
    assert rot["servicesNotConverged"] == ["shop/checkout"]
    assert rep["summary"]["converged"] is False


# -- blue/green node groups -------------------------------------------------------------------

def test_blue_green_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.blue_green(), "yaml", "snapshot")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    rot = rep["rotation"]
    assert rot["kind"] == "blue/green node group migration"
    assert groups(rep) == {"ng-blue": ("eks-nodegroup", 3, 0, 3, 0, [K129], []),
                           "ng-green": ("eks-nodegroup", 0, 3, 0, 3, [], [K130])}
    assert rot["kubeletVersions"] == {"before": {K129: 3}, "after": {K130: 3}}
    assert rot["podsMoved"] == 5
    assert services(rep) == {"shop/cart": (3, 3, True), "shop/checkout": (2, 2, True)}


def test_blue_green_broken(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.blue_green(broken=True))
    assert code == 1
    assert findings(rep) == {("handmade-endpointslice-stale", "EndpointSlice", "shop", "cart-manual"),
                             ("handmade-endpointslice", "EndpointSlice", "shop", "cart-manual"),
                             ("service-lost-endpoints", "Service", "shop", "checkout")}
    rot = rep["rotation"]
    assert rot["podsMoved"] == 3  # checkout's Pods are Pending: not moved anywhere
    assert services(rep) == {"shop/cart": (3, 3, False), "shop/checkout": (2, 0, False)}
    assert rot["servicesNotConverged"] == ["shop/cart", "shop/checkout"]


# -- Karpenter drift --------------------------------------------------------------------------

def test_karpenter_drift_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.karpenter_drift(), "snapshot", "yaml")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    rot = rep["rotation"]
    assert rot["kind"] == "karpenter drift"
    assert groups(rep) == {"default": ("karpenter-nodepool", 3, 3, 3, 3, [K129], [K130])}
    assert rot["podsMoved"] == 5
    assert services(rep) == {"shop/cart": (3, 3, True), "shop/checkout": (2, 2, True)}


def test_karpenter_drift_capacity_dropped(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.karpenter_drift(broken=True))
    assert code == 0  # a warning: below the default --fail-on error, and still converged
    assert findings(rep) == {("service-capacity-dropped", "Service", "shop", "cart")}
    no_errors(rep)
    assert services(rep)["shop/cart"] == (3, 2, True)
    code, _ = run(tmp_path, s.karpenter_drift(broken=True), "snapshot", "snapshot", "--fail-on", "warning")
    assert code == 1


# -- StatefulSet: stable names, new uids -------------------------------------------------------

def test_statefulset_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.statefulset_rotation(), "list", "list")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    assert rep["rotation"]["podsMoved"] == 7  # redis-0 and redis-1 counted by name, on new nodes
    assert services(rep)["shop/redis"] == (2, 2, True)


def test_statefulset_broken_same_names_old_uids(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.statefulset_rotation(broken=True))
    assert code == 1
    stuck = slice_of(rep, "endpoints-on-removed-node")
    assert stuck.startswith("redis-")
    assert findings(rep) == {("endpoints-on-removed-node", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "Service", "shop", "redis")}
    assert rep["rotation"]["servicesNotConverged"] == ["shop/redis"]


# -- dual-stack --------------------------------------------------------------------------------

def test_dual_stack_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.dual_stack(), "snapshot", "list")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    # two dual-stack Pods are two ready endpoints per family, not four
    assert services(rep)["shop/frontend"] == (2, 2, True)
    assert rep["rotation"]["kind"] == "blue/green node group migration"


def test_dual_stack_broken_ipv6_slice_stuck(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.dual_stack(broken=True))
    assert code == 1
    stuck = slice_of(rep, "endpoints-on-removed-node")
    assert findings(rep) == {("endpoints-on-removed-node", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "EndpointSlice", "shop", stuck),
                             ("stale-endpointslice", "Service", "shop", "frontend")}
    assert services(rep)["shop/frontend"] == (2, 2, False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    ev = next(f for f in report["findings"] if f["rule"] == "endpoints-on-removed-node")["evidence"]
    assert all(":" in e["address"] for e in ev["endpoints"])  # the IPv6 slice, not the IPv4 one


# -- scaled down on purpose: the tolerance ------------------------------------------------------

@pytest.mark.parametrize("tolerance,fires", [(None, True), (1, True), (2, False), ("40%", False), ("39%", True)])
def test_scaled_down_tolerance(tmp_path: Path, tolerance: Any, fires: bool) -> None:
    code, rep = run(tmp_path, s.scaled_down(tolerance), "list", "snapshot")
    assert code == 0
    no_errors(rep)
    want = {("service-capacity-dropped", "Service", "shop", "cart")} if fires else set()
    assert findings(rep) == want
    assert services(rep)["shop/cart"] == (5, 3, True)


# -- matching by uid and address ----------------------------------------------------------------

def test_service_recreated_with_new_uid(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.service_recreated(), "list", "yaml")
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    assert services(rep)["shop/cart"] == (3, 3, True)


def test_slice_names_and_counts_do_not_matter(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.resliced())
    assert code == 0
    no_errors(rep)
    assert findings(rep) == set()
    assert services(rep)["shop/cart"] == (3, 3, True)  # the duplicated endpoint counts once


def test_ip_reused_by_another_pod_converged(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.ip_reused(), "list", "list")
    assert code == 0
    no_errors(rep)
    # a selectorless Service whose hand-made slice names Pods: a warning by design, nothing else
    assert findings(rep) == {("handmade-endpointslice", "EndpointSlice", "shop", "cart-external-1")}
    rot = rep["rotation"]
    assert rot["nodes"]["removedCount"] == rot["nodes"]["addedCount"] == 3  # same names, new uids
    assert rot["podsMoved"] == 5


def test_ip_reused_by_another_pod_broken(tmp_path: Path) -> None:
    code, rep = run(tmp_path, s.ip_reused(broken=True))
    assert code == 1
    assert findings(rep) == {("handmade-endpointslice-stale", "EndpointSlice", "shop", "cart-external-1"),
                             ("handmade-endpointslice", "EndpointSlice", "shop", "cart-external-1")}
    f = next(f for f in rep["findings"] if f["rule"] == "handmade-endpointslice-stale")
    assert f["evidence"]["addresses"][0]["podAfter"].startswith("shop/checkout-")
    assert rep["rotation"]["servicesNotConverged"] == ["shop/cart-external"]
