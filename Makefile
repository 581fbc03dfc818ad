# Two commands for a newcomer: `make run` (the site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run manage test translations browser-tools screenshots bench format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[dev,aliyun]'
	touch $@

# Generated once, kept in var/ (git-ignored), so a newcomer sets nothing.
var/secret_key var/citizen_hash_key:
	umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

# The record's signing key (docs/record.md, Keys): 32 random bytes in base64, made by the code
# that reads it.
var/record_signing_key: | $(VENV)/.installed
	mkdir -p var && umask 077 && $(BIN)/python -m record.signing generate > $@

# Compiled in the build from the .po files in the repository, never by hand.
translations: $(VENV)/.installed
	DJANGO_DEBUG=1 $(BIN)/python manage.py compile_translations --verbosity 0

run: $(VENV)/.installed var/secret_key var/citizen_hash_key var/record_signing_key translations
	export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat var/secret_key)}" && \
	export CITIZEN_HASH_KEY="$${CITIZEN_HASH_KEY:-$$(cat var/citizen_hash_key)}" && \
	export RECORD_SIGNING_KEY="$${RECORD_SIGNING_KEY:-$$(cat var/record_signing_key)}" && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py load_initial_data && \
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0 && \
	exec $(BIN)/gunicorn --config gunicorn.conf.py zibo_vote.wsgi

# A management command with make run's settings and keys, e.g. beside a running `make run`:
#   make manage ARGS="publish_checkpoint"      make manage ARGS="certify_poll reform-experiences"
manage: $(VENV)/.installed var/secret_key var/citizen_hash_key var/record_signing_key
	@export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat var/secret_key)}" && \
	export CITIZEN_HASH_KEY="$${CITIZEN_HASH_KEY:-$$(cat var/citizen_hash_key)}" && \
	export RECORD_SIGNING_KEY="$${RECORD_SIGNING_KEY:-$$(cat var/record_signing_key)}" && \
	$(BIN)/python manage.py $(ARGS)

# axe-core for the accessibility tests, from the npm registry, when npm is there. Without it
# (or without Chromium) the browser tests skip, saying why; CI installs both.
browser-tools:
	@if command -v npm >/dev/null 2>&1; then \
		[ -f node_modules/axe-core/axe.min.js ] || npm ci --no-audit --no-fund --silent; \
	fi

test: $(VENV)/.installed translations browser-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

# The screenshots of docs/voting.md at 360 px, from the browser test's own steps (needs Chromium and
# a CJK font such as Debian's fonts-wqy-microhei).
screenshots: $(VENV)/.installed translations browser-tools
	mkdir -p docs/screenshots
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q tests/test_browser.py \
		-k "final_result and phone"

# The benchmark (bench/run.py): needs PostgreSQL and Redis running, and wrk (apt-get install wrk).
$(VENV)/.installed-bench: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --editable '.[dev,aliyun,bench]'
	touch $@

bench: $(VENV)/.installed-bench translations
	$(BIN)/python -m bench.run $(BENCH_ARGS)

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var/static var/cache
