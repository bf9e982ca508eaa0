# Courier Tracking System: `make run` starts the API on the demo database, `make test` runs the suite.
# Both create the virtualenv, install the pinned dependencies and create the database if missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app1

.PHONY: run serve bench test lint format venv env db check-db clean fuzz postman chromium screenshots contract contract-tools

run: venv env check-db  ## Start the API on http://127.0.0.1:5000 with the demo data, and a notification worker
	$(FLASK) init-db
	$(FLASK) worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; $(BIN)/python app1.py

serve: venv env check-db  ## Production-style: gunicorn with gevent workers (see gunicorn.conf.py)
	$(FLASK) init-db
	$(BIN)/gunicorn -c gunicorn.conf.py

bench: venv env check-db  ## Load-test the production server with wrk on 1k and 1M orders; writes bench/RESULTS.md
	$(BIN)/python bench/run.py

test: venv check-db chromium  ## Lint, then run the test suite (browser tests included) against a throwaway database
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The browser tests (tests/browser) drive Debian's Chromium with Playwright; never `playwright install`.
chromium:  ## Install Debian's chromium for the browser tests if /usr/bin/chromium is missing (needs root)
	@test -x /usr/bin/chromium || { \
		echo "Chromium is missing: installing Debian's chromium for the browser tests (apt-get, as root)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null || { \
			echo "Could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

screenshots: venv check-db chromium  ## Run the browser tests and refresh the README's docs/screenshots/*.png
	UPDATE_DOC_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser

fuzz: venv check-db  ## schemathesis against the live /openapi.json as each role, on a throwaway database
	$(BIN)/python -m tools.fuzz

# The contract tools stay out of the runtime install: openapi-python-client in .tools/client-venv, newman and
# Redocly CLI in tools/node/node_modules (npm ci from the committed package-lock.json). Both are git-ignored.
TOOLS_VENV := .tools/client-venv

contract-tools: $(TOOLS_VENV)/.installed tools/node/node_modules/.installed  ## Install the pinned contract tools

$(TOOLS_VENV)/.installed: tools/client-requirements.txt
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/client-requirements.txt
	@touch $@

tools/node/node_modules/.installed: tools/node/package.json tools/node/package-lock.json
	cd tools/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

contract: venv check-db contract-tools  ## Redocly lint, a generated Python client and newman, on a fresh demo server
	$(BIN)/python -m tools.contract

postman: venv  ## Regenerate docs/postman_collection.json from the OpenAPI document
	$(BIN)/python -m tools.postman docs/postman_collection.json

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

env: .env  ## Create .env from .env.example with a freshly generated JWT secret

.env:
	@sed "s|^JWT_SECRET_KEY=.*|JWT_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')|" \
		.env.example > .env
	@echo "Created .env with a new JWT_SECRET_KEY (edit it to change the configuration)."

check-db: venv  ## Say clearly how to start MySQL when it cannot be reached
	@$(BIN)/python -m courier.dbcheck

db: venv env check-db  ## Create the database and schema (and demo data if it is empty)
	$(FLASK) init-db

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
