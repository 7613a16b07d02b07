#!/usr/bin/env bash
# Times each of the local editor's operations on a 2048x2048 drawing (the benchmark
# drawing of bench/edits.py), one at a time, with build/editor_bench: the edit itself
# (pixels in, pixels out) and file to file (PNG in, PNG out), median and best of RUNS runs.
# Prints a Markdown table. Builds nothing: expects build/editor_bench.
#   bench/editor_ops.sh [RUNS] [SIDE] [OPERATION...]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIDE=${2:-2048}
shift $(($# > 2 ? 2 : $#))
if [ $# -gt 0 ]; then
    ops=("$@")
else
    ops=("less colorful" "less contrast" "vintage" "painting" "vignette" "frame" "snow"
         "dreamy" "pop" "cartoon" "crop" "sunset")
fi
tmp=$(mktemp --suffix=.png)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 -c "import sys; sys.path.insert(0, 'bench'); import edits; \
open(sys.argv[1], 'wb').write(edits.drawing_png(int(sys.argv[2])))" "$tmp" "$SIDE"
echo "$(nproc) cores, ${SIDE}x${SIDE} RGB, median of $RUNS runs"
echo
echo "| Operation | pixels to pixels, median | best | PNG to PNG, median | best |"
echo "|---|---:|---:|---:|---:|"
for op in "${ops[@]}"; do
    build/editor_bench "$tmp" "$op" "$RUNS" 2>/dev/null |
        awk -v op="$op" '/pixels to pixels/ {raw = $7; rawb = $10} /PNG to PNG/ {png = $8; pngb = $11}
            END {printf "| %s | %s ms | %s ms | %s ms | %s ms |\n", op, raw, rawb, png, pngb}'
done
