#!/usr/bin/env bash
# Local transcriber benchmark: speech generated with espeak-ng (4 voices x 2 speeds x 6
# commands, as the e2e suite), encoded to M4A with the ffmpeg CLI, then
# build/transcribe_bench: model/decoder memory (RSS delta) and decode + transcription
# time per second of audio, grammar and general modes. Single-threaded.
#   bench/transcribe.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

n=0
for phrase in "make it black and white" "make it colorful" "add a sepia tone" \
              "rotate it to the left" "make it brighter" "invert the colors"; do
  for voice in en en-us en+f3 en+m3; do
    for speed in 140 175; do
      n=$((n + 1))
      espeak-ng -v "$voice" -s "$speed" -w "$dir/$n.wav" "$phrase"
      ffmpeg -loglevel error -y -i "$dir/$n.wav" -c:a aac -b:a 64k "$dir/$n.m4a"
    done
  done
done
"$BUILD/transcribe_bench" "$dir"/*.m4a
