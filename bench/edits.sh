#!/usr/bin/env bash
# Edit benchmark: novadraw serve with IMAGE_EDITOR=gemini against the fake Gemini
# (tests/fakes/gemini.py), both on 127.0.0.1, temp DATA_DIR, cleaned up on exit.
#   bench/edits.sh            K concurrent edits (default 1000), all started at once,
#                             each held D ms by the fake (default 5000), while 4
#                             connections loop on the gallery; reports latency, status,
#                             gallery latency during the burst, server peak RSS.
#   MODE=cpu bench/edits.sh   K edits (default 50) of a SIZE x SIZE drawing (default
#                             1024), 2 in flight, D=0; reports server CPU seconds
#                             (utime+stime) per edit. PERF=FILE: perf record -g of the
#                             server during the edits, into FILE.
#   STORAGE=s3 bench/edits.sh (either mode) stores in S3: s3rver (tests/s3/node_modules,
#                             `make s3deps`) behind tests/s3/verify_proxy.py, which checks
#                             every request's SigV4 signature, as the e2e fixtures run them
#                             (bucket created with boto3). STORAGE=local (default): DATA_DIR.
# Both modes also report the server's peak thread count and RSS (sampled every 50 ms).
# Builds nothing: expects build/novadraw (or NOVADRAW_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-burst}
case $MODE in
  burst) K=${K:-1000} D=${D:-5000} ;;
  cpu)   K=${K:-50}   D=${D:-0} SIZE=${SIZE:-1024} ;;
  *) echo "MODE must be burst or cpu" >&2; exit 2 ;;
esac
STORAGE=${STORAGE:-local}
case $STORAGE in
  local|s3) ;;
  *) echo "STORAGE must be local or s3" >&2; exit 2 ;;
esac
S3RVER=$PWD/tests/s3/node_modules/.bin/s3rver
if [ "$STORAGE" = s3 ] && [ ! -x "$S3RVER" ]; then
  echo "no $S3RVER: run make s3deps" >&2
  exit 1
fi
BIN=$(realpath "${NOVADRAW_BIN:-build/novadraw}")
[ -x "$BIN" ] || { echo "no executable $BIN: build it first (make build)" >&2; exit 1; }
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440002
KEY=test-gemini-key

# every request holds a socket on each side of the server
ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d)
fake_pid='' server_pid='' s3rver_pid='' proxy_pid=''
cleanup() {
  set +e  # a server that exits non-zero must not stop the clean-up
  for pid in $server_pid $fake_pid $proxy_pid $s3rver_pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT

wait_for() {  # wait_for WHAT PID COMMAND...: up to 10 s for COMMAND to succeed
  local what=$1 pid=$2
  shift 2
  for _ in $(seq 100); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$what did not start" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  exit 1
}

$PY tests/fakes/gemini.py --port 0 --port-file "$dir/gemini.port" \
  --set delay_ms="$D" --set record_bodies=0 2>"$dir/gemini.log" &
fake_pid=$!
wait_for "fake Gemini" "$fake_pid" test -s "$dir/gemini.port"

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "$STORAGE" = s3 ]; then
  # as tests/e2e/s3_fixtures.py does: s3rver, a bucket made with boto3, the verifying
  # proxy in front with a fresh secret; the server talks to the proxy only
  s3rver_port=$(free_port)
  mkdir -p "$dir/s3"
  node_opts=
  if node --openssl-legacy-provider -e 0 2>/dev/null; then
    node_opts=--openssl-legacy-provider # s3rver's list tokens use DES (OpenSSL 3 legacy)
  fi
  NODE_OPTIONS=$node_opts "$S3RVER" -d "$dir/s3" -a 127.0.0.1 -p "$s3rver_port" --silent \
    --no-vhost-buckets </dev/null >"$dir/s3rver.log" 2>&1 &
  s3rver_pid=$!
  wait_for "s3rver" "$s3rver_pid" curl -s -o /dev/null "http://127.0.0.1:$s3rver_port/"
  S3_BUCKET=bench-edits
  S3_SECRET=sk-$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  $PY - "http://127.0.0.1:$s3rver_port" "$S3_BUCKET" <<'PY'
import sys
sys.path.insert(0, "tests/e2e")
from s3_fixtures import boto3_client
boto3_client(sys.argv[1]).create_bucket(Bucket=sys.argv[2])
PY
  $PY -u tests/s3/verify_proxy.py --upstream "http://127.0.0.1:$s3rver_port" --port 0 \
    --access-key S3RVER --secret "$S3_SECRET" >"$dir/proxy.url" 2>"$dir/proxy.log" &
  proxy_pid=$!
  wait_for "SigV4 proxy" "$proxy_pid" test -s "$dir/proxy.url"
  export STORAGE_ENDPOINT_URL=$(head -n 1 "$dir/proxy.url") SPACES_KEY=S3RVER \
    SPACES_SECRET=$S3_SECRET SPACES_BUCKET=$S3_BUCKET
fi

gemini_port=$(cat "$dir/gemini.port")
port=$(free_port)
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir/data JWT_SECRET=bench-secret-0123456789abcdef \
  LOG_LEVEL=warn IMAGE_EDITOR=gemini GEMINI_API_KEY=$KEY \
  GEMINI_BASE_URL=http://127.0.0.1:$gemini_port RATE_LIMIT_EDITS=${RATE_LIMIT_EDITS:-0} # one user: no limit
# run from the temp dir so a developer's .env in the repo cannot change the set-up
(cd "$dir" && exec "$BIN" serve) 2>"$dir/server.log" &
server_pid=$!
wait_for "novadraw serve" "$server_pid" curl -sf "http://127.0.0.1:$port/health" -o /dev/null

TOKEN=$("$BIN" token --user "$USER_ID" --ttl 3600)
echo "server: $(nproc) cores, HTTP_THREADS=${HTTP_THREADS:-auto}, client on the same machine"
if [ "$STORAGE" = s3 ]; then
  echo "storage: s3 (s3rver behind the SigV4-verifying proxy, $STORAGE_ENDPOINT_URL)"
else
  echo "storage: local ($DATA_DIR/media)"
fi

if [ "$MODE" = burst ]; then
  echo "MODE=burst: $K concurrent edits of a 256x256 PNG, fake Gemini delay ${D} ms"
  $PY bench/edits.py --url "http://127.0.0.1:$port" --token "$TOKEN" -k "$K" \
    --gallery-probe --pid "$server_pid"
else
  echo "MODE=cpu: $K edits of a ${SIZE}x${SIZE} PNG, 2 in flight, fake Gemini delay ${D} ms"
  perf_pid=
  if [ -n "${PERF:-}" ]; then
    perf record -q -g -o "$PERF" -p "$server_pid" 2>/dev/null &
    perf_pid=$!
  fi
  $PY bench/edits.py --url "http://127.0.0.1:$port" --token "$TOKEN" -k 2 -n "$K" \
    --size "$SIZE" --pid "$server_pid"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" && wait "$perf_pid" || true
  fi
fi

# where the machine's CPU went: the server is one of three processes on these cores
tck=$(getconf CLK_TCK)
awk -v t="$tck" '{printf "fake Gemini CPU %.2f s\n", ($14 + $15) / t}' "/proc/$fake_pid/stat"
if [ "$STORAGE" = s3 ]; then
  awk -v t="$tck" '{printf "SigV4 proxy CPU %.2f s\n", ($14 + $15) / t}' "/proc/$proxy_pid/stat"
  awk -v t="$tck" '{printf "s3rver CPU %.2f s\n", ($14 + $15) / t}' "/proc/$s3rver_pid/stat"
  $PY - "http://127.0.0.1:$s3rver_port" "$S3_BUCKET" <<'PY'
import sys
sys.path.insert(0, "tests/e2e")
from s3_fixtures import boto3_client
pages = boto3_client(sys.argv[1]).get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2])
print(f"objects in the bucket: {sum(p.get('KeyCount', 0) for p in pages)}")
PY
fi

if [ -s "$dir/server.log" ]; then
  echo "server log (last 5 of $(wc -l <"$dir/server.log") lines):"
  tail -n 5 "$dir/server.log"
fi
