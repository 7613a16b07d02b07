#!/usr/bin/env bash
# What metrics and access logs cost: the gallery's first page and /health under wrk,
# with one seeded database, against servers started in turn (alternating, twice):
#   on    this build, LOG_LEVEL=info ACCESS_LOG=on (a line per request, to a file)
#   off   this build, ACCESS_LOG=off (metrics are always counted)
#   base  BASE_BIN (optional: a build without metrics or access log, e.g. main's)
#   bench/ops_overhead.sh [DRAWINGS] [CONNECTIONS] [SECONDS]   (env LOG_TO_FILE=1, BASE_BIN)
# SQLite in a temporary DATA_DIR; binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
CONNS=${2:-64}
SECS=${3:-10}
BIN=${NOVADRAW_BIN:-build/novadraw}
BASE_BIN=${BASE_BIN:-}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440001

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef
unset DATABASE_URL
server_pid=
stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop; rm -rf "$dir"' EXIT

start() { # BIN, then env assignments
  local bin=$1
  shift
  # the log goes down a pipe, as to journald or a container runtime (LOG_TO_FILE=1:
  # appended to a file on disk instead, which costs more per line)
  if [ -n "${LOG_TO_FILE:-}" ]; then
    env "$@" "$bin" serve 2>>"$dir/server.log" &
  else
    env "$@" "$bin" serve 2> >(cat >>"$dir/server.log") &
  fi
  server_pid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}

start "$BIN" LOG_LEVEL=warn
TOKEN=$("$BIN" token --user "$USER_ID" --ttl 3600)
export TOKEN
$PY -c 'from PIL import Image; Image.new("RGB", (640, 480), (200, 120, 40)).save("'"$dir"'/d.png")'
curl -sf -H "Authorization: Bearer $TOKEN" -F "file=@$dir/d.png" \
  "http://127.0.0.1:$port/api/drawings" >/dev/null
count=$($PY bench/seed_gallery.py "$dir/novadraw.db" "$USER_ID" "$N")
stop
echo "seeded: $count drawings; $CONNS connections, ${SECS}s per run, wrk -t2 on the same $(nproc)-core machine"

run() {
  local name=$1 url=$2
  shift 2
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@" "$url" >"$dir/out.txt"
  local rps p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$dir/out.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$dir/out.txt")
  printf '%-34s %10s req/s   p99 %8s\n' "$name" "$rps" "$p99"
  grep -E "Non-2xx|Socket errors" "$dir/out.txt" || true
}

configs=(on off)
[ -n "$BASE_BIN" ] && configs+=(base)
for round in 1 2; do
  for c in "${configs[@]}"; do
    case $c in
      on) start "$BIN" LOG_LEVEL=info ACCESS_LOG=on ;;
      off) start "$BIN" LOG_LEVEL=info ACCESS_LOG=off ;;
      base) start "$BASE_BIN" LOG_LEVEL=warn ;;
    esac
    run "[$round] $c: GET gallery (limit=20)" \
      "http://127.0.0.1:$port/api/drawings/gallery?page=1&limit=20" -s bench/auth.lua
    run "[$round] $c: GET /health" "http://127.0.0.1:$port/health"
    stop
  done
done
echo "access-log lines written: $(grep -c ' request method=' "$dir/server.log" || true)"
