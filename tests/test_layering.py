"""Architecture contract: rules stay pure (no clients, CLI or collectors); no top-level rules/reports imports."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_RULES = ("boto3", "botocore", "kubernetes", "click", "auditor.collect", "requests", "urllib3")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_rules_import_no_clients_cli_or_collectors() -> None:
    for path in (ROOT / "rules").glob("*.py"):
        for name in imports(path):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_RULES), f"{path}: {name}"


def test_nothing_imports_rules_or_reports_as_top_level_packages() -> None:
    for folder in ("auditor", "rules", "reports", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in imports(path):
                assert name.split(".")[0] not in ("rules", "reports"), f"{path}: imports {name}"


def test_renderers_depend_only_on_the_result_model() -> None:
    names = imports(ROOT / "auditor" / "render.py")
    assert not any(n.startswith(("auditor.index", "auditor.engine", "auditor.collect", "auditor.snapshot"))
                   for n in names), names
