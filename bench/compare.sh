#!/usr/bin/env bash
# Side-by-side benchmark: novadraw against the FastAPI peer (shared/peer/seed-fastapi),
# on the same data, under the same load, interleaved, in one run; prints the ratios.
# Both use SQLite and store in S3, both call a fake Gemini; everything on 127.0.0.1,
# on free ports, in temp dirs, all stopped and removed on exit (even on failure).
#   peer: its start.sh (s3rver, its fake_gemini.py, uvicorn --workers 2, LOG_LEVEL
#         WARNING like ours), its seed_drawings.py, then every drawing's tutorial
#         cleared and every second one edited, so both hold the same shape;
#   ours: novadraw serve (IMAGE_EDITOR=gemini against tests/fakes/gemini.py; its own
#         s3rver, straight as the peer's, or with S3_PROXY=1 behind tests/s3/verify_proxy.py
#         as bench/edits.sh STORAGE=s3), seeded as bench/gallery.sh does (one drawing
#         through the API, then bench/seed_gallery.py).
#   gallery: ROUNDS rounds of wrk -t2 -c64 -dSECS: peer gallery, ours gallery (page 1,
#         limit 20, peer's gallery.lua for both), ours /health; req/s and p99 each,
#         ratios ours/peer and ours-gallery/ours-health per round and their median.
#   edits: one burst of K concurrent POST /api/edit-image (bench/edits.py, a 256x256
#         PNG) against each, the fake holding each call D ms; wall time, ok/errors,
#         latency, server CPU (utime+stime: our process; the peer's uvicorn master and
#         workers, not s3rver nor the fake) per ok edit, and the ratios.
# Knobs (env): N=10000 drawings, SECS=10, ROUNDS=3, K=1000, D=5000 (ms),
#   EDIT_FIRST=peer|ours (which burst goes first; alternate it across runs),
#   EDIT_TIMEOUT (s, per request; default from K, D and the peer's 2x40 threads),
#   PEER_WORKERS=2, PEER_DIR (default ../shared/peer/seed-fastapi), S3_PROXY=0|1 (1: ours
#   through the SigV4-verifying proxy, a Python process that costs CPU the peer's side
#   does not have).
# Needs wrk, node + tests/s3/node_modules (make s3deps), Debian's /usr/bin/python3 with
# python3-fastapi python3-uvicorn python3-sqlalchemy python3-jose python3-multipart
# python3-boto3 python3-jwt python3-pil. Takes about 3.5 minutes with the defaults.
# Builds nothing: copies build/novadraw (or NOVADRAW_BIN) into its temp dir and runs that.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000} SECS=${SECS:-10} ROUNDS=${ROUNDS:-3} K=${K:-1000} D=${D:-5000}
EDIT_FIRST=${EDIT_FIRST:-peer}
S3_PROXY=${S3_PROXY:-0}
PEER_WORKERS=${PEER_WORKERS:-2}
# the peer has 40 threads per worker: K edits queue in ceil(K / 80) waves of D ms
EDIT_TIMEOUT=${EDIT_TIMEOUT:-$(( ((K + 40 * PEER_WORKERS - 1) / (40 * PEER_WORKERS)) * D * 2 / 1000 + 60 ))}
case $EDIT_FIRST in peer|ours) ;; *) echo "EDIT_FIRST must be peer or ours" >&2; exit 2 ;; esac
PEER_DIR=$(realpath "${PEER_DIR:-../shared/peer/seed-fastapi}")
BIN_SRC=$(realpath "${NOVADRAW_BIN:-build/novadraw}")
S3RVER=$PWD/tests/s3/node_modules/.bin/s3rver
PY=/usr/bin/python3
USER_ID=550e8400-e29b-41d4-a716-446655440003
JWT=bench-secret-0123456789abcdef
KEY=test-gemini-key
GALLERY='/api/drawings/gallery?page=1&limit=20'

[ -x "$BIN_SRC" ] || { echo "no executable $BIN_SRC: build it first (make build)" >&2; exit 1; }
[ -x "$S3RVER" ] || { echo "no $S3RVER: run make s3deps" >&2; exit 1; }
[ -x "$PEER_DIR/start.sh" ] || { echo "no peer at $PEER_DIR (set PEER_DIR)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
$PY -c 'import fastapi, uvicorn, sqlalchemy, jose, multipart, boto3, jwt, PIL' 2>/dev/null || {
  echo "the peer needs: apt-get install python3-fastapi python3-uvicorn python3-sqlalchemy" \
    "python3-jose python3-multipart python3-boto3 python3-jwt python3-pil" >&2
  exit 1
}

# K edits in flight hold K sockets on each side of each server
ulimit -n "$(ulimit -Hn)"

dir=$(mktemp -d -t novadraw-compare.XXXXXX)
peer_run=$dir/peer   # PEER_RUN_DIR: the peer's SQLite, logs, pids
mkdir -p "$peer_run" "$dir/ours" "$dir/s3"
server_pid='' fake_pid='' proxy_pid='' s3rver_pid='' peer_started=''
cleanup() {
  set +e  # a process that exits non-zero must not stop the clean-up
  for pid in $server_pid $fake_pid $proxy_pid $s3rver_pid; do
    kill "$pid" 2>/dev/null && timeout 15 tail --pid="$pid" -f /dev/null
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$peer_started" ]; then
    PEER_RUN_DIR=$peer_run timeout 30 "$PEER_DIR/stop.sh" >"$dir/peer-stop.log" 2>&1 ||
      cat "$dir/peer-stop.log" >&2
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

BIN=$dir/novadraw  # our own copy: build/novadraw may be rebuilt during the run
cp "$BIN_SRC" "$BIN"

fail() {
  echo "compare.sh: $*" >&2
  for f in "$dir"/ours/*.log "$peer_run"/*.log; do
    [ -s "$f" ] && { echo "--- $f (last 10 lines)" >&2; tail -n 10 "$f" >&2; }
  done
  exit 1
}
wait_for() {  # wait_for WHAT PID COMMAND...: up to 10 s for COMMAND to succeed
  local what=$1 pid=$2
  shift 2
  for _ in $(seq 100); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "$what did not start"
}
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cpu_ticks() {  # cpu_ticks PID...: utime+stime summed, in clock ticks
  local p sum=0 t
  for p in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}
TCK=$(getconf CLK_TCK)
# a clean environment for both servers: nothing from the caller's shell or a .env
CLEAN_ENV=(env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8)

t_start=$(date +%s)
echo "compare: $(nproc) cores; N=$N SECS=$SECS ROUNDS=$ROUNDS K=$K D=${D}ms" \
  "EDIT_FIRST=$EDIT_FIRST EDIT_TIMEOUT=${EDIT_TIMEOUT}s; clients on the same machine"
echo "ours: $BIN_SRC ($(stat -c %y "$BIN_SRC" | cut -d. -f1))"
echo "peer: $PEER_DIR (uvicorn --workers $PEER_WORKERS)"
echo "S3: one s3rver each; ours $([ "$S3_PROXY" = 1 ] && echo "behind tests/s3/verify_proxy.py" ||
  echo "straight, as the peer")"

# ------------------------------------------------------------------- the peer
peer_port=$(free_port) peer_s3=$(free_port) peer_gem=$(free_port)
peer_started=1
"${CLEAN_ENV[@]}" PEER_RUN_DIR="$peer_run" PORT="$peer_port" S3_PORT="$peer_s3" \
  GEMINI_PORT="$peer_gem" WORKERS="$PEER_WORKERS" S3RVER_DIR="$PWD/tests/s3/node_modules" \
  JWT_SECRET="$JWT" LOG_LEVEL=WARNING GEMINI_FAKE_DELAY_MS=0 \
  timeout 90 "$PEER_DIR/start.sh" >"$dir/peer-start.log" 2>&1 ||
  { cat "$dir/peer-start.log" >&2; fail "the peer did not start"; }
peer_pid=$(awk '$1 == "peer" {print $2}' "$peer_run/pids")
peer_fake_pid=$(awk '$1 == "fake_gemini" {print $2}' "$peer_run/pids")
peer_s3_pid=$(awk '$1 == "s3rver" {print $2}' "$peer_run/pids")
PEER=http://127.0.0.1:$peer_port
peer_workers() { pgrep -P "$peer_pid" | paste -sd ' '; }  # uvicorn's worker processes

"${CLEAN_ENV[@]}" PEER_RUN_DIR="$peer_run" JWT_SECRET="$JWT" \
  STORAGE_ENDPOINT_URL="http://127.0.0.1:$peer_s3" SPACES_BUCKET=novadraw \
  timeout 120 $PY "$PEER_DIR/seed_drawings.py" --new-user --count "$N" --ttl-days 1 \
  >"$dir/peer-seed.out" 2>"$dir/peer-seed.log" || { cat "$dir/peer-seed.log" >&2; fail "peer seed"; }
PEER_TOKEN=$(sed -n 's/^TOKEN=//p' "$dir/peer-seed.out")
PEER_USER=$(sed -n 's/^USER_ID=//p' "$dir/peer-seed.out")
# The same shape as ours: no tutorial, the newest and then every second one unedited
# (seed_drawings.py links every 3rd to a tutorial and leaves every 5th unedited).
peer_holds=$(timeout 60 $PY - "$peer_run/novadraw.db" "$PEER_USER" <<'PY'
import json, sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=30)
uid = sys.argv[2]
ids = con.execute("SELECT id, uploaded_image_url FROM drawings WHERE user_id = ?"
                  " ORDER BY created_at DESC", (uid,)).fetchall()
with con:
    con.executemany(
        "UPDATE drawings SET tutorial_id = NULL, edited_images_urls = ? WHERE id = ?",
        [(json.dumps([url.replace("/original/", "/edited/")]) if i >= 1 and i % 2 == 0
          else "[]", did) for i, (did, url) in enumerate(ids)])
n, edited, tut = con.execute(
    "SELECT COUNT(*), SUM(edited_images_urls != '[]'), COUNT(tutorial_id) FROM drawings"
    " WHERE user_id = ?", (uid,)).fetchone()
print(f"{n} drawings, {edited} edited (one edit each), {tut} with a tutorial")
PY
) || fail "peer reshape"

# -------------------------------------------------------------------- ours
# as bench/edits.sh STORAGE=s3: s3rver, a bucket made with boto3 (S3_PROXY=1: the verifying
# proxy in front, with a fresh secret)
s3rver_port=$(free_port)
node_opts=
if node --openssl-legacy-provider -e 0 2>/dev/null; then
  node_opts=--openssl-legacy-provider # s3rver's list tokens use DES (OpenSSL 3 legacy)
fi
NODE_OPTIONS=$node_opts "$S3RVER" -d "$dir/s3" -a 127.0.0.1 -p "$s3rver_port" --silent \
  --no-vhost-buckets </dev/null >"$dir/ours/s3rver.log" 2>&1 &
s3rver_pid=$!
wait_for "s3rver" "$s3rver_pid" curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$s3rver_port/"
S3_BUCKET=bench-compare
S3_SECRET=sk-$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
timeout 30 $PY - "http://127.0.0.1:$s3rver_port" "$S3_BUCKET" <<'PY' || fail "bucket"
import sys
sys.path.insert(0, "tests/e2e")
from s3_fixtures import boto3_client
boto3_client(sys.argv[1]).create_bucket(Bucket=sys.argv[2])
PY
if [ "$S3_PROXY" = 1 ]; then
  $PY -u tests/s3/verify_proxy.py --upstream "http://127.0.0.1:$s3rver_port" --port 0 \
    --access-key S3RVER --secret "$S3_SECRET" >"$dir/ours/proxy.url" 2>"$dir/ours/proxy.log" &
  proxy_pid=$!
  wait_for "SigV4 proxy" "$proxy_pid" test -s "$dir/ours/proxy.url"
  S3_URL=$(head -n 1 "$dir/ours/proxy.url")
else
  S3_URL=http://127.0.0.1:$s3rver_port S3_SECRET=S3RVER  # s3rver checks no V4 signature
fi

$PY tests/fakes/gemini.py --port 0 --port-file "$dir/ours/gemini.port" \
  --set delay_ms=0 --set record_bodies=0 2>"$dir/ours/gemini.log" &
fake_pid=$!
wait_for "fake Gemini" "$fake_pid" test -s "$dir/ours/gemini.port"
gem_port=$(cat "$dir/ours/gemini.port")

port=$(free_port)
OURS=http://127.0.0.1:$port
# run from the temp dir so a developer's .env in the repo cannot change the set-up
(cd "$dir/ours" && exec "${CLEAN_ENV[@]}" HOST=127.0.0.1 PORT="$port" DATA_DIR="$dir/ours/data" \
  JWT_SECRET="$JWT" LOG_LEVEL=warn IMAGE_EDITOR=gemini GEMINI_API_KEY=$KEY \
  GEMINI_BASE_URL="http://127.0.0.1:$gem_port" \
  STORAGE_ENDPOINT_URL="$S3_URL" SPACES_KEY=S3RVER \
  SPACES_SECRET="$S3_SECRET" SPACES_BUCKET=$S3_BUCKET \
  RATE_LIMIT_EDITS=0 "$BIN" serve) 2>"$dir/ours/server.log" &  # one user, every edit: no limit
server_pid=$!
wait_for "novadraw serve" "$server_pid" curl -sf --max-time 1 "$OURS/health" -o /dev/null

OURS_TOKEN=$(JWT_SECRET=$JWT "$BIN" token --user "$USER_ID" --ttl 3600)
$PY -c 'from PIL import Image; Image.new("RGB", (640, 480), (200, 120, 40)).save("'"$dir"'/d.png")'
curl -sf --max-time 30 -H "Authorization: Bearer $OURS_TOKEN" -F "file=@$dir/d.png" \
  "$OURS/api/drawings" >/dev/null || fail "first drawing through the API"
count=$(timeout 120 $PY bench/seed_gallery.py "$dir/ours/data/novadraw.db" "$USER_ID" "$N") ||
  fail "seed"
ours_holds=$(timeout 30 $PY - "$dir/ours/data/novadraw.db" "$USER_ID" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=30)
n, edited, tut = con.execute(
    "SELECT COUNT(*), SUM(EXISTS (SELECT 1 FROM edits e WHERE e.drawing_id = d.id)),"
    " COUNT(tutorial_id) FROM drawings d WHERE user_id = ?", (sys.argv[2],)).fetchone()
print(f"{n} drawings, {edited} edited (one edit each), {tut} with a tutorial")
PY
)
[ "$count" = "$N" ] || echo "warning: our user has $count drawings, not $N"
echo "data: peer user $peer_holds"
echo "      our user  $ours_holds"

# both galleries answer 200 with a page of 20 before anything is timed
check_page() {  # check_page NAME URL TOKEN
  local code
  code=$(curl -s --max-time 10 -o "$dir/page.json" -w '%{http_code}' \
    -H "Authorization: Bearer $3" "$2$GALLERY")
  [ "$code" = 200 ] || fail "$1 gallery answered $code: $(head -c 300 "$dir/page.json")"
  $PY - "$1" "$dir/page.json" <<'PY'
import json, os, sys
doc = json.load(open(sys.argv[2]))
items = doc.get("data") or doc.get("drawings") or doc.get("items") or []
print(f"      {sys.argv[1]} gallery page: {len(items)} drawings, "
      f"{os.path.getsize(sys.argv[2])} bytes, count {doc.get('count', doc.get('total', '?'))}")
PY
}
check_page peer "$PEER" "$PEER_TOKEN"
check_page ours "$OURS" "$OURS_TOKEN"
echo "peer processes timed: $(ps -o pid=,args= -p "$peer_pid,$(peer_workers | tr ' ' ,)" |
  awk '{printf "%s%s %s", (NR > 1 ? "; " : ""), $1, substr($0, index($0, $3), 40)}')"
echo "setup took $(( $(date +%s) - t_start )) s"

# ------------------------------------------------------------------ gallery
results=$dir/results.tsv
: >"$results"
wrk_run() {  # wrk_run ROUND NAME URL [wrk args]: one line in results.tsv
  local round=$1 name=$2 url=$3 out=$dir/wrk.out rps p99 errs
  shift 3
  timeout $((SECS + 60)) wrk -t2 -c64 -d"${SECS}s" --latency "$@" "$url" >"$out" 2>&1 ||
    { cat "$out" >&2; fail "wrk $name"; }
  rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
  p99=$(awk '$1 == "99%" {v = $2; m = 1
    if (v ~ /us$/) { sub(/us$/, "", v); m = 0.001 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /s$/) { sub(/s$/, "", v); m = 1000 } else if (v ~ /m$/) { sub(/m$/, "", v); m = 60000 }
    printf "%.2f", v * m}' "$out")
  errs=$(grep -E "Non-2xx|Socket errors" "$out" | tr -s ' ' | paste -sd ';' || true)
  printf 'gallery\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "${rps:-0}" "${p99:-0}" "${errs:-}" \
    >>"$results"
  printf '  round %s  %-13s %10s req/s   p99 %9s ms%s\n' "$round" "$name" "$rps" "$p99" \
    "${errs:+   ($errs)}"
}
echo "gallery: wrk -t2 -c64 -d${SECS}s, GET $GALLERY (peer's gallery.lua adds the token)"
for r in $(seq "$ROUNDS"); do
  TOKEN=$PEER_TOKEN wrk_run "$r" peer-gallery "$PEER$GALLERY" -s "$PEER_DIR/gallery.lua"
  TOKEN=$OURS_TOKEN wrk_run "$r" ours-gallery "$OURS$GALLERY" -s "$PEER_DIR/gallery.lua"
  wrk_run "$r" ours-health "$OURS/health"
done

# -------------------------------------------------------------------- edits
burst() {  # burst NAME URL TOKEN: warm-up, then K edits at once, server CPU around them
  local name=$1 url=$2 token=$3 pids fake s3 c0 c1 f0 f1 s0 s1 rc=0
  if [ "$name" = peer ]; then
    pids="$peer_pid $(peer_workers)" fake=$peer_fake_pid s3=$peer_s3_pid
  else
    pids=$server_pid fake=$fake_pid s3="$proxy_pid $s3rver_pid"
  fi
  # warm-up (untimed, fake answering at once): first-request costs out of the burst
  set_delay "$name" 0
  timeout 60 $PY bench/edits.py --url "$url" --token "$token" -k 2 -n 4 --timeout 30 \
    --json >"$dir/warm-$name.json" || fail "$name warm-up edits: $(cat "$dir/warm-$name.json")"
  set_delay "$name" "$D"
  c0=$(cpu_ticks $pids) f0=$(cpu_ticks $fake) s0=$(cpu_ticks $s3)
  timeout $((EDIT_TIMEOUT + 60)) $PY bench/edits.py --url "$url" --token "$token" -k "$K" \
    --timeout "$EDIT_TIMEOUT" --json >"$dir/edits-$name.json" || rc=$?
  c1=$(cpu_ticks $pids) f1=$(cpu_ticks $fake) s1=$(cpu_ticks $s3)
  [ "$rc" = 0 ] || fail "$name burst: edits.py exit $rc"
  [ "$name" = peer ] && [ "$pids" != "$peer_pid $(peer_workers)" ] &&
    echo "  warning: the peer's workers changed during the burst: $pids -> $peer_pid $(peer_workers)"
  $PY - "$dir/edits-$name.json" "$name" "$(( c1 - c0 ))" "$(( f1 - f0 ))" \
    "$(( s1 - s0 ))" "$TCK" "$pids" "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
name, cpu, fake, s3, tck, pids, out = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
cpu_s = cpu / tck
per = cpu_s / r["ok"] * 1000 if r["ok"] else float("nan")
lat = r["latency"]
errs = ", ".join(f"{k}x{v}" for k, v in {**{f"HTTP {s}": n for s, n in r["status"].items()
                                            if s != "200"}, **r["errors"]}.items()) or "none"
print(f"  {name}: ok {r['ok']}/{r['requests']} in {r['wall_s']:.2f} s wall; errors: {errs}; "
      f"latency p50 {lat['p50_s'] or 0:.2f} s p99 {lat['p99_s'] or 0:.2f} s")
print(f"        server CPU {cpu_s:.2f} s = {per:.2f} ms per ok edit (pids {pids}); "
      f"its fake Gemini {fake / tck:.2f} s, S3 side {s3 / tck:.2f} s")
with open(out, "a") as f:
    f.write(f"edits\t{name}\t{r['ok']}\t{r['requests']}\t{r['wall_s']:.3f}\t{cpu_s:.3f}\t"
            f"{per:.3f}\t{errs}\t{lat['p50_s'] or 0:.3f}\t{lat['p99_s'] or 0:.3f}\n")
PY
}
set_delay() {  # set_delay peer|ours MS: the fake's delay, at run time
  if [ "$1" = peer ]; then
    curl -sf --max-time 5 -H 'Content-Type: application/json' -d "{\"delay_ms\": $2}" \
      "http://127.0.0.1:$peer_gem/__fake__/config" >/dev/null || fail "peer fake config"
  else
    curl -sf --max-time 5 -H 'Content-Type: application/json' -d "{\"delay_ms\": $2}" \
      "http://127.0.0.1:$gem_port/__fake/config" >/dev/null || fail "our fake config"
  fi
}
echo "edits: $K concurrent POST /api/edit-image (256x256 PNG), fake Gemini delay ${D} ms," \
  "per-request timeout ${EDIT_TIMEOUT} s"
if [ "$EDIT_FIRST" = peer ]; then
  burst peer "$PEER" "$PEER_TOKEN"
  burst ours "$OURS" "$OURS_TOKEN"
else
  burst ours "$OURS" "$OURS_TOKEN"
  burst peer "$PEER" "$PEER_TOKEN"
fi

# ------------------------------------------------------------------- report
echo
$PY - "$results" "$SECS" "$K" "$D" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
secs, k, d = sys.argv[2], sys.argv[3], sys.argv[4]
g = {}
for row in rows:
    if row[0] == "gallery":
        g.setdefault(int(row[1]), {})[row[2]] = (float(row[3]), float(row[4]))
e = {row[1]: row for row in rows if row[0] == "edits"}

def ratio(a, b):
    return a / b if b else float("nan")

per_round = []
for rnd in sorted(g):
    x = g[rnd]
    per_round.append((rnd, ratio(x["ours-gallery"][0], x["peer-gallery"][0]),
                      ratio(x["ours-gallery"][1], x["peer-gallery"][1]),
                      ratio(x["ours-gallery"][0], x["ours-health"][0])))
med = lambda i: statistics.median(r[i] for r in per_round)
pw, ow = float(e["peer"][4]), float(e["ours"][4])
pc, oc = float(e["peer"][6]), float(e["ours"][6])
print("RATIOS (median of the rounds for the gallery)")
print(f"  gallery req/s    ours/peer           {med(1):8.2f}x")
print(f"  gallery p99      ours/peer           {med(2):8.3f}   (below 1: ours lower)")
print(f"  gallery req/s    ours-gallery/health {med(3):8.3f}")
print(f"  edit burst wall  ours/peer           {ratio(ow, pw):8.3f}   (below 1: ours faster)")
print(f"  CPU per edit     ours/peer           {ratio(oc, pc):8.3f}   "
      f"(peer/ours {ratio(pc, oc):.1f}x)")
print()
print(f"GALLERY (wrk -t2 -c64 -d{secs}s)           req/s    p99 ms")
for rnd in sorted(g):
    x = g[rnd]
    r = next(p for p in per_round if p[0] == rnd)
    print(f"  round {rnd}: peer {x['peer-gallery'][0]:9.1f} {x['peer-gallery'][1]:8.2f} | "
          f"ours {x['ours-gallery'][0]:9.1f} {x['ours-gallery'][1]:8.2f} | "
          f"ours /health {x['ours-health'][0]:9.1f} {x['ours-health'][1]:8.2f} | "
          f"ours/peer {r[1]:.2f}x p99 {r[2]:.3f} | gallery/health {r[3]:.3f}")
print()
print(f"EDITS (K={k} at once, fake Gemini {d} ms)   ok/K      wall s  p50 s  p99 s  "
      f"server CPU s  ms/edit  errors")
for name in ("peer", "ours"):
    _, _, ok, req, wall, cpu, per, errs, p50, p99 = e[name]
    print(f"  {name:4}  {ok:>5}/{req:<5} {float(wall):9.2f} {float(p50):6.2f} {float(p99):6.2f} "
          f"{float(cpu):12.2f} {float(per):8.2f}  {errs}")
PY
echo "total $(( $(date +%s) - t_start )) s"
