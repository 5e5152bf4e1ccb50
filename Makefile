# 爱家 — the two commands a newcomer needs:
#   make run    virtualenv, local MariaDB + Redis, migrate, seed, serve on http://127.0.0.1:8000
#   make test   the same services, a throw-away test database, the test suite, then the browser tests
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-e2e services stop migrate seed vendor bench clean-test-dbs

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $(STAMP)

venv: $(STAMP)

services:
	scripts/services.sh start >/dev/null

migrate: $(STAMP) services
	$(PY) manage.py wait-db --timeout 60
	$(PY) manage.py migrate

seed: migrate
	$(PY) manage.py seed

run: seed
	$(PY) server.py

stop:
	scripts/services.sh stop

test: $(STAMP)
	IHOME_WITH_BROWSER=1 scripts/services.sh start >/dev/null
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-e2e

test-unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/e2e -q

# Playwright and pytest-tornado cannot share a process (STYLE.md): a second run without the plugin.
test-e2e: $(STAMP)
	$(PY) -m pytest tests/e2e -q -p no:tornado

vendor:
	scripts/vendor.sh

bench: $(STAMP) services
	$(PY) bench/iplookup.py
	$(PY) bench/booking_race.py
