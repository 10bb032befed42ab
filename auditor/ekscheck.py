"""Shape check of a snapshot's `eks` section: a wrong-typed field is an input error, not a crash in a rule.

The rules, the rotation summary and the reports read the section as plain data; this checks, once
at load, that every part they read has the type they expect (unknown fields are allowed).
"""
from __future__ import annotations

from typing import Any, Optional

import msgspec

#: Deeper than anything the EKS API returns; keeps report encoding (orjson stops at 255) safe.
MAX_DEPTH = 32


class _S(msgspec.Struct, forbid_unknown_fields=False):
    pass


class _Health(_S):
    issues: Optional[list[dict[str, Any]]] = None


class _Cluster(_S):
    name: Optional[str] = None
    version: Optional[str] = None
    platformVersion: Optional[str] = None
    status: Optional[str] = None
    health: Optional[_Health] = None


class _Nodegroup(_S):
    nodegroupName: Optional[str] = None
    version: Optional[str] = None
    releaseVersion: Optional[str] = None
    status: Optional[str] = None
    health: Optional[_Health] = None


class _Addon(_S):
    addonName: Optional[str] = None
    addonVersion: Optional[str] = None
    status: Optional[str] = None
    health: Optional[_Health] = None


class _AddonVersions(_S):
    targetVersion: Optional[str] = None
    defaultVersion: Optional[str] = None
    compatibleVersions: Optional[list[str]] = None


class _InsightStatus(_S):
    status: Optional[str] = None
    reason: Optional[str] = None


class _Insight(_S):
    id: Optional[str] = None
    name: Optional[str] = None
    category: Optional[str] = None
    kubernetesVersion: Optional[str] = None
    recommendation: Optional[str] = None
    insightStatus: Optional[_InsightStatus] = None
    resources: Optional[list[Any]] = None
    additionalInfo: Optional[dict[str, Any]] = None


class _Updates(_S):
    cluster: Optional[list[dict[str, Any]]] = None
    nodegroups: Optional[dict[str, list[dict[str, Any]]]] = None


class _Eks(_S):
    clusterName: Optional[str] = None
    region: Optional[str] = None
    targetVersion: Optional[str] = None
    cluster: Optional[_Cluster] = None
    nodegroups: Optional[list[_Nodegroup]] = None
    addons: Optional[list[_Addon]] = None
    addonVersions: Optional[dict[str, _AddonVersions]] = None
    insights: Optional[list[_Insight]] = None
    updates: Optional[_Updates] = None
    missing: Optional[list[dict[str, Any]]] = None


def eks_problem(eks: Any) -> str | None:
    """What is wrong with the section, in one line (`eks.cluster: expected an object, got str`), or None."""
    if not isinstance(eks, dict):
        return f"'eks' section is not a mapping (got {_type(eks)})"
    deep = _too_deep(eks)
    if deep:
        return f"'eks' section is nested more than {MAX_DEPTH} levels deep"
    try:
        msgspec.convert(eks, _Eks, str_keys=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        # msgspec says "... - at `$.cluster`": name the section the way a reader of the file would
        text = text.replace("`$.", "`eks.").replace("`$`", "`eks`").replace(" | null`", "`")
        return f"'eks' section is invalid: {text}"
    return None


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(v, dict):
            stack.extend((c, depth + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, depth + 1) for c in v)
    return False


def _type(v: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list",
            type(None): "null"}.get(type(v), type(v).__name__)
