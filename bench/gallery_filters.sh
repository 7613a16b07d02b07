#!/usr/bin/env bash
# Gallery filters benchmark (SPEC §11): one user with 10,000 drawings (a third of one
# tutorial, half edited, eight prompts in turn), then wrk against /health, the plain
# gallery, each filter, searches and conditional GETs answered 304, in one run on one
# server. Targets: a filtered page >= 50% of the plain gallery's req/s; a 304 >= 80% of
# /health's.
#   bench/gallery_filters.sh [--pg] [DRAWINGS] [CONNECTIONS] [SECONDS]
# SQLite in a temporary DATA_DIR, unless DATABASE_URL names an (empty) PostgreSQL
# database; --pg makes a throwaway cluster (scripts/pg.sh) and removes it after.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--pg" ]; then
  shift
  exec scripts/pg.sh run bash -c 'DATABASE_URL=$NOVADRAW_TEST_DATABASE_URL exec "$0" "$@"' \
    "$0" "$@"
fi

N=${1:-10000}
CONNS=${2:-64}
SECS=${3:-10}
BIN=${NOVADRAW_BIN:-build/novadraw}
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440002

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
    echo "gallery_filters.sh: DATABASE_URL must be a PostgreSQL URL (or unset for SQLite)" >&2
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
base="http://127.0.0.1:$port"
auth=(-H "Authorization: Bearer $TOKEN")
TUT=550e8400-e29b-41d4-a716-4466554400aa
"$BIN" tutorial add --title "Bench tutorial" --id "$TUT" >/dev/null
$PY -c 'from PIL import Image; Image.new("RGB", (640, 480), (200, 120, 40)).save("'"$dir"'/d.png")'
curl -sf "${auth[@]}" -F "file=@$dir/d.png" "$base/api/drawings" >/dev/null
if [ "$db" = postgres ]; then
  count=$(psql -X -q -At -v uid="$USER_ID" -v n="$N" -v tut="$TUT" -d "$DATABASE_URL" \
    -f bench/seed_filters.sql)
else
  count=$($PY bench/seed_filters.py "$dir/novadraw.db" "$USER_ID" "$N" "$TUT")
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
  printf '%-36s %10s req/s   p50 %8s   p99 %8s\n' "$name" "$rps" "$p50" "$p99"
  grep -E "Non-2xx|Socket errors" "$dir/out.txt" || true
}

g="$base/api/drawings/gallery"
run "GET /health" "$base/health"
run "GET stats (auth + 1 query)" "$base/api/drawings/stats/summary" -s bench/auth.lua
run "gallery (plain)" "$g?page=1&limit=20" -s bench/auth.lua
run "gallery tutorial_id" "$g?tutorial_id=$TUT" -s bench/auth.lua
run "gallery edited=true" "$g?edited=true" -s bench/auth.lua
run "gallery edited=false" "$g?edited=false" -s bench/auth.lua
run "gallery from/to (all in range)" "$g?from=2020-01-01&to=2100-01-01T00:00:00Z" -s bench/auth.lua
run "gallery sort=oldest" "$g?sort=oldest" -s bench/auth.lua
run "gallery q=sepia" "$g?q=sepia" -s bench/auth.lua
run "gallery q=colo (prefix)" "$g?q=colo" -s bench/auth.lua
run "gallery q=sepia%20tone" "$g?q=sepia%20tone" -s bench/auth.lua
run "gallery q=add&edited&tutorial&oldest" "$g?q=add&edited=true&tutorial_id=$TUT&sort=oldest" \
  -s bench/auth.lua
run "gallery page 400 q=a" "$g?q=a&page=40&limit=20" -s bench/auth.lua
ETAG=$(curl -sf -D - -o /dev/null "${auth[@]}" "$g?page=1&limit=20" | tr -d '\r' |
  awk -F': ' 'tolower($1) == "etag" {print $2}')
export ETAG
run "gallery 304 (If-None-Match)" "$g?page=1&limit=20" -s bench/auth_etag.lua
ETAG=$(curl -sf -D - -o /dev/null "${auth[@]}" "$g?q=sepia" | tr -d '\r' |
  awk -F': ' 'tolower($1) == "etag" {print $2}')
export ETAG
run "gallery q=sepia 304" "$g?q=sepia" -s bench/auth_etag.lua
