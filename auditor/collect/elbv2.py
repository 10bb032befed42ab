"""The load balancer's side of a rotation: ELBv2 DescribeTargetHealth for the target groups that send Services
their traffic, polled at a bounded rate while `verify` follows the cluster.

What ELBv2 documents and this relies on: a target is `initial` while it registers and passes its first health
checks, `healthy` when it receives requests, `unhealthy` when it fails them, `draining` while it deregisters
(for the deregistration delay, 300 s unless the target group says otherwise), and `unused` / `unavailable` when
the target group is not in use or health checks are off; only `healthy` targets receive new requests (a target
group with no healthy target at all fails open to every registered one, which only helps if they do serve).
DescribeTargetHealth answers for one target group per call and has no pagination; throttled calls
(`Throttling`) are retried by botocore's standard retry mode, and then backed off here.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from auditor.errors import CollectionError

LOG = logging.getLogger(__name__)

MIN_INTERVAL = 5.0  # seconds between two calls for one target group, at most
MAX_BACKOFF = 60.0  # the longest a throttled target group waits before its next call
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_GONE = frozenset({"TargetGroupNotFound", "TargetGroupNotFoundException"})


@dataclass(frozen=True)
class TargetHealth:
    """One observation of a target group: how many of its targets are in each state, when it was read."""

    namespace: str
    name: str  # the Service whose traffic the target group carries
    arn: str
    at: float
    states: dict[str, int]

    @property
    def healthy(self) -> int:
        return self.states.get("healthy", 0)


@dataclass(frozen=True)
class Watched:
    """A target group to poll and the Service it serves."""

    namespace: str
    name: str
    arn: str


def count_states(descriptions: Iterable[dict[str, Any]]) -> dict[str, int]:
    """DescribeTargetHealth's TargetHealthDescriptions as a count per state (`initial`, `healthy`, ...)."""
    out: dict[str, int] = {}
    for d in descriptions:
        state = str((d.get("TargetHealth") or {}).get("State") or "unknown")
        out[state] = out.get(state, 0) + 1
    return dict(sorted(out.items()))


@dataclass
class _Slot:
    due: float = 0.0
    failures: int = 0
    stopped: bool = False


class TargetHealthPoller:
    """Polls DescribeTargetHealth for each watched target group, never more often than `interval` per group,
    backing a throttled group off exponentially. `poll(now)` makes the calls that are due (tests drive it with
    their own clock); `start()` runs it on a daemon thread until `close()`; `drain()` hands over what was read."""

    def __init__(self, client: Any, watched: Iterable[Watched], interval: float = MIN_INTERVAL,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.watched = list(watched)
        self.interval = max(interval, MIN_INTERVAL)
        self.clock = clock
        self.denied = False
        self._slots = {w.arn: _Slot() for w in self.watched}
        self._out: list[TargetHealth] = []
        self._notices: list[str] = []
        self._given = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self, now: float | None = None) -> int:
        """Call DescribeTargetHealth for every target group that is due; the number of calls made. A target group
        that serves several Services is called once and its answer recorded for each."""
        at = self.clock() if now is None else now
        read: dict[str, dict[str, int] | None] = {}
        for w in self.watched:
            slot = self._slots[w.arn]
            if w.arn not in read:
                if self.denied or slot.stopped or at < slot.due:
                    continue
                read[w.arn] = self._describe(w.arn, slot, at)
            states = read[w.arn]
            if states is not None:
                with self._lock:
                    self._out.append(TargetHealth(w.namespace, w.name, w.arn, at, states))
        return len(read)

    def _describe(self, arn: str, slot: _Slot, started: float) -> dict[str, int] | None:
        from botocore.exceptions import BotoCoreError, ClientError  # boto3 loads only with --eks-cluster

        try:
            reply = self.client.describe_target_health(TargetGroupArn=arn)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _THROTTLED:
                slot.failures += 1
                slot.due = started + min(MAX_BACKOFF, self.interval * 2 ** slot.failures)
                self._notice(f"ELBv2 throttled DescribeTargetHealth; backing off {arn}")
            elif code in _DENIED:
                self.denied = True
                self._notice("ELBv2 DescribeTargetHealth was denied (needs elasticloadbalancing:DescribeTargetHealth):"
                             " the load balancer's side is not followed")
            elif code in _GONE:
                slot.stopped = True
                self._notice(f"target group {arn} no longer exists: no longer followed")
            else:
                slot.failures += 1
                slot.due = started + min(MAX_BACKOFF, self.interval * 2 ** slot.failures)
                self._notice(f"ELBv2 DescribeTargetHealth failed for {arn}: {code or exc}")
            return None
        except BotoCoreError as exc:
            slot.failures += 1
            slot.due = started + min(MAX_BACKOFF, self.interval * 2 ** slot.failures)
            self._notice(f"ELBv2 could not be reached: {exc}")
            return None
        slot.failures = 0
        slot.due = started + self.interval
        return count_states(reply.get("TargetHealthDescriptions") or [])

    def _notice(self, text: str) -> None:
        with self._lock:
            if text not in self._notices:
                self._notices.append(text)
                LOG.info("%s", text)

    def drain(self) -> tuple[list[TargetHealth], list[str]]:
        """What was read since the last drain, oldest first, and the notices not handed out yet."""
        with self._lock:
            out, notes = self._out, self._notices[self._given:]
            self._given = len(self._notices)
            self._out = []
            return out, notes

    def start(self) -> None:
        """Poll on a daemon thread until close(): the verify loop is never held up by an AWS call."""
        def run() -> None:
            while not self._stop.is_set() and not self.denied:
                try:
                    self.poll()
                except Exception as exc:  # noqa: BLE001 - a poller failure must never end the verify run
                    self._notice(f"ELBv2 polling stopped: {exc}")
                    return
                self._stop.wait(1.0)

        self._thread = threading.Thread(target=run, name="elbv2-target-health", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def client_factory(eks_cluster: str | None, region: str | None,
                   profile: str | None) -> Callable[[], Any] | None:
    """With --eks-cluster: how to make the ELBv2 client (the same credential chain and retries as the EKS
    client; AWS_ENDPOINT_URL(_ELASTIC_LOAD_BALANCING_V2) honoured by boto3); None without it."""
    if eks_cluster is None:
        return None

    def make() -> Any:
        import boto3
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        from auditor.collect.eks import client_config

        try:
            session = boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION"))
            return session.client("elbv2", config=client_config())
        except (BotoCoreError, ProfileNotFound) as exc:
            raise CollectionError(f"cannot set up the ELBv2 client: {exc}") from None

    return make
