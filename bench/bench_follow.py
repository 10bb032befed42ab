"""The follower alone (no HTTP, no threads): a whole node group rotating, fed to `Follower` as the watches would.

Builds a `--pods` cluster (tests/clusterfactory), loads it as BEFORE and as the followed first lists, then replaces
every Pod node by node: per old node one batch of changes (its Pods' replacements ADDED on new nodes, the old Pods
DELETED, then each affected Service's EndpointSlice and Endpoints rewritten, as the controllers do). Prints the
events, the time spent applying and evaluating, CPU per 1,000 events, the last evaluation, and whether the followed
state is converged at the end (it must be). A benchmark, not a timed test.
Usage: python bench/bench_follow.py [--pods 100000] [--batch-nodes 1]
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.collect.livestate import Change  # noqa: E402
from auditor.engine.follow import FOLLOWED_KINDS, Follower  # noqa: E402
from auditor.settings import Config, Options  # noqa: E402
from auditor.state import snapshot  # noqa: E402
from tests import clusterfactory as cf  # noqa: E402


def _rotation(objects: list[dict[str, Any]], at: float, batch_nodes: int) -> list[list[Change]]:
    nodes = [o for o in objects if o["kind"] == "Node"]
    zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}
    new_nodes = [cf.node(100_000 + i) for i in range(len(nodes))]
    for n in new_nodes:
        zones[n["metadata"]["name"]] = n["metadata"]["labels"]["topology.kubernetes.io/zone"]
    svcs = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    members: dict[tuple[str, str], list[dict[str, Any]]] = {k: [] for k in svcs}
    on_node: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        if o["kind"] == "Pod":
            members[(o["metadata"]["namespace"], o["metadata"]["labels"]["app"])].append(o)
            on_node.setdefault(o["spec"]["nodeName"], []).append(o)

    def change(kind: str, type_: str, obj: dict[str, Any], t: float) -> Change:
        meta = obj["metadata"]
        return Change(kind, type_, meta.get("namespace", ""), meta["name"], orjson.dumps(obj), t)

    batches = [[change("Node", "ADDED", n, at) for n in new_nodes]]
    n = 10_000_000
    olds = [o["metadata"]["name"] for o in nodes]
    for i in range(0, len(olds), batch_nodes):
        t = at + 1 + i
        batch: list[Change] = []
        touched: set[tuple[str, str]] = set()
        for j, old_node in enumerate(olds[i:i + batch_nodes]):
            target = new_nodes[(i + j) % len(new_nodes)]["metadata"]["name"]
            for p in on_node.get(old_node, []):
                ns, app = p["metadata"]["namespace"], p["metadata"]["labels"]["app"]
                q = cf.pod(ns, app, n, target, f"10.{200 + n // 62500 % 50}.{n // 250 % 250}.{n % 250 + 1}")
                n += 1
                key = (ns, app)
                members[key] = [m for m in members[key] if m is not p] + [q]
                touched.add(key)
                batch += [change("Pod", "ADDED", q, t), change("Pod", "DELETED", p, t)]
        for key in sorted(touched):
            svc = svcs[key]
            batch += [change("EndpointSlice", "MODIFIED", cf.endpointslice(svc, members[key], zones), t),
                      change("Endpoints", "MODIFIED", cf.endpoints(svc, members[key]), t)]
        batches.append(batch)
    batches.append([change("Node", "DELETED", o, at + 2 + len(olds)) for o in nodes])
    return batches


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pods", type=int, default=100_000)
    ap.add_argument("--batch-nodes", type=int, default=1, help="old nodes replaced per batch")
    ap.add_argument("--evaluate-every", type=int, default=1,
                    help="batches between evaluations (verify judges when changes pause, else every 0.5 s: a "
                         "1,000-node rotation in 20 s is 25 node batches per 0.5 s)")
    args = ap.parse_args(argv)
    objects = list(cf.cluster(pods=args.pods, services=max(1, args.pods // 10), nodes=max(3, args.pods // 100),
                              namespaces=50))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "before.json"
        path.write_bytes(orjson.dumps({"kind": "List", "apiVersion": "v1", "items": objects}))
        before = snapshot.load_inputs([str(path)])
    at = 1_800_000_000.0
    batches = _rotation(objects, at, args.batch_nodes)
    events = sum(len(b) for b in batches)
    config = Config(options=Options(grace_seconds=0))
    t0, c0 = time.perf_counter(), time.process_time()
    follower = Follower(before, config, started=at)
    for kind in FOLLOWED_KINDS:
        follower.load(kind, [orjson.dumps(o) for o in objects if o["kind"] == kind], at)
    follower.start(at)
    follower.evaluate(at)
    gc.collect()
    print(f"{args.pods} Pods: loaded and first verdict in {time.perf_counter() - t0:.2f}s "
          f"(CPU {time.process_time() - c0:.2f}s)", flush=True)
    applying = evaluating = 0.0
    c0 = time.process_time()
    last = 0.0
    for i, batch in enumerate(batches):
        t1 = time.perf_counter()
        follower.apply(batch)
        t2 = time.perf_counter()
        if i % args.evaluate_every == 0 or i == len(batches) - 1:
            follower.evaluate(batch[-1].at if batch else at)
        last = time.perf_counter() - t2
        applying += t2 - t1
        evaluating += last
    cpu = time.process_time() - c0
    print(f"rotation: {events} events in {len(batches)} batches; apply {applying:.2f}s, evaluate {evaluating:.2f}s; "
          f"CPU {cpu:.2f}s = {cpu / events * 1000:.3f}s per 1,000 events; last evaluation {last * 1000:.0f} ms; "
          f"converged at the end: {follower.verdict.converged} "
          f"({len(follower.verdict.not_converged)} Services not)", flush=True)
    return 0 if follower.verdict.converged else 1


if __name__ == "__main__":
    sys.exit(main())
