"""Inputs as kubectl users give them: stdin, folders of per-kind dumps, merged completeness (issue 11.1)."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import builders as b
import yaml
from click.testing import CliRunner
from test_cli_audit import small_cluster, write

from auditor.cli.main import main

KIND_FILES = {"Namespace": "namespaces.json", "Node": "nodes.yaml", "Pod": "pods.json.gz",
              "Service": "services.yml", "Endpoints": "endpoints.json", "EndpointSlice": "endpointslices.yaml.gz"}


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), input=stdin)
    return r.exit_code, r.stdout, r.stderr


def per_kind_folder(tmp: Path, objs: list[dict], skip: tuple[str, ...] = ()) -> Path:
    folder = tmp / "dumps"
    folder.mkdir()
    for kind, name in KIND_FILES.items():
        if kind in skip:
            continue
        items = [o for o in objs if o["kind"] == kind]
        write(folder, name, b.kubectl_list(items), gz=name.endswith(".gz"), as_yaml=".y" in name)
    (folder / "README.txt").write_text("not an input\n")  # other suffixes are not read
    (folder / ".hidden.json").write_text("{broken")  # nor hidden files
    return folder


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_stdin_json_and_gzip_yaml(tmp_path: Path) -> None:
    objs = small_cluster()
    text = json.dumps(b.kubectl_list(objs)).encode()
    code, stdout, stderr = run("audit", "-", "--output-dir", str(tmp_path / "a"), "--format", "json", stdin=text)
    assert code == 0, (stdout, stderr)
    rep = report(tmp_path / "a")
    assert rep["inputs"] == [{"path": "<stdin>", "label": "", "takenAt": "2026-11-20T09:00:00Z", "complete": True}]
    assert [f["rule"] for f in rep["findings"]] == ["handmade-endpointslice"]
    gz = gzip.compress(yaml.safe_dump(b.kubectl_list(objs)).encode())
    code, _, _ = run("audit", "-", "--output-dir", str(tmp_path / "b"), "--format", "json", stdin=gz)
    assert code == 0
    assert report(tmp_path / "b")["findings"] == rep["findings"]


def test_compare_reads_one_side_from_stdin_but_not_both(tmp_path: Path) -> None:
    p = write(tmp_path, "state.json", b.kubectl_list(small_cluster()))
    code, out, err = run("compare", str(p), "-", "--output-dir", str(tmp_path / "r"), "--format", "json",
                         stdin=p.read_bytes())
    assert code == 0, (out, err)
    assert [i["path"] for i in report(tmp_path / "r")["inputs"]] == [str(p), "<stdin>"]
    code, _, err = run("compare", "-", "-", "--output-dir", str(tmp_path / "r2"), stdin=p.read_bytes())
    assert code == 2 and "standard input can be read only once" in err and not (tmp_path / "r2").exists()


def test_folder_of_per_kind_dumps_is_one_complete_state(tmp_path: Path) -> None:
    objs = small_cluster()
    folder = per_kind_folder(tmp_path, objs)
    code, stdout, stderr = run("audit", str(folder), "--output-dir", str(tmp_path / "r"), "--format", "json")
    assert code == 0, (stdout, stderr)
    rep = report(tmp_path / "r")
    assert sorted(Path(i["path"]).name for i in rep["inputs"]) == sorted(KIND_FILES.values())
    assert all(i["complete"] for i in rep["inputs"])
    assert "incomplete" not in stdout and not any(f["rule"] == "incomplete-snapshot" for f in rep["findings"])
    assert [f["rule"] for f in rep["findings"]] == ["handmade-endpointslice"]
    assert rep["cluster"]["takenAt"] == "2026-11-20T09:00:00Z"  # one time: the latest of the inputs
    # (optional kinds such as PodDisruptionBudget may be absent: only the required ones count here)
    assert not any("ignored" in n or re.search(r"\bno (Node|Pod)\b", n) for n in rep.get("notices", []))
    # the same files one by one are the same state
    files = sorted(str(folder / n) for n in KIND_FILES.values())
    code, stdout, _ = run("audit", *files, "--output-dir", str(tmp_path / "r2"), "--format", "json")
    assert code == 0 and "incomplete" not in stdout
    assert report(tmp_path / "r2")["findings"] == rep["findings"]


def test_merged_state_lacking_a_kind_is_incomplete_once(tmp_path: Path) -> None:
    folder = per_kind_folder(tmp_path, small_cluster(), skip=("Pod",))
    code, stdout, _ = run("audit", str(folder), "--output-dir", str(tmp_path / "r"), "--format", "json")
    assert code == 1
    rep = report(tmp_path / "r")
    inc = [f for f in rep["findings"] if f["rule"] == "incomplete-snapshot"]
    assert [f["evidence"]["kind"] for f in inc] == ["Pod"]  # only the kind no input holds
    assert "incomplete: the input(s) hold no Pod;" in stdout
    # Namespaces only refine the rules: a merge without them is complete
    folder2 = tmp_path / "nons"
    folder2.mkdir()
    for f in (tmp_path / "dumps").iterdir():
        if f.name != "namespaces.json":
            f.rename(folder2 / f.name)
    write(folder2, "pods.json", b.kubectl_list([o for o in small_cluster() if o["kind"] == "Pod"]))
    code, stdout, _ = run("audit", str(folder2), "--output-dir", str(tmp_path / "r2"), "--format", "json")
    assert code == 0 and "incomplete" not in stdout


def test_folder_errors_name_the_file(tmp_path: Path) -> None:
    folder = per_kind_folder(tmp_path, small_cluster())
    (folder / "zz-broken.json").write_text('{"kind": "List", "items": [')
    code, _, err = run("audit", str(folder), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and err.strip().splitlines() == [f"error: {folder / 'zz-broken.json'}: JSON is truncated "
                                                      "(the file ends early: was the dump or the copy interrupted?)"]
