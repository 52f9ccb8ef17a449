# Two commands for a newcomer: `make run` (the product) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint venv dev clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# The charting library, installed from the npm registry (package-lock.json pins it).
# Without npm the product still runs; the charts then say so instead of drawing.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null && npm ci --no-audit --no-fund \
	  || echo "npm not found: install Node.js for the charts (everything else works without it)"

venv: $(VENV)/.runtime node_modules/.package-lock.json
dev: $(VENV)/.dev node_modules/.package-lock.json

## Run the product: web + worker + beat + simulator + hubs on embedded defaults (a private PostgreSQL
## from a wheel and a private Redis; data in .run/, kept between runs).
run: venv
	bin/run

## Run the whole test suite against the machine's PostgreSQL and Redis.
test: dev
	bin/conformance-venv
	bin/test

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	[ ! -d .run/postgres ] || $(PY) bin/embedded-postgres stop .run/postgres
	rm -rf .run
