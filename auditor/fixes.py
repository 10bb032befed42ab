"""Ready-to-paste commands for Finding.fix: kubectl and aws CLI lines with every name shell-quoted.

Pure string building (no I/O, no clients), so rules may import it. Every value that comes from the
cluster goes through shlex.quote: a name can never end the command or start another one. A value the
state cannot know is written as an upper-case placeholder that says what to put there (PLACEHOLDER).
"""
from __future__ import annotations

import shlex
from typing import Iterable, Mapping

# Kinds as kubectl names them: the lower-case kind, with the API group where another project reuses the name.
_RESOURCE = {"Endpoints": "endpoints", "PodDisruptionBudget": "pdb", "NodePool": "nodepool.karpenter.sh",
             "NodeClaim": "nodeclaim.karpenter.sh"}


def q(value: object) -> str:
    """One shell word, quoted only when it needs to be (so plain names stay readable)."""
    return shlex.quote(str(value))


def resource(kind: str) -> str:
    return _RESOURCE.get(kind, kind.lower())


def _ns(namespace: str) -> list[str]:
    return ["-n", q(namespace)] if namespace else []


def kubectl(*args: str, namespace: str = "") -> str:
    """`kubectl [-n NS] ARGS...`; args are quoted here, so pass them raw."""
    return " ".join(["kubectl", *_ns(namespace), *(q(a) for a in args)])


def kubectl_get(kind: str, namespace: str, name: str, output: str = "yaml") -> str:
    """kubectl -n shop get endpointslice cart-x8k2p -o yaml"""
    return kubectl("get", resource(kind), name, "-o", output, namespace=namespace)


def kubectl_describe(kind: str, namespace: str, name: str) -> str:
    return kubectl("describe", resource(kind), name, namespace=namespace)


def kubectl_delete(kind: str, namespace: str, name: str) -> str:
    return kubectl("delete", resource(kind), name, namespace=namespace)


def selector_text(selector: Mapping[str, object]) -> str:
    """A Service's spec.selector as a kubectl label selector: app=cart,tier=web (sorted, stable)."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def kubectl_pods_by_selector(namespace: str, selector: Mapping[str, object], wide: bool = True) -> str:
    """kubectl -n shop get pods -l app=cart -o wide"""
    args = ["get", "pods", "-l", selector_text(selector)]
    if wide:
        args += ["-o", "wide"]
    return kubectl(*args, namespace=namespace)


def kubectl_slices_of_service(namespace: str, service: str) -> str:
    """The EndpointSlices kube-proxy merges for one Service (its service-name label)."""
    return kubectl("get", resource("EndpointSlice"), "-l", f"kubernetes.io/service-name={service}", "-o", "wide",
                   namespace=namespace)


def kubectl_events_for(kind: str, namespace: str, name: str) -> str:
    """Events whose involvedObject is this object, oldest first."""
    return kubectl("get", "events", "--field-selector", f"involvedObject.kind={kind},involvedObject.name={name}",
                   "--sort-by", ".lastTimestamp", namespace=namespace)


def aws_eks(operation: str, *, region: str = "", cluster: str = "", **params: object) -> str:
    """aws eks OPERATION [--region R] [--cluster-name C] [--param value ...]; params in keyword order.

    A keyword's underscores become dashes (nodegroup_name -> --nodegroup-name); a value of None leaves
    the flag out; True writes the bare flag."""
    words = ["aws", "eks", q(operation)]
    if region:
        words += ["--region", q(region)]
    if cluster:
        words += ["--cluster-name", q(cluster)]
    for key, value in params.items():
        if value is None or value is False:
            continue
        words.append("--" + key.replace("_", "-"))
        if value is not True:
            words.append(q(value))
    return " ".join(words)


def pipeline(*commands: str) -> str:
    """Commands joined by a pipe (each already quoted)."""
    return " | ".join(commands)


def unique(commands: Iterable[str]) -> tuple[str, ...]:
    """Commands in first-seen order without repeats (several findings often share one)."""
    return tuple(dict.fromkeys(c for c in commands if c))


PLACEHOLDER_NOTE = "upper-case words in a command (like NODE_GROUP) are values the snapshot could not know"
