"""The rule verify adds from what it watched: a Service that went down during the upgrade."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, RuleNotRun, rule

from auditor.analysis.desired import service_ready_endpoints
from auditor.analysis.index import ref_of
from auditor.analysis.timeline import Timeline, iso
from auditor.facts import fixcmd
from auditor.facts.pods import condition, pod_node
from auditor.facts.slices import ReadyEndpoint
from auditor.model import Finding, ObjectRef, Severity


@rule("service-outage", Severity.ERROR, "Service was down during the upgrade", mode="pair",
      needs=("Service", "EndpointSlice"), commands=("verify",),
      options=("outage-tolerance-seconds",))
def service_outage(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Runs in `verify` (and `replay`), which follow the cluster while the upgrade runs. Flags a Service
    that had ready endpoints BEFORE and spent more than `outage-tolerance-seconds` (config, default 0)
    at zero ready endpoints during the run. Ready endpoints are counted as kube-proxy programs them:
    the ready endpoints of every EndpointSlice labelled with the Service's name (kube-proxy keys on the
    label alone, whoever wrote the slice), de-duplicated by address, once per batch of changes the tool
    received (a slice replaced by another within one batch is no outage). ExternalName Services are
    not followed: kube-proxy does not route them.
    A Service deleted during the run stops being followed at its deletion. An outage still open when
    the run ends counts up to the end. The evidence lists the outage intervals, the nodes its Pods
    served from BEFORE and the Pods that serve it at the end, with when each became ready.

    ## Why it matters
    `compare` and a polling check see only two moments: a Service that drops to zero for a minute
    while its only replica is rescheduled, then recovers, looks healthy in both. Every request in
    that minute failed. This is the outage a platform team needs to hear about, with how long it
    lasted and which drain caused it.

    ## Example
    `search/query-api` had 1 ready endpoint on `ng-blue`; the drain evicted its Pod at 10:02:11 and
    the replacement on `ng-green` turned ready at 10:02:49: 38 s at zero ready endpoints.

    ## How to fix
    Give the Service more than one replica spread over nodes and zones, and a PodDisruptionBudget
    (`minAvailable: 1` or `maxUnavailable: 1`) so a drain waits for a replacement; run `audit
    --target-version` before the next upgrade: its pre-rotation rules name the Services at risk.
    Raise `outage-tolerance-seconds` only for Services whose clients retry.
    """
    timeline: Timeline | None = ctx.index.state.timeline
    if timeline is None:
        raise RuleNotRun("no timeline: only verify and replay follow the cluster during the upgrade")
    assert ctx.before is not None
    tolerance = ctx.options.outage_tolerance_seconds
    for line in timeline.affected():
        down = line.down_seconds(timeline.end)
        outages = line.outages(timeline.end)
        if not outages or down <= tolerance:
            continue
        key = (line.namespace, line.name)
        svc = ctx.index.services.get(key) or ctx.before.services.get(key)
        obj = ref_of(svc) if svc is not None else ObjectRef("Service", line.namespace, line.name)
        was = service_ready_endpoints(ctx.before, *key)
        now = service_ready_endpoints(ctx.index, *key)
        left = sorted({e.node for e in was.values() if e.node} - {e.node for e in now.values() if e.node})
        replaced = _replaced_by(ctx, line.namespace, now)
        still = outages[-1][1] is None
        intervals = [{"from": iso(a), "to": iso(b) if b is not None else None} for a, b in outages]
        text = (f"had {line.ready_before} ready endpoint(s) before and was at zero for {down:.1f}s during the run "
                f"({len(outages)} outage{'s' if len(outages) != 1 else ''}"
                + (", still down at the end" if still else "") + ")")
        fix = [fixcmd.slices_of_service(line.namespace, line.name, output="wide"), fixcmd.pod_events(line.namespace)]
        yield ctx.finding(obj, text, key=line.name, fix=fix, downSeconds=round(down, 3), outages=intervals,
                          readyBefore=line.ready_before, minReady=line.min_ready(), readyAtEnd=line.ready_at_end(),
                          nodesLeft=left or None, replacedBy=replaced or None,
                          toleranceSeconds=tolerance if tolerance else None,
                          nodesOfPodsNow=sorted({pod_node(p) for p in ctx.index.selected_pods(svc)} - {""})
                          if svc is not None and svc.spec is not None and svc.spec.selector else None)


def _replaced_by(ctx: Context, namespace: str, now: dict[str, ReadyEndpoint]) -> list[dict[str, object]]:
    """The endpoints serving the Service at the end, with when each Pod became ready."""
    out: list[dict[str, object]] = []
    for e in now.values():
        pod = ctx.index.pods.get((namespace, e.pod)) if e.pod else None
        ready = condition(pod, "Ready") if pod is not None else None
        out.append({"pod": e.pod or None, "address": e.address, "node": e.node or None,
                    "readySince": ready.last_transition_time if ready is not None else None})
    return out
