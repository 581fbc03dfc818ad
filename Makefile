# Two commands for a newcomer: `make run` (the site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[dev,aliyun]'
	touch $@

# Generated once, kept in var/ (git-ignored), so a newcomer sets nothing.
var/secret_key var/citizen_hash_key:
	umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

run: $(VENV)/.installed var/secret_key var/citizen_hash_key
	export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat var/secret_key)}" && \
	export CITIZEN_HASH_KEY="$${CITIZEN_HASH_KEY:-$$(cat var/citizen_hash_key)}" && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py load_initial_data && \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0 && \
	exec $(BIN)/gunicorn --config gunicorn.conf.py zibo_vote.wsgi

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var/static var/cache
