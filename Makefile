# The two commands of the README: `make run` and `make test`. Both set up .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
# Tests keep their database and files apart from the data of `make run`.
TEST_DATA_DIR ?= $(CURDIR)/var/test

.PHONY: install run test lint migrate clean help

help:
	@echo "make run      set up everything and start mlserve on http://127.0.0.1:8000"
	@echo "make test     set up everything and run the whole test suite"
	@echo "make install  only create/refresh the virtualenv in $(VENV)/"
	@echo "make lint     ruff"

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

run: $(STAMP) migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py ensure_admin
	@echo ""
	@echo "  mlserve is starting on http://$${MLSERVE_BIND:-127.0.0.1:8000}  (Ctrl-C stops the web server and the worker)"
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start

test: $(STAMP)
	@mkdir -p $(TEST_DATA_DIR)
	MLSERVE_DATA_DIR=$(TEST_DATA_DIR) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) staticfiles var/test .pytest_cache
