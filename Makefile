PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean chromium

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/upgrade-auditor demo

test: $(STAMP) chromium
	$(BIN)/ruff check auditor rules tests bench tools
	PY=$(BIN)/python tools/typecheck.sh
	$(BIN)/python -m pytest -q

# The HTML report is tested in Debian's headless Chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: chromium is not installed and cannot be installed here; the browser tests will be skipped"; \
	  fi; }

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) upgrade-audit build dist *.egg-info
