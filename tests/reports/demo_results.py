"""The demo's audit and compare results, from a real engine run on auditor/demo/*.json.gz through the app
functions `upgrade-auditor demo` uses: what the golden files and the browser tests look at."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from auditor.rules.base import Options

from auditor.app.audit import audit_state
from auditor.app.compare import compare_states
from auditor.app.inputs import resolve_target, with_options
from auditor.model import AuditResult
from auditor.settings import FORMATS, Config, ReportSettings
from auditor.state import snapshot

GENERATED_AT = "2026-11-20T09:00:00Z"


def _stable(result: AuditResult) -> AuditResult:
    """Fixed generation time and input names, so the golden files do not depend on the clock or the path."""
    inputs = tuple(replace(i, path=Path(i.path).name) for i in result.inputs)
    return replace(result, generated_at=GENERATED_AT, inputs=inputs)


@lru_cache(maxsize=1)
def demo_audit() -> AuditResult:
    data = resources.files("auditor.demo")
    report = ReportSettings(output_dir=Path("unused"), formats=FORMATS)
    config = Config(options=Options())
    with resources.as_file(data / "after.json.gz") as after:
        state = snapshot.load(after)
    target = resolve_target(state, None, config, planning=True)
    return _stable(audit_state(state, with_options(config, target), report, mode="audit"))


@lru_cache(maxsize=1)
def demo_compare() -> AuditResult:
    data = resources.files("auditor.demo")
    report = ReportSettings(output_dir=Path("unused"), formats=FORMATS)
    config = Config(options=Options())
    with resources.as_file(data / "before.json.gz") as b, resources.as_file(data / "after.json.gz") as a:
        before, after = snapshot.load(b), snapshot.load(a)
    target = resolve_target(after, None, config, planning=False)
    return _stable(compare_states(before, after, with_options(config, target), report, mode="compare"))
