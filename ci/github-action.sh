#!/usr/bin/env bash
# The shell steps of the GitHub Actions composite action (action.yml), kept here so they can be tested.
#
#   github-action.sh install   install the tool from the action's own checkout (the repository and ref `uses:`
#                              names); INPUT_VERSION, when set, is what pip installs instead (a path, or a git URL
#                              pinned to a commit: the tool is not published on PyPI)
#   github-action.sh run       run `upgrade-auditor COMMAND ARGS...`, append report.md to $GITHUB_STEP_SUMMARY,
#                              write outputs to $GITHUB_OUTPUT; always exits 0 so the reports get uploaded.
#                              The Markdown, JSON and JUnit reports are always written (the summary, the outputs
#                              and the test report read them), whatever INPUT_FORMAT adds
#   github-action.sh gate      fail the step with the tool's exit code (1: findings at or above --fail-on,
#                              or not converged for verify; 2: usage/input error; 3: could not collect)
#
# Inputs come as environment variables (action.yml maps `with:` to them): INPUT_COMMAND (audit | compare |
# verify), INPUT_ARGS (the arguments, split like a shell would, never evaluated), INPUT_OUTPUT_DIR,
# INPUT_FAIL_ON, INPUT_BASELINE, INPUT_FORMAT, INPUT_VERSION. The gate step reads EXIT_CODE.
set -euo pipefail

phase="${1:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${INPUT_OUTPUT_DIR:-upgrade-audit}"

output() {  # name value -> $GITHUB_OUTPUT (multi-line safe)
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s<<__UA_EOF__\n%s\n__UA_EOF__\n' "$1" "$2" >> "$GITHUB_OUTPUT"
  fi
}

summary() {  # text -> $GITHUB_STEP_SUMMARY
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s\n' "$1" >> "$GITHUB_STEP_SUMMARY"
  fi
}

case "$phase" in
  install)
    python3 -m pip install --quiet --disable-pip-version-check "${INPUT_VERSION:-$here}"
    upgrade-auditor --version
    ;;

  run)
    command="${INPUT_COMMAND:-audit}"
    case "$command" in
      audit|compare|verify) ;;
      *) echo "::error::command must be audit, compare or verify, not '$command'"; output exit-code 2; exit 0 ;;
    esac
    # Split INPUT_ARGS like a shell (quotes honoured) without evaluating it: no command substitution.
    args=()
    while IFS= read -r -d '' a; do args+=("$a"); done < <(
      python3 -c 'import shlex, sys; sys.stdout.write("".join(a + "\0" for a in shlex.split(sys.argv[1])))' \
        "${INPUT_ARGS:-}")
    extra=(--output-dir "$out_dir" --format "${INPUT_FORMAT:-html},md,json,junit")
    [ -n "${INPUT_FAIL_ON:-}" ] && extra+=(--fail-on "$INPUT_FAIL_ON")
    [ -n "${INPUT_BASELINE:-}" ] && extra+=(--baseline "$INPUT_BASELINE")
    set +e
    upgrade-auditor "$command" "${args[@]}" "${extra[@]}"
    code=$?
    set -e
    output exit-code "$code"
    output report-dir "$out_dir"
    if [ -f "$out_dir/report.junit.xml" ] && [ "$code" -le 1 ]; then  # exit 2 or 3 writes no report
      output junit-file "$out_dir/report.junit.xml"
    fi
    if [ -f "$out_dir/report.md" ] && [ "$code" -le 1 ]; then
      cat "$out_dir/report.md" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
    else
      summary "### ❌ eks-upgrade-auditor $command could not run (exit $code); see the step log"
    fi
    if [ -f "$out_dir/report.json" ] && [ "$code" -le 1 ]; then
      # counts for later steps: error, warning, info, suppressed (and new, known, fixed with a baseline)
      while IFS='=' read -r k v; do output "$k" "$v"; done < <(python3 - "$out_dir/report.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["summary"]
for k, v in summary.items():
    print(f"{k}={str(v).lower() if isinstance(v, bool) else v}")
PY
      )
    fi
    output passed "$([ "$code" -eq 0 ] && echo true || echo false)"
    ;;

  gate)
    code="${EXIT_CODE:-2}"
    case "$code" in
      0) echo "eks-upgrade-auditor: passed" ;;
      1) echo "::error title=eks-upgrade-auditor::findings at or above --fail-on (or not converged); see the job summary and the report artifact" ;;
      3) echo "::error title=eks-upgrade-auditor::could not read the cluster or AWS (exit 3)" ;;
      *) echo "::error title=eks-upgrade-auditor::usage, input or config error (exit $code); see the step log" ;;
    esac
    exit "$code"
    ;;

  *)
    echo "usage: $0 install|run|gate" >&2
    exit 2
    ;;
esac
