#!/usr/bin/env bash
# mypy over the installed package layout (rules/ and reports/ install as auditor.rules, auditor.reports):
# install the project into a scratch folder without dependencies, then check the package there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(cd "$(dirname "${PY:-.venv/bin/python}")" && pwd)/$(basename "${PY:-.venv/bin/python}")"
root="$(pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rm -rf build; "$PY" -m pip install -q --no-deps --no-build-isolation --target "$tmp/site" . >/dev/null 2>&1
cd "$tmp/site"
"$PY" -m mypy --config-file "$root/pyproject.toml" -p auditor
