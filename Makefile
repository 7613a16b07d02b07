# NovaDraw backend. The README's two commands:
#   make run    install missing packages, build, serve on the embedded defaults
#   make test   the same set-up, then every test (unit, OpenAPI, end-to-end), twice: on SQLite,
#               then the db contract and the whole e2e suite on PostgreSQL; and the web
#               app in headless chromium (make browser)
# and: make sanitize (the same two passes under ASan+UBSan), make fuzz (libFuzzer
# targets, clang, FUZZ_SECONDS each), make bench, make clean.
# The PostgreSQL pass (make test-pg) runs on a throwaway cluster that scripts/pg.sh
# creates in /tmp on a free 127.0.0.1 port and removes afterwards, also on failure.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
PYTHON     ?= /usr/bin/python3
PYTEST     ?= $(PYTHON) -m pytest
MESON_OPTS ?=

.PHONY: all deps s3deps openapideps openapi webdeps browserdeps build run test test-pg unit unit-db e2e browser screenshots sanitize sanitize-run fuzz bench format clean

all: build

deps:
	@scripts/deps.sh

# The test S3 server (npm s3rver), pinned by tests/s3/package-lock.json.
S3RVER_STAMP = tests/s3/node_modules/.package-lock.json
$(S3RVER_STAMP): tests/s3/package.json tests/s3/package-lock.json | deps
	npm ci --prefix tests/s3 --no-audit --no-fund --loglevel=error
s3deps: $(S3RVER_STAMP)

# The OpenAPI validator (npm @apidevtools/swagger-parser), pinned by tests/openapi/package-lock.json.
OPENAPI_STAMP = tests/openapi/node_modules/.package-lock.json
$(OPENAPI_STAMP): tests/openapi/package.json tests/openapi/package-lock.json | deps
	npm ci --prefix tests/openapi --no-audit --no-fund --loglevel=error
openapideps: $(OPENAPI_STAMP)

# docs/openapi.json against the OpenAPI 3.1 schema (the e2e suite compares it with the routes)
openapi: openapideps
	node tests/openapi/validate.js docs/openapi.json

# Swagger UI (npm swagger-ui-dist), compiled into the binary for GET /docs; pinned by
# swagger/package-lock.json. The build needs no network once swagger/node_modules is there.
SWAGGER_STAMP = swagger/node_modules/.package-lock.json
$(SWAGGER_STAMP): swagger/package.json swagger/package-lock.json | deps
	npm ci --prefix swagger --no-audit --no-fund --loglevel=error
webdeps: $(SWAGGER_STAMP)

# The browser tests' driver (npm playwright-core; it downloads no browser: Debian's
# chromium from deps.sh), pinned by tests/browser/package-lock.json.
BROWSER_STAMP = tests/browser/node_modules/.package-lock.json
$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json | deps
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
browserdeps: $(BROWSER_STAMP)

$(BUILD)/build.ninja: | deps webdeps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps webdeps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/novadraw serve

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

# the database contract alone (on PostgreSQL too when NOVADRAW_TEST_DATABASE_URL is set)
unit-db: build
	meson test -C $(BUILD) --suite unit --print-errorlogs db

# on SQLite, or on PostgreSQL when NOVADRAW_TEST_DATABASE_URL is set (tests/e2e/conftest.py)
e2e: build s3deps
	NOVADRAW_BIN=$(CURDIR)/$(BUILD)/novadraw $(PYTEST) -q tests/e2e tests/fakes

# the web app (SPEC §13) in headless chromium, desktop and 375 px; its screenshots go
# to $(BUILD)/screenshots/ (make screenshots: the same run, into docs/screenshots/)
SCREENSHOTS_DIR ?= $(CURDIR)/$(BUILD)/screenshots
browser: build browserdeps
	cd tests/browser && NOVADRAW_BIN=$(CURDIR)/$(BUILD)/novadraw \
	  SCREENSHOTS_DIR=$(SCREENSHOTS_DIR) node --test --test-concurrency=1

screenshots:
	$(MAKE) --no-print-directory browser SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots

test-pg: build
	@echo "== PostgreSQL pass: db contract and end-to-end suite"
	scripts/pg.sh run $(MAKE) --no-print-directory unit-db e2e

test: unit openapi e2e browser test-pg

$(ASAN_BUILD)/build.ninja: | deps webdeps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug $(MESON_OPTS)

# The whole suite against a sanitizer build, on SQLite then on PostgreSQL (the db
# contract and e2e). Any ASan/UBSan report aborts the process, so a server that
# trips one fails its test.
sanitize: deps s3deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	$(MAKE) --no-print-directory sanitize-run
	@echo "== PostgreSQL pass under ASan+UBSan: db contract and end-to-end suite"
	scripts/pg.sh run $(MAKE) --no-print-directory sanitize-run UNIT_TESTS=db

# UNIT_TESTS: which unit tests (default: all)
sanitize-run:
	ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	  meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs $(UNIT_TESTS)
	ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	NOVADRAW_BIN=$(CURDIR)/$(ASAN_BUILD)/novadraw $(PYTEST) -q tests/e2e

# The libFuzzer targets (tests/fuzz, SPEC §15) in their own clang build, every source
# instrumented, ASan+UBSan; each runs FUZZ_SECONDS from its seed corpus (scripts/fuzz.sh).
# The gcc build's unit suite replays the corpora and tests/fuzz/regressions/ (fuzz_*).
$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized $(MESON_OPTS)

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz_,$(FUZZ_TARGETS))
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

FUZZ_TARGETS = http multipart json query jwt tokens dotenv sigv4 prompt ingest audio

# every benchmark; the gallery on SQLite, then on a throwaway PostgreSQL cluster
bench: build s3deps
	bench/gallery.sh
	bench/gallery.sh --pg
	bench/editor.sh
	bench/edits.sh
	MODE=cpu bench/edits.sh
	bench/s3_upload.sh
	bench/page_load.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
