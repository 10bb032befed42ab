"""Inputs checked before use (issue 19, item 5): `audit` of two whole snapshots of different moments is exit 2
with a `compare` hint unless --merge; a namespaced manifest without metadata.namespace is read where
`kubectl apply` would put it, with a notice on stderr; audit's -n is checked like every -n."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import builders as b
import pytest
from click.testing import CliRunner
from test_cli_audit import T0, small_cluster, write

from auditor.cli.main import main


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def _snap(tmp: Path, name: str, *, label: str, minutes: float) -> Path:
    return write(tmp, name, b.snapshot_doc(small_cluster(), T0 + timedelta(minutes=minutes), label=label))


@pytest.mark.parametrize(("labels", "minutes"), [(("before", "after"), 0.0), (("", ""), 45.0),
                                                 (("before", "before"), 10.0)])
def test_audit_of_two_moments_is_exit_2_with_the_compare_hint(tmp_path: Path, labels: tuple[str, str],
                                                              minutes: float) -> None:
    first = _snap(tmp_path, "before.json", label=labels[0], minutes=0)
    second = _snap(tmp_path, "after.json", label=labels[1], minutes=minutes)
    code, out, err = invoke("audit", str(second), str(first), "--output-dir", str(tmp_path / "r"))
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "did you mean `compare " in lines[0] and "--merge" in lines[0], err
    assert lines[0].index(str(first)) < lines[0].index(str(second))  # the hint names them in time order
    assert not (tmp_path / "r").exists()
    code, out, err = invoke("audit", str(first), str(second), "--merge", "--output-dir", str(tmp_path / "m"),
                            "--fail-on", "never")
    assert code == 0, out + err


def test_pieces_of_one_state_still_merge(tmp_path: Path) -> None:
    """kubectl dumps, and the same snapshot given twice, are one moment."""
    snap = _snap(tmp_path, "s.json", label="before", minutes=0)
    code, out, err = invoke("audit", str(snap), str(snap), "--output-dir", str(tmp_path / "a"), "--fail-on", "never")
    assert code == 0, out + err
    objs = small_cluster()
    pods = write(tmp_path, "pods.json", b.kubectl_list([o for o in objs if o["kind"] == "Pod"]))
    rest = write(tmp_path, "rest.json", b.kubectl_list([o for o in objs if o["kind"] != "Pod"]))
    code, out, err = invoke("audit", str(pods), str(rest), "--output-dir", str(tmp_path / "b"), "--fail-on", "never")
    assert code == 0, out + err


HANDMADE = """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: legacy-db-1
  labels: {kubernetes.io/service-name: legacy-db}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1], conditions: {ready: true}}]
ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: legacy-db}
spec: {ports: [{name: pg, port: 5432, protocol: TCP}]}
"""


@pytest.mark.parametrize(("args", "namespace"), [((), "default"), (("-n", "payments"), "payments")])
def test_manifests_without_a_namespace_take_kubectls(tmp_path: Path, args: tuple[str, ...], namespace: str) -> None:
    folder = tmp_path / "gitops"
    folder.mkdir()
    (folder / "slices.yaml").write_text(HANDMADE)
    out = tmp_path / "r"
    code, stdout, err = invoke("audit", str(folder), *args, "--output-dir", str(out), "--format", "json",
                               "--fail-on", "never")
    assert code == 0, stdout + err
    notes = [ln for ln in err.splitlines() if "without metadata.namespace" in ln]
    assert len(notes) == 1 and f"read in namespace '{namespace}'" in notes[0], err
    assert "1 EndpointSlice" in notes[0] and "1 Service" in notes[0]
    report = json.loads((out / "report.json").read_text())
    assert any("without metadata.namespace" in n for n in report.get("notices", []))
    found = {(f["object"]["kind"], f["object"]["namespace"]) for f in report["findings"]
             if f["object"].get("name", "").startswith("legacy-db")}
    assert found and {ns for _, ns in found} == {namespace}, report["findings"]


def test_audit_namespace_must_be_a_label(tmp_path: Path) -> None:
    code, _, err = invoke("audit", "x.yaml", "-n", "Not/A-Label", "--output-dir", str(tmp_path / "r"))
    assert code == 2 and err.startswith("error: -n 'Not/A-Label': not a namespace name"), err
