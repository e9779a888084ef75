# Runwright developer commands. `make demo` and `make test` are the two a new
# user runs; everything else is for the inner loop.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed

.PHONY: help install lint typecheck crds check-crds test test-unit test-integration \
        demo demo-local bench bench-engine bench-operator bench-triggers bench-archive clean \
        dashboards check-dashboards reasons check-reasons apidocs check-apidocs operator-lock \
        plugindocs check-plugindocs bench-cli bench-invalid bench-scale bench-server bench-bigdag

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install runwright with its dev tools

lint: $(STAMP) ## ruff over code, tests and scripts
	$(BIN)/ruff check operator tests hack runner-image
	$(BIN)/ruff format --check operator tests hack runner-image

typecheck: $(STAMP) ## mypy --strict over the package (and the dashboard generator, the runner SDK)
	$(BIN)/mypy
	$(BIN)/mypy --strict hack/dashboards.py hack/reasons.py hack/apidocs.py runner-image/runwright_sdk.py

crds: $(STAMP) ## regenerate crds/ (and the chart's copy) from the models
	$(PY) -m runwright.api.crdgen --out crds --out charts/runwright/crds

check-crds: $(STAMP) ## fail when crds/ (or the chart's copy) is stale against the models
	$(PY) -m runwright.api.crdgen --out crds --out charts/runwright/crds --check

dashboards: $(STAMP) ## regenerate the chart's Grafana dashboards (charts/runwright/dashboards/)
	$(PY) hack/dashboards.py

check-dashboards: $(STAMP) ## fail when the committed dashboards are stale against hack/dashboards.py
	$(PY) hack/dashboards.py --check

reasons: $(STAMP) ## regenerate docs/reasons.md from runwright.engine.reasons
	$(PY) hack/reasons.py

check-reasons: $(STAMP) ## fail when docs/reasons.md is stale against the vocabulary
	$(PY) hack/reasons.py --check

apidocs: $(STAMP) ## regenerate docs/api.md (the API reference) from the models
	$(PY) hack/apidocs.py

check-apidocs: $(STAMP) ## fail when docs/api.md is stale against the models
	$(PY) hack/apidocs.py --check

plugindocs: $(STAMP) ## regenerate docs/kubectl-plugin.md from the kubectl plugin's parser
	$(PY) -m runwright.cli.plugin.reference

check-plugindocs: $(STAMP) ## fail when docs/kubectl-plugin.md is stale against the plugin's parser
	$(PY) -m runwright.cli.plugin.reference --check

operator-lock: ## re-pin operator/requirements.lock (the operator image's dependencies) from pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet .
	{ echo "# The operator image's pinned dependencies: \`make operator-lock\` rewrites this file"; \
	  echo "# (pip freeze of a fresh venv with \`pip install .\`). Do not edit."; \
	  .lock-venv/bin/pip freeze --exclude runwright; } > operator/requirements.lock
	rm -rf .lock-venv

test-unit: $(STAMP) ## the fast inner loop: unit tests only
	$(BIN)/pytest -q tests/unit

test: lint typecheck check-crds check-dashboards check-reasons check-apidocs check-plugindocs $(if $(shell command -v go 2>/dev/null),tools) ## lint, type check, CRD staleness, unit and integration tests (builds the cluster tools when Go is present)
	$(BIN)/pytest -q tests/unit tests/integration

demo-local: $(STAMP) ## run every example pipeline locally with the live progress view
	@for f in $$(grep -l '^kind: Pipeline$$' examples/*.yaml); do \
	  echo; echo "== runwright run $$f"; \
	  $(BIN)/runwright run $$f; rc=$$?; \
	  echo "   exit status $$rc"; \
	done

demo: $(STAMP) ## the examples run by the operator on the local control plane (needs Go once to build it)
	$(PY) hack/demo.py

bench-engine: $(STAMP) ## time one plan() call for DAGs of 10 to 5,000 blocks
	$(PY) tests/bench/bench_engine.py

bench-operator: $(STAMP) ## the operator (a subprocess) per executor (pod, job) on the local control plane, or RUNWRIGHT_TEST_KUBECONFIG's: 60 diamond runs (20 in flight), 300 one-block runs (50 in flight); step ready→next pod, runs/min, writes, reconciles, CPU per run
	$(PY) tests/bench/bench_operator.py $(BENCH_OPERATOR_ARGS)

bench-scale: $(STAMP) ## the operator with 1,000 / 5,000 / 10,000 finished runs: restart to first Job, RSS per run; a 2,000-run drain under pipelineRunLimit 5 (rate, order)
	$(PY) tests/bench/bench_scale.py $(BENCH_SCALE_ARGS)

.PHONY: bench-fanout
bench-fanout: $(STAMP) ## a 5,000-item forEach run on the local control plane: time to finish, the PipelineRun's size
	$(PY) tests/bench/bench_fanout.py $(BENCH_FANOUT_ARGS)
.PHONY: bench-bigdag
bench-bigdag: $(STAMP) ## a 1,000-block Pipeline (10 layers of 100, fan-in 5) run by the operator on the local control plane: wall time, reconciles, writes, the PipelineRun object's size
	$(PY) tests/bench/bench_bigdag.py $(BENCH_BIGDAG_ARGS)

bench-triggers: $(STAMP) ## 100 Schedule triggers firing every minute for 5 minutes: fire→run lag, missed/doubled fires
	$(PY) tests/bench/bench_triggers.py $(BENCH_TRIGGERS_ARGS)

bench-archive: $(STAMP) ## the run archive on SQLite and PostgreSQL: 1,000,000 runs, first-page query p50/p95, write latency
	$(PY) tests/bench/bench_archive.py $(BENCH_ARCHIVE_ARGS)

bench-server: $(STAMP) ## the web server: first page of 10,000 live + 1,000,000 archived runs, p50/p95; with BENCH_SERVER_ARGS=--kubeconfig K, phase change to the live stream for 200 runs
	$(PY) tests/bench/bench_server.py $(BENCH_SERVER_ARGS)

bench-cli: $(STAMP) ## `kubectl runwright list` first page over 10,000 runs in the cluster and 1,000,000 archived (own control plane)
	$(PY) tests/bench/bench_cli.py $(BENCH_CLI_ARGS)

bench-invalid: $(STAMP) ## 500 invalid objects against the operator (a subprocess): refused at apply, Ready=False, its peak RSS, any traceback
	$(PY) tests/bench/bench_invalid.py $(BENCH_INVALID_ARGS)

bench: bench-engine bench-operator bench-triggers bench-archive bench-invalid ## every benchmark; figures, not assertions

clean: ## remove caches and the venv (not the tool cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

-include hack/cluster.mk
