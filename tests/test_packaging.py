"""The wheel carries templates, rules and demo data: build it, install it into a clean venv, run the demo."""
from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_into_clean_venv_and_runs_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(dist.glob("eks_upgrade_auditor-*.whl"))
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("auditor/reports/report.html.j2", "auditor/reports/report.md.j2", "auditor/rules/__init__.py",
                   "auditor/demo/after.json.gz", "auditor/demo/before.json.gz"):
        assert needed in names, f"{needed} missing from the wheel"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    out = tmp_path / "demo-out"
    r = subprocess.run([str(env_dir / "bin" / "upgrade-auditor"), "demo", "--output-dir", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "audit" / "report.html").exists() and (out / "compare" / "report.json").exists()
    # It really ran from the wheel, not from this checkout.
    where = subprocess.run([str(py), "-c", "import auditor, auditor.rules; print(auditor.rules.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(env_dir) in where and str(ROOT) not in where
