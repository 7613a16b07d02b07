#!/usr/bin/env bash
# Gallery benchmark: one user with 10,000 drawings (half of them edited), then wrk
# against /health and against the first gallery page, in the same run, same server.
#   bench/gallery.sh [DRAWINGS] [CONNECTIONS] [SECONDS]
# Prints req/s and latency percentiles for both. Binds 127.0.0.1 only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
CONNS=${2:-64}
SECS=${3:-15}
BIN=${NOVADRAW_BIN:-build/novadraw}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440001

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef LOG_LEVEL=warn
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
export TOKEN
$PY -c 'from PIL import Image; Image.new("RGB", (640, 480), (200, 120, 40)).save("'"$dir"'/d.png")'
curl -sf -H "Authorization: Bearer $TOKEN" -F "file=@$dir/d.png" \
  "http://127.0.0.1:$port/api/drawings" >/dev/null
count=$($PY bench/seed_gallery.py "$dir/novadraw.db" "$USER_ID" "$N")
echo "seeded: $count drawings for one user; $CONNS connections, ${SECS}s each, wrk -t2"
echo "server: $(nproc) cores, HTTP_THREADS=${HTTP_THREADS:-auto}, wrk on the same machine"

run() {
  local name=$1 url=$2
  shift 2
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@" "$url" >"$dir/out.txt"
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$dir/out.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$dir/out.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$dir/out.txt")
  printf '%-28s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  grep -E "Non-2xx|Socket errors" "$dir/out.txt" || true
}

run "GET /health" "http://127.0.0.1:$port/health"
run "GET gallery (limit=20)" "http://127.0.0.1:$port/api/drawings/gallery?page=1&limit=20" \
  -s bench/auth.lua
run "GET gallery page 400" "http://127.0.0.1:$port/api/drawings/gallery?page=400&limit=20" \
  -s bench/auth.lua
run "GET stats" "http://127.0.0.1:$port/api/drawings/stats/summary" -s bench/auth.lua
