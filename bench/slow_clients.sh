#!/usr/bin/env bash
# The gallery under slow clients (SPEC §15, issue 17): DRAWINGS drawings for one user,
# then 500 trickling request heads and 200 stalled 9 MiB uploads held open
# (bench/slow_clients.py re-opens what the server cuts) while wrk reads the gallery.
# Prints the gallery's latency percentiles, the uploads refused (503: HTTP_BODY_BUDGET)
# and the server's peak RSS.
#   bench/slow_clients.sh [DRAWINGS] [SECONDS] [TRICKLERS] [STALLED]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
SECS=${2:-15}
TRICKLE=${3:-500}
STALL=${4:-200}
BIN=${NOVADRAW_BIN:-build/novadraw}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440001

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef LOG_LEVEL=warn
unset DATABASE_URL
server_pid= load_pid=
cleanup() {
  [ -n "$load_pid" ] && kill -KILL "$load_pid" 2>/dev/null
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
$PY -c 'from PIL import Image; Image.new("RGB", (64, 48), (200, 120, 40)).save("'"$dir"'/d.png")'
curl -sf -H "Authorization: Bearer $TOKEN" -F "file=@$dir/d.png" \
  "http://127.0.0.1:$port/api/drawings" >/dev/null
count=$($PY bench/seed_gallery.py "$dir/novadraw.db" "$USER_ID" "$N")
rss() { awk '/^VmRSS/ {print $2 / 1024 " MB"}' "/proc/$server_pid/status"; }
echo "seeded: $count drawings; server RSS before: $(rss)"

$PY bench/slow_clients.py "$port" "$TOKEN" "$TRICKLE" "$STALL" >"$dir/load.txt" 2>&1 &
load_pid=$!
# the load is in place once the server holds that many connections
for _ in $(seq 300); do
  held=$(ls "/proc/$server_pid/fd" | wc -l)
  [ "$held" -ge $((TRICKLE + STALL)) ] && break
  sleep 0.1
done
echo "server fds with the slow clients in: $held; RSS: $(rss)"
wrk -t2 -c64 -d"${SECS}s" --latency -s bench/auth.lua \
  "http://127.0.0.1:$port/api/drawings/gallery?page=1&limit=20" >"$dir/out.txt"
awk '/^Requests\/sec/ {print "gallery: " $2 " req/s"} $1 == "50%" || $1 == "99%" {print "  p" $1 " " $2}' "$dir/out.txt"
grep -E "Non-2xx|Socket errors" "$dir/out.txt" || true
echo "slow clients: $(tail -1 "$dir/load.txt")"
echo "server peak RSS: $(awk '/^VmHWM/ {print $2 / 1024 " MB"}' "/proc/$server_pid/status")"
