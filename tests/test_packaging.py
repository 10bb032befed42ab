"""Install paths: `python -m build` makes an sdist and a wheel (built from that sdist, as `pip install .` and
`pipx install .` build one from a clone); the wheel installed into a clean venv runs the demo, and both console
scripts (`upgrade-auditor`, the kubectl plugin `kubectl-upgrade_audit`) answer, with shell completion."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from auditor.rules import ALL_RULES

from auditor import __version__

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "kubectl-upgrade_audit"


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    bin: Path
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        exe = args[0] if args[0] == "kubectl" else str(self.bin / args[0])
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=120,
                              env={**self.env, **(env or {})}, cwd=cwd or self.bin.parent)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """sdist and wheel from `python -m build`, the wheel installed into a fresh venv, offline.

    The venv gets no copy of the dependencies: pip installs the wheel alone (`--no-deps --no-index`), then a
    .pth file appends this test venv's site-packages, so click, boto3 and the rest resolve from there while
    `auditor` and the scripts are the wheel's. The .pth is written after pip ran, so pip never sees this
    checkout's editable install (and cannot touch it); a path line in a .pth does not run the .pth files of
    that folder, so the editable finder stays inactive in the new venv.
    """
    tmp = tmp_path_factory.mktemp("packaging")
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    sdist, wheel = next(dist.glob("eks_upgrade_auditor-*.tar.gz")), next(dist.glob("eks_upgrade_auditor-*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True, timeout=300)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "zz_test_venv_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    return Installed(sdist, wheel, env_dir / "bin", env)


def test_sdist_holds_what_a_build_from_it_needs(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "auditor/cli/main.py", "rules/__init__.py",
                   "reports/report.html.j2", "reports/report.md.j2", "auditor/demo/before.json.gz",
                   "auditor/demo/after.json.gz"):
        assert needed in names, f"{needed} missing from the sdist"


def test_wheel_carries_templates_rules_demo_data_and_both_scripts(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for needed in ("auditor/reports/report.html.j2", "auditor/reports/report.md.j2", "auditor/rules/__init__.py",
                   "auditor/demo/after.json.gz", "auditor/demo/before.json.gz"):
        assert needed in names, f"{needed} missing from the wheel"
    scripts = dict(line.split(" = ") for line in entry_points.split("[console_scripts]\n")[1].splitlines() if line)
    assert set(scripts) == {"upgrade-auditor", PLUGIN}
    assert scripts[PLUGIN] == scripts["upgrade-auditor"]  # the plugin is the same program


def test_installed_wheel_runs_the_demo_from_its_own_files(installed: Installed, tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    r = installed.run("upgrade-auditor", "demo", "--output-dir", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for step in ("preflight", "audit", "compare"):
        for name in ("report.html", "report.md", "report.json", "report.junit.xml"):
            assert (out / step / name).is_file(), f"{step}/{name}"
    assert f"{out}/compare/report.junit.xml" in r.stdout
    # It really ran from the wheel, not from this checkout.
    where = installed.run("python", "-c", "import auditor, auditor.rules; print(auditor.rules.__file__)").stdout
    assert where.startswith(str(installed.bin.parent)) and str(ROOT) not in where


def test_demo_writes_under_upgrade_audit_in_the_working_directory_by_default(installed: Installed,
                                                                             tmp_path: Path) -> None:
    """What the README says `make demo` leaves behind: ./upgrade-audit/{preflight,audit,compare}/."""
    r = installed.run("upgrade-auditor", "demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "upgrade-audit").iterdir()) == ["audit", "compare", "preflight"]
    assert "upgrade-audit/preflight/report.html" in r.stdout


@pytest.mark.parametrize("script", ["upgrade-auditor", PLUGIN])
def test_both_scripts_answer_version_and_rules(installed: Installed, script: str) -> None:
    version = installed.run(script, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"upgrade-auditor, version {__version__}"
    rules = installed.run(script, "rules")
    assert rules.returncode == 0, rules.stderr
    listed = [line.split()[0] for line in rules.stdout.splitlines() if line.strip()]
    assert listed == [r.id for r in ALL_RULES]


def test_plugin_help_names_the_plugin(installed: Installed) -> None:
    """Usage lines name the program as invoked: the plugin's own name (or kubectl's spelling of it), never
    `upgrade-auditor`, whose line a kubectl user could not paste."""
    usage = installed.run(PLUGIN, "audit", "--help").stdout.splitlines()[0]
    assert usage.startswith((f"Usage: {PLUGIN} audit ", "Usage: kubectl upgrade-audit audit ")), usage


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_finds_the_plugin_on_path(installed: Installed) -> None:
    r = installed.run("kubectl", "upgrade-audit", "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"upgrade-auditor, version {__version__}"
    listed = installed.run("kubectl", "plugin", "list").stdout
    assert str(installed.bin / PLUGIN) in listed


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o nosort -F _upgrade_auditor_completion upgrade-auditor"),
    ("zsh", "#compdef upgrade-auditor"),
    ("fish", "complete --no-files --command upgrade-auditor"),
])
def test_shell_completion_scripts_are_produced(installed: Installed, shell: str, marker: str) -> None:
    r = installed.run("upgrade-auditor", env={"_UPGRADE_AUDITOR_COMPLETE": f"{shell}_source"})
    assert r.returncode == 0 and marker in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("upgrade-auditor au", "1", ["plain,audit"]),
    ("upgrade-auditor compare --allow", "2", ["plain,--allow-reversed"]),
])
def test_bash_completion_completes_commands_and_options(installed: Installed, words: str, cword: str,
                                                        expected: list[str]) -> None:
    r = installed.run("upgrade-auditor", env={"_UPGRADE_AUDITOR_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                              "COMP_CWORD": cword})
    assert r.returncode == 0 and r.stdout.split() == expected, r.stdout + r.stderr
