"""`.json.gz` snapshots compressed once: the spools hold the file's own bytes, copied as they are (issue 22), with
every guarantee of the plain file (the same items byte for byte, a temp file renamed only when whole, a write
failure leaving the previous file intact)."""
from __future__ import annotations

import errno
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from auditor.collect import listing
from auditor.collect.live import take_snapshot
from auditor.collect.options import ClusterOptions
from auditor.state import writer as writer_module
from auditor.state.snapshot import load
from auditor.state.writer import SnapshotWriter, gzip_compressor, join_items
from tests.apidouble import ApiDouble

ROOT = Path(__file__).resolve().parents[2]


def _plain(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _items_part(data: bytes) -> bytes:
    return data[: data.index(b'\n],"metadata":')]


@pytest.mark.parametrize("scope", [(), ("-n", "team-0", "-n", "team-1")], ids=["cluster", "two namespaces"])
def test_gz_holds_the_very_bytes_of_the_json(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                              snap: Any, scope: tuple[str, ...]) -> None:
    # two namespaces: a spool segment per namespace and kind, joined in the file as in one list
    for name in ("s.json", "s.json.gz"):
        assert snap("-o", tmp_path / name, "--kubeconfig", kubeconfig, *scope).exit_code == 0
    plain, unzipped = (tmp_path / "s.json").read_bytes(), _plain(tmp_path / "s.json.gz")
    assert _items_part(unzipped) == _items_part(plain)
    doc = json.loads(unzipped)
    assert doc["metadata"]["counts"] == json.loads(plain)["metadata"]["counts"]
    assert len(doc["items"]) == sum(doc["metadata"]["counts"].values())
    assert unzipped.count(b"\n") == len(doc["items"]) + 2  # one object per line, as the plain file
    assert load(tmp_path / "s.json.gz").of("Pod") == load(tmp_path / "s.json").of("Pod")
    if shutil.which("gzip"):  # the standard tool reads the series of members as one file
        out = subprocess.run(["gzip", "-dc", str(tmp_path / "s.json.gz")], check=True, capture_output=True).stdout
        assert out == unzipped


def test_every_byte_is_compressed_once(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fed: list[int] = []

    class Counting:
        def __init__(self) -> None:
            self.z = gzip_compressor()

        def compress(self, data: bytes) -> bytes:
            fed.append(len(data))
            return self.z.compress(data)  # type: ignore[no-any-return]

        def flush(self) -> bytes:
            return self.z.flush()  # type: ignore[no-any-return]

    monkeypatch.setattr(listing, "gzip_compressor", Counting)
    monkeypatch.setattr(writer_module, "gzip_compressor", Counting)
    real_gzip = gzip.GzipFile

    def no_reading_back(*args: Any, **kwargs: Any) -> Any:
        assert "r" not in str(kwargs.get("mode", "rb")), "the snapshot decompressed what it had compressed"
        return real_gzip(*args, **kwargs)

    monkeypatch.setattr(gzip, "GzipFile", no_reading_back)
    out = tmp_path / "s.json.gz"
    assert take_snapshot(ClusterOptions(kubeconfig=str(kubeconfig)), out).complete
    monkeypatch.undo()
    assert sum(fed) == len(_plain(out))


def _spooled(directory: Path, runs: list[list[bytes]], compress: bool) -> tuple[Any, list[tuple[int, int, int]]]:
    """A spool file holding `runs` as the collector writes them: one segment (gzip member) per run."""
    fh = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
    segments = []
    for run in runs:
        start = fh.tell()
        z = gzip_compressor() if compress else None
        for i in range(0, len(run), 2):  # pages of two
            data = join_items(run[i:i + 2], i)
            fh.write(z.compress(data) if z is not None else data)
        if z is not None:
            fh.write(z.flush())
        fh.flush()
        segments.append((start, fh.tell() - start, len(run)))
    return fh, segments


@pytest.mark.parametrize("name", ["w.json", "w.json.gz"])
def test_writer_joins_single_items_and_spooled_runs(tmp_path: Path, name: str) -> None:
    def obj(kind: str, n: int) -> bytes:
        return json.dumps({"kind": kind, "apiVersion": "v1", "metadata": {"name": f"{kind.lower()}-{n}"}}).encode()

    pods = [[obj("Pod", i) for i in range(5)], [obj("Pod", i) for i in range(5, 8)]]
    fh, segments = _spooled(tmp_path, pods, compress=name.endswith(".gz"))
    with SnapshotWriter(tmp_path / name) as w:
        w.add_encoded("Node", fh, 0, 0, 0)  # an empty run adds nothing, not even a separator
        w.add_raw("Node", obj("Node", 0))
        for seg in segments:
            w.add_encoded("Pod", fh, *seg)
        w.add_raw("Service", obj("Service", 0))
        w.add_encoded("Pod", fh, *segments[0])
        w.finish({"complete": True, "takenAt": "2026-05-01T07:00:00Z"})
    fh.close()
    data = _plain(tmp_path / name)
    doc = json.loads(data)
    names = [o["metadata"]["name"] for o in doc["items"]]
    assert names == ["node-0"] + [f"pod-{i}" for i in range(8)] + ["service-0"] + [f"pod-{i}" for i in range(5)]
    assert doc["metadata"]["counts"] == {"Node": 1, "Pod": 13, "Service": 1}
    assert data.count(b"\n") == len(names) + 2  # the header, one line per object, the metadata
    assert load(tmp_path / name).of("Pod")


def test_writer_starting_with_a_spooled_run(tmp_path: Path) -> None:
    fh, segments = _spooled(tmp_path, [[b'{"kind":"Node","apiVersion":"v1","metadata":{"name":"a"}}']], True)
    with SnapshotWriter(tmp_path / "w.json.gz") as w:
        w.add_encoded("Node", fh, *segments[0])
        w.finish({"complete": True, "takenAt": "2026-05-01T07:00:00Z"})
    fh.close()
    assert [o["metadata"]["name"] for o in json.loads(_plain(tmp_path / "w.json.gz"))["items"]] == ["a"]


@pytest.mark.parametrize("copied", [0, 7], ids=["no kernel copy", "kernel copy stops part way"])
def test_copy_without_the_kernel_gives_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     copied: int) -> None:
    runs = [[json.dumps({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": f"p{i}"}}).encode()
             for i in range(50)]]
    fh, segments = _spooled(tmp_path, runs, compress=True)
    expected = tmp_path / "expected.json.gz"
    with SnapshotWriter(expected) as w:
        w.add_encoded("Pod", fh, *segments[0])
        w.finish({"complete": True, "takenAt": "2026-05-01T07:00:00Z"})
    real = os.copy_file_range
    calls: list[int] = []

    def partial(src: int, dst: int, count: int, offset_src: int | None = None) -> int:
        calls.append(count)
        if len(calls) > 1 or not copied:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, copied, offset_src)

    monkeypatch.setattr(os, "copy_file_range", partial)
    with SnapshotWriter(tmp_path / "fallback.json.gz") as w:
        w.add_encoded("Pod", fh, *segments[0])
        w.finish({"complete": True, "takenAt": "2026-05-01T07:00:00Z"})
    fh.close()
    assert calls and (tmp_path / "fallback.json.gz").read_bytes() == expected.read_bytes()


def test_a_disk_error_during_the_copy_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fh, segments = _spooled(tmp_path, [[b'{"kind":"Pod"}']], compress=False)

    def full(*args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    out = tmp_path / "w.json"
    out.write_text("old")
    with pytest.raises(OSError, match="No space"), SnapshotWriter(out) as w:
        w.add_encoded("Pod", fh, *segments[0])
    fh.close()
    assert out.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["w.json"]


@pytest.mark.parametrize("name", ["snap.json", "snap.json.gz"])
def test_a_file_size_limit_hit_while_writing_keeps_the_old_file(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                                snap: Any, name: str) -> None:
    """A real write failure (EFBIG from RLIMIT_FSIZE, as ENOSPC from a full disk): the last bytes of the
    snapshot cannot be written; the spools, each smaller, can."""
    good = tmp_path / "good" / name
    good.parent.mkdir()
    assert snap("-o", good, "--kubeconfig", kubeconfig).exit_code == 0
    limit = good.stat().st_size - 200
    out = tmp_path / name
    out.write_text("old")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "auditor", "snapshot", "-o", str(out), "--kubeconfig",
                           str(kubeconfig)], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          preexec_fn=limited, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode() == f"error: {out}: cannot write: File too large\n"
    assert out.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == sorted(["good", "kubeconfig", name])  # no temporary file left


def test_incomplete_gz_beside_a_complete_one_is_recognised(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                            snap: Any) -> None:
    out = tmp_path / "s.json.gz"
    assert snap("-o", out, "--kubeconfig", kubeconfig).exit_code == 0
    api.add_fault(r"endpointslices$", status=403, times=None)
    result: Result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    beside = tmp_path / "s.incomplete.json.gz"
    assert json.loads(_plain(out))["metadata"]["complete"] is True
    assert json.loads(_plain(beside))["metadata"]["complete"] is False
    assert writer_module.is_incomplete_snapshot(beside) and not writer_module.is_incomplete_snapshot(out)
    # the next incomplete one may replace the incomplete file, never the complete one
    assert snap("-o", beside, "--kubeconfig", kubeconfig).exit_code == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig", "s.incomplete.json.gz", "s.json.gz"]
