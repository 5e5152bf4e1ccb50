# 爱家 — the two commands a newcomer needs:
#   make run    virtualenv, local MariaDB + Redis, migrate, seed, serve on http://127.0.0.1:8000
#   make test   the same services, a throw-away test database, the test suite, then the browser tests
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

# Parallel workers for the unit suite (pytest-xdist); each has its own database and Redis db.
TEST_WORKERS ?= auto

.PHONY: run test test-unit test-e2e test-stress audit services stop migrate seed vendor icons bench bench-pages clean-test-dbs prod-local prod-stop prod-reload messages messages-compile

# The security regression suite: headers on every route, CSP, XSRF, bodies and decodes,
# photo locks and access, outages, durable revocations, lockout, encryption, nginx config.
AUDIT_TESTS := tests/test_security_headers.py tests/test_csp.py tests/test_small_hardening.py \
	tests/test_xsrf.py tests/test_upload_limits.py tests/test_photo_locks.py tests/test_media_access.py \
	tests/test_outage_redis.py tests/test_outage_mysql.py tests/test_revocation.py tests/test_health.py \
	tests/test_lockout.py tests/test_throttle.py tests/test_idcard_encryption.py tests/test_current_user.py \
	tests/test_deploy_config.py

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

run: seed messages-compile
	$(PY) server.py

stop:
	scripts/services.sh stop

test: $(STAMP)
	IHOME_WITH_BROWSER=1 scripts/services.sh start >/dev/null
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-e2e

# In random order (pytest-randomly; the seed is printed, `-p randomly --randomly-seed=N` repeats it).
test-unit: $(STAMP) messages-compile
	$(PY) -m pytest tests --ignore=tests/e2e -q -n $(TEST_WORKERS) --dist loadgroup

# Playwright and pytest-tornado cannot share a process (Playwright's loop breaks
# io_loop.run_sync): a second run without the plugin.
test-e2e: $(STAMP) messages-compile
	$(PY) -m pytest tests/e2e -q -p no:tornado

# The unit suite three times in random order beside a CPU hog per core; reports every failure.
test-stress: $(STAMP)
	IHOME_WITH_BROWSER=1 scripts/services.sh start >/dev/null
	scripts/test-stress.sh

# The security regression tests, the browser CSP check, then the memory benchmark.
audit: $(STAMP)
	IHOME_WITH_BROWSER=1 scripts/services.sh start >/dev/null
	$(PY) -m pytest $(AUDIT_TESTS) -q -n $(TEST_WORKERS) --dist loadgroup
	$(PY) -m pytest tests/e2e/test_csp_browser.py -q -p no:tornado
	$(PY) bench/memory.py

# Translations (services/i18n.py): `make messages` extracts the marked strings of the code and
# templates into locale/messages.pot and merges them into each language's .po; the .mo files
# that the site loads are compiled from the .po files by `make run` and `make test`.
messages: $(STAMP)
	$(PY) scripts/messages.py update

messages-compile: $(STAMP)
	$(PY) scripts/messages.py compile

vendor:
	scripts/vendor.sh

# Only the bootstrap-icons subset (after a template or script uses a new bi-NAME).
icons:
	scripts/vendor.sh icons

# Production-shaped, on loopback: nginx on IHOME_PROD_PORT (8080) in front of IHOME_PROCESSES
# (cores) app processes under supervisord, IHOME_ENV=production, state in var/prod/.
prod-local: $(STAMP)
	scripts/prod.sh start

prod-stop:
	scripts/prod.sh stop

# Restarts the app processes one at a time (out of nginx's rotation first): no request dropped.
prod-reload:
	scripts/prod.sh reload

# Bytes a cold visit of each page kind transfers in Chromium, against the page-weight targets.
bench-pages: $(STAMP) services
	$(PY) bench/page_weight.py

bench: $(STAMP) services
	$(PY) bench/iplookup.py
	$(PY) bench/booking_race.py
	$(PY) bench/pages.py

# Drop throw-away test databases left behind by killed test runs.
clean-test-dbs:
	mariadb --no-defaults --socket=var/run/mysqld.sock -uroot -N -e \
	  "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'ihome\_test%'" \
	  | while read -r db; do mariadb --no-defaults --socket=var/run/mysqld.sock -uroot -e "DROP DATABASE \`$$db\`"; done
