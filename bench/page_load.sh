#!/usr/bin/env bash
# The web app's first page load (SPEC §13, issue 15): a user with 10,000 drawings,
# a warm server, headless chromium with an empty cache and a session cookie. Prints
# the time to the gallery painted, the requests and bytes before the thumbnails.
#   bench/page_load.sh [DRAWINGS] [RUNS]
# Needs `make build browserdeps`. Binds 127.0.0.1 only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bench/page_load.mjs "${1:-10000}" "${2:-7}"
