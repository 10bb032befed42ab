"""The rotation rules' docs say how each treats the Pods and Services that need care (issue 14, item 3)."""
from __future__ import annotations

import pytest
from auditor.rules.rotation import ROTATION_RULES

from auditor.app.catalog import explanation

MUST_MENTION = ("DaemonSet", "hostNetwork", "Fargate", "publishNotReadyAddresses", "default/kubernetes")


@pytest.mark.parametrize("rule", ROTATION_RULES, ids=[r.id for r in ROTATION_RULES])
def test_docs_state_the_treatment_of_special_pods_and_services(rule) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(rule.docs.values()).replace("\n", " ")
    missing = [m for m in MUST_MENTION if m not in text]
    assert not missing, f"{rule.id}: docs do not say how they treat {missing}"
    assert explanation(rule.id).startswith(f"{rule.id} ({rule.severity.label}): {rule.title}")
