"""Report benchmark: a 10,000-finding result (each with evidence and fix commands) rendered to every
format, then the HTML opened in headless Chromium (Debian's, through Playwright). Prints each file's size and
render time, and in Chromium the median of --runs page loads:

- load to interactive: from navigation start (the page's own clock, `performance.now()`) until the findings
  table has answered a filter and the answer is on screen: a script the benchmark adds to the page sets the
  severity filter to "warning" the moment the filter controls are shown, and the time is taken at the next
  animation frame after the count line says "... of N findings". A page that shows rows but cannot filter them
  yet is not interactive;
- DOMContentLoaded and the load event, on the same clock;
- the same load driven from outside by Playwright (select the filter as soon as it can be used, wait for the
  answer): its polling and round trips included, so a little later;
- once loaded: the severity filter and a search, each from the input until the count line answers.

The same script measures an older checkout: it finds the report fixture beside whichever `auditor` package
the interpreter imports (run it with that checkout's venv).

Usage: python bench/bench_report.py [--findings 10000] [--runs 5] [--save DIR]
       python bench/bench_report.py --html A/report.html B/report.html [--runs 9]   (alternating loads)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import auditor

ROOT = Path(auditor.__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reports"))
import report_fixture as F  # noqa: E402

from auditor.report import render  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


# Added to the page before its own scripts (an init script; the page's CSP does not apply to it): the moment the
# filter controls are shown, it sets the severity filter as a user would, and records when the table has answered
# (the change handler runs synchronously) and the next animation frame after it (the answer on screen).
_PROBE = """(() => {
  const obs = new MutationObserver(() => {
    const filters = document.getElementById("filters");
    if (!filters || filters.hidden || window.__answered) return;
    obs.disconnect();
    const sel = document.getElementById("f-sev");
    sel.value = "warning";
    sel.dispatchEvent(new Event("change"));
    window.__count = document.getElementById("f-count").textContent;
    window.__answered = performance.now();
    requestAnimationFrame(() => { window.__painted = performance.now(); });
  });
  obs.observe(document, {subtree: true, attributes: true, attributeFilter: ["hidden"]});
})();"""


def _answered(page: Any, text: str, timeout_ms: float = 60_000) -> None:
    """Wait until the findings count line contains `text` (the page's CSP refuses wait_for_function)."""
    page.locator("#f-count", has_text=text).wait_for(timeout=timeout_ms)


def _probed_load(browser: Any, uri: str, total: int) -> dict[str, float]:
    """Load to interactive measured inside the page (_PROBE), and DOMContentLoaded and load on the same clock."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        ctx.add_init_script(_PROBE)
        page = ctx.new_page()
        page.goto(uri, wait_until="load", timeout=60_000)
        painted = None
        for _ in range(600):
            painted, count = page.evaluate("[window.__painted, window.__count]")
            if painted is not None:
                break
            time.sleep(0.05)
        assert painted is not None and f" of {total} findings" in count, count
        nav = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                            " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()")
        return {"interactive": painted / 1000, "dcl": nav[0] / 1000, "load": nav[1] / 1000}
    finally:
        ctx.close()


def _driven_load(browser: Any, uri: str, total: int) -> dict[str, float]:
    """The same driven from outside by Playwright (its actionability polling and round trips included), then the
    severity filter and a search once loaded, each from the input until the count line answers."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(uri, wait_until="commit")
        # Playwright waits until the select is visible and enabled: the filters show once the table script ran.
        page.select_option("#f-sev", "warning", timeout=60_000)
        _answered(page, f" of {total} findings")
        driven = page.evaluate("performance.now()") / 1000
        page.wait_for_load_state("load")
        page.select_option("#f-sev", "")
        _answered(page, f"{total} findings")
        t0 = time.perf_counter()
        page.select_option("#f-sev", "error")
        _answered(page, f" of {total} findings")
        sev = time.perf_counter() - t0
        page.select_option("#f-sev", "")
        t0 = time.perf_counter()
        page.fill("#f-q", "finding number 4242)")
        page.keyboard.press("Enter")
        _answered(page, f"1 of {total} findings")
        search = time.perf_counter() - t0
        return {"driven": driven, "filter": sev, "search": search}
    finally:
        ctx.close()


def _one_load(browser: Any, uri: str, total: int) -> dict[str, float]:
    return {**_probed_load(browser, uri, total), **_driven_load(browser, uri, total)}


def browser_times(pages: list[Path], runs: int, total: int) -> list[dict[str, float]]:
    """Median figures per page; with several pages, their loads alternate run by run (one browser), so a machine
    that slows down mid-way slows each the same."""
    from playwright.sync_api import sync_playwright

    samples: list[list[dict[str, float]]] = [[] for _ in pages]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for page in pages:  # warm-up: the first page of a fresh browser is slower
                _one_load(browser, page.as_uri(), total)
            for _ in range(runs):
                for i, page in enumerate(pages):
                    samples[i].append(_one_load(browser, page.as_uri(), total))
        finally:
            browser.close()
    return [{k: statistics.median(s[k] for s in ss) for k in ss[0]} for ss in samples]


def _print_times(t: dict[str, float], runs: int, name: str = "") -> None:
    print(f"  Chromium{' ' + name if name else ''}, median of {runs} loads (after one warm-up):")
    print(f"    load to interactive (navigation start -> severity filter answered, on screen) {t['interactive']:.2f} s")
    print(f"    DOMContentLoaded {t['dcl']:.2f} s, load event {t['load']:.2f} s")
    print(f"    the same driven by Playwright (its latency included) {t['driven']:.2f} s")
    print(f"    once loaded: severity filter {t['filter']:.3f} s, search {t['search']:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--save", type=Path, help="keep the rendered reports in this folder")
    ap.add_argument("--html", type=Path, nargs="+",
                    help="measure these report.html files of --findings findings (e.g. this checkout's and an "
                         "older one's, each rendered with --save) in alternating loads, instead of rendering")
    args = ap.parse_args()
    if args.html:
        for path, t in zip(args.html, browser_times(args.html, args.runs, args.findings), strict=True):
            print(f"  {path}: {path.stat().st_size / 1e6:.2f} MB")
            _print_times(t, args.runs, str(path))
        return
    result = F.big_result(args.findings)
    print(f"== report: {args.findings:,} findings, each with 3 evidence rows and 2 fix commands ==")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.save or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for fmt in ("json", "md", "junit", "html"):
            t0 = time.perf_counter()
            text = render.render_all(result, (fmt,))[fmt]
            took = time.perf_counter() - t0
            path = out / render.FILE_NAMES[fmt]
            path.write_text(text, encoding="utf-8")
            print(f"  {path.name:<17} {path.stat().st_size / 1e6:7.2f} MB, rendered in {took:.2f} s")
        _print_times(browser_times([out / "report.html"], args.runs, len(result.findings))[0], args.runs)


if __name__ == "__main__":
    main()
