#!/usr/bin/env bash
# Gallery benchmark: one user with 10,000 drawings (half of them edited), then wrk
# against /health and against the first gallery page, in the same run, same server.
#   bench/gallery.sh [--pg] [DRAWINGS] [CONNECTIONS] [SECONDS]
# Prints req/s and latency percentiles for both. Binds 127.0.0.1 only; bounded in time.
# The database is SQLite in a temporary DATA_DIR, unless DATABASE_URL names an (empty)
# PostgreSQL database; --pg makes a throwaway PostgreSQL cluster for the run
# (scripts/pg.sh: fsync off, irrelevant to these read-only requests) and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--pg" ]; then
  shift
  # pg.sh run puts the cluster's URL in NOVADRAW_TEST_DATABASE_URL
  exec scripts/pg.sh run bash -c 'DATABASE_URL=$NOVADRAW_TEST_DATABASE_URL exec "$0" "$@"' \
    "$0" "$@"
fi

N=${1:-10000}
CONNS=${2:-64}
SECS=${3:-15}
BIN=${NOVADRAW_BIN:-build/novadraw}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440001

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef LOG_LEVEL=warn
DATABASE_URL=${DATABASE_URL:-}
case "$DATABASE_URL" in
  postgresql://* | postgres://*)
    db=postgres
    export DATABASE_URL
    ;;
  "")
    db=sqlite
    unset DATABASE_URL
    ;;
  *)
    echo "gallery.sh: DATABASE_URL must be a PostgreSQL URL (or unset for SQLite)" >&2
    exit 2
    ;;
esac
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
if [ "$db" = postgres ]; then
  count=$(psql -X -q -At -v uid="$USER_ID" -v n="$N" -d "$DATABASE_URL" -f bench/seed_gallery.sql)
else
  count=$($PY bench/seed_gallery.py "$dir/novadraw.db" "$USER_ID" "$N")
fi
[ "$count" = "$N" ] || echo "warning: the user has $count drawings, not $N (was the database empty?)"
echo "database: $db; seeded: $count drawings for one user; $CONNS connections, ${SECS}s each, wrk -t2"
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
