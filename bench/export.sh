#!/usr/bin/env bash
# Export benchmark (SPEC §11): one user with DRAWINGS drawings on local storage, each a
# real PNG file (an incompressible SIDE x SIDE image; every other drawing has an edit,
# another file), exported with GET /api/drawings/export by curl. Prints the archive's
# size, seconds, MB/s, and the server's peak RSS growth during the export (VmHWM, reset
# through /proc/PID/clear_refs just before, minus VmRSS then); then checks the archive
# (every entry's CRC, the count of entries). SQLite; binds 127.0.0.1 only.
#   bench/export.sh [DRAWINGS] [SIDE]
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-1000}
SIDE=${2:-256}
BIN=${NOVADRAW_BIN:-build/novadraw}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440002

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef LOG_LEVEL=warn
unset DATABASE_URL
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

"$BIN" serve 2>"$dir/server.log" &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done

TOKEN=$("$BIN" token --user "$USER_ID" --ttl 3600)
$PY -c '
import os
from PIL import Image
Image.frombytes("RGB", ('"$SIDE"', '"$SIDE"'), os.urandom('"$SIDE"' * '"$SIDE"' * 3)).save("'"$dir"'/d.png", compress_level=1)'
curl -sf -H "Authorization: Bearer $TOKEN" -F "file=@$dir/d.png" \
  "http://127.0.0.1:$port/api/drawings" >/dev/null
count=$($PY bench/seed_export.py "$dir" "$USER_ID" "$N")
[ "$count" = "$N" ] || echo "warning: the user has $count drawings, not $N"
images=$(find "$dir/media/users/$USER_ID" -name '*.png' | wc -l)
bytes=$(find "$dir/media/users/$USER_ID" -name '*.png' -printf '%s\n' | awk '{s += $1} END {print s}')
echo "seeded: $count drawings, $images PNG files, $((bytes / 1024 / 1024)) MiB of images; $(nproc) cores"

rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$server_pid/status"; }
# twice: the first export also warms what any request would (each io thread's SQLite
# page cache, malloc's per-thread arenas); the second shows what an export itself costs
for run in first second; do
  before=$(rss VmRSS)
  echo 5 >"/proc/$server_pid/clear_refs" # VmHWM := VmRSS
  out=$(curl -sf -H "Authorization: Bearer $TOKEN" -o "$dir/export.zip" \
    -w '%{size_download} %{time_total}' "http://127.0.0.1:$port/api/drawings/export")
  peak=$(rss VmHWM)
  after=$(rss VmRSS)
  read -r size secs <<<"$out"
  awk -v r="$run" -v s="$size" -v t="$secs" -v b="$before" -v p="$peak" -v a="$after" 'BEGIN {
    printf "%s export: %.1f MB in %.2f s = %.1f MB/s; server RSS %.1f MB before, peak %.1f MB (growth %.1f MB), %.1f MB after\n",
      r, s / 1e6, t, s / 1e6 / t, b / 1024, p / 1024, (p - b) / 1024, a / 1024
  }'
done
$PY - "$dir/export.zip" "$images" <<'PYEOF'
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
n = len(z.namelist())
drawings = len(json.loads(z.read("drawings.json")))
ok = bad is None and n == int(sys.argv[2]) + 1
print(f"check: {n} entries ({drawings} drawings), CRCs {'ok' if bad is None else 'BAD: ' + bad}")
sys.exit(0 if ok else 1)
PYEOF
