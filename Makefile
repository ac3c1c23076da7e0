# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(STAMP)

## demo: the exporter against the built-in simulator with a scripted incident (Ctrl-C stops it)
demo: $(STAMP)
	$(BIN)/healthboard demo

## test: install what the suite needs (Python packages, Prometheus tooling), then run the whole suite
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -ra

system-deps:
	@./scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) .pytest_cache
