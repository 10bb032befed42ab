"""verify decodes a served object once, straight into the rules' struct (`as_followed`): it must be the very object
a snapshot's projection decodes to, and hold nothing the projection drops."""
from __future__ import annotations

import copy
from typing import Any

import msgspec
import orjson
import pytest

from auditor.collect.project import as_followed, project
from auditor.engine.follow import FOLLOWED_KINDS
from auditor.state.objects import KubeObject
from tests import clusterfactory as cf

_DECODE = msgspec.json.Decoder(KubeObject)


def _hostile_pod() -> dict[str, Any]:
    pod = copy.deepcopy(next(o for o in cf.cluster(pods=3, services=1, nodes=1) if o["kind"] == "Pod"))
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "SECRET-1",
                                      "eks.amazonaws.com/kept": "yes", "other.example/x": "SECRET-2"}
    pod["spec"]["containers"][0]["lifecycle"] = {
        "preStop": {"exec": {"command": ["sh", "-c", "SECRET-3"]}},
        "postStart": {"httpGet": {"path": "/x?token=SECRET-4", "port": 80,
                                  "httpHeaders": [{"name": "a", "value": "SECRET-5"}]}}}
    pod["spec"]["initContainers"] = [{"name": "init", "lifecycle": {"preStop": {"httpGet": {
        "path": "/q?token=SECRET-6", "port": 8080, "httpHeaders": [{"name": "b", "value": "SECRET-7"}]}}}}]
    pod["rules"] = [{"verbs": ["SECRET-8"]}]  # a field no Pod has: dropped
    return pod


def _objects() -> list[dict[str, Any]]:
    objs = [o for o in cf.cluster(pods=40, services=4, nodes=3, namespaces=2) if o["kind"] in FOLLOWED_KINDS]
    return objs + [_hostile_pod()]


@pytest.mark.parametrize("obj", _objects(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_the_same_object_as_the_projection_decodes_to(obj: dict[str, Any]) -> None:
    item = orjson.dumps({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})  # as a list item
    assert as_followed(obj["kind"], obj["apiVersion"], item) == _DECODE.decode(project(obj["kind"], obj["apiVersion"],
                                                                                        item))


def test_nothing_the_projection_drops_is_kept() -> None:
    pod = _hostile_pod()
    got = as_followed("Pod", "v1", orjson.dumps(pod))
    encoded = msgspec.json.encode(got)
    assert b"SECRET" not in encoded, encoded
    assert got.metadata.annotations == {"eks.amazonaws.com/kept": "yes"}
    [container] = got.spec.containers if got.spec and got.spec.containers else []
    hook = container.lifecycle.pre_stop if container.lifecycle else None
    assert hook is not None and hook.exec == {}


def test_a_mistyped_object_raises() -> None:
    svc = next(o for o in cf.cluster(pods=2, services=1, nodes=1) if o["kind"] == "Service")
    svc = {**svc, "spec": {**svc["spec"], "ports": "80"}}
    with pytest.raises(msgspec.ValidationError):
        as_followed("Service", "v1", orjson.dumps(svc))
