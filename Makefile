# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install system-deps clean bench bench-alerts bench-sink dashboards generated

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
	$(BIN)/python -m pytest -q -ra -n 2 --dist loadfile

## bench: probe engine side by side with blackbox_exporter (bench/probe_engine.py); table in docs/PERFORMANCE.md
bench: $(STAMP) system-deps
	$(BIN)/python bench/probe_engine.py

## bench-alerts: the full simulated month of bench/alert_quality.py (about 40 minutes on 2 cores), detection times over 16 hard
## outages and 8 of each partial and latency incident (10 days, about 8 minutes), then false pages with one region at
## background failure rates of 0.5-3 % (10 days each, about 6 minutes each); tables in docs/ALERTING.md
bench-alerts: $(STAMP) system-deps
	$(BIN)/python bench/alert_quality.py --out bench/out/alert_quality.json
	$(BIN)/python bench/alert_quality.py --days 10 --hards 4 --partials 4 --latencies 4 --out bench/out/alert_detection.json
	$(BIN)/python bench/alert_quality.py --noise-levels 0.005,0.01,0.02,0.03 --days 10 --regions default --out bench/out/alert_noise_1region.json

## bench-sink: bytes per row and targets that fit Supabase's free 500 MB (bench/sink_capacity.py)
bench-sink: $(STAMP) system-deps
	$(BIN)/python bench/sink_capacity.py --rows 1000000

## dashboards: regenerate grafana/provisioning/dashboards/json/ from grafana/dashboards.py
dashboards:
	$(PYTHON) grafana/dashboards.py

## generated: everything made from prometheus/rules/ and grafana/dashboards.py (dashboards, the Kubernetes
## PrometheusRule, the mixin's rules.json); the tests fail when one is stale
generated: dashboards
	$(PYTHON) deploy/kubernetes/generate.py
	$(PYTHON) mixin/generate.py
	$(PYTHON) prometheus/vmalert/generate.py

system-deps:
	@./scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) .pytest_cache
