"""Fix commands build their JSON patches with the fast encoder (issue 22), byte for byte what
`json.dumps(value, separators=(",", ":"), sort_keys=True)` wrote before."""
from __future__ import annotations

import json
from typing import Any

import pytest

from auditor.facts import fixcmd


def reference(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@pytest.mark.parametrize("value", [
    pytest.param({"spec": {"minAvailable": None, "maxUnavailable": 1}}, id="pdb patch"),
    pytest.param([{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe",
                   "value": {"tcpSocket": {"port": 8080}, "periodSeconds": 5}}], id="json patch"),
    pytest.param({"z": [True, False, None, -3, 2 ** 62], "a": {"c": "x", "b": ""}}, id="nesting and key order"),
    pytest.param({"name": "tab\there\nnew\x00line\x1f\x7f"}, id="controls and DEL"),
    pytest.param({"name": "caf\u00e9 \u202e \U0001f600 \u200b"}, id="non-ASCII, bidi, astral"),
    pytest.param({"quote": 'a"b\\c/d<e>&'}, id="escapes"),
    pytest.param({"ratio": 0.5, "big": 1e16, "small": 1e-7}, id="floats"),
    pytest.param({"nan": float("nan"), "inf": float("inf")}, id="non-finite floats"),
    pytest.param({2: "int keys", 1: "b"}, id="non-string keys"),
    pytest.param({"huge": 2 ** 70}, id="past 64 bits"),
    pytest.param(("tuple", 1), id="tuple"),
])
def test_patches_are_encoded_as_json_dumps_did(value: Any) -> None:
    assert fixcmd._json(value) == reference(value)


def test_patch_commands_carry_the_same_text() -> None:
    op = [{"op": "add", "path": "/rules/-", "value": {"apiGroups": ["discovery.k8s.io"], "verbs": ["get"]}}]
    assert fixcmd.patch_json_cluster("ClusterRole", "reader", op) == \
        f"kubectl patch clusterrole reader --type json -p '{reference(op)}'"
    assert fixcmd.patch_merge("pdb", "cart", "shop", {"spec": {"minAvailable": None, "maxUnavailable": 1}}) == \
        """kubectl -n shop patch pdb cart --type merge -p '{"spec":{"maxUnavailable":1,"minAvailable":null}}'"""
