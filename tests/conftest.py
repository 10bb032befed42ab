"""Shared test set-up: make tests/ importable (builders, the API double) and the snapshot option of the rule cases."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_addoption(parser: pytest.Parser) -> None:
    # here, not in tests/rules/: pytest reads options only from the conftest files it loads first
    parser.addoption("--snapshot-update", action="store_true", default=False,
                     help="write the rule cases' snapshots (tests/rules/snapshots) instead of comparing them; "
                          "same as UPDATE_SNAPSHOTS=1. Review every changed file before committing it.")
