"""Benchmarks (not timed tests): prints wall time, peak RSS and input sizes for audit, compare and snapshot.

Usage: python bench/run.py [--pods 100000] [--skip-snapshot] [--only audit] [--repeat 3]
Generated inputs are cached in bench/out/. Each measured command runs as its own process, and its peak
RSS is that process's own (os.wait4), so the figures are what a user would see.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
import synth  # noqa: E402

CLI = [sys.executable, "-m", "auditor"]


class Measured(NamedTuple):
    wall: float
    cpu: float  # user + sys of the whole process (os.wait4), start-up included
    rss: int  # that process's own peak RSS, bytes
    code: int


def run_measured(cmd: list[str]) -> Measured:
    """Run a command as its own process; its wall time, CPU, peak RSS and exit code (0 or 1, else it failed)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode)


def median_run(cmd: list[str], repeat: int) -> Measured:
    """`repeat` runs of the command; the median of each figure (one slow or lucky run does not move it)."""
    runs = [run_measured(cmd) for _ in range(repeat)]
    return Measured(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
                    int(statistics.median(r.rss for r in runs)), runs[-1].code)


WORKLOADS = True  # --no-workloads: the states of before issue 14 (no Deployments, ReplicaSets, PDBs)
TARGET = ["--target-version", "1.31"]  # every synthetic node (kubelet 1.30) rotates: the rotation rules' worst case
FORMATS = ["--format", "json,md,html,junit"]
REPEAT = 3  # --repeat: runs per measured command in the audit figures (medians printed)


def ensure(path: Path, pods: int, rotated: bool = False, workloads: bool | None = None) -> Path:
    workloads = WORKLOADS if workloads is None else workloads
    if not workloads:
        path = path.with_name(path.stem + "-noworkloads" + path.suffix)
    if not path.exists():
        t0 = time.perf_counter()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a half-written state is never cached
        n = synth.write_state(tmp, pods=pods, services=max(1, pods // 10), nodes=max(3, pods // 100),
                              rotated=rotated, workloads=workloads)
        os.replace(tmp, path)
        print(f"  generated {path.name}: {n} objects in {time.perf_counter() - t0:.1f} s")
    return path


# The parse floor: CPU (user + sys, time.process_time) of orjson.loads alone, the file already in memory, in a
# process of its own so that its memory never inflates the others'; with the cyclic GC on, then off.
_PARSE = """
import gc, sys, time, orjson
data = open(sys.argv[1], 'rb').read()
t0 = time.process_time(); obj = orjson.loads(data); on = time.process_time() - t0
del obj; gc.collect(); gc.disable()
t0 = time.process_time(); obj = orjson.loads(data); off = time.process_time() - t0
print(on, off)
"""


def parse_time(path: Path, repeat: int = 1) -> tuple[float, float]:
    """Median CPU seconds of orjson.loads of the file (GC on, GC off) over `repeat` processes."""
    ons, offs = [], []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _PARSE, str(path)], check=True, capture_output=True, text=True)
        on, off = out.stdout.split()
        ons.append(float(on))
        offs.append(float(off))
    return statistics.median(ons), statistics.median(offs)


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def audit_cmd(state: Path, out: str, *extra: str) -> list[str]:
    return CLI + ["audit", str(state), "--output-dir", str(OUT / out), *FORMATS, *extra]


def bench_audit(sizes: list[int]) -> dict[int, float]:
    """Per size: the audit's wall, CPU and peak RSS against the parse floor and the input size (issue 22)."""
    print(f"\n== audit (issues 2, 22): `audit STATE {' '.join(FORMATS + TARGET)}`, median of {REPEAT} runs ==")
    print("  audit CPU = user + sys of the whole audit process (start-up included); parse floor = CPU of "
          "orjson.loads of the same file alone, GC off; peak RSS of the audit process / the input file's size")
    walls = {}
    for pods in sizes:
        f = ensure(OUT / f"state-{pods}.json", pods)
        size = f.stat().st_size
        on, off = parse_time(f, REPEAT)
        m = median_run(audit_cmd(f, f"audit-{pods}", *TARGET), REPEAT)
        walls[pods] = m.wall
        print(f"  {pods:>7} pods: input {mb(size)}; audit {m.wall:.2f} s wall, {m.cpu:.2f} s CPU, "
              f"peak RSS {mb(m.rss)}; orjson.loads {on:.2f} s CPU with GC on, {off:.2f} s with GC off")
        print(f"           audit CPU / orjson.loads CPU (GC off) = {m.cpu:.2f} / {off:.2f} = {m.cpu / off:.2f} "
              f"(issue 22 target <= 0.25; / GC on: {m.cpu / on:.2f})")
        print(f"           audit peak RSS / input size = {mb(m.rss)} / {mb(size)} = {m.rss / size:.2f} "
              f"(issue 22 target <= 1.0)")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        print(f"  scaling: {b // a}x objects -> {walls[b] / walls[a]:.1f}x time")
    return walls


def bench_workloads(pods: int) -> None:
    """What workloads and a rotation plan add (issue 22): the same synthetic cluster with Deployments, ReplicaSets
    and PDBs audited with --target-version (every node rotates), against it without them and without a target."""
    print(f"\n== audit with workloads and a plan vs without (issue 22), median of {REPEAT} runs ==")
    full = ensure(OUT / f"state-{pods}.json", pods, workloads=True)
    bare = ensure(OUT / f"state-{pods}.json", pods, workloads=False)
    with_plan = audit_cmd(full, "wl-plan", *TARGET)
    without = audit_cmd(bare, "wl-none")
    cpu_a, cpu_b = [], []
    for _ in range(REPEAT):  # in turn, so that a drift of the machine's speed hits both alike
        cpu_a.append(run_measured(with_plan).cpu)
        cpu_b.append(run_measured(without).cpu)
    a, b = statistics.median(cpu_a), statistics.median(cpu_b)
    ratios = statistics.median(x / y for x, y in zip(cpu_a, cpu_b, strict=True))
    print(f"  with workloads and {' '.join(TARGET)} ({full.name}): {a:.2f} s CPU; without ({bare.name}, no target): "
          f"{b:.2f} s CPU; ratio (median of pairs) = {ratios:.2f} (issue 22 target <= 1.2)")


def bench_compare(pods: int) -> None:
    print("\n== compare (issue 4): full node rotation ==")
    before = ensure(OUT / f"state-{pods}.json", pods)
    after = ensure(OUT / f"state-{pods}-rotated.json", pods, rotated=True)
    a1 = run_measured(CLI + ["audit", str(before), "--output-dir", str(OUT / "cmp-a1"), "--format", "json"]).wall
    a2 = run_measured(CLI + ["audit", str(after), "--output-dir", str(OUT / "cmp-a2"), "--format", "json"]).wall
    m = run_measured(CLI + ["compare", str(before), str(after), "--output-dir", str(OUT / "cmp"),
                            "--format", "json,md,html,junit"])
    print(f"  compare {m.wall:.2f} s, peak RSS {mb(m.rss)}; audit BEFORE {a1:.2f} s + audit AFTER {a2:.2f} s "
          f"= {a1 + a2:.2f} s; compare/(two audits) = {m.wall / (a1 + a2):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--skip-snapshot", action="store_true")
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--no-workloads", action="store_true",
                    help="synthetic states without Deployments, ReplicaSets and PDBs (the figures before issue 14)")
    ap.add_argument("--only", choices=["audit", "compare", "report", "snapshot", "verify", "rotation", "fleet"],
                    default=None)
    ap.add_argument("--vs-root", metavar="DIR", help="rotation: measure this checkout (with its .venv) first, as the "
                    "baseline, in the same run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measured command in the audit figures")
    args = ap.parse_args()
    global WORKLOADS, REPEAT
    WORKLOADS = not args.no_workloads
    REPEAT = max(1, args.repeat)
    OUT.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    small = max(1000, args.pods // 10)

    def want(what: str) -> bool:
        return args.only in (None, what)

    if want("audit"):
        bench_audit([small, args.pods])
        bench_workloads(args.pods)
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
    if not args.skip_verify and want("rotation"):
        print("\n== verify --follow through a whole node-group rotation (issue 22) ==", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_rotation.py"), "--pods", str(args.pods)]
                       + (["--vs-root", args.vs_root] if args.vs_root else []), check=False)
    if want("fleet"):
        print("\n== fleets: 8 clusters of 5,000 Pods, 200 reports ==", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_fleet.py")], check=False)


if __name__ == "__main__":
    main()
