"""Size limits of the package (issue 18): no module over 400 lines, no function over 60, nested ones included."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
FOLDERS = ("auditor", "rules")


def _modules() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def long_modules(paths: list[Path], limit: int = MAX_MODULE_LINES) -> list[str]:
    """`path: N lines` for every file longer than `limit` lines."""
    out = []
    for path in paths:
        n = len(path.read_text().splitlines())
        if n > limit:
            out.append(f"{_rel(path)}: {n} lines")
    return out


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`path:line name: N lines` for every function or method (nested ones too) longer than `limit`, counted from
    its `def` line to its last line (decorators excluded)."""
    tree = ast.parse(path.read_text(), str(path))
    functions = sorted((node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))),
                       key=lambda node: node.lineno)
    out = []
    for node in functions:
        n = (node.end_lineno or node.lineno) - node.lineno + 1
        if n > limit:
            out.append(f"{_rel(path)}:{node.lineno} {node.name}: {n} lines")
    return out


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def test_the_package_is_where_the_size_check_looks() -> None:
    names = {str(p.relative_to(ROOT)) for p in _modules()}
    assert {"auditor/state/snapshot.py", "auditor/collect/watch.py", "rules/__init__.py"} <= names


def test_no_module_is_over_400_lines() -> None:
    offenders = long_modules(_modules())
    assert offenders == [], f"split these modules along their seams (at most {MAX_MODULE_LINES} lines): " \
                            + "; ".join(offenders)


def test_no_function_is_over_60_lines() -> None:
    offenders = [o for path in _modules() for o in long_functions(path)]
    assert offenders == [], f"split these functions into named helpers (at most {MAX_FUNCTION_LINES} lines): " \
                            + "; ".join(offenders)


def test_the_checks_see_long_functions_nested_ones_and_long_modules(tmp_path: Path) -> None:
    def function(name: str, lines: int, indent: str = "", prefix: str = "def") -> str:
        return f"{indent}{prefix} {name}():\n" + "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))

    src = tmp_path / "synthetic.py"
    src.write_text(function("fits", 60) + function("too_long", 61, prefix="async def")
                   + "def outer():\n" + function("inner", 61, indent="    ") + "    return 1\n")
    assert long_functions(src) == [f"{src}:61 too_long: 61 lines", f"{src}:122 outer: 63 lines",
                                   f"{src}:123 inner: 61 lines"]
    assert long_modules([src]) == []
    assert long_modules([src], limit=100) == [f"{src}: 184 lines"]
