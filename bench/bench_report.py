"""Report benchmark: a 10,000-finding result (each with evidence and fix commands) rendered to every
format, then the HTML opened in headless Chromium (Debian's, through Playwright): load to interactive,
severity filter, search. Prints sizes and the median of --runs runs.

Usage: python bench/bench_report.py [--findings 10000] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "reports"))
import report_fixture as F  # noqa: E402

from auditor.report import render  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def _browser_times(html_path: Path, runs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    load, sev, search = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(runs):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(html_path.as_uri(), wait_until="load")
            page.wait_for_selector("#filters", state="visible")  # the table script has run: interactive
            load.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            page.select_option("#f-sev", "warning")
            assert "of" in (page.text_content("#f-count") or "")
            sev.append(time.perf_counter() - t0)
            page.select_option("#f-sev", "")
            t0 = time.perf_counter()
            page.fill("#f-q", "finding number 4242)")
            page.keyboard.press("Enter")
            assert (page.text_content("#f-count") or "").startswith("1 of")
            search.append(time.perf_counter() - t0)
            ctx.close()
        browser.close()
    return {"load": statistics.median(load), "filter": statistics.median(sev), "search": statistics.median(search)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    result = F.big_result(args.findings)
    print(f"== report (issue 10): {args.findings:,} findings, each with 3 evidence rows and 2 fix commands ==")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for fmt in ("json", "md", "junit", "html"):
            t0 = time.perf_counter()
            text = render.render_all(result, (fmt,))[fmt]
            took = time.perf_counter() - t0
            path = out / render.FILE_NAMES[fmt]
            path.write_text(text, encoding="utf-8")
            print(f"  {path.name:<17} {path.stat().st_size / 1e6:7.2f} MB, rendered in {took:.2f} s")
        times = _browser_times(out / "report.html", args.runs)
    print(f"  Chromium (median of {args.runs}): load to interactive {times['load']:.2f} s, "
          f"severity filter {times['filter']:.3f} s, search {times['search']:.3f} s")


if __name__ == "__main__":
    main()
