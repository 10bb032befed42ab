"""Kubernetes versions: one parser for every spelling, one skew policy, one control-plane precedence.

Every rule, the rotation summary, settings validation and the EKS collector read versions through
this module, so two places can never disagree about what `v1.30.4-eks-a737599` means or how far a
kubelet may lag.

Control-plane precedence (`control_plane`): the live API server's `/version` recorded in the state
(what the nodes talk to); EKS's cluster version (`describe-cluster`) when the state has no `/version`
(kubectl dumps). A disagreement between the two is an info finding (`control_plane_disagreement`).
Skew is judged against the *target* when one is given (`judge_skew`): "too old" is measured against the
target (the version the control plane is moving to), or the control plane when there is no target;
"newer" against the control plane running now (a kubelet may never be newer than its API server).
"""
from __future__ import annotations

import re
from typing import NamedTuple

#: `1.30`, `v1.30`, `1.30.4`, `v1.30.4-eks-a737599`, `v1.30.4+k3s1`, `1.30.4-20240514`
_SPELLING = re.compile(r"^\s*v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?(?:[-+.][0-9A-Za-z.+-]*)?\s*$")
#: the only form a --target-version / target-version may take
_TARGET = re.compile(r"^\s*v?(\d{1,3})\.(\d{1,3})\s*$")
_EKS_PLATFORM = re.compile(r"^\s*eks\.(\d{1,6})\s*$")


class Minor(NamedTuple):
    """A Kubernetes major.minor; ordered, so `Minor(1, 28) <= Minor(1, 30)`."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def next(self) -> Minor:
        return Minor(self.major, self.minor + 1)

    def behind(self, older: Minor) -> int:
        """How many minors `older` lies behind this version (negative when ahead)."""
        return (self.major - older.major) * 100 + self.minor - older.minor


def parse(text: object) -> Minor | None:
    """Any spelling the API, EKS or a user writes (`v1.30.4-eks-a737599`, `1.30`, `"1.30"`, 1.3 as a YAML
    float is refused by callers that need exactness) -> Minor; None when there is no major.minor."""
    if text is None:
        return None
    if isinstance(text, bool):
        return None
    m = _SPELLING.match(str(text))
    if not m:
        return None
    return Minor(int(m.group(1)), int(m.group(2)))


def parse_patch(text: object) -> tuple[int, int, int] | None:
    """`v1.30.4-eks-a737599` -> (1, 30, 4); a version without a patch reads as patch 0."""
    if text is None:
        return None
    m = _SPELLING.match(str(text))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def parse_platform(text: object) -> int | None:
    """EKS platform version `eks.12` -> 12."""
    m = _EKS_PLATFORM.match(str(text))
    return int(m.group(1)) if m else None


def parse_target(text: str) -> Minor:
    """A target version as users write it: `1.N` or `v1.N`; ValueError with the reason otherwise."""
    m = _TARGET.match(text or "")
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes version of the form 1.N (for example 1.31)")
    v = Minor(int(m.group(1)), int(m.group(2)))
    if v.major != 1 or v.minor < 10:
        raise ValueError(f"{text!r} is not a Kubernetes version EKS runs (expected 1.N, for example 1.31)")
    return v


def normalise_target(text: str) -> str:
    """`v1.31` -> `1.31`; ValueError when it is not a target version."""
    return str(parse_target(text))


def next_minor(text: object) -> str | None:
    v = parse(text)
    return str(v.next()) if v else None


# -- skew policy -------------------------------------------------------------------------------------

def allowed_lag(control_plane: Minor) -> int:
    """Minors a kubelet (or a managed node group) may lag the control plane: 3 from a 1.28 control plane
    (KEP-3935; covers kubelets from 1.25), 2 before. Never newer (https://kubernetes.io/releases/version-skew-policy/)."""
    return 3 if control_plane >= Minor(1, 28) else 2


class SkewVerdict(NamedTuple):
    ok: bool
    lag: int        # minors behind the reference (negative: newer)
    allowed: int
    problem: str    # "" | "newer" | "too-old"


def check_skew(node: Minor, control_plane: Minor) -> SkewVerdict:
    lag = control_plane.behind(node)
    allowed = allowed_lag(control_plane)
    if lag < 0:
        return SkewVerdict(False, lag, allowed, "newer")
    if lag > allowed:
        return SkewVerdict(False, lag, allowed, "too-old")
    return SkewVerdict(True, lag, allowed, "")


POLICY_TEXT = ("never newer than the control plane; at most 3 minors behind a 1.28 or later control plane, "
               "2 behind an older one")


# -- control-plane precedence --------------------------------------------------------------------------

class ControlPlane(NamedTuple):
    version: Minor
    source: str  # "apiserver" | "eks"
    text: str


def control_plane(server_version: str | None, eks_version: str | None) -> ControlPlane | None:
    """The control plane's version by the documented precedence: live `/version`, else EKS's version."""
    v = parse(server_version)
    if v is not None:
        return ControlPlane(v, "apiserver", str(server_version))
    e = parse(eks_version)
    if e is not None:
        return ControlPlane(e, "eks", str(eks_version))
    return None


def control_plane_disagreement(server_version: str | None, eks_version: str | None) -> tuple[Minor, Minor] | None:
    """(apiserver, eks) minors when both are known and differ (an upgrade in progress, or mixed inputs)."""
    a, e = parse(server_version), parse(eks_version)
    if a is not None and e is not None and a != e:
        return a, e
    return None


class SkewProblem(NamedTuple):
    problem: str     # "newer" | "too-old"
    against: str     # "control plane" | "target"
    reference: Minor
    lag: int
    allowed: int

    def describe(self) -> str:
        """A predicate for a sentence about the node: 'is newer than ...', 'would be 4 minors behind ...'."""
        if self.problem == "newer":
            return f"is newer than {'the control plane' if self.against == 'control plane' else 'target'} " \
                   f"{self.reference}"
        if self.against == "target":
            return (f"would be {self.lag} minors behind after the upgrade to {self.reference} "
                    f"(at most {self.allowed} allowed)")
        return f"is {self.lag} minors behind the control plane {self.reference} (at most {self.allowed} allowed)"


def judge_skew(node: Minor, cp: Minor | None, target: Minor | None) -> SkewProblem | None:
    """The one skew policy for kubelets and node groups; None when `node` is inside it."""
    if cp is not None and node > cp:
        return SkewProblem("newer", "control plane", cp, cp.behind(node), allowed_lag(cp))
    if cp is None and target is not None and node > target:
        return SkewProblem("newer", "target", target, target.behind(node), allowed_lag(target))
    if cp is not None:
        v = check_skew(node, cp)
        if v.problem == "too-old":
            return SkewProblem("too-old", "control plane", cp, v.lag, v.allowed)
    if target is not None and (cp is None or target > cp):
        v = check_skew(node, target)
        if v.problem == "too-old":
            return SkewProblem("too-old", "target", target, v.lag, v.allowed)
    return None


def node_update_version(problem: SkewProblem, cp: Minor | None, target: Minor | None) -> Minor | None:
    """The version to update a node (group) to for this skew problem: never above the control plane, since a node
    group cannot be newer than its cluster (the control plane's version when known, else the target). None when the
    node is the newer one: EKS cannot roll a node group back, so the control plane catches up instead
    (`control_plane_catch_up`)."""
    if problem.problem == "newer":
        return None
    return cp if cp is not None else target


def control_plane_catch_up(problem: SkewProblem, cp: Minor | None) -> Minor | None:
    """For nodes newer than the control plane: the next minor of the control plane (EKS upgrades it one minor at a
    time); None when the nodes are not newer or the control plane's version is unknown."""
    if problem.problem != "newer" or cp is None:
        return None
    return cp.next()
