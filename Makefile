# climatelake — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-quick test-reliability soak lint bench clean

$(STAMP): pyproject.toml package.json
	@command -v node >/dev/null || { echo "Node.js 20+ and npm are needed for Azurite: install them first (e.g. apt-get install nodejs npm)."; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[local,dev]'
	npm install --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

## Start the whole local stack with sample data and a demo request; Ctrl-C stops it.
run: install
	$(PY) -m emulators.stack up --demo

## The whole suite (starts and stops every part it needs), but for the minutes-long load test (R4).
test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not load"

## The reliability suite (tests/reliability/: kills, restarts, idling, and the R4 load test).
## RELIABILITY=load runs only what `make test` leaves out (as .ci/run does).
RELIABILITY ?= reliability
test-reliability: install
	$(PY) -m pytest -q -rA -m "$(RELIABILITY)" tests/reliability

## A soak of the whole local stack, not in CI: `make soak MINUTES=30` prints a table a minute.
MINUTES ?= 5
soak: install
	$(PY) bench/soak.py --minutes $(MINUTES)

## Quick loop: unit and contract tests, no end-to-end stack.
test-quick: install
	$(PY) -m pytest -q -m "not stack"

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/hadolint Dockerfile emulators/Dockerfile

## Every benchmark; each prints its figures beside a bare baseline measured in the same run.
bench: install
	$(PY) bench/e2e_latency.py
	$(PY) bench/gateway_latency.py
	$(PY) bench/workspace_latency.py
	$(PY) bench/lineage_query.py
	$(PY) bench/eventgrid_throughput.py
	$(PY) bench/weather_pipeline.py
	$(PY) bench/pii_encrypt.py
	$(PY) bench/sharing_read.py

clean:
	rm -rf .local

## Build the gateway image with podman and smoke-test it against the local stack (root, Debian; CI runs it).
.PHONY: container-test
container-test: install
	$(PY) scripts/container_smoke.py
