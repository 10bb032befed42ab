"""Benchmark `verify --follow` through a whole node-group rotation at 100k Pods (a benchmark, not a timed test).

The API double (a child process, tests/apidouble.py) serves a 100k-Pod cluster (10 Pods a Service, 100 a node);
`verify --follow` (another child, the real CLI of `--root`) lists it and watches. Then the double plays, as watch
events over about `--seconds`, the rotation of every node of the group:

  - the new nodes join (ADDED), the old ones are cordoned (MODIFIED);
  - node by node (blocks of half a Service's Pods, so no Service ever loses more than half its Pods at once),
    the old Pods are evicted (MODIFIED: a deletionTimestamp, not ready) and their replacements created on the
    new nodes (ADDED, Pending), then Running not ready and Ready (MODIFIED each); three seconds after the
    eviction the old Pods are DELETED, then their old Node;
  - the EndpointSlice and Endpoints controllers follow one tick (`--tick`) behind, one write per Service per
    tick when its endpoints changed: a slice lists evicted Pods as terminating (ready false, serving and
    terminating true) until they are gone, new Pods not ready then ready; Endpoints drop evicted Pods and
    list new ones under notReadyAddresses, then addresses.

One Service's Endpoints and slice are written only at the end, as a backlogged EndpointSlice controller does: from
the first deletions on, its slice lists deleted Pods, so the cluster is never converged until that last write, the
last step. At 100k Pods that is 643k events (6.4 a Pod: five for each Pod replaced, the rest the controllers' and
the nodes'), 32k a second over 20 s. Every event is encoded before the timed part (ApiDouble.prepare; kept in
bench/out/ for the next run with the same code and arguments) and served on schedule (publish).

Printed for each checkout: the time from the last event served to verify's verdict line saying converged (the first
of the converged lines that end its verdicts, once verify has gone idle with every event written to its watches),
verify's own CPU per 1,000 events from the rotation's start to then (/proc/PID/stat), its peak RSS (VmHWM) while
following and with the final comparison and reports (SIGTERM ends the run), start to its first verdict line, and
the double's schedule (events served per second) and its own CPU: the two processes share the machine's cores.

Usage: python bench/bench_rotation.py [--pods 100000] [--seconds 20] [--root DIR] [--vs-root DIR] [--repeat N]
`--root DIR` runs DIR/.venv/bin/python -m auditor (default: this checkout); `--vs-root DIR` measures that
checkout too, before `--root` in each round, and prints both side by side (`--repeat`: the median of N rounds).
`--work DIR` keeps each round's files (verify's stderr with the time of each line, its report).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import inspect
import json
import os
import pickle
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Obj = dict[str, Any]
Key = tuple[str, str, str]
#: verify's verdict lines: "verify M:SS: converged" or "verify M:SS: N Service(s) not converged: ..." (its other
#: progress lines, "verify M:SS: listing the cluster" and the like, say no verdict)
VERDICT = re.compile(r"^verify \d+:\d\d: (converged\b.*|\d+ Service\(s\) not converged\b.*)$")
#: kube-apiserver's watch cache holds at most 100 x 1024 events of a resource: a watch further behind gets 410.
HISTORY = 100 * 1024
#: The Service (by index) whose Endpoints and slice the controllers write only at the very end, after every other
#: change, as a backlogged EndpointSlice controller does in a large rotation. Its slice lists old Pods from the first
#: wave's deletions on: no moment of the rotation is converged until that last write, whatever verify's batching,
#: so the first `converged` verdict after the rotation began answers the last step.
BACKLOGGED = 0
#: when the rotation starts, in the objects' timestamps (fixed, so that its encoded events can be kept and reused)
EPOCH = datetime.datetime(2025, 6, 1, 9, 0, tzinfo=datetime.UTC).timestamp()


# -- the rotation (built and played in the double's process) --------------------------------------------------

@dataclass
class _Slot:
    """One replica of a Service: its old Pod (by its index in the cluster) and its replacement."""

    k: int
    old: str = "ready"  # ready | terminating | gone
    new: str = ""  # "" (not created) | pending | running | ready


class Rotation:
    """The cluster BEFORE (`before()`, streamed to the double) and the rotation's steps (`steps()`: one list of
    changes per tick, objects to create or replace and keys to delete, in the order of their events)."""

    def __init__(self, pods: int, seconds: float, tick: float, epoch: float) -> None:
        self.pods, self.services, self.nodes = pods, max(1, pods // 10), max(3, pods // 100)
        self.tick, self.epoch = tick, epoch
        self.ticks = max(8, round(seconds / tick))
        self.run, self.ready, self.gone = round(1.0 / tick), round(2.0 / tick), round(3.0 / tick)
        self.old_nodes: list[Obj] = []
        self.new_nodes: list[Obj] = []
        self.zones: dict[str, str] = {}
        self.svc: list[Obj] = []
        self.slots: list[list[_Slot]] = []  # Service -> its replicas
        # Pod k (its index in the cluster) -> how the cluster made it, its Service, its old node's index
        self.pod_args: list[tuple[str, str, str, str]] = []  # (namespace, app, node, ip)
        self.old_id: list[tuple[str, str]] = []  # (name, uid)
        self.service_of: list[int] = []
        self.node_of: list[int] = []
        self.new_id: dict[int, tuple[str, str, str]] = {}  # k -> its replacement's (name, uid, node)
        self.in_flight: dict[int, Obj] = {}  # k -> its replacement until ready
        self.written: dict[int, tuple[Any, Any]] = {}  # Service -> (slice members, Endpoints members) last written

    def before(self) -> Iterator[Obj]:
        """The cluster's objects, streamed (a double built again is given the same); what the steps need is kept."""
        from tests import clusterfactory as cf

        self.old_nodes, self.svc, self.slots = [], [], []
        self.pod_args, self.old_id, self.service_of, self.node_of = [], [], [], []
        nodes: dict[str, int] = {}
        for obj in cf.cluster(pods=self.pods, services=self.services, nodes=self.nodes, namespaces=50):
            kind, meta = obj["kind"], obj["metadata"]
            if kind == "Node":
                nodes[meta["name"]] = len(self.old_nodes)
                self.old_nodes.append(obj)
            elif kind == "Service":
                self.slots.append([])
                self.svc.append(obj)
            elif kind == "Pod":
                k = len(self.pod_args)
                self.pod_args.append((meta["namespace"], meta["labels"]["app"], obj["spec"]["nodeName"],
                                      obj["status"]["podIP"]))
                if k < 10:  # the Pods are rebuilt from these arguments when they change
                    assert cf.pod(*self._old_args(k)) == obj, "clusterfactory.pod is not what cluster() makes"
                self.old_id.append((meta["name"], meta["uid"]))
                self.slots[-1].append(_Slot(k))
                self.service_of.append(len(self.svc) - 1)
                self.node_of.append(nodes[obj["spec"]["nodeName"]])
            yield obj

    def _old_args(self, k: int) -> tuple[str, str, int, str, str]:
        ns, app, node, ip = self.pod_args[k]
        return ns, app, k, node, ip

    def when(self, t: int) -> float:
        return self.epoch + t * self.tick

    def waves(self) -> list[list[int]]:
        """Old node indexes by wave: blocks of half a Service's Pods (the cluster puts a Service's Pods on
        consecutive nodes), every Service's first half before any second half."""
        size = max(1, self.pods // self.services // 2)
        blocks = [list(range(i, min(i + size, self.nodes))) for i in range(0, self.nodes, size)]
        return blocks[0::2] + blocks[1::2]

    def plan(self) -> dict[int, list[tuple[str, list[int]]]]:
        """Tick -> the Pod phases that happen then, each with its wave's old node indexes. The waves start evenly
        from tick 2 so that the last one's old Pods are gone three ticks before the end."""
        waves = self.waves()
        span = self.ticks - 4 - self.gone
        out: dict[int, list[tuple[str, list[int]]]] = {}
        for w, nodes in enumerate(waves):
            start = 2 + (round(w * span / (len(waves) - 1)) if len(waves) > 1 else 0)
            for what, after in (("evict", 0), ("run", self.run), ("ready", self.ready), ("gone", self.gone)):
                out.setdefault(start + after, []).append((what, nodes))
        return out

    def steps(self) -> Iterator[list[Obj | Key]]:
        from tests import clusterfactory as cf

        self.new_nodes = [cf.node(self.nodes + i) for i in range(self.nodes)]  # old node i's Pods go to new node i
        self.zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
                      for n in self.old_nodes + self.new_nodes}
        pods_on: dict[int, list[int]] = {}
        for k, i in enumerate(self.node_of):
            pods_on.setdefault(i, []).append(k)
        plan = self.plan()
        dirty: set[int] = set()
        t = 0
        while t <= max(plan) or dirty:
            rendered = self._controllers(dirty, t)  # what the controllers saw at the end of the previous tick
            dirty = set()
            step: list[Obj | Key] = []
            if t == 0:
                step += self.new_nodes
            elif t == 1:
                step += [cf.cordoned(n, self.when(t)) for n in self.old_nodes]
            for what, nodes in plan.get(t, []):
                step += self._pods(what, [k for i in nodes for k in pods_on.get(i, [])], t, dirty)
                if what == "gone":
                    step += [("Node", "", self.old_nodes[i]["metadata"]["name"]) for i in nodes]
            yield step + rendered
            t += 1
        yield self._controllers({BACKLOGGED}, t, backlog=True)  # the last step

    def _pods(self, what: str, pods: list[int], t: int, dirty: set[int]) -> list[Obj | Key]:
        """The Pod events of one phase of a wave. The Pods in flight are kept as objects and changed in place:
        the double has encoded a step before it asks for the next."""
        from tests import clusterfactory as cf

        out: list[Obj | Key] = []
        at = self.when(t)
        for k in pods:
            s = self.service_of[k]
            slot = self.slots[s][k - self.slots[s][0].k]  # a Service's Pods are consecutive
            dirty.add(s)
            ns, app, _, _ = self.pod_args[k]
            if what == "evict":
                slot.old, slot.new = "terminating", "pending"
                new = cf.replacement(ns, app, 1_000_000 + k, self.new_nodes[self.node_of[k]], at)
                self.in_flight[k] = new
                self.new_id[k] = (new["metadata"]["name"], new["metadata"]["uid"], new["spec"]["nodeName"])
                out += [cf.terminating(cf.pod(*self._old_args(k)), at), new]
            elif what in ("run", "ready"):
                slot.new = "running" if what == "run" else "ready"
                out.append(cf.running(self.in_flight[k], _new_ip(k), at, ready=what == "ready"))
                if what == "ready":
                    del self.in_flight[k]
            else:
                slot.old = "gone"
                out.append(("Pod", ns, self.old_id[k][0]))
        return out

    def _controllers(self, dirty: set[int], t: int, backlog: bool = False) -> list[Obj | Key]:
        """The EndpointSlice and Endpoints controllers' writes for the Services changed at tick t-1: Endpoints
        first, then the slices; nothing for a Service whose endpoints did not change. The BACKLOGGED Service
        is written only with `backlog`, at the very end."""
        from tests import clusterfactory as cf

        endpoints: list[Obj | Key] = []
        slices: list[Obj | Key] = []
        trigger = self.when(t - 1)
        for s in sorted(dirty):
            if (s == BACKLOGGED) != backlog:
                continue
            members = self._members(s)
            listed = tuple(e for e in members if not e.terminating)  # the Endpoints controller drops evicted Pods
            last = self.written.get(s, (None, None))
            if listed != last[1]:
                endpoints.append(cf.endpoints_of(self.svc[s], list(listed), trigger))
            if members != last[0]:
                slices.append(cf.endpointslice_of(self.svc[s], list(members), self.zones, trigger))
            self.written[s] = (members, listed)
        return endpoints + slices

    def _members(self, s: int) -> tuple[Any, ...]:
        """The Service's endpoints now: its old Pods not yet deleted, then its new ones that have an IP."""
        from tests import clusterfactory as cf

        old, new = [], []
        for slot in self.slots[s]:
            _, _, node, ip = self.pod_args[slot.k]
            if slot.old != "gone":
                name, uid = self.old_id[slot.k]
                old.append(cf.Endpoint(ip, node, name, uid, slot.old == "ready", True, slot.old == "terminating"))
            if slot.new in ("running", "ready"):
                name, uid, node = self.new_id[slot.k]
                ready = slot.new == "ready"
                new.append(cf.Endpoint(_new_ip(slot.k), node, name, uid, ready, ready, False))
        return tuple(old + new)


def _new_ip(k: int) -> str:
    return f"10.{128 + k // 62500}.{k // 250 % 250}.{k % 250 + 1}"


# -- the double's process: build, prepare, then serve rounds on the parent's commands -----------------------------

def _serve(args: argparse.Namespace) -> None:
    """Child: build the cluster, encode the rotation, then for each round on stdin (`start KUBECONFIG`, `go`,
    `stop`) serve a fresh double at the same resourceVersions and play the same encoded events to it. What it
    does goes to stdout as JSON lines."""
    sys.path.insert(0, str(ROOT))
    from tests.apidouble import ApiDouble

    def say(what: str, **fields: Any) -> None:
        print(json.dumps({"what": what, **fields}), flush=True)

    rotation = Rotation(args.pods, args.seconds, args.tick, EPOCH)

    def fresh() -> ApiDouble:
        api = ApiDouble(version="1.33")
        api.set_state(rotation.before(), keep=False, compact=True)  # no history: the rotation's events only
        api.history = args.history
        api.keep_states = 20  # each list rebuilds a state: a paginated relist must outlive the others' lists
        return api

    t0 = time.monotonic()
    api: ApiDouble | None = fresh()
    assert api is not None
    built = time.monotonic() - t0
    batches, cached = _encoded(api, rotation, args)
    kinds: dict[str, int] = {}
    for b in batches:
        for e in b.events:
            kinds[f"{e.kind} {e.type}"] = kinds.get(f"{e.kind} {e.type}", 0) + 1
    say("prepared", built=built, seconds=time.monotonic() - t0 - built, cached=cached, steps=len(batches),
        events=sum(kinds.values()), kinds=kinds, nodes=rotation.nodes, services=rotation.services,
        bytes=sum(len(e.line) for b in batches for e in b.events))
    started = False
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "start":
            if api is None:
                api = fresh()
            if int(api.resource_version) != batches[0].base:
                raise SystemExit("a fresh double is not at the resourceVersion the events were encoded for")
            api.__enter__()
            started = True
            api.write_kubeconfig(rest)
            say("url", url=api.url)
        elif command == "go" and api is not None:
            _play(api, batches, args.tick, say)
        elif command == "stop" and api is not None:
            if started:
                api.__exit__(None, None, None)
            api, started = None, False


def _encoded(api: Any, rotation: Rotation, args: argparse.Namespace) -> tuple[list[Any], str]:
    """The rotation's batches: from bench/out/ when encoded before by the same code with the same arguments
    (encoding 643k events takes minutes), else encoded now and kept there (the older ones removed)."""
    digest = hashlib.sha256(repr((args.pods, args.seconds, args.tick, api.resource_version, EPOCH, BACKLOGGED,
                                  inspect.getsource(Rotation), inspect.getsource(_Slot))).encode())
    for source in (ROOT / "tests" / "apidouble.py", ROOT / "tests" / "clusterfactory.py"):
        digest.update(source.read_bytes())
    path = ROOT / "bench" / "out" / f"rotation-{args.pods}-{digest.hexdigest()[:12]}.pickle"
    if path.exists() and not args.encode:
        with path.open("rb") as f:
            return pickle.load(f), str(path)  # noqa: S301 - our own cache, written just below
    batches = list(api.prepare(rotation.steps()))
    path.parent.mkdir(exist_ok=True)
    for old in path.parent.glob(f"rotation-{args.pods}-*.pickle"):
        old.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with tmp.open("wb") as f:
        pickle.dump(batches, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return batches, ""


def _play(api: Any, batches: list[Any], tick: float, say: Any) -> None:
    """Publish batch i at `tick * i` seconds from now (late ones at once, never skipped); say when the first and
    the last were served, how late they were, the double's CPU, then when every open watch had written every
    event (what verify can have read by then)."""
    cpu0 = time.process_time()
    start = time.monotonic() + 0.05
    late: list[float] = []
    first = served = 0.0
    for i, batch in enumerate(batches):
        due = start + i * tick
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        api.publish(batch)
        late.append(time.monotonic() - due)
        served = time.time()
        first = first or served
    say("served", at=served, first=first, events=sum(len(b.events) for b in batches),
        planned=tick * (len(batches) - 1), late_max=max(late), late_mean=sum(late) / len(late),
        cpu=time.process_time() - cpu0)
    deadline = time.monotonic() + 1800
    while not api.published_written() and time.monotonic() < deadline:
        time.sleep(0.1)
    say("written", at=time.time(), cpu=time.process_time() - cpu0, watches=api.open_watches)


# -- the measuring side ---------------------------------------------------------------------------------------------

class _Double:
    """The double's process, its JSON lines in a queue."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", "--pods", str(args.pods), "--seconds",
                                      str(args.seconds), "--tick", str(args.tick), "--history", str(args.history)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.said: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.said.put(json.loads(line))
        self.said.put({"what": "exit"})

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, what: str, timeout: float = 1800) -> dict[str, Any]:
        try:
            got = self.said.get(timeout=timeout)
        except queue.Empty:
            raise SystemExit(f"the API double said nothing for {timeout:.0f}s (waiting for {what!r})") from None
        if got["what"] != what:
            raise SystemExit(f"the API double said {got} (waiting for {what!r})")
        return got

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


class _Verify:
    """A `verify --follow` process: its stderr lines with their arrival times, its CPU and memory from /proc."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.started = time.time()
        # In the checkout measured: `python -m` puts the working directory first on sys.path, before PYTHONPATH,
        # so from anywhere else it would run that directory's code.
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[tuple[float, str]] = []
        self._log = log.open("w")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            at = time.time()
            self.lines.append((at, line.rstrip()))
            self._log.write(f"{at - self.started:9.3f} {line}")
            self._log.flush()

    def verdicts(self, since: float = 0.0) -> list[tuple[float, str]]:
        return [(at, m.group(1)) for at, text in list(self.lines) if at >= since and (m := VERDICT.match(text))]

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self, field: str = "VmHWM") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def idle(self, seconds: float = 1.0, busy: float = 0.05) -> bool:
        """Less than `busy` of a core used over the next `seconds`."""
        c0 = self.cpu()
        time.sleep(seconds)
        return self.alive() and self.cpu() - c0 < busy * seconds

    def end(self) -> tuple[int, int, float]:
        """SIGTERM (how a --follow run ends), then its exit code, peak RSS and how long it took to end."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        watchdog = threading.Timer(900, self.proc.kill)
        watchdog.start()
        _, status, usage = os.wait4(self.proc.pid, 0)
        watchdog.cancel()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode, usage.ru_maxrss * 1024, time.monotonic() - t0


def _python(root: Path) -> Path:
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} does not exist: --root/--vs-root need a checkout with its .venv")
    return python


def measure(double: _Double, root: Path, work: Path) -> dict[str, Any]:
    """One round: a fresh double, BEFORE taken from it, verify --follow from `root`, the rotation, the figures."""
    python = _python(root)
    env = {**os.environ, "PYTHONPATH": str(root)}
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    kubeconfig = work / "kubeconfig"
    double.send(f"start {kubeconfig}")
    double.expect("url")
    before = work / "before.json"
    t0 = time.monotonic()
    snap = subprocess.run([str(python), "-m", "auditor", "snapshot", "-o", str(before), "--kubeconfig",
                           str(kubeconfig), "--label", "before"], env=env, cwd=root, capture_output=True, text=True)
    if snap.returncode != 0:
        raise SystemExit(f"snapshot from {root} failed: {snap.stderr}")
    print(f"  BEFORE taken from the double by {root}'s snapshot in {time.monotonic() - t0:.1f}s", flush=True)
    (work / "config.yaml").write_text("grace-seconds: 0\n")
    verify = _Verify([str(python), "-m", "auditor", "verify", "--before", str(before), "--kubeconfig",
                      str(kubeconfig), "--config", str(work / "config.yaml"), "--output-dir", str(work / "out"),
                      "--format", "json", "--follow", "--timeout", "3600"], env, work / "verify.stderr", root)
    out: dict[str, Any] = {"root": str(root)}
    first = _wait(verify, lambda: verify.verdicts(), 600, "its first verdict")[0]
    out["first_verdict_s"] = first[0] - verify.started
    listed = next((text for _, text in verify.lines if text.startswith("verify: listed")), "")
    print(f"  verify: first verdict {out['first_verdict_s']:.1f}s after start ({listed[8:]}; then "
          f"'{first[1][:60]}'); RSS then {verify.memory('VmRSS') / 2**20:,.0f} MiB", flush=True)
    _wait(verify, lambda: verify.idle(), 120, "verify to go idle after its first verdict")
    cpu0 = verify.cpu()
    double.send("go")
    served = double.expect("served")
    print(f"  the double served {served['events']:,} events in {served['at'] - served['first']:.1f}s "
          f"(planned {served['planned']:.1f}s: {served['events'] / served['planned']:,.0f}/s; achieved "
          f"{served['events'] / max(1e-9, served['at'] - served['first']):,.0f}/s; batches late by "
          f"{served['late_mean'] * 1000:.0f} ms on average, {served['late_max'] * 1000:.0f} ms at most); "
          f"its CPU {served['cpu']:.1f}s", flush=True)
    written = double.expect("written")
    print(f"  every event written to verify's watches {written['at'] - served['at']:.1f}s after the last was "
          f"served (double's CPU by then {written['cpu']:.1f}s)", flush=True)
    out.update(events=served["events"], seconds=served["at"] - served["first"], planned=served["planned"],
               double_cpu=written["cpu"], late_max=served["late_max"])
    final = _wait(verify, lambda: _settled(verify, served["first"]), 3600, "verify to say converged and go idle")
    cpu1 = verify.cpu()
    out["lag_s"] = final[0] - served["at"]
    out["cpu_per_1000"] = (cpu1 - cpu0) / served["events"] * 1000
    out["verify_cpu"] = cpu1 - cpu0
    out["rss_following"] = verify.memory()
    notes = [text for at, text in verify.lines if at >= served["first"] and text.startswith("verify: ")]
    flips = verify.verdicts(served["first"])
    print(f"  verify: '{final[1][:60]}' {out['lag_s']:.1f}s after the last event was served ({len(flips)} verdict "
          f"lines during the rotation; notes: {'; '.join(n[8:] for n in notes[:4]) or 'none'}); its CPU "
          f"{cpu1 - cpu0:.1f}s = {out['cpu_per_1000']:.3f}s per 1,000 events; peak RSS while following "
          f"{out['rss_following'] / 2**30:.2f} GiB", flush=True)
    code, peak, took = verify.end()
    out.update(exit=code, rss_end=peak, end_s=took)
    print(f"  SIGTERM: exit {code} after {took:.1f}s (the final comparison and the report); peak RSS "
          f"{peak / 2**30:.2f} GiB", flush=True)
    double.send("stop")
    return out


def _settled(verify: _Verify, since: float) -> tuple[float, str] | None:
    """The verdict line that said converged for good: the first of the converged lines that end verify's verdicts
    (it repeats its verdict while nothing changes), once verify has gone idle with no new verdict."""
    lines = verify.verdicts(since)
    if not lines or not lines[-1][1].startswith("converged"):
        return None
    if not verify.idle(1.5) or verify.verdicts(since)[-1][1] != lines[-1][1]:
        return None
    first = len(lines) - 1
    while first and lines[first - 1][1].startswith("converged"):
        first -= 1
    return lines[first]


def _wait(verify: _Verify, check: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        if not verify.alive():
            tail = "\n".join(text for _, text in verify.lines[-5:])
            raise SystemExit(f"verify exited {verify.proc.returncode} while waiting for {what}:\n{tail}")
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def table(columns: list[tuple[str, list[dict[str, Any]]]], pods: int) -> str:
    """The issue's figures, one column per checkout (the median of its rounds, their range beside it when there
    were several), with the target."""
    head = "| figure | " + " | ".join(label for label, _ in columns) + " | baseline / target |"
    rows = [head, "|---" * (len(columns) + 2) + "|"]

    def row(name: str, figure: Any, fmt: str, target: str) -> None:
        cells = []
        for _, runs in columns:
            values = sorted(figure(r) for r in runs)
            cell = fmt.format(statistics.median(values))
            if len(values) > 1:
                cell += f" ({fmt.format(values[0])}–{fmt.format(values[-1])})"
            cells.append(cell)
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {target} |")

    last = columns[-1][1][0]
    row(f"verify, a whole node group rotating ({last['events']:,} events in {last['planned']:.0f} s): last step "
        "served → converged, s", lambda r: r["lag_s"], "{:.1f}", "≤ 5 s (issue: 27–48 s behind, 386k events in 16 s)")
    row("verify CPU per 1,000 events, s", lambda r: r["cpu_per_1000"], "{:.3f}", "≤ 0.02 s (issue: 0.10–0.17 s)")
    row(f"verify peak RSS at {pods:,} Pods while following, GiB", lambda r: r["rss_following"] / 2**30, "{:.2f}",
        "≤ 1.5 GiB (issue: 3.0 GiB)")
    row("... with the final comparison and reports, GiB", lambda r: r["rss_end"] / 2**30, "{:.2f}", "")
    row("verify start → first verdict, s", lambda r: r["first_verdict_s"], "{:.1f}", "≤ 6 s (issue: 11–17 s)")
    row("API double: events served per second (planned: "
        f"{last['events'] / last['planned']:,.0f})", lambda r: r["events"] / r["seconds"], "{:,.0f}", "on schedule")
    row("API double's CPU over the rotation and verify's catching up, s", lambda r: r["double_cpu"], "{:.1f}",
        "(verify's: the CPU per 1,000 events)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the rotation's events take")
    parser.add_argument("--tick", type=float, default=0.05, help="seconds between batches of events")
    parser.add_argument("--history", type=int, default=HISTORY,
                        help="events a watch may fall behind before it gets 410 (default: kube-apiserver's "
                             "largest watch cache)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose verify runs (with its .venv)")
    parser.add_argument("--vs-root", type=Path, help="another checkout, measured first in the same invocation")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per checkout (medians printed)")
    parser.add_argument("--encode", action="store_true", help="encode the rotation's events again even if "
                        "bench/out/ holds them")
    parser.add_argument("--work", type=Path, help="keep each round's files here (verify's stderr, its reports)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args)
        return 0
    roots = [r.resolve() for r in ([args.vs_root] if args.vs_root else []) + [args.root]]
    for r in roots:
        _python(r)
    t0 = time.monotonic()
    double = _Double(args)
    ready = double.expect("prepared")
    how = f"read from {ready['cached']}" if ready["cached"] else "encoded"
    print(f"API double: {args.pods:,} Pods, {ready['services']:,} Services, {ready['nodes']:,} nodes built in "
          f"{ready['built']:.1f}s; the rotation's {ready['events']:,} events ({ready['events'] / args.pods:.1f} a Pod, "
          f"{ready['bytes'] / 2**20:,.0f} MiB) {how} in {ready['seconds']:.1f}s, to be served over "
          f"{args.seconds:g}s in {ready['steps']} batches: "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(ready["kinds"].items())), flush=True)
    columns: list[tuple[str, list[dict[str, Any]]]] = [
        (("baseline " if args.vs_root and i == 0 else "") + str(root), []) for i, root in enumerate(roots)]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rotation-") as tmp:
            for n in range(args.repeat):  # the checkouts in turn: a drift of the machine's speed hits both alike
                for i, root in enumerate(roots):
                    print(f"\n-- {columns[i][0]}, round {n + 1} of {args.repeat}", flush=True)
                    columns[i][1].append(measure(double, root, (args.work or Path(tmp)) / f"{i}-{n}"))
    finally:
        double.close()
    print(f"\n{table(columns, args.pods)}\n(measured on {os.cpu_count()} cores in {time.monotonic() - t0:.0f}s, "
          f"{args.repeat} round(s) each: the median, and the range; the double and verify run as separate "
          "processes on the same cores)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
