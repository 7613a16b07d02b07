# NovaDraw backend. The README's two commands:
#   make run    install missing packages, build, serve on the embedded defaults
#   make test   the same set-up, then every test (unit, end-to-end)
# and: make sanitize (the whole suite under ASan+UBSan), make bench, make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
PYTEST     ?= $(PYTHON) -m pytest
MESON_OPTS ?=

.PHONY: all deps s3deps build run test unit e2e sanitize bench format clean

all: build

deps:
	@scripts/deps.sh

# The test S3 server (npm s3rver), pinned by tests/s3/package-lock.json.
S3RVER_STAMP = tests/s3/node_modules/.package-lock.json
$(S3RVER_STAMP): tests/s3/package.json tests/s3/package-lock.json | deps
	npm ci --prefix tests/s3 --no-audit --no-fund --loglevel=error
s3deps: $(S3RVER_STAMP)

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/novadraw serve

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

e2e: build s3deps
	NOVADRAW_BIN=$(CURDIR)/$(BUILD)/novadraw $(PYTEST) -q tests/e2e tests/fakes

test: unit e2e

$(ASAN_BUILD)/build.ninja: | deps
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug $(MESON_OPTS)

# The whole suite against a sanitizer build. Any ASan/UBSan report aborts the
# process, so a server that trips one fails its test.
sanitize: deps s3deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	  meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs
	ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
	LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	NOVADRAW_BIN=$(CURDIR)/$(ASAN_BUILD)/novadraw $(PYTEST) -q tests/e2e

bench: build s3deps
	bench/gallery.sh
	bench/editor.sh
	bench/edits.sh
	MODE=cpu bench/edits.sh
	bench/s3_upload.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
