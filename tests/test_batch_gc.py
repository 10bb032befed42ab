"""audit and compare run with the cyclic GC off (issue 22: it rescanned the loaded objects, a fifth of the CPU) and
give it back as they found it, with what they left alive frozen so that re-enabling it sets off no full collection."""
from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path
from typing import Any, Iterator

import builders as b
import pytest
from click.testing import CliRunner
from test_cli_audit import small_cluster, write

import auditor.app.audit as app_audit
import auditor.app.compare as app_compare
from auditor.cli.main import main


@pytest.fixture()
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether the GC was on while the rules ran, for each run."""
    states: list[bool] = []
    real = app_audit.run_rules

    def spy(*args: Any, **kw: Any) -> Any:
        states.append(gc.isenabled())
        return real(*args, **kw)

    monkeypatch.setattr(app_audit, "run_rules", spy)
    monkeypatch.setattr(app_compare, "run_rules", spy)
    was = gc.isenabled()
    yield states
    gc.enable() if was else gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_audit_and_compare_run_without_the_cyclic_gc(tmp_path: Path, seen: list[bool], enabled: bool) -> None:
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    gc.enable() if enabled else gc.disable()
    frozen = gc.get_freeze_count()
    for args in (["audit", str(dump)], ["compare", str(dump), str(dump)]):
        r = CliRunner().invoke(main, [*args, "--output-dir", str(tmp_path / args[0]), "--format", "json"])
        assert r.exit_code in (0, 1), r.output
        assert json.loads((tmp_path / args[0] / "report.json").read_text())["mode"] == args[0]
        assert gc.isenabled() is enabled  # as it was before the command
    assert seen and not any(seen)
    assert gc.get_freeze_count() > frozen  # what the runs left alive is out of the collector's reach
    assert gc.get_count()[0] < 1000  # and no collection of everything they allocated is pending


def test_the_gc_comes_back_after_a_failed_audit(tmp_path: Path) -> None:
    gc.enable()
    r = CliRunner().invoke(main, ["audit", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path / "r")])
    assert r.exit_code == 2 and "no such file" in r.output
    assert gc.isenabled()


def test_the_indexes_are_gone_before_the_reports_are_written(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With the GC paused, only reference counting frees: nothing may keep the indexes (a Reconciler in an index's
    memo refers back to it) alive while the reports are written, or their memory adds to the peak RSS."""
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    alive: list[weakref.ref[Any]] = []

    class Watched(app_audit.ClusterIndex):
        def __init__(self, state: Any) -> None:
            super().__init__(state)
            alive.append(weakref.ref(self))

    at_reports: list[int] = []

    def finish(result: Any, report: Any) -> Any:
        at_reports.append(sum(1 for ref in alive if ref() is not None))
        return real_finish(result, report)

    real_finish = app_audit.finish
    for mod in (app_audit, app_compare):
        monkeypatch.setattr(mod, "ClusterIndex", Watched)
        monkeypatch.setattr(mod, "finish", finish)
    for args in (["audit", str(dump)], ["compare", str(dump), str(dump)]):
        r = CliRunner().invoke(main, [*args, "--output-dir", str(tmp_path / args[0]), "--format", "json"])
        assert r.exit_code in (0, 1), r.output
    assert len(alive) == 3 and at_reports == [0, 0]  # audit's index, compare's two
