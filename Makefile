# Sách Nói — two commands on a fresh machine:
#   make run    install everything, ingest the demo session, serve on http://127.0.0.1:8000
#   make test   install everything, run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
APT_PACKAGES := ffmpeg chromium espeak-ng sox nginx libsndfile1 fonts-dejavu-core wrk yaz libmarc-record-perl libmarc-lint-perl epubcheck \
	ceph-mon ceph-osd radosgw ceph-common

.PHONY: run test install system-deps python-deps node-deps vendor bench clean

run: install
	$(BIN)/sachnoi db upgrade
	$(BIN)/sachnoi demo
	$(BIN)/sachnoi serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

install: system-deps python-deps node-deps vendor

# Debian packages the platform and its tests use; installed only when missing (needs root or sudo).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

python-deps: $(BIN)/python
	$(BIN)/pip install -q -e '.[test,neural]'

node_modules/.package-lock.json: package.json package-lock.json
	# @daisy/ace (talking-book checks) pulls puppeteer and electron: their browsers are not downloaded;
	# Ace runs with Debian's Chromium (tests/packaging/test_talking_book_ace.py).
	ELECTRON_SKIP_BINARY_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error

node-deps: node_modules/.package-lock.json

# Front-end files served by the site, copied from the npm packages (not committed).
vendor: node-deps
	mkdir -p web/static/vendor
	cp node_modules/hls.js/dist/hls.min.js node_modules/tus-js-client/dist/tus.min.js \
	   node_modules/axe-core/axe.min.js web/static/vendor/

bench: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules web/static/vendor .pytest_cache

# English catalogue: re-extract the Vietnamese source strings (babel.cfg), merge them into
# web/translations/en/LC_MESSAGES/messages.po (new ones come empty: translate them), report coverage.
.PHONY: translations
translations: python-deps
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --project "Sách Nói" --version 0.1.0 -w 100 \
	   -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations -w 100 \
	   --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d web/translations --statistics
	find web/translations -name '*.mo' -delete
