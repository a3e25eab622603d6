# Every target installs what it needs into .venv first, so a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint format wheel-check bench bench-nannyml clean postgres chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/loopwise demo --out demo-output

# The storage tests run against a real PostgreSQL server they start themselves; install it when missing.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing PostgreSQL for the tests"; \
	  bash .ci/apt_install postgresql; \
	fi

# The reviewer workspace's tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@if ! test -x /usr/bin/chromium; then \
	  echo "installing Chromium for the UI tests"; \
	  bash .ci/apt_install chromium; \
	fi

test: $(STAMP) postgres chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Builds the wheel (`pip wheel .`) and the sdist into dist/, installs the wheel into a new virtual environment
# in a temporary folder and runs `loopwise demo` and a server round trip from there (.ci/wheel_check.py).
wheel-check: $(STAMP)
	$(BIN)/python .ci/wheel_check.py

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# BENCH_ROWS=100000 for a quick run; ANCHORS="" to skip the anchor libraries.
BENCH_ROWS ?= 1000000
ANCHORS    ?= whylogs evidently nannyml alibi
bench: $(STAMP) postgres
	$(BIN)/python bench/run.py --rows $(BENCH_ROWS) --anchors "$(ANCHORS)"
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/window.py

# loopwise against NannyML on NannyML's own datasets (issue 14); NannyML gets bench/.venvs/nannyml once.
bench-nannyml: $(STAMP)
	$(BIN)/python bench/nannyml_compare.py --save

clean:
	rm -rf $(VENV) demo-output dist bench/.out .mypy_cache .ruff_cache .pytest_cache
