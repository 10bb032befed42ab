"""The documents: nothing in them points outside the repository, every link and named path exists, the user's
pages carry no developer history and no install command for a package that is not published, and the README's
RBAC and demo directions match what the code does."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from auditor.cli.main import main
from auditor.engine.follow import FOLLOWED_KINDS
from auditor.state.kinds import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
DOCUMENTS = [README, *DOCS]
#: pages for users: no developer history in them (architecture, development and performance are for maintainers)
USER_PAGES = [README] + [ROOT / "docs" / n for n in ("usage.md", "snapshot.md", "verify.md", "eks.md", "ci.md",
                                                      "kubernetes-facts.md", "gitlab-ci.yml", "github-workflow.yml")]
#: top-level folders of the repository: a backticked path starting with one of them names a file that must exist
REPO_DIRS = ("auditor/", "rules/", "reports/", "tests/", "tools/", "bench/", "ci/", "docs/", "schemas/", ".ci/")
#: folders the tools generate (ignored by git, as bench/out/): named in the documents, absent from a clone
GENERATED = tuple(line.strip().lstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
                  if line.strip().rstrip("/").count("/") >= 1 and not line.startswith("#"))

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
OUTSIDE = [
    (re.compile(r"K8S-FACTS|CONTRACT\.md|STYLE\.md"), "a file beside the repository"),
    (re.compile(r"\.\./shared|(?<![\w.])shared/"), "the shared folder beside the repository"),
    (re.compile(r"(?<![\w.-])/(?:work|home|root|Users|opt|mnt)/|[A-Za-z]:\\\\|file://"), "an absolute machine path"),
]
HISTORY = re.compile(r"\b(?:issues?|turn) \d+\b|\(#\d+\)", re.I)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def prose(path: Path) -> str:
    """The text outside fenced code blocks."""
    return FENCE.sub("", path.read_text())


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_no_reference_leaves_the_repository(doc: Path) -> None:
    text = doc.read_text()
    for pattern, what in OUTSIDE:
        hits = [m.group(0) for m in pattern.finditer(text)]
        assert not hits, f"{rel(doc)} refers to {what}: {hits}"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_relative_links_point_to_existing_files_and_headings(doc: Path) -> None:
    for target in LINK.findall(prose(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        assert dest == ROOT or ROOT in dest.parents, f"{rel(doc)}: {target} leaves the repository"
        assert dest.exists(), f"{rel(doc)}: {target} does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{rel(doc)}: no heading #{anchor} in {rel(dest)}"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=rel)
def test_named_paths_exist(doc: Path) -> None:
    """A module path in backticks (`auditor/analysis/reconcile.py`) must be where the text says: modules move."""
    for span in CODE_SPAN.findall(prose(doc)):
        for word in span.split():
            word = word.strip("()[]'\"").rstrip(",;:.")
            if word.startswith(REPO_DIRS) and not word.startswith(GENERATED) and not re.search(r"[*<>{}$]", word):
                assert (ROOT / word).exists(), f"{rel(doc)} names {word}, which does not exist"


@pytest.mark.parametrize("doc", USER_PAGES, ids=rel)
def test_user_pages_carry_no_developer_history(doc: Path) -> None:
    hits = [m.group(0) for m in HISTORY.finditer(doc.read_text())]
    assert not hits, f"{rel(doc)}: {hits}"


@pytest.mark.parametrize("doc", [*DOCUMENTS, *sorted((ROOT / "docs").glob("*.yml"))], ids=rel)
def test_no_command_installs_the_unpublished_package_from_pypi(doc: Path) -> None:
    text = doc.read_text()
    code = "\n".join(FENCE.findall(text)) if doc.suffix == ".md" else text
    assert not re.search(r"\bpipx? install (?:--\S+ )*[\"']?eks-upgrade-auditor\b", code), rel(doc)


def test_every_document_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(README.read_text())}
    missing = [rel(d) for d in DOCS if d.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_readme_keeps_the_make_targets_and_says_where_the_demo_writes() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    demo = main.get_command(click.Context(main), "demo")
    assert demo is not None
    default = next(p.default for p in demo.params if p.name == "output_dir")
    for step in ("preflight", "audit", "compare"):
        assert f"{default}/{step}/" in text, f"the README does not say the demo writes {default}/{step}/"


def test_readme_demo_output_is_what_the_demo_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's excerpt of the demo's output (lines cut at the terminal's width aside) is printed as shown,
    report paths included: they say where `make demo` writes."""
    block = next(b for b in FENCE.findall(README.read_text()) if "Demo 3/3" in b)
    shown = [line.rstrip() for line in block.splitlines()[1:-1] if line.strip() and "…" not in line]
    monkeypatch.chdir(tmp_path)  # the demo writes under ./upgrade-audit by default
    result = CliRunner().invoke(main, ["demo"], env={"NO_COLOR": "1"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = {line.rstrip() for line in result.output.splitlines()}
    assert [line for line in shown if line not in printed] == []
    assert (tmp_path / "upgrade-audit" / "compare" / "report.junit.xml").is_file()


def readme_rbac() -> dict[str, list[dict]]:
    blocks = [b for b in FENCE.findall(README.read_text()) if "kind: ClusterRole" in b]
    assert len(blocks) == 1, "one RBAC block in the README"
    docs = list(yaml.safe_load_all(blocks[0].split("\n", 1)[1].rsplit("```", 1)[0]))
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def test_readme_cluster_role_grants_what_the_tool_reads() -> None:
    """list for every kind the tool reads, watch for every kind verify follows, and nothing that writes."""
    rbac = readme_rbac()
    (role,) = rbac["ClusterRole"]
    grants = {(group, res): set(r["verbs"]) for r in role["rules"] for group in r["apiGroups"]
              for res in r["resources"]}
    for kind in REGISTRY:
        verbs = grants.get((kind.group, kind.plural), set())
        assert "list" in verbs, f"{kind.name}: the ClusterRole does not grant list {kind.plural}"
        if kind.name in FOLLOWED_KINDS:
            assert "watch" in verbs, f"{kind.name}: verify watches it, the ClusterRole does not grant watch"
    assert grants[("authorization.k8s.io", "selfsubjectaccessreviews")] == {"create"}
    others = {k: v for k, v in grants.items() if k[1] != "selfsubjectaccessreviews"}
    assert all(v <= {"get", "list", "watch"} for v in others.values()), "the role must stay read-only"
    assert not any(res in ("secrets", "configmaps") for _, res in grants), "the tool never reads Secrets"
    (binding,) = rbac["ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    groups = [s["name"] for s in binding["subjects"] if s["kind"] == "Group"]
    for group in groups:  # the access entry in the README puts the IAM role into the bound group
        assert f"--kubernetes-groups {group}" in README.read_text()


def test_performance_page_keeps_the_section_for_figures_by_change() -> None:
    assert "\n## Figures by change\n" in (ROOT / "docs" / "performance.md").read_text()


def _tracked_text_files() -> list[Path]:
    import subprocess
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    files = [ROOT / f for f in out] if out else [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [p for p in files if p.suffix in (".py", ".md", ".yaml", ".yml", ".toml", ".j2", ".snap", ".sh", ".json")
            and p.name != Path(__file__).name and p.exists()]


def test_no_file_of_the_repository_points_at_a_file_beside_it() -> None:
    """Code comments, rule cases and snapshots too: the next person has the repository, not our work folder."""
    pattern = OUTSIDE[0][0]
    found = [rel(p) for p in _tracked_text_files() if pattern.search(p.read_text(errors="replace"))]
    assert found == []
