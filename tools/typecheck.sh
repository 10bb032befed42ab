#!/usr/bin/env bash
# mypy and import-linter over the installed package layout (rules/ and reports/ install as auditor.rules and
# auditor.reports, so only there is the rule pack a layer of the auditor package): install the project into a
# scratch folder without dependencies, then check the package there against pyproject.toml's settings.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(cd "$(dirname "${PY:-.venv/bin/python}")" && pwd)/$(basename "${PY:-.venv/bin/python}")"
root="$(pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# built from a copy: setuptools builds in ./build, which several checks running at once would share
mkdir "$tmp/src"
cp -r pyproject.toml README.md auditor rules reports "$tmp/src/"
"$PY" -m pip install -q --no-deps --no-build-isolation --target "$tmp/site" "$tmp/src" >/dev/null 2>&1
cd "$tmp/site"
"$PY" -m mypy --config-file "$root/pyproject.toml" -p auditor
# lint-imports puts the working directory first on sys.path: here it reads the installed layout
"$(dirname "$PY")/lint-imports" "$root/pyproject.toml"
