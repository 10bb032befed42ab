"""`make mutation`: mutmut over the facts, the reconcile engine and the rule pack, and the score per module."""
from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import libcst as cst

ROOT = Path(__file__).resolve().parent.parent
#: mutmut names a mutant after its file's path and activates it only in the module of that import name, so it runs
#: in a copy laid out as the package installs (rules/ at auditor/rules, reports/ at auditor/reports), never in place
STAGE = ROOT / ".mutation"
#: project folder -> folder in the staging tree
LAYOUT = {"auditor": "auditor", "rules": "auditor/rules", "reports": "auditor/reports", "tests": "tests"}
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.toml"
#: mutmut's exit-code vocabulary (mutmut/stats.py), folded into what the score needs
KILLED = {1, 3, 24, -24, 36, 152, 255, 37}  # a failing test, a timeout, or the type checker
SURVIVED = {0}
NO_TESTS = {5, 33}
#: message text: two words (two letters or more: `is`, `Service`) apart, or punctuation that joins words (`, `, `; `);
#: keys, kinds, statuses, label values and lone separators (`:` in an address test) are behaviour
_PROSE = re.compile(r"[A-Za-z]{2,}\W+[A-Za-z]{2,}")
_JOINER = re.compile(r"^(?=.*\S)(?=.*\s)[^\w]+$")
#: modules whose string literals are their output (command lines), never message text
_OUTPUT_STRINGS = {"auditor/facts/fixcmd.py"}
_MUTANT = re.compile(r"^(?P<func>.+)__mutmut_(?P<n>\d+|orig)$")


# -- the staging tree ------------------------------------------------------------------------------------------

def mutmut_config() -> dict[str, object]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert isinstance(table, dict)
    return table


def _mutated(rel: str, config: dict[str, object]) -> bool:
    patterns = config.get("only_mutate") or ["*"]
    assert isinstance(patterns, list)
    return rel.endswith(".py") and any(fnmatch.fnmatch(rel, p) for p in patterns)


class _Undecorate(cst.CSTTransformer):
    """`@rule(...) def f` becomes `def f` then `f = rule(...)(f)`: mutmut leaves decorated functions unmutated
    (every rule's check is one), and the rebinding is what the decorator does, in the same order."""

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._spread(updated.body))

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        return updated.with_changes(body=updated.body.with_changes(body=self._spread(updated.body.body)))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # only module- and class-level definitions get trampolines

    @staticmethod
    def _spread(body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            if not isinstance(stmt, cst.FunctionDef) or not _rebindable(stmt):
                out.append(stmt)
                continue
            value: cst.BaseExpression = cst.Name(stmt.name.value)
            for dec in reversed(stmt.decorators):
                value = cst.Call(func=dec.decorator, args=[cst.Arg(value)])
            out.append(stmt.with_changes(decorators=[]))
            out.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(stmt.name.value))], value)]))
        return out


def _rebindable(fn: cst.FunctionDef) -> bool:
    decs = [d.decorator for d in fn.decorators]
    if not decs:
        return False
    if len(decs) == 1 and isinstance(decs[0], cst.Name) and decs[0].value in ("staticmethod", "classmethod"):
        return False  # mutmut mutates these as they are
    # `@x.setter def x` would rebind x to the bare function before `x.setter` is read
    return not any(isinstance(d, cst.Attribute) and isinstance(d.value, cst.Name) and d.value.value == fn.name.value
                   for d in decs)


def staged_text(rel: str, source: Path, config: dict[str, object]) -> bytes:
    data = source.read_bytes()
    if not _mutated(rel, config):
        return data
    return cst.parse_module(data.decode()).visit(_Undecorate()).code.encode()


def selected_tests(config: dict[str, object], source_root: Path) -> tuple[list[str], list[str]]:
    """(present, absent) test paths of the configured selection: a folder a colleague has not created yet is
    left out of this run and named, instead of failing mutmut's first pytest run."""
    selection = config.get("pytest_add_cli_args_test_selection") or []
    assert isinstance(selection, list)
    present = [p for p in selection if (source_root / p).exists()]
    return present, [p for p in selection if p not in present]


def stage(config: dict[str, object], source_root: Path = ROOT) -> list[str]:
    """Lay out STAGE from `source_root` (files rewritten only when their content changed, so mutmut's per-file
    reuse still works) and return the test paths left out because they do not exist."""
    wanted: dict[Path, bytes] = {}
    for src_dir, dst_dir in LAYOUT.items():
        for source in sorted((source_root / src_dir).rglob("*")):
            if not source.is_file() or "__pycache__" in source.parts or source.suffix == ".pyc":
                continue
            rel = f"{dst_dir}/{source.relative_to(source_root / src_dir).as_posix()}"
            wanted[STAGE / rel] = staged_text(rel, source, config)
    present, absent = selected_tests(config, source_root)
    pyproject = tomllib.loads((source_root / "pyproject.toml").read_text())
    wanted[STAGE / "pyproject.toml"] = _pyproject_for_stage(pyproject, config, present).encode()
    for path, data in wanted.items():
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for top in ("auditor", "tests"):
        for path in sorted((STAGE / top).rglob("*"), reverse=True):
            if path.is_file() and path not in wanted and "__pycache__" not in path.parts:
                path.unlink()
    return absent


def _pyproject_for_stage(pyproject: dict[str, object], config: dict[str, object], selection: list[str]) -> str:
    """The staging tree's pyproject: the sources' pytest settings and the mutmut table (its selection limited to
    what exists)."""
    tool = pyproject["tool"]
    assert isinstance(tool, dict)
    mutmut = dict(config, pytest_add_cli_args_test_selection=selection)
    return _toml({"tool": {"pytest": tool["pytest"], "mutmut": mutmut}})


def _toml(doc: dict[str, object], prefix: str = "") -> str:
    """Enough TOML for string, number, boolean and list-of-string tables (tomllib only reads)."""
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    out = [f"[{prefix}]"] if prefix and scalars else []
    out += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out) + "\n"


def checkout(rev: str, into: Path) -> Path:
    """The sources and tests of a commit (`--rev HEAD~3`), to measure a score before a change."""
    archive = subprocess.run(["git", "archive", rev, *LAYOUT, "pyproject.toml"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def prune_mutants() -> None:
    """mutmut copies tests and sources into mutants/ but never deletes: drop what the project no longer has."""
    mutants = STAGE / "mutants"
    for top in ("auditor", "tests"):
        for path in sorted((mutants / top).rglob("*"), reverse=True):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(mutants).as_posix()
            source = STAGE / (rel[: -len(".meta")] if rel.endswith(".meta") else rel)
            if not source.exists():
                path.unlink()


def run_mutmut(max_children: int, names: list[str]) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    if not mutmut.exists():
        print(f"mutmut is not installed in {sys.prefix}: {sys.executable} -m pip install 'mutmut>=3.8,<4'",
              file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.call([str(mutmut), "run", "--max-children", str(max_children), *names], cwd=STAGE, env=env)


# -- reading the results ----------------------------------------------------------------------------------------

@dataclass
class Mutant:
    key: str
    exit_code: int | None
    change: str = ""              # "-old line / +new line"
    strings: list[tuple[str, str]] | None = None  # (old, new) when only string literals differ

    @property
    def mutated(self) -> str:
        """The mutated line(s) alone: how the equivalents file names a mutant besides its number."""
        return " / ".join(part[1:] for part in self.change.split(" / ") if part.startswith("+"))

    @property
    def message_only(self) -> bool:
        return bool(self.strings) and all(_PROSE.search(old) or _JOINER.match(old) for old, _ in self.strings or ())


@dataclass
class Module:
    path: str                     # the project's path: rules/pair.py, auditor/facts/pods.py
    mutants: list[Mutant] = field(default_factory=list)


def project_path(staged: str) -> str:
    for src_dir, dst_dir in sorted(LAYOUT.items(), key=lambda kv: -len(kv[1])):
        if staged == dst_dir or staged.startswith(dst_dir + "/"):
            return src_dir + staged[len(dst_dir):]
    return staged


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    out: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        bodies = node.body if isinstance(node, ast.ClassDef) else [node]
        for fn in bodies:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _MUTANT.match(fn.name):
                out[fn.name] = fn
    return out


def string_changes(a: ast.AST, b: ast.AST) -> list[tuple[str, str]] | None:
    """The (old, new) string literals that differ between two trees when nothing else does; None otherwise."""
    if type(a) is not type(b):
        return None
    out: list[tuple[str, str]] = []
    for name, va in ast.iter_fields(a):
        vb = getattr(b, name, None)
        if name == "name" and isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(va, list):
            if not isinstance(vb, list) or len(va) != len(vb):
                return None
            pairs = list(zip(va, vb, strict=True))
        else:
            pairs = [(va, vb)]
        for x, y in pairs:
            if isinstance(x, ast.AST):
                if not isinstance(y, ast.AST):
                    return None
                sub = string_changes(x, y)
                if sub is None:
                    return None
                out += sub
            elif x != y or type(x) is not type(y):
                if isinstance(a, ast.Constant) and isinstance(x, str) and isinstance(y, str):
                    out.append((x, y))
                else:
                    return None
    return out


def _change(orig: ast.AST, mutant: ast.AST) -> str:
    a = ast.unparse(orig).splitlines()[1:]
    b = ast.unparse(mutant).splitlines()[1:]
    diff = [line for line in difflib.unified_diff(a, b, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return " / ".join(line[0] + line[1:].strip() for line in diff)


def read_results(config: dict[str, object]) -> list[Module]:
    mutants_dir = STAGE / "mutants"
    modules: list[Module] = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        staged = meta.relative_to(mutants_dir).as_posix()[: -len(".meta")]
        if not _mutated(staged, config):
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        funcs = _functions(ast.parse((mutants_dir / staged).read_text()))
        mod = Module(project_path(staged))
        for key, code in sorted(codes.items(), key=lambda kv: _natural(kv[0])):
            local = key.rpartition(".")[2]
            m = _MUTANT.match(local)
            mutant = Mutant(key, code)
            fn, orig = funcs.get(local), funcs.get(f"{m.group('func')}__mutmut_orig") if m else None
            if fn is not None and orig is not None:
                mutant.change = _change(orig, fn)
                if staged not in _OUTPUT_STRINGS:
                    mutant.strings = string_changes(orig, fn) or None
            mod.mutants.append(mutant)
        modules.append(mod)
    return sorted(modules, key=lambda m: m.path)


def _natural(key: str) -> tuple[str, int]:
    stem, _, n = key.rpartition("__mutmut_")
    return stem, int(n) if n.isdigit() else -1


def load_equivalents(modules: list[Module]) -> tuple[dict[str, str], list[str]]:
    """{mutant: why} for listed mutants that still survive with the recorded mutated line; and complaints about
    entries that no longer apply (renumbered, killed, or the code changed), which are then not excluded."""
    if not EQUIVALENTS.exists():
        return {}, []
    entries = tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    by_key = {m.key: m for mod in modules for m in mod.mutants}
    out: dict[str, str] = {}
    stale: list[str] = []
    for e in entries:
        m = by_key.get(e["mutant"])
        if m is None or m.mutated != e["mutated"]:
            stale.append(f"{e['mutant']}: listed as {e['mutated']!r}, now {m.mutated if m else 'gone'!r}")
        elif m.exit_code not in SURVIVED:
            stale.append(f"{e['mutant']}: listed as equivalent but did not survive (exit code {m.exit_code})")
        else:
            out[e["mutant"]] = e["why"]
    return out, stale


@dataclass
class Score:
    total: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    unchecked: int = 0

    def add(self, m: Mutant) -> None:
        self.total += 1
        if m.exit_code in KILLED:
            self.killed += 1
        elif m.exit_code in SURVIVED:
            self.survived += 1
        elif m.exit_code in NO_TESTS:
            self.no_tests += 1
        else:
            self.unchecked += 1

    def cell(self) -> str:
        pct = 100.0 * self.killed / self.total if self.total else 100.0
        return f"{self.killed:>5}/{self.total:<5} {pct:5.1f}%"


def scores(mod: Module, equivalent: dict[str, str]) -> tuple[Score, Score]:
    every, behaviour = Score(), Score()
    for m in mod.mutants:
        every.add(m)
        if not m.message_only and m.key not in equivalent:
            behaviour.add(m)
    return every, behaviour


def table(modules: list[Module], equivalent: dict[str, str]) -> str:
    width = max([len(m.path) for m in modules] + [20])
    head = (f"{'module':<{width}}  {'killed/all mutants':>20}  {'without message-only':>20}  "
            f"{'survived':>8}  {'no test':>7}")
    lines = [head, "-" * len(head)]
    totals: dict[str, tuple[Score, Score]] = {}
    for mod in modules:
        every, behaviour = scores(mod, equivalent)
        if not every.total:
            continue
        lines.append(f"{mod.path:<{width}}  {every.cell():>20}  {behaviour.cell():>20}  {behaviour.survived:>8}  "
                     f"{behaviour.no_tests:>7}")
        group = mod.path.rsplit("/", 1)[0] + "/"
        for name in (group, "all"):
            t = totals.setdefault(name, (Score(), Score()))
            for acc, part in zip(t, (every, behaviour), strict=True):
                for f in ("total", "killed", "survived", "no_tests", "unchecked"):
                    setattr(acc, f, getattr(acc, f) + getattr(part, f))
    lines.append("-" * len(head))
    for name, (every, behaviour) in sorted(totals.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        lines.append(f"{name:<{width}}  {every.cell():>20}  {behaviour.cell():>20}  {behaviour.survived:>8}  "
                     f"{behaviour.no_tests:>7}")
    unchecked = sum(t[0].unchecked for k, t in totals.items() if k == "all")
    if unchecked:
        lines.append(f"{unchecked} mutant(s) not checked (the run was interrupted?): counted as not killed")
    lines.append("message-only: mutants that change nothing but string literals that read as text (two words, or "
                 "', '-style joiners): messages, reasons, descriptions")
    lines.append(f"also excluded: {len(equivalent)} equivalent mutant(s) listed with a reason in "
                 f"{EQUIVALENTS.relative_to(ROOT)}")
    return "\n".join(lines)


def survivors(modules: list[Module], equivalent: dict[str, str], with_messages: bool) -> str:
    lines = []
    for mod in modules:
        for m in mod.mutants:
            if m.exit_code in KILLED or m.key in equivalent or (m.message_only and not with_messages):
                continue
            status = "survived" if m.exit_code in SURVIVED else "no test" if m.exit_code in NO_TESTS else "unchecked"
            lines.append(f"{m.key} [{status}]\n    {m.change}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("command", nargs="?", default="run", choices=("run", "report", "survivors", "show", "stage"))
    ap.add_argument("names", nargs="*", help="run: only these mutants (globs); show: the mutant to show")
    ap.add_argument("--max-children", type=int, default=int(os.environ.get("MUTATION_CHILDREN", "2")))
    ap.add_argument("--keep", action="store_true",
                    help="reuse the previous results (mutmut retests only changed functions, not after test changes)")
    ap.add_argument("--rev", help="run: mutate and test this commit's sources and tests (the mutmut table stays "
                                  "the working tree's)")
    ap.add_argument("--messages", action="store_true", help="survivors: list message-only mutants too")
    args = ap.parse_intermixed_args(argv)
    config = mutmut_config()
    if args.command in ("run", "stage"):
        with tempfile.TemporaryDirectory() as tmp:
            absent = stage(config, checkout(args.rev, Path(tmp)) if args.rev else ROOT)
        for p in absent:
            print(f"mutation: {p} does not exist, left out of the test selection")
        if args.command == "stage":
            return 0
        if not args.keep and not args.names:
            shutil.rmtree(STAGE / "mutants", ignore_errors=True)
        elif (STAGE / "mutants").exists():
            prune_mutants()
        started = time.monotonic()
        rc = run_mutmut(args.max_children, args.names)
        print(f"mutation: mutmut ran {time.monotonic() - started:.0f} s with {args.max_children} worker(s)")
        if rc != 0:
            return rc
    if args.command == "show":
        return subprocess.call([str(Path(sys.executable).with_name("mutmut")), "show", *args.names], cwd=STAGE)
    modules = read_results(config)
    if not modules:
        print("mutation: no results yet; run `make mutation` first", file=sys.stderr)
        return 1
    equivalent, stale = load_equivalents(modules)
    if args.command == "survivors":
        print(survivors(modules, equivalent, args.messages))
        return 0
    print(table(modules, equivalent))
    for s in stale:
        print(f"mutation: stale equivalent entry: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
