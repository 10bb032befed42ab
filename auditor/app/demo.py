"""`demo`: the whole job on the bundled example (auditor/demo/*.json.gz); needs no cluster and no AWS."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from auditor.app.audit import audit_state
from auditor.app.compare import compare_states
from auditor.app.inputs import resolve_target, with_options
from auditor.model import AuditResult, Written
from auditor.report.render import write_reports
from auditor.rules.base import Options
from auditor.settings import FORMATS, Config, ReportSettings
from auditor.state import snapshot


def demo(output_dir: Path) -> list[tuple[str, Written]]:
    """The whole job on the bundled example, writing every report format: the pre-flight audit of BEFORE for
    the node group the migration replaces (its blast radius), the audit of AFTER, and the compare that
    confirms what the pre-flight predicted. The CLI prints each step's title and summary (exit 0 unless
    something broke)."""
    data = resources.files("auditor.demo")
    config = Config(options=Options())
    steps: list[tuple[str, Written]] = []
    with resources.as_file(data / "before.json.gz") as bpath, resources.as_file(data / "after.json.gz") as apath:
        before_state, after_state = snapshot.load(bpath), snapshot.load(apath)
        # 1. before the migration: which Services will lose their endpoints when ng-blue is replaced
        pre = ReportSettings(output_dir=output_dir / "preflight", formats=FORMATS)
        pconfig = with_options(config, resolve_target(before_state, None, config, planning=True), ("ng-blue",))
        result = audit_state(before_state, pconfig, pre, mode="audit")
        steps.append(("Demo 1/3: pre-flight audit of BEFORE, replacing node group ng-blue (--rotating ng-blue): "
                      "the blast radius", _written(result, pre)))
        # 2. after it: the state the migration left
        report = ReportSettings(output_dir=output_dir / "audit", formats=FORMATS)
        aconfig = with_options(config, resolve_target(after_state, None, config, planning=True))
        result = audit_state(after_state, aconfig, report, mode="audit")
        steps.append(("Demo 2/3: audit of the cluster state after the blue/green node group migration",
                      _written(result, report)))
        # 3. BEFORE against AFTER: what the rotation broke, linked to what the pre-flight predicted
        creport = ReportSettings(output_dir=output_dir / "compare", formats=FORMATS)
        cconfig = with_options(config, resolve_target(after_state, None, config, planning=False))
        cresult = compare_states(before_state, after_state, cconfig, creport, mode="compare")
        steps.append(("Demo 3/3: compare BEFORE and AFTER of the same migration (each loss linked to its "
                      "pre-flight risk)", _written(cresult, creport)))
    return steps


def _written(result: AuditResult, report: ReportSettings) -> Written:
    return Written(result, tuple(write_reports(result, report.output_dir, report.formats)))
