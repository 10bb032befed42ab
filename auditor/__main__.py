"""Entry point for `python -m auditor`."""
from __future__ import annotations

from auditor.cli.main import console_main

if __name__ == "__main__":
    console_main()
