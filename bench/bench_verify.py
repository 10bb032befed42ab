"""Benchmark `verify --follow` against a large cluster served by the API double (a benchmark, not a timed test).

The double (a child process) serves `--pods` Pods; `verify --follow` (another child, the real CLI) lists it
and watches. Then a scripted rotation of `--rotate` Pods is applied in two steps:

  A. the Pods of the first Services are replaced (deleted, recreated with new names and IPs on other nodes)
     while their EndpointSlices and Endpoints still list the old Pods: those Services are not converged;
  B. their slices and Endpoints follow the new Pods: converged again.

Printed: the initial list time (start to the first verdict on stderr), the lag from each step being served
to verify's updated verdict line, verify's CPU per 1,000 events, and its peak RSS.
Usage: python bench/bench_verify.py [--pods 100000] [--rotate 1000]
"""
from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _serve(args: argparse.Namespace) -> None:
    """Child: build and serve the cluster; on `A` / `B` lines apply the rotation's steps, answer the time."""
    sys.path.insert(0, str(ROOT))
    from tests import clusterfactory as cf
    from tests.apidouble import ApiDouble

    services = max(1, args.pods // 10)
    objects = list(cf.cluster(pods=args.pods, services=services, nodes=max(3, args.pods // 100), namespaces=50))
    api = ApiDouble(version="1.33")
    api.set_state(objects, keep=False)
    per = max(1, args.pods // services)
    moved = max(1, args.rotate // per)  # Services whose Pods move
    pods = [o for o in objects if o["kind"] == "Pod"]
    by_app: dict[str, list[dict[str, Any]]] = {}
    for p in pods:
        by_app.setdefault(p["metadata"]["labels"]["app"], []).append(p)
    svcs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    nodes = [o for o in objects if o["kind"] == "Node"]
    zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}
    apps = [f"app-{s}" for s in range(moved)]
    new: dict[str, list[dict[str, Any]]] = {}
    for i, app in enumerate(apps):
        out = []
        for j, old in enumerate(by_app[app]):
            n = 10_000_000 + i * per + j
            node = nodes[(n * 7) % len(nodes)]["metadata"]["name"]
            p = cf.pod(old["metadata"]["namespace"], app, n, node, f"10.200.{(n // 250) % 250}.{n % 250 + 1}")
            out.append(p)
        new[app] = out
    with api:
        api.write_kubeconfig(args.serve)
        print(api.url, flush=True)
        for line in sys.stdin:
            step = line.strip()
            if step == "A":
                delete = [("Pod", p["metadata"]["namespace"], p["metadata"]["name"]) for a in apps for p in by_app[a]]
                api.update([p for a in apps for p in new[a]], delete=delete, keep=False)
            elif step == "B":
                follow = []
                for a in apps:
                    follow += [cf.endpoints(svcs[a], new[a]), cf.endpointslice(svcs[a], new[a], zones)]
                api.update(follow, keep=False)
            else:
                continue
            print(f"applied {time.time():.6f}", flush=True)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_peak(pid: int, field: str = "VmHWM") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def run(pods: int, rotate: int) -> dict[str, Any]:
    results: dict[str, Any] = {"pods": pods, "rotate": rotate}
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        kubeconfig = work / "kubeconfig"
        t0 = time.monotonic()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(kubeconfig), "--pods", str(pods),
                                   "--rotate", str(rotate)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdin is not None
        url = server.stdout.readline().strip()
        if not url:
            raise SystemExit("the API double did not start")
        print(f"API double at {url}: {pods} Pods, {pods // 10} Services (+ slices, Endpoints) "
              f"(built in {time.monotonic() - t0:.1f}s)", flush=True)
        before = work / "before.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        snap = subprocess.run([sys.executable, "-m", "auditor", "snapshot", "-o", str(before), "--kubeconfig",
                               str(kubeconfig), "--label", "before"], env=env, capture_output=True, text=True)
        if snap.returncode != 0:
            raise SystemExit(f"snapshot failed: {snap.stderr}")
        config = work / "config.yaml"
        config.write_text("grace-seconds: 0\n")
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        start = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "auditor", "verify", "--before", str(before), "--kubeconfig",
                                 str(kubeconfig), "--config", str(config), "--output-dir", str(work / "out"),
                                 "--format", "json", "--follow", "--timeout", "900"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.put((time.time(), line.rstrip()))

        threading.Thread(target=read, daemon=True).start()

        def wait_for(predicate: Any, timeout: float = 300) -> tuple[float, str]:
            end = time.time() + timeout
            while time.time() < end:
                try:
                    at, text = lines.get(timeout=1)
                except queue.Empty:
                    if proc.poll() is not None:
                        raise SystemExit(f"verify exited {proc.returncode}") from None
                    continue
                if predicate(text):
                    return at, text
            raise SystemExit("timed out waiting for verify")

        at, listed = wait_for(lambda t: t.startswith("verify: listed"))
        print(f"verify: {listed} ({at - start:.1f}s after start)", flush=True)
        at, first = wait_for(lambda t: t.startswith("verify 0:") or t.startswith("verify "))
        results["initial_s"] = at - start
        print(f"verify: first verdict {results['initial_s']:.1f}s after start (process start, BEFORE loaded, "
              f"list, model, first evaluation): {first}; RSS now {_rss_peak(proc.pid, 'VmRSS') / 2**20:.0f} MB, "
              f"peak so far {_rss_peak(proc.pid) / 2**20:.0f} MB", flush=True)
        time.sleep(2.0)
        cpu0 = _cpu(proc.pid)
        for step, want in (("A", "not converged"), ("B", ": converged")):
            server.stdin.write(step + "\n")
            server.stdin.flush()
            served = float(server.stdout.readline().split()[1])
            at, text = wait_for(lambda t, w=want: w in t)
            results[f"lag_{step}_s"] = at - served
            print(f"step {step}: verdict {at - served:.2f}s after the double served it: {text[:120]}", flush=True)
            time.sleep(1.5)
        cpu1 = _cpu(proc.pid)
        per = max(1, pods // max(1, pods // 10))
        moved = max(1, rotate // per)
        events = 2 * moved * per + 2 * moved  # Pods deleted and created; slices and Endpoints rewritten
        results["cpu_per_1000_events_s"] = (cpu1 - cpu0) / events * 1000
        following = _rss_peak(proc.pid) / 2**20
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        results["peak_rss_following_mb"] = following
        results["peak_rss_mb"] = usage.ru_maxrss / 1024
        results["exit"] = code
        print(f"CPU {cpu1 - cpu0:.2f}s for about {events} events ({results['cpu_per_1000_events_s']:.2f}s per "
              f"1,000, idle time and re-evaluation included); peak RSS while following "
              f"{following:.0f} MB, with the final comparison and reports {results['peak_rss_mb']:.0f} MB; "
              f"exit {code} after SIGTERM", flush=True)
        server.stdin.close()
        server.wait(timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--rotate", type=int, default=1_000)
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args)
        return 0
    run(args.pods, args.rotate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
