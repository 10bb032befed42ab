"""Suppressions people can audit (issue 11.3): expiring excludes, annotation reasons, typos reported."""
from __future__ import annotations

import json
from pathlib import Path

import builders as b
import pytest
import yaml
from click.testing import CliRunner
from test_cli_audit import small_cluster, write

from auditor.cli.main import main

EXCLUDE = {"rule": "handmade-endpointslice", "namespace": "shop", "name": "cart-*", "reason": "migration, OPS-12"}


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def audit_with(tmp: Path, name: str, config: dict, objs: list[dict] | None = None) -> tuple[int, dict, str, str]:
    dump = write(tmp, f"{name}.json", b.kubectl_list(objs if objs is not None else small_cluster()))
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    code, out, err = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp / name),
                            "--format", "json,md", "--fail-on", "warning")
    return code, json.loads((tmp / name / "report.json").read_text()), out, err


def test_exclude_applies_until_it_expires(tmp_path: Path) -> None:
    code, rep, _, err = audit_with(tmp_path, "valid", {"exclude": [{**EXCLUDE, "expires": "2999-12-31"}]})
    assert code == 0 and rep["findings"] == [] and err == ""
    assert rep["suppressed"][0]["reason"] == "migration, OPS-12 (until 2999-12-31)"
    # unquoted YAML date works the same
    cfg_text = ("exclude:\n  - rule: handmade-endpointslice\n    name: cart-*\n    reason: r\n"
                "    expires: 2999-01-01\n")
    dump = write(tmp_path, "d.json", b.kubectl_list(small_cluster()))
    (tmp_path / "unquoted.yaml").write_text(cfg_text)
    code, _, _ = invoke("audit", str(dump), "--config", str(tmp_path / "unquoted.yaml"), "--fail-on", "warning",
                        "--output-dir", str(tmp_path / "u"), "--format", "json")
    assert code == 0

    code, rep, out, err = audit_with(tmp_path, "expired", {"exclude": [{"rule": "stale-endpoints", "reason": "old"},
                                                                       {**EXCLUDE, "expires": "2001-02-03"}]})
    assert code == 1  # the finding is back and gates
    assert [f["rule"] for f in rep["findings"]] == ["handmade-endpointslice"] and rep["suppressed"] == []
    warning = ("exclude[1] (rule handmade-endpointslice, namespace shop, name cart-*; reason 'migration, OPS-12') "
               "expired on 2001-02-03 and no longer applies: 1 finding(s) it matched are reported")
    assert err.strip().splitlines() == [f"warning: {warning}"]
    assert warning in rep["notices"]
    assert "expired on 2001-02-03" in (tmp_path / "expired" / "report.md").read_text()


def test_annotation_reason_and_unknown_rule_ids(tmp_path: Path) -> None:
    objs = small_cluster()
    manual = next(o for o in objs if o["metadata"]["name"] == "cart-manual")
    manual["metadata"]["annotations"] = {"upgrade-auditor.io/ignore": "handmade-endpointslice",
                                         "upgrade-auditor.io/ignore-reason": "written by the DBA team, OPS-7"}
    svc = next(o for o in objs if o["kind"] == "Service")
    svc["metadata"]["annotations"] = {"upgrade-auditor.io/ignore": "stale-endpointslce, service-lost-endpoints"}
    code, rep, out, err = audit_with(tmp_path, "ann", {}, objs)
    assert code == 0 and rep["findings"] == []
    assert rep["suppressed"][0]["reason"] == ("annotation upgrade-auditor.io/ignore: 'handmade-endpointslice' on "
                                              "EndpointSlice shop/cart-manual: written by the DBA team, OPS-7")
    typo = ("Service shop/cart: annotation upgrade-auditor.io/ignore names unknown rule 'stale-endpointslce' "
            "(did you mean 'stale-endpointslice'?)")
    assert err.strip().splitlines() == [f"warning: {typo}"]  # the known id next to it is fine
    assert typo in rep["notices"]
    del manual["metadata"]["annotations"]["upgrade-auditor.io/ignore-reason"]
    _, rep, _, _ = audit_with(tmp_path, "noreason", {}, objs)
    assert rep["suppressed"][0]["reason"].endswith("(no upgrade-auditor.io/ignore-reason given)")


@pytest.mark.parametrize("entry,needle", [
    ({"reason": "hide everything"}, "has no matcher; give at least one of rule, kind, namespace, name or labels"),
    ({"rule": "*", "namespace": "*", "reason": "x"}, "has no matcher"),
    ({"labels": {}, "reason": "x"}, "has no matcher"),
    ({**EXCLUDE, "expires": "next week"}, "expires must be a date like 2026-12-31 (YYYY-MM-DD), not 'next week'"),
    ({**EXCLUDE, "expires": "2026-02-30"}, "expires must be a date"),
    ({**EXCLUDE, "expires": 20261231}, "expires must be a date"),
])
def test_bad_excludes_are_config_errors(tmp_path: Path, entry: dict, needle: str) -> None:
    dump = write(tmp_path, "d.json", b.kubectl_list(small_cluster()))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"exclude": [{"rule": "stale-endpoints", "reason": "fine"}, entry]}))
    code, _, err = invoke("audit", str(dump), "--config", str(cfg), "--output-dir", str(tmp_path / "r"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {cfg}: exclude[1]: {needle}"), err
    assert not (tmp_path / "r").exists()
