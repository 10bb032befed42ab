"""Benchmark fleets (prints figures; not a timed test): `fleet audit --parallel 2` over 8 API doubles of 5,000 Pods
against the same 8 clusters audited one after another (snapshot, then audit, as a user would without fleets), and
`fleet report` over 200 report.json files from a folder and from moto S3.

Usage: python bench/bench_fleet.py [--clusters 8] [--pods 5000] [--parallel 2] [--reports 200]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "auditor"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        print(f"  {' '.join(cmd[2:5])}... exited {proc.returncode}: {proc.stderr.decode()[-400:]}", file=sys.stderr)
    return wall, proc.returncode


def _kubeconfig(path: Path, doubles: list[Any]) -> list[str]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    names = []
    for i, api in enumerate(doubles):
        one = yaml.safe_load(api.write_kubeconfig(path.with_name(f"one-{i}.yaml")).read_text())
        name = f"arn:aws:eks:eu-west-1:123456789012:cluster/bench-{i}"
        doc["clusters"].append({"name": f"c{i}", "cluster": one["clusters"][0]["cluster"]})
        doc["users"].append({"name": f"u{i}", "user": one["users"][0]["user"]})
        doc["contexts"].append({"name": name, "context": {"cluster": f"c{i}", "user": f"u{i}"}})
        names.append(name)
    doc["current-context"] = names[0]
    path.write_text(yaml.safe_dump(doc))
    return names


def bench_audit(clusters: int, pods: int, parallel: int, tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests import clusterfactory
    from tests.apidouble import ApiDouble

    t0 = time.perf_counter()
    objects = list(clusterfactory.cluster(pods=pods, services=max(1, pods // 10), nodes=max(3, pods // 100)))
    doubles = [ApiDouble(objects).__enter__() for _ in range(clusters)]
    print(f"  {clusters} API doubles of {pods:,} Pods ({len(objects):,} objects each) up in "
          f"{time.perf_counter() - t0:.1f} s")
    try:
        kubeconfig = tmp / "kubeconfig"
        names = _kubeconfig(kubeconfig, doubles)
        # the same work one cluster after another, as two commands per cluster
        seq = 0.0
        for i, name in enumerate(names):
            out = tmp / "sequential" / str(i)
            out.mkdir(parents=True)
            wall_s, _ = _run(CLI + ["snapshot", "-o", str(out / "snapshot.json.gz"), "--kubeconfig", str(kubeconfig),
                                    "--context", name], tmp)
            wall_a, _ = _run(CLI + ["audit", str(out / "snapshot.json.gz"), "--output-dir", str(out)], tmp)
            seq += wall_s + wall_a
        fleet, code = _run(CLI + ["fleet", "audit", "--kubeconfig", str(kubeconfig), "--all-contexts", "--no-eks",
                                  "--parallel", str(parallel), "--output-dir", str(tmp / "fleet")], tmp)
        doc = json.loads((tmp / "fleet" / "fleet.json").read_text())
        print(f"  one after another (snapshot + audit each): {seq:.1f} s")
        print(f"  fleet audit --parallel {parallel}: {fleet:.1f} s (exit {code}, {doc['summary']}); "
              f"ratio {fleet / seq:.2f} (target <= 0.60)")
    finally:
        for api in doubles:
            api.__exit__(None, None, None)


def _reports(folder: Path, count: int) -> None:
    """`count` report.json files as audits write them (a few findings each), one folder per cluster."""
    base = {"schemaVersion": 1, "tool": {"name": "eks-upgrade-auditor", "version": "0"}, "mode": "audit",
            "suppressed": []}
    for i in range(count):
        findings = [{"rule": r, "severity": s, "message": "m", "fingerprint": f"{i:x}{j:x}",
                     "object": {"kind": "Service", "namespace": "shop", "name": f"svc-{j}"}}
                    for j, (r, s) in enumerate([("stale-endpointslice", "error"), ("stale-endpoints", "warning")]
                                               * (i % 20))]
        doc = base | {"inputs": [{"path": "s", "label": "", "takenAt": "2025-01-01T00:00:00Z", "complete": True}],
                      "summary": {"error": i % 20, "warning": i % 20, "info": 0, "suppressed": 0},
                      "findings": findings, "cluster": {"context": f"cluster-{i:03d}", "targetVersion": "1.31",
                                                        "controlPlane": {"version": "1.30", "source": "apiserver"}}}
        (folder / f"cluster-{i:03d}").mkdir(parents=True)
        (folder / f"cluster-{i:03d}" / "report.json").write_text(json.dumps(doc))
        (folder / f"cluster-{i:03d}" / "report.html").write_text("<html>")


_S3_RUN = """
import os, sys, time
from pathlib import Path
import boto3
from moto import mock_aws
from click.testing import CliRunner
from auditor.cli.main import main
src, out = Path(sys.argv[1]), sys.argv[2]
with mock_aws():
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="fleet", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for p in sorted(src.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket="fleet", Key="wave/" + p.relative_to(src).as_posix(), Body=p.read_bytes())
    t0 = time.perf_counter()
    res = CliRunner().invoke(main, ["fleet", "report", "s3://fleet/wave/", "--output-dir", out])
    print(time.perf_counter() - t0, res.exit_code)
"""


def bench_report(count: int, tmp: Path) -> None:
    src = tmp / "reports"
    _reports(src, count)
    wall, code = _run(CLI + ["fleet", "report", str(src), "--output-dir", str(tmp / "from-folder")], tmp)
    clusters = json.loads((tmp / "from-folder" / "fleet.json").read_text())["summary"]["clusters"]
    print(f"  fleet report over {count} report.json files in a folder: {wall:.2f} s ({clusters} clusters, exit "
          f"{code}; process start included; target < 5 s)")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    env.pop("AWS_ENDPOINT_URL", None)
    out = subprocess.run([sys.executable, "-c", _S3_RUN, str(src), str(tmp / "from-s3")], env=env, check=True,
                         capture_output=True, text=True)
    seconds, code_s3 = out.stdout.split()[-2:]
    print(f"  fleet report over {count} report.json files in (moto) S3: {float(seconds):.2f} s (exit {code_s3}; "
          f"listing and reads; target < 5 s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--reports", type=int, default=200)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        print("\n== fleet audit ==", flush=True)
        bench_audit(args.clusters, args.pods, args.parallel, Path(tmp))
        print("\n== fleet report ==", flush=True)
        bench_report(args.reports, Path(tmp))


if __name__ == "__main__":
    main()
