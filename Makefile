PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/python -m pip
# Two stamps: `make demo` needs only the runtime dependencies; `make test` adds the test extras
# (pytest, moto, Playwright's Python package, build, xmlschema) on top of them.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test bench clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PIP) install -q -e '.[test]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/upgrade-auditor demo

test: $(TEST_STAMP) chromium
	$(BIN)/ruff check auditor rules tests bench tools
	PY=$(BIN)/python tools/typecheck.sh
	$(BIN)/python -m pytest -q

# The HTML report is tested in Debian's headless Chromium (never a downloaded browser). Without it the
# browser tests (tests/reports/test_report_browser.py) FAIL, they are not skipped: as root with apt-get
# this installs it; otherwise install the `chromium` package yourself.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the HTML report tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "warning: chromium is not installed and cannot be installed here (needs root and apt-get):" \
	         "the browser tests in tests/reports/test_report_browser.py will FAIL; install the chromium package"; \
	  fi; }

bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

# Mutation testing, not part of `make test`: mutmut over auditor/facts, the reconcile engine and rules/ with the fast
# tests that exercise them, then killed/total per module with and without message-only mutants (tools/mutation.py;
# `tools/mutation.py survivors` lists what survived). Its results stay in .mutation/.
MUTATION_CHILDREN ?= 2
.PHONY: mutation
mutation: $(TEST_STAMP)
	@$(BIN)/python -c 'import mutmut' 2>/dev/null || $(PIP) install -q 'mutmut>=3.8,<4'
	$(BIN)/python tools/mutation.py run --max-children $(MUTATION_CHILDREN)

clean:
	rm -rf $(VENV) upgrade-audit build dist *.egg-info .mutation mutants
