"""The fleet page in headless Chromium (Debian's /usr/bin/chromium through Playwright, as the report's browser
test): rows worst first, the ready line on top, cluster text shown as text, links that open each cluster's report,
no network and no console error under the page's Content-Security-Policy."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.report.fleet import ClusterEntry, make_fleet, write_fleet

HOSTILE = '<img src=x onerror="alert(1)">\u202egpj.exe'


def entry(name: str, verdict: str, folder: str | None, errors: int = 0, **kw: Any) -> ClusterEntry:
    rules = {"stale-endpointslice": errors} if errors else {}
    return ClusterEntry(name=name, verdict=verdict, exit={"pass": 0, "fail": 1}.get(verdict, 3), version="1.30",
                        target="1.31", summary={"error": errors, "warning": 0, "info": 0, "suppressed": 0},
                        report=f"{folder}/report.html" if folder else None, rules=rules,
                        severities={"stale-endpointslice": "error"} if errors else {}, **kw)


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    for folder in ("prod", "javascript:alert(1)", "hostile", "dev"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.html").write_text(f"<title>report of {folder}</title>")
    fleet = make_fleet([
        entry("dev", "pass", "dev"), entry("prod", "fail", "prod", errors=2),
        entry("javascript:alert(1)", "fail", "javascript:alert(1)", errors=5),
        entry(HOSTILE, "incomplete", "hostile", error="snapshot incomplete: <b>EndpointSlice</b>: 403"),
        entry("dead", "unreachable", None, error="connection refused"),
        entry("zeta", "pass", None),
    ])
    write_fleet(fleet, tmp_path)
    ctx = browser.new_context()
    pg = ctx.new_page()
    seen: dict[str, list[str]] = {"errors": [], "dialogs": [], "requests": []}
    pg.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    pg.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    pg.on("request", lambda r: seen["requests"].append(r.url))
    pg.goto((tmp_path / "fleet.html").as_uri())
    pg.seen = seen
    yield pg
    ctx.close()


def test_rows_worst_first_with_verdicts_versions_and_counts(page: Any) -> None:
    rows = page.locator("#clusters > tbody > tr")
    names = [rows.nth(i).locator("td.name").evaluate("td => td.firstChild.textContent") for i in range(rows.count())]
    assert names == ["dead", "<img src=x onerror=\"alert(1)\">\\u{202E}gpj.exe", "javascript:alert(1)", "prod",
                     "dev", "zeta"]
    verdicts = page.locator("#clusters > tbody > tr .v").all_inner_texts()
    assert [v.lower() for v in verdicts] == ["unreachable", "incomplete", "fail", "fail", "pass", "pass"]
    first = page.locator("#clusters > tbody > tr").nth(2).locator("td").all_inner_texts()
    assert first[1] == "1.30 → 1.31" and first[3] == "5"
    assert "connection refused" in rows.nth(0).inner_text()
    assert page.locator("#clusters img, #clusters b").count() == 0  # cluster text never becomes markup
    assert page.seen["dialogs"] == [] and page.seen["errors"] == []
    assert all(u.startswith("file://") for u in page.seen["requests"])
    assert page.evaluate("document.documentElement.classList.contains('js')")  # our one script ran by its hash


def test_ready_line_on_top(page: Any) -> None:
    ready = page.locator("#ready")
    assert ready.inner_text() == "Ready for the next wave (2 of 6): dev, zeta"
    top = page.evaluate("[...document.querySelectorAll('#ready, #clusters')].map(e => e.id)")
    assert top == ["ready", "clusters"]


def test_links_open_each_clusters_report(page: Any, tmp_path: Path) -> None:
    links = page.locator("#clusters a")
    hrefs = [links.nth(i).evaluate("a => a.href") for i in range(links.count())]
    assert hrefs == [(tmp_path / f / "report.html").as_uri().replace(":alert(1)", "%3Aalert%281%29")
                     for f in ("hostile", "javascript:alert(1)", "prod", "dev")]
    assert page.locator("#clusters > tbody > tr").nth(0).locator("a").count() == 0  # no report: no link
    page.locator("#clusters > tbody > tr").nth(2).locator("a").click()
    page.wait_for_load_state()
    assert page.title() == "report of javascript:alert(1)"
    assert page.seen["dialogs"] == []


def test_matrix_rule_by_cluster(page: Any) -> None:
    head = page.locator("#matrix thead th").all_inner_texts()
    assert head[0] == "rule" and len(head) == 7
    cells = page.locator("#matrix tbody tr").nth(0).locator("td").all_inner_texts()
    assert page.locator("#matrix tbody th").all_inner_texts() == ["stale-endpointslice"]
    assert cells == ["", "", "5", "2", "", ""]
