#!/usr/bin/env bash
# The local editor's speed on a 2048x2048 drawing (the benchmark drawing of
# bench/edits.py): the edit itself (pixels in, pixels out) and file to file
# (PNG in, PNG out). Builds nothing: expects build/editor_bench.
#   bench/editor.sh ["PROMPT"] [SIDE]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPT=${1:-make it colorful}
SIDE=${2:-2048}
tmp=$(mktemp --suffix=.png)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 -c "import sys; sys.path.insert(0, 'bench'); import edits; \
open(sys.argv[1], 'wb').write(edits.drawing_png(int(sys.argv[2])))" "$tmp" "$SIDE"
echo "$(nproc) cores; one edit at a time"
build/editor_bench "$tmp" "$PROMPT" 15
