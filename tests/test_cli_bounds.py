"""Bounded inputs (issue 13.3): bombs, FIFOs, devices, deep nesting and wrong types are one line and exit 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import builders as b
import pytest
from click.testing import CliRunner
from test_cli_audit import small_cluster, write

from auditor.cli.main import main

ALIAS_BOMB = """\
apiVersion: v1
kind: Pod
metadata:
  name: bomb
  namespace: default
  annotations:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
# Run the CLI in a child of a fresh interpreter: RUSAGE_CHILDREN there covers that one process only.
_MEASURE = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)\n"
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n')\n"
            "sys.stdout.write(str(r.returncode) + '\\n' + r.stderr)\n")


def cli_peak(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in MiB) of `python -m auditor ARGS` in a subprocess."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "auditor", *args],
                         capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})
    rss_kib, code, err = out.stdout.split("\n", 2)
    return int(code), err, int(rss_kib) // 1024


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args), env=env)
    return r.exit_code, r.stdout, r.stderr


def one_line(err: str, path: Path | str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and needle in lines[0], err
    assert "Traceback" not in err and "MemoryError" not in err and "RecursionError" not in err


def gzip_members(path: Path, member: bytes, count: int, prefix: bytes = b"") -> None:
    """A gzip file of `count` identical members (gunzip reads them as one stream): a bomb in ~0.2 s."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    packed = c.compress(member) + c.flush()
    with path.open("wb") as fh:
        if prefix:
            c0 = zlib.compressobj(6, zlib.DEFLATED, 31)
            fh.write(c0.compress(prefix) + c0.flush())
        for _ in range(count):
            fh.write(packed)


def test_gzip_bomb_of_zeros_is_refused_with_flat_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.json.gz"
    gzip_members(bomb, bytes(64 << 20), 16)  # 1 GiB of zeros in ~1 MB
    assert bomb.stat().st_size < 2 << 20
    code, err, peak = cli_peak("audit", str(bomb), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, bomb, "is binary, not JSON or YAML")
    assert peak < 150, f"peak RSS {peak} MiB"
    assert not (tmp_path / "r").exists()


def test_gzip_bomb_of_text_stops_at_the_size_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "spaces.json.gz"
    gzip_members(bomb, b" " * (64 << 20), 8, prefix=b'{"kind": "List", "items": [')  # 512 MiB once expanded
    code, err, peak = cli_peak("audit", str(bomb), "--output-dir", str(tmp_path / "r"), "--max-input-size", "64M")
    assert code == 2
    one_line(err, bomb, "decompresses to more than 64 MiB, the input size limit (raise it with --max-input-size")
    assert peak < 64 + 120, f"peak RSS {peak} MiB"
    code, err, peak = cli_peak("audit", str(bomb), "--output-dir", str(tmp_path / "r"),
                               env={"UPGRADE_AUDITOR_MAX_INPUT_SIZE": "32M"})
    assert code == 2 and "more than 32 MiB" in err and peak < 32 + 120


def test_size_limit_flag_and_environment(tmp_path: Path) -> None:
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster() * 1))
    big = tmp_path / "big.json"
    big.write_bytes(dump.read_bytes()[:-1] + b" " * (2 << 20) + b"}")
    code, _, err = invoke("audit", str(big), "--output-dir", str(tmp_path / "r"), "--format", "json",
                          env={"UPGRADE_AUDITOR_MAX_INPUT_SIZE": "1M"})
    assert code == 2
    one_line(err, big, "is more than 1 MiB, the input size limit")
    code, _, err = invoke("audit", str(big), "--output-dir", str(tmp_path / "r"), "--format", "json",
                          "--max-input-size", "8M", env={"UPGRADE_AUDITOR_MAX_INPUT_SIZE": "1M"})
    assert code == 0, err  # the flag wins over the environment
    code, _, err = invoke("audit", str(big), "--max-input-size", "lots")
    assert code == 2 and "--max-input-size" in err and "not a size" in err


def test_yaml_alias_bomb_is_refused_with_flat_memory(tmp_path: Path) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(ALIAS_BOMB)
    code, err, peak = cli_peak("audit", str(p), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, p, "aliases expand to more than 100,000 nodes")
    assert peak < 150, f"peak RSS {peak} MiB"
    cfg = tmp_path / "bomb-config.yaml"
    cfg.write_text("fail-on: error\nx:" + ALIAS_BOMB.split("annotations:", 1)[1])
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    code, err, peak = cli_peak("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and peak < 150
    one_line(err, cfg, "aliases expand to more than 100,000 nodes")


def test_eks_section_alias_bomb(tmp_path: Path) -> None:
    doc = ("apiVersion: upgrade-auditor.io/v1\nkind: ClusterSnapshot\nmetadata: {takenAt: '2026-11-20T08:00:00Z'}\n"
           "items: []\neks:\n  cluster:" + ALIAS_BOMB.split("annotations:", 1)[1].replace("\n    ", "\n    "))
    p = tmp_path / "snap.yaml"
    p.write_text(doc)
    code, _, err = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, p, "aliases expand")


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("kind: Pod\nmetadata: {name: x, namespace: y}\nspec: " + "[" * 600 + "]" * 600 + "\n")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"kind": "Pod", "metadata": {"name": "x", "namespace": "y"}, "spec": {"a": '
                         + "[" * 100_000 + "]" * 100_000 + "}}")
    deep_cfg = tmp_path / "deep-config.yaml"
    deep_cfg.write_text("rules: " + "{a: " * 600 + "1" + "}" * 600 + "\n")
    code, _, err = invoke("audit", str(deep_yaml), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, deep_yaml, "YAML nested more than 100 levels deep at line 3")
    code, _, err = invoke("audit", str(deep_json), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, deep_json, "nested too deeply")
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    code, _, err = invoke("audit", str(dump), "--config", str(deep_cfg), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, deep_cfg, "nested more than 100 levels deep")


@pytest.mark.parametrize("where", ["input", "config"])
def test_fifo_and_devices_are_refused_without_blocking(tmp_path: Path, where: str) -> None:
    fifo = tmp_path / "state.fifo"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block forever
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    for target, needle in ((fifo, "is a FIFO (named pipe); only regular files and standard input (-) are read"),
                           (Path("/dev/zero"), "is a device; only regular files")):
        args = ([str(target)] if where == "input" else [str(dump), "--config", str(target)])
        code, err, peak = cli_peak("audit", *args, "--output-dir", str(tmp_path / "r"))
        assert code == 2, err
        one_line(err, target, needle)
        assert peak < 150


def _deep(n: int) -> dict:
    d: dict = {}
    for _ in range(n):
        d = {"x": d}
    return d


def test_wrong_typed_sections_are_input_errors(tmp_path: Path) -> None:
    base = b.snapshot_doc(small_cluster(), b.at("2026-11-20T09:00:00Z"))
    cases = {
        "eks-cluster-str": ({"eks": {"cluster": "x"}},
                            "'eks' section is invalid: Expected `object`, got `str` - at `$.cluster`"),
        "eks-list": ({"eks": ["x"]}, "'eks' section is not a mapping"),
        "eks-nodegroups": ({"eks": {"nodegroups": {"a": 1}}}, "at `$.nodegroups`"),
        "eks-deep": ({"eks": {"cluster": {"tags": _deep(40)}}}, "'eks' section is nested more than 32 levels deep"),
        "meta-missing": ({"metadata": {**base["metadata"], "missing": "Pods"}}, "snapshot metadata is invalid"),
    }
    for name, (patch, needle) in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({**base, **patch}))
        code, _, err = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"))
        assert code == 2, (name, err)
        one_line(err, p, needle)


def test_objects_without_a_name_are_input_errors_without_a_namespace_default(tmp_path: Path) -> None:
    objs = small_cluster()
    pod_at = next(i for i, o in enumerate(objs) if o["kind"] == "Pod")
    nameless = json.loads(json.dumps(objs))
    del nameless[pod_at]["metadata"]["name"]
    p = write(tmp_path, "nameless.json", b.kubectl_list(nameless))
    code, _, err = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"))
    assert code == 2
    one_line(err, p, f"items[{pod_at}] (Pod) has no metadata.name")
    svc_at = next(i for i, o in enumerate(objs) if o["kind"] == "Service")
    nsless = json.loads(json.dumps(objs))
    del nsless[svc_at]["metadata"]["namespace"]
    p = write(tmp_path, "nsless.yaml", b.kubectl_list(nsless), as_yaml=True)
    code, _, err = invoke("audit", str(p), "--output-dir", str(tmp_path / "r"), "--fail-on", "never")
    assert code == 0, err  # read in `default`, as kubectl apply would put it, with a notice (issue 19)
    assert "1 Service without metadata.namespace read in namespace 'default'" in err
    node_no_ns = [o for o in objs if o["kind"] == "Node"]  # cluster-scoped: no namespace is right
    p = write(tmp_path, "nodes.json", b.kubectl_list(node_no_ns))
    assert invoke("audit", str(p), "--output-dir", str(tmp_path / "r"), "--fail-on", "never")[0] == 0
