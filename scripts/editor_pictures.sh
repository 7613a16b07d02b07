#!/usr/bin/env bash
# The pictures of docs/editor.md: every edit of the local editor, by its canonical name,
# applied to the committed sample drawing (docs/editor/sample.png, drawn by
# scripts/editor_sample.py) with the CLI, saved as small WebP files in docs/editor/.
# Builds nothing: expects build/novadraw and the vips command-line tool.
#   scripts/editor_pictures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLE=docs/editor/sample.png
OUT=docs/editor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

names=("colorful" "black and white" "sepia" "invert" "blur" "sharpen" "brighter" "darker"
       "more contrast" "warm" "cool" "rotate left" "rotate right" "upside down" "flip"
       "flip vertically" "pixelate" "posterize" "sketch" "emboss" "glow" "watercolor" "neon"
       "pastel" "night" "sunset" "less colorful" "less contrast" "vintage" "painting"
       "vignette" "frame" "snow" "dreamy" "pop" "cartoon" "crop")

vips webpsave "$SAMPLE" "$OUT/sample.webp" --Q 80 --strip
for name in "${names[@]}"; do
    file="$OUT/${name// /-}.webp"
    build/novadraw edit "$SAMPLE" --prompt "$name" -o "$tmp/out.png" >/dev/null 2>&1
    vips webpsave "$tmp/out.png" "$file" --Q 80 --strip
done
du -ch "$OUT"/*.webp | tail -1
