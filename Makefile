# Courier Tracking System: `make run` starts the API on the demo database, `make test` runs the suite.
# Both create the virtualenv and the database if missing; `make run` installs the runtime packages only
# (requirements.txt), `make test` also the test, lint, fuzz and browser tools (requirements-dev.txt).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app1

.PHONY: run serve bench bench-dispatch test lint format venv venv-dev env db check-db clean fuzz postman chromium \
	test-tools screenshots cluster cluster-stop haproxy bench-cluster image image-test \
	podman contract contract-tools

run: venv env check-db  ## Start the API on http://127.0.0.1:5000 with the demo data, and a notification worker
	$(FLASK) init-db
	$(FLASK) worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; $(BIN)/python app1.py

serve: venv env check-db  ## Production-style: gunicorn with gevent workers (see gunicorn.conf.py)
	$(FLASK) init-db
	$(BIN)/gunicorn -c gunicorn.conf.py

cluster: venv env check-db haproxy  ## HAProxy on :8080 in front of two gunicorn nodes and two workers (one MySQL, one Redis)
	$(FLASK) init-db
	$(BIN)/python -m tools.cluster start

cluster-stop:  ## Stop what `make cluster` started
	@$(or $(wildcard $(BIN)/python),$(PYTHON)) -m tools.cluster stop

bench-cluster: venv env check-db haproxy  ## wrk: one node against two behind HAProxy, in one run; writes bench/CLUSTER.md
	$(BIN)/python bench/cluster.py

# HAProxy comes from Debian; the cluster and its tests need it.
haproxy:  ## Install Debian's haproxy if it is missing (needs root)
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { \
		test "$$(id -u)" = 0 || { echo "HAProxy is missing: run 'apt-get install haproxy' as root, then try again"; exit 1; }; \
		echo "HAProxy is missing: installing Debian's haproxy (apt-get, as root)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -o DPkg::Lock::Timeout=300 -y -qq haproxy >/dev/null || { \
			echo "Could not install haproxy: run 'apt-get install haproxy' as root"; exit 1; }; }

bench: venv env check-db  ## Load-test the production server with wrk on 1k and 1M orders; writes bench/RESULTS.md
	$(BIN)/python bench/run.py
	$(BIN)/python bench/dispatch.py

bench-dispatch: venv env  ## Dispatch quality and speed only: VROOM versus nearest neighbour, 200 and 1,000 orders
	$(BIN)/python bench/dispatch.py

test: venv-dev check-db chromium test-tools haproxy  ## Lint, then run the test suite (browser tests included) against a throwaway database
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadscope

# The browser tests (tests/browser) drive Debian's Chromium with Playwright; never `playwright install`.
chromium:  ## Install Debian's chromium for the browser tests if /usr/bin/chromium is missing (needs root)
	@test -x /usr/bin/chromium || { \
		echo "Chromium is missing: installing Debian's chromium for the browser tests (apt-get, as root)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null || { \
			echo "Could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

# The container image (Dockerfile), built with podman on a Debian base made by debootstrap (no registry needed).
podman:  ## Install Debian's podman, buildah, runc, debootstrap and the CNI plugins if podman is missing (root)
	@command -v podman >/dev/null && command -v debootstrap >/dev/null || { \
		echo "podman is missing: installing Debian's podman, buildah, runc and debootstrap (apt-get, as root)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends podman buildah runc conmon \
			containernetworking-plugins golang-github-containernetworking-plugin-dnsname debootstrap \
			iptables iproute2 >/dev/null || { echo "Could not install podman: apt-get install podman"; exit 1; }; }

image: podman  ## Build the image localhost/courier-tracking:latest with podman (IMAGE=name:tag to change it)
	container/build.sh

image-test: venv-dev podman check-db  ## Build the image and run it against this machine's MariaDB and Redis
	$(BIN)/pytest -q -p no:randomly -p no:cacheprovider container/test_image.py -s

# Debian tools the tests use: zbar (pyzbar reads the labels' barcodes back), curl (the README's examples run as a
# test) and openssl (a test certificate for SMTP over TLS). Never skipped: installed when missing.
test-tools:  ## Install Debian's libzbar0, curl and openssl for the tests if any is missing (needs root)
	@missing=""; \
	ldconfig -p | grep -q 'libzbar\.so\.0' || missing="$$missing libzbar0"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -z "$$missing" ] || { \
		echo "Installing Debian's$$missing for the tests (apt-get, as root)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq $$missing >/dev/null || { \
			echo "Could not install$$missing: run 'apt-get install$$missing' as root"; exit 1; }; }

screenshots: venv-dev check-db chromium  ## Run the browser tests and refresh the README's docs/screenshots/*.png
	UPDATE_DOC_SCREENSHOTS=1 $(BIN)/pytest -q tests/browser

fuzz: venv-dev check-db  ## schemathesis against the live /openapi.json as each role, on a throwaway database
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

contract: venv-dev check-db contract-tools  ## Redocly lint, a generated Python client and newman, on a fresh demo server
	$(BIN)/python -m tools.contract

postman: venv-dev  ## Regenerate docs/postman_collection.json from the OpenAPI document
	$(BIN)/python -m tools.postman docs/postman_collection.json

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

venv: $(VENV)/.installed  ## The runtime packages (requirements.txt)

venv-dev: $(VENV)/.installed-dev  ## The runtime packages and the test, lint, fuzz and browser tools

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

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
