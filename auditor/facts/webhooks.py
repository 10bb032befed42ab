"""Admission webhook facts (admissionregistration.k8s.io/v1): the failure policy, the Service a webhook calls,
and whether it intercepts Pod creation. Pure.

`failurePolicy` defaults to `Fail` in v1 (the API server writes it, so served objects carry it); `clientConfig`
names either a `url` or a `service` (`port` 443 unless set).
"""
from __future__ import annotations

from auditor.state.traffic import Webhook, WebhookRule, WebhookService

FAIL = "Fail"
DEFAULT_PORT = 443


def failure_policy(hook: Webhook) -> str:
    return hook.failure_policy or FAIL


def service_of(hook: Webhook) -> WebhookService | None:
    """The Service the API server calls; None for a `url` webhook."""
    cc = hook.client_config
    if cc is None or cc.service is None or not cc.service.name:
        return None
    return cc.service


def _matches(rule: WebhookRule, group: str, resource: str, operation: str) -> bool:
    groups = rule.api_groups or []
    resources = rule.resources or []
    operations = rule.operations or []
    return ("*" in groups or group in groups) and ("*" in resources or resource in resources
                                                   or "*/*" in resources) \
        and ("*" in operations or operation in operations)


def intercepts_pod_create(hook: Webhook) -> bool:
    """A rule of the webhook matches creating Pods (core group, `pods`, CREATE; wildcards included)."""
    return any(_matches(r, "", "pods", "CREATE") for r in hook.rules or ())


def intercepted(hook: Webhook) -> list[str]:
    """What its rules match, as `OPERATIONS group/resources` lines for the evidence."""
    out = []
    for r in hook.rules or ():
        groups = ",".join(g or "core" for g in r.api_groups or ()) or "-"
        out.append(f"{','.join(r.operations or ()) or '-'} {groups}/{','.join(r.resources or ()) or '-'}")
    return out
