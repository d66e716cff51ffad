# The two commands of the README: `make run` and `make test`. Both set up .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the runtime packages only (requirements.txt); tests and lint add the tools
# in requirements-dev.txt. Each stamp names the content of its files, so an edit reinstalls.
RUN_STAMP := $(VENV)/.installed-run-$(shell cat requirements.txt | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
# The translations: each locale/*/LC_MESSAGES/*.po is compiled to its .mo at install (not committed).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
# Tests keep their database and files apart from the data of `make run`.
TEST_DATA_DIR ?= $(CURDIR)/var/test

# The scale-out configuration: PostgreSQL (psycopg 3) and Redis (cache and django-q2 broker).
SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mlserve
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install messages run test test-scale test-faults test-cluster services bench lint migrate clean help

help:
	@echo "make run      set up everything and start mlserve on http://127.0.0.1:8000"
	@echo "make test     set up everything and run the whole test suite"
	@echo "make test-scale  the same suite on PostgreSQL + Redis (started here if they are stopped)"
	@echo "make test-faults  kill, stop, lock and fill what mlserve runs on (real processes), on SQLite then PostgreSQL + Redis"
	@echo "make test-cluster  two nodes (own data dir, gunicorn, qcluster, runners) sharing PostgreSQL, Redis and S3, behind nginx"
	@echo "make bench    mlserve against MLflow and a bare-WSGI ceiling; writes docs/BENCHMARKS.md"
	@echo "make install  only create/refresh the virtualenv in $(VENV)/ (runtime packages)"
	@echo "make lint     ruff"

$(RUN_STAMP): requirements.txt
	@command -v bwrap >/dev/null 2>&1 || { echo "mlserve runs every model in a bubblewrap sandbox: install it first (Debian/Ubuntu: apt-get install bubblewrap), or set MLSERVE_SANDBOX=off only if every uploader is trusted." >&2; [ "$$MLSERVE_SANDBOX" = off ] || exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.installed-run-*
	@touch $(RUN_STAMP)

$(DEV_STAMP): requirements.txt requirements-dev.txt
	@command -v bwrap >/dev/null 2>&1 || { echo "mlserve runs every model in a bubblewrap sandbox: install it first (Debian/Ubuntu: apt-get install bubblewrap), or set MLSERVE_SANDBOX=off only if every uploader is trusted." >&2; [ "$$MLSERVE_SANDBOX" = off ] || exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-run-* $(VENV)/.installed-dev-*
	@touch $(RUN_STAMP) $(DEV_STAMP)

# gettext's msgfmt, as Django's compilemessages runs it (--check-format: a placeholder lost in a translation fails here).
%.mo: %.po
	@command -v msgfmt >/dev/null 2>&1 || { echo "mlserve's pages speak English and Chinese: compiling the translations needs gettext's msgfmt (Debian/Ubuntu: apt-get install gettext)." >&2; exit 1; }
	@msgfmt --check-format -o $@ $<

messages: $(MO_FILES)

install: $(RUN_STAMP) messages

migrate: $(RUN_STAMP) messages
	$(BIN)/python manage.py migrate --noinput

# Migrates quietly, checks the port (MLSERVE_BIND), then nginx (when installed) in front of
# gunicorn, and the worker, under honcho; prints where everything is; Ctrl-C stops it all.
run: $(RUN_STAMP) messages
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python manage.py serve

test: $(DEV_STAMP) messages
	@mkdir -p $(TEST_DATA_DIR)
	MLSERVE_DATA_DIR=$(TEST_DATA_DIR) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Start the local PostgreSQL and Redis when they are not answering (the machines' standard commands).
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "PostgreSQL or Redis did not come up" >&2; exit 1

test-scale: $(DEV_STAMP) messages services
	@mkdir -p $(TEST_DATA_DIR)-scale
	DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) MLSERVE_DATA_DIR=$(TEST_DATA_DIR)-scale \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# The fault suite (tests/faults, marker `faults`, left out of `make test`): real processes killed
# with -9, stopped with SIGTERM, a database locked for 15 s, a full disk, a Redis slot leak. On SQLite,
# then on PostgreSQL + Redis (the modules that are about SQLite skip there, those about Redis skip on SQLite).
test-faults: $(DEV_STAMP) messages services
	@mkdir -p $(TEST_DATA_DIR)-faults $(TEST_DATA_DIR)-faults-scale
	MLSERVE_DATA_DIR=$(TEST_DATA_DIR)-faults $(BIN)/python -m pytest tests/faults -m faults -n 0 $(PYTEST_ARGS)
	DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) MLSERVE_DATA_DIR=$(TEST_DATA_DIR)-faults-scale \
	  $(BIN)/python -m pytest tests/faults/test_task_delivery.py tests/faults/test_redis_slots.py -m faults -k "not retry" -n 0 $(PYTEST_ARGS)

# Two nodes on this machine sharing only PostgreSQL, Redis (db 14) and an S3 server (moto) that
# the test starts, with nginx in front: tests/cluster/. Ports 18200-18299.
test-cluster: $(DEV_STAMP) messages services
	@mkdir -p $(TEST_DATA_DIR)-cluster
	MLSERVE_DATA_DIR=$(TEST_DATA_DIR)-cluster $(BIN)/python -m pytest tests/cluster -m cluster -n 0 -v $(PYTEST_ARGS)

bench: $(DEV_STAMP) messages
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) staticfiles var/test .pytest_cache $(MO_FILES)
