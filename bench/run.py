"""Benchmarks (not timed tests): prints wall time, peak RSS and input sizes for audit, compare and snapshot.

Usage: python bench/run.py [--pods 100000] [--skip-snapshot]
Generated inputs are cached in bench/out/. Each measured command runs as its own process, and its peak
RSS is that process's own (os.wait4), so the figures are what a user would see.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
import synth  # noqa: E402

CLI = [sys.executable, "-m", "auditor"]


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """Run a command; return (wall seconds, peak RSS bytes, exit code)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return wall, usage.ru_maxrss * 1024, proc.returncode


WORKLOADS = True  # --no-workloads: the states of before issue 14 (no Deployments, ReplicaSets, PDBs)
TARGET = ["--target-version", "1.31"]  # every synthetic node (kubelet 1.30) rotates: the rotation rules' worst case


def ensure(path: Path, pods: int, rotated: bool = False) -> Path:
    if not WORKLOADS:
        path = path.with_name(path.stem + "-noworkloads" + path.suffix)
    if not path.exists():
        t0 = time.perf_counter()
        n = synth.write_state(path, pods=pods, services=max(1, pods // 10), nodes=max(3, pods // 100),
                              rotated=rotated, workloads=WORKLOADS)
        print(f"  generated {path.name}: {n} objects in {time.perf_counter() - t0:.1f} s")
    return path


_PARSE = """
import gc, sys, time, orjson
data = open(sys.argv[1], 'rb').read()
t0 = time.perf_counter(); obj = orjson.loads(data); on = time.perf_counter() - t0
del obj; gc.collect(); gc.disable()
t0 = time.perf_counter(); obj = orjson.loads(data); off = time.perf_counter() - t0
print(on, off)
"""


def parse_time(path: Path) -> tuple[float, float]:
    """orjson.loads of the same file, in its own process so its memory never inflates the others'."""
    out = subprocess.run([sys.executable, "-c", _PARSE, str(path)], check=True, capture_output=True, text=True)
    on, off = out.stdout.split()
    return float(on), float(off)


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def bench_audit(sizes: list[int]) -> dict[int, float]:
    print("\n== audit (issue 2) ==")
    walls = {}
    for pods in sizes:
        f = ensure(OUT / f"state-{pods}.json", pods)
        size = f.stat().st_size
        on, off = parse_time(f)
        wall, rss, code = run_measured(CLI + ["audit", str(f), "--output-dir", str(OUT / f"audit-{pods}"),
                                              "--format", "json,md,html,junit"] + TARGET)
        walls[pods] = wall
        print(f"  {pods:>7} pods: input {mb(size)}; audit {wall:.2f} s, peak RSS {mb(rss)} "
              f"({rss / size:.2f}x input); orjson.loads {on:.2f} s with GC on, {off:.2f} s with GC paused; "
              f"audit/parse = {wall / on:.2f} (GC on), {wall / off:.2f} (GC paused)")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        print(f"  scaling: {b // a}x objects -> {walls[b] / walls[a]:.1f}x time")
    return walls


def bench_compare(pods: int) -> None:
    print("\n== compare (issue 4): full node rotation ==")
    before = ensure(OUT / f"state-{pods}.json", pods)
    after = ensure(OUT / f"state-{pods}-rotated.json", pods, rotated=True)
    a1, _, _ = run_measured(CLI + ["audit", str(before), "--output-dir", str(OUT / "cmp-a1"), "--format", "json"])
    a2, _, _ = run_measured(CLI + ["audit", str(after), "--output-dir", str(OUT / "cmp-a2"), "--format", "json"])
    wall, rss, _ = run_measured(CLI + ["compare", str(before), str(after), "--output-dir", str(OUT / "cmp"),
                                       "--format", "json,md,html,junit"])
    print(f"  compare {wall:.2f} s, peak RSS {mb(rss)}; audit BEFORE {a1:.2f} s + audit AFTER {a2:.2f} s "
          f"= {a1 + a2:.2f} s; compare/(two audits) = {wall / (a1 + a2):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--skip-snapshot", action="store_true")
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--no-workloads", action="store_true",
                    help="synthetic states without Deployments, ReplicaSets and PDBs (the figures before issue 14)")
    ap.add_argument("--only", choices=["audit", "compare", "report", "snapshot", "verify", "fleet"], default=None)
    args = ap.parse_args()
    global WORKLOADS
    WORKLOADS = not args.no_workloads
    OUT.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    small = max(1000, args.pods // 10)

    def want(what: str) -> bool:
        return args.only in (None, what)

    if want("audit"):
        bench_audit([small, args.pods])
    if want("compare"):
        bench_compare(args.pods)
    print("", flush=True)
    if want("report"):
        subprocess.run([sys.executable, str(HERE / "bench_report.py")], check=False)
    if not args.skip_snapshot and want("snapshot"):
        print("\n== snapshot (issue 3; with the optional kinds, issue 14) ==", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_snapshot.py"), "--pods", str(args.pods)], check=False)
    if not args.skip_verify and want("verify"):
        print("\n== verify --follow (issue 12) ==", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_verify.py"), "--pods", str(args.pods)], check=False)
    if want("fleet"):
        print("\n== fleets: 8 clusters of 5,000 Pods, 200 reports ==", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_fleet.py")], check=False)


if __name__ == "__main__":
    main()
