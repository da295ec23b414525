# Tailor: `make demo` serves the demo with nothing installed; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SERVICES_DIR ?= var/services

.PHONY: demo test lint services services-down bench clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Serving the demo on http://127.0.0.1:$(PORT)/  (admin: http://127.0.0.1:$(PORT)/admin/)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Lint and type-check, then two suites side by side (devtools/suites.py; the first streams, the second
# prints when done): the whole suite on the embedded default (SQLite, in-process cache; integration
# tests start their own PostgreSQL, Redis, gunicorn and Celery), and the database tests again on a real
# PostgreSQL with Redis as the cache, with the fuzz suite (PostgreSQL refuses text SQLite stores).
# The simulated-traffic learning tests run once: the learning loop is the same on either database,
# and the integration tests drive it on PostgreSQL and Redis.
test: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m devtools.suites \
		::: $(PY) -m pytest \
		::: env DEBUG=1 CELERY_BROKER_URL= $(PY) -m devtools.services run -- $(PY) -m pytest -q -m "not integration and not browser and not simulation" tests/content tests/personalization tests/tracking tests/fuzz

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

services: $(VENV)/.runtime
	$(PY) -m devtools.services up --dir $(SERVICES_DIR)

services-down:
	$(PY) -m devtools.services down --dir $(SERVICES_DIR)

bench: $(VENV)/.dev
	$(PY) bench/decide.py
	$(PY) bench/render.py

clean:
	rm -rf $(VENV) var
