"""Architecture contract, enforced on every import (relative and function-level ones included).

The house is a one-way pipeline, one subpackage per stage (each __init__ says what it owns and may import):

    cli -> app -> collect | report -> engine -> settings -> rules -> analysis -> facts -> state -> model | errors

A stage imports only stages below it. On top of that: rules, analysis and facts are pure (no client, no click, no
file or network I/O module); renderers read the result model, never how it was reached. pyproject.toml states the
same contracts for import-linter (`lint-imports`, run by `make test`); this test keeps them without that tool and
also sees imports inside functions.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: top to bottom; a module may import its own stage and the stages below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("auditor.cli",),
    ("auditor.app",),
    ("auditor.collect", "auditor.report"),
    ("auditor.engine",),
    ("auditor.settings",),
    ("auditor.rules",),
    ("auditor.analysis",),
    ("auditor.facts",),
    ("auditor.state",),
    ("auditor.model", "auditor.errors", "auditor.interrupts"),
)
CLIENTS = ("boto3", "botocore", "kubernetes", "urllib3", "requests")
IO_MODULES = ("os", "io", "pathlib", "shutil", "subprocess", "socket", "tempfile", "gzip", "urllib", "http",
              "threading", "time", "random")
PURE = ("rules", "auditor/analysis", "auditor/facts")
#: what a renderer may read besides its own package: the result model, errors, settings, its templates and the
#: well-known label keys (a finding's evidence names a slice's Service by its label)
RENDERER_ALLOWED = ("auditor.model", "auditor.errors", "auditor.settings", "auditor.report", "auditor.reports",
                    "auditor.state.labels")


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


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "rules":
        parts = ["auditor", *parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for i, stage in enumerate(LAYERS):
        if _under(module, stage):
            return i
    return None


def layer_violations(module: str, imported: list[str]) -> list[str]:
    """Imports of `module` that reach a higher stage, or a sibling room of its own stage."""
    mine = layer_of(module)
    if mine is None:
        return []
    own = next(p for p in LAYERS[mine] if _under(module, (p,)))
    bad = []
    for name in imported:
        theirs = layer_of(name)
        if theirs is None:
            continue
        if theirs < mine or (theirs == mine and not _under(name, (own,))):
            bad.append(name)
    return bad


def test_every_module_of_the_package_sits_in_a_stage() -> None:
    loose = [module_name(p) for p in _modules("auditor") + _modules("rules")
             if layer_of(module_name(p)) is None and module_name(p) not in ("auditor", "auditor.__main__")
             and not module_name(p).startswith("auditor.demo")]
    assert loose == [], "modules outside every stage: add them to a subpackage (and to LAYERS)"


def test_each_stage_imports_only_stages_below_it() -> None:
    for path in _modules("auditor") + _modules("rules"):
        mod = module_name(path)
        found = [name for name, lvl in imports(path) if not lvl]
        assert layer_violations(mod, found) == [], f"{path.relative_to(ROOT)} reaches up the pipeline"


def test_every_stage_says_what_it_owns_and_may_import() -> None:
    for stage in ("state", "collect", "facts", "analysis", "engine", "report", "app", "cli"):
        doc = ast.get_docstring(ast.parse((ROOT / "auditor" / stage / "__init__.py").read_text())) or ""
        assert len(doc) > 150 and "import" in doc, f"auditor/{stage}/__init__.py: say what it owns and may import"


def test_no_relative_imports_anywhere() -> None:
    rel = [f"{p.relative_to(ROOT)}: level {lvl} {name}" for folder in ("auditor", "rules", "reports")
           for p in _modules(folder) for name, lvl in imports(p) if lvl]
    assert rel == []


def test_rules_analysis_and_facts_are_pure() -> None:
    files = [p for folder in PURE for p in _modules(folder)]
    assert len(files) >= 20
    for path in files:
        for name, _ in imports(path):
            assert not _under(name, CLIENTS + IO_MODULES + ("click",)), f"{path.relative_to(ROOT)}: {name}"
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in ("open", "print", "input")]
        assert not calls, f"{path}: calls {calls[0].func.id}()"  # type: ignore[attr-defined]


def test_only_collectors_and_the_upload_talk_to_clusters_and_aws() -> None:
    allowed = ("auditor/collect", "auditor/report/share.py", "auditor/app")
    for path in _modules("auditor") + _modules("rules"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith(allowed):
            continue
        for name, _ in imports(path):
            assert not _under(name, CLIENTS), f"{rel}: imports {name}"


def test_renderers_depend_only_on_the_result_model() -> None:
    for path in _modules("auditor/report"):
        for mod, _ in imports(path):
            if mod.startswith("auditor"):
                assert _under(mod, RENDERER_ALLOWED) or mod == "auditor", f"{path.relative_to(ROOT)}: {mod}"


def test_nothing_imports_rules_or_reports_as_top_level_packages() -> None:
    for folder in ("auditor", "rules", "reports", "tests", "bench", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            for name, lvl in imports(path):
                assert lvl or name.split(".")[0] not in ("rules", "reports"), f"{path}: imports {name}"


@pytest.mark.parametrize("module,imported,bad", [
    ("auditor.rules.pair", ["auditor.engine.run"], ["auditor.engine.run"]),
    ("auditor.facts.pods", ["auditor.analysis.index"], ["auditor.analysis.index"]),
    ("auditor.report.render", ["auditor.collect.kube"], ["auditor.collect.kube"]),  # siblings of one floor
    ("auditor.state.snapshot", ["auditor.facts.versions"], ["auditor.facts.versions"]),
    ("auditor.cli.main", ["auditor.app.commands", "auditor.model"], []),
    ("auditor.analysis.reconcile", ["auditor.facts.pods", "auditor.state.objects", "boto3"], []),
])
def test_the_layering_check_can_fail(module: str, imported: list[str], bad: list[str]) -> None:
    assert layer_violations(module, imported) == bad


def test_the_import_parser_sees_relative_and_function_level_imports(tmp_path: Path) -> None:
    src = tmp_path / "bad.py"
    src.write_text("import boto3\nfrom . import x\ndef f():\n    from auditor.collect import kube\n")
    assert imports(src) == [("boto3", 0), ("", 1), ("auditor.collect", 0)]


def test_readme_rule_table_is_generated_from_all_rules() -> None:
    import sys
    sys.path.insert(0, str(ROOT / "tools"))
    import rules_table

    readme = ROOT / "README.md"
    assert rules_table.refresh(readme) == readme.read_text(), "run: python tools/rules_table.py --write"
    from auditor.rules import ALL_RULES
    assert all(f"`{r.id}`" in readme.read_text() for r in ALL_RULES)


@pytest.mark.parametrize("path", _modules("auditor/app"), ids=lambda p: p.name)
def test_orchestration_prints_nothing(path: Path) -> None:
    """auditor/app returns results and texts; the CLI layer (auditor/cli, report/terminal) prints them."""
    assert not any(name == "click" or name.startswith("click.") for name, _ in imports(path)), path
    tree = ast.parse(path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "print"], path
