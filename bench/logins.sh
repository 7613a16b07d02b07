#!/usr/bin/env bash
# Sign-in benchmark (SPEC §12): one server on a temporary DATA_DIR (SQLite), one
# account, then
#   1. N sign-ins, C at once (default 400, 32): sign-ins per second at the configured
#      argon2id cost (PASSWORD_MEMORY_KIB, PASSWORD_ITERATIONS from the environment),
#      how many were refused 503 (PASSWORD_QUEUE), and the server's peak RSS;
#   2. the gallery with the access token the sign-in issued, then with one from
#      `novadraw token` (an outside issuer), same run: they must cost the same.
#   bench/logins.sh [N] [C] [SECONDS]
# Binds 127.0.0.1 only; bounded in requests and time. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-400}
C=${2:-32}
SECS=${3:-10}
BIN=$(realpath "${NOVADRAW_BIN:-build/novadraw}")
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "no executable $BIN: build it first (make build)" >&2; exit 1; }

dir=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export HOST=127.0.0.1 PORT=$port DATA_DIR=$dir JWT_SECRET=bench-secret-0123456789abcdef LOG_LEVEL=warn
unset DATABASE_URL STORAGE_ENDPOINT_URL
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
echo "server: $(nproc) cores; argon2id m=${PASSWORD_MEMORY_KIB:-19456} KiB t=${PASSWORD_ITERATIONS:-2} p=1;" \
     "PASSWORD_QUEUE=${PASSWORD_QUEUE:-64}; client on the same machine"

# 1. sign-ins: the client runs C threads; the server's RSS is sampled meanwhile
PORT=$port N=$N C=$C SERVER_PID=$server_pid $PY - <<'EOF'
import concurrent.futures, os, threading, time
import requests

base = f"http://127.0.0.1:{os.environ['PORT']}"
n, c, pid = int(os.environ["N"]), int(os.environ["C"]), os.environ["SERVER_PID"]
email, password = "bench@example.com", "bench password 1"
r = requests.post(base + "/api/auth/register", json={"email": email, "password": password})
assert r.status_code == 201, r.text

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

peak, start_rss, done = 0, rss_kib(), threading.Event()
def sample():
    global peak
    while not done.is_set():
        peak = max(peak, rss_kib())
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()

local = threading.local()
def one(_):
    s = getattr(local, "s", None)
    if s is None:
        s = local.s = requests.Session()
    t = time.monotonic()
    r = s.post(base + "/api/auth/login", json={"email": email, "password": password})
    return r.status_code, time.monotonic() - t

t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(c) as ex:
    res = list(ex.map(one, range(n)))
wall = time.monotonic() - t0
done.set()
ok = [d for s, d in res if s == 200]
codes = {}
for s, _ in res:
    codes[s] = codes.get(s, 0) + 1
ok.sort()
print(f"sign-ins: {n} requests, {c} at once: {len(ok) / wall:.1f} ok/s over {wall:.2f} s; status {codes}")
if ok:
    print(f"  latency p50 {ok[len(ok) // 2] * 1000:.0f} ms  p99 {ok[int(len(ok) * 0.99) - 1] * 1000:.0f} ms")
print(f"  server RSS: {start_rss / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB during")
EOF

# 2. the gallery with a token from sign-in, then from `novadraw token`, interleaved
$PY - "$port" "$dir/login_token" <<'EOF'
import sys, requests
base, path = f"http://127.0.0.1:{sys.argv[1]}", sys.argv[2]
r = requests.post(base + "/api/auth/login", json={"email": "bench@example.com", "password": "bench password 1"})
open(path, "w").write(r.json()["access_token"])
EOF
login_token=$(cat "$dir/login_token")
uid=$($PY -c 'import jwt,sys; print(jwt.decode(sys.argv[1], options={"verify_signature": False})["sub"])' "$login_token")
outside_token=$("$BIN" token --user "$uid" --ttl 3600)
run() {
  TOKEN=$2 wrk -t2 -c64 -d"${SECS}s" --latency -s bench/auth.lua \
    "http://127.0.0.1:$port/api/drawings/gallery" >"$dir/out.txt"
  printf '%-26s %10s req/s   p99 %8s\n' "$1" "$(awk '/^Requests\/sec/ {print $2}' "$dir/out.txt")" \
    "$(awk '$1 == "99%" {print $2}' "$dir/out.txt")"
}
for round in 1 2; do
  run "gallery, sign-in token" "$login_token"
  run "gallery, outside token" "$outside_token"
done
