"""Shared test set-up: make tests/ importable (builders, the API double) and the snapshot option of the rule cases."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_addoption(parser: pytest.Parser) -> None:
    # here, not in tests/rules/: pytest reads options only from the conftest files it loads first
    parser.addoption("--snapshot-update", action="store_true", default=False,
                     help="write the rule cases' snapshots (tests/rules/snapshots) instead of comparing them; "
                          "same as UPDATE_SNAPSHOTS=1. Review every changed file before committing it.")


#: Debian's chromium, never a downloaded browser; the browser tests (reports, fleet page) share this launch
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, one per test module."""
    if not Path(CHROMIUM).exists():
        # `make test` and .ci/run install Debian's chromium; a run without it has not tested the HTML
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (installs it) or `apt-get install chromium`")
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
