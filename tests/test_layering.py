"""Architecture contract, enforced on every import (relative ones included):

collect -> snapshot -> index/reconcile -> rules -> findings -> reports, nothing flowing back.
- rules import only the pure core (model, objects, kinds, state times, index, reconcile, versions, eksdata,
  fixcmd) and the standard library minus I/O; never a client, click, a collector or a file/network module;
- the pure core imports no client, click, collector, engine, app or renderer;
- renderers import only the result model (and the package's name/version, errors, their own view helpers).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_EVERYWHERE_PURE = ("boto3", "botocore", "kubernetes", "click", "auditor.collect", "requests", "urllib3",
                             "auditor.app", "auditor.cli", "auditor.engine", "auditor.render", "auditor.verify",
                             "auditor.snapshot", "auditor.share", "auditor.terminal")
IO_MODULES = ("os", "io", "pathlib", "shutil", "subprocess", "socket", "tempfile", "gzip", "urllib", "http",
              "threading", "time", "random")
RULE_ALLOWED = ("auditor.model", "auditor.objects", "auditor.kinds", "auditor.state", "auditor.index",
                "auditor.reconcile", "auditor.versions", "auditor.eksdata", "auditor.fixcmd", "auditor.plan",
                "auditor.workloads", "auditor.rules", "auditor.timeline", "auditor")
PURE_CORE = ("index.py", "reconcile.py", "versions.py", "eksdata.py", "fixcmd.py", "kinds.py", "objects.py",
             "model.py", "plan.py", "workloads.py", "timeline.py")
RENDERERS = ("render.py", "reportview.py", "reportgroups.py", "evidence.py", "terminal.py")
RENDERER_ALLOWED = ("auditor.model", "auditor.reportview", "auditor.reportgroups", "auditor.evidence", "auditor.errors",
                    "auditor")


def imports(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) of every import in the file, function-level ones included."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_no_relative_imports_anywhere() -> None:
    rel = [f"{p.relative_to(ROOT)}: level {lvl} {name}" for folder in ("auditor", "rules", "reports")
           for p in _modules(folder) for name, lvl in imports(p) if lvl]
    assert rel == []


def test_rules_import_only_the_pure_core_and_no_io() -> None:
    files = _modules("rules")
    assert len(files) >= 7
    for path in files:
        for name, _ in imports(path):
            if name.startswith("auditor"):
                assert _under(name, RULE_ALLOWED) and not _under(name, FORBIDDEN_EVERYWHERE_PURE), f"{path}: {name}"
            else:
                assert not _under(name, FORBIDDEN_EVERYWHERE_PURE + IO_MODULES), f"{path}: {name}"
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in ("open", "print", "input")]
        assert not calls, f"{path}: calls {calls[0].func.id}()"  # type: ignore[attr-defined]


def test_the_pure_core_imports_no_client_cli_collector_or_orchestration() -> None:
    for name in PURE_CORE:
        path = ROOT / "auditor" / name
        for mod, _ in imports(path):
            assert not _under(mod, FORBIDDEN_EVERYWHERE_PURE + IO_MODULES), f"{path}: {mod}"


def test_renderers_depend_only_on_the_result_model() -> None:
    for name in RENDERERS:
        path = ROOT / "auditor" / name
        for mod, _ in imports(path):
            if mod.startswith("auditor"):
                assert _under(mod, RENDERER_ALLOWED) and mod not in ("auditor.rules",), f"{path}: {mod}"


def test_nothing_imports_rules_or_reports_as_top_level_packages() -> None:
    for folder in ("auditor", "rules", "reports", "tests", "bench", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            for name, lvl in imports(path):
                assert lvl or name.split(".")[0] not in ("rules", "reports"), f"{path}: imports {name}"


def test_the_layering_test_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom . import x\nfrom auditor.collect import kube\n")
    found = imports(bad)
    assert ("boto3", 0) in found and ("", 1) in found and _under("auditor.collect.kube", FORBIDDEN_EVERYWHERE_PURE)


def test_readme_rule_table_is_generated_from_all_rules() -> None:
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import rules_table

    readme = ROOT / "README.md"
    assert rules_table.refresh(readme) == readme.read_text(), "run: python tools/rules_table.py --write"
    from auditor.rules import ALL_RULES
    assert all(f"`{r.id}`" in readme.read_text() for r in ALL_RULES)


def test_orchestration_prints_nothing() -> None:
    """app.py returns results and texts; the CLI layer (cli.py, terminal.py) prints them."""
    path = ROOT / "auditor" / "app.py"
    assert not any(name == "click" or name.startswith("click.") for name, _ in imports(path))
    tree = ast.parse(path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "print"]
