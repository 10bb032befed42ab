"""The pages agree with the verdict (issue 19 item 2): the rotation tile says what the banner says, a verdict with
no Service to name never shows "0 not converged", and an unknown control plane version is "unknown", never None."""
from __future__ import annotations

import re

from auditor.report.html_report import render_html
from auditor.report.md_report import render_md
from tests.reports import report_fixture as fx


def _tile(html: str) -> str:
    m = re.search(r'<div class="card">Services<b class="(\w+)">([^<]*)</b>', html)
    assert m is not None, "no Services tile"
    return f"{m.group(1)}:{m.group(2)}"


def test_an_unknown_control_plane_version_is_never_none() -> None:
    rot = {**fx.ROTATION, "controlPlane": {"before": None, "after": "1.32"}}
    r = fx.result(rotation=rot)
    html, md = render_html(r), render_md(r)
    assert "control plane<b>unknown → 1.32</b>" in html
    assert "- Control plane: unknown → 1.32" in md
    for page in (html, md):
        assert "None" not in page


def test_no_control_plane_section_at_all_is_unknown_both_sides() -> None:
    rot = {k: v for k, v in fx.ROTATION.items() if k != "controlPlane"}
    md = render_md(fx.result(rotation=rot))
    assert "- Control plane: unknown → unknown" in md


def test_not_converged_without_a_named_service_never_says_zero() -> None:
    """The whole state is not converged, but no Service is named (a finding on an object of no Service):
    the tile says "not converged", as the banner does, not "0 not converged"."""
    rot = {**fx.ROTATION, "servicesNotConverged": [], "converged": False}
    html = render_html(fx.result(rotation=rot, converged=False))
    assert _tile(html) == "bad:not converged"
    assert "0 not converged" not in html
    assert "not converged" in html.split('id="verdict"', 1)[1].split("</div>", 1)[0]


def test_the_tile_follows_the_result_not_a_stale_rotation_copy() -> None:
    """The rotation's own `converged` said false, the result's verdict says true: one verdict on the page."""
    rot = {**fx.ROTATION, "servicesNotConverged": [], "converged": False}
    html = render_html(fx.result(rotation=rot, converged=True, findings=()))
    assert _tile(html) == "ok:converged"
    rot_named = {**fx.ROTATION, "converged": True}
    assert _tile(render_html(fx.result(rotation=rot_named, converged=False))) == "bad:2 not converged"
