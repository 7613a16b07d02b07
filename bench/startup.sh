#!/usr/bin/env bash
# Start-up benchmark: time from exec to the first 200 from /health, and the idle
# resident memory (VmRSS) once the server has answered and settled for 2 s.
#   bench/startup.sh [RUNS]     (default 5; prints each run and the median)
# A fresh DATA_DIR (SQLite, local storage, local editor and transcriber) per run.
# Binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=${NOVADRAW_BIN:-build/novadraw}
exec /usr/bin/python3 - "$BIN" "$RUNS" <<'PY'
import os, socket, subprocess, sys, tempfile, time, urllib.request, statistics

binary, runs = sys.argv[1], int(sys.argv[2])
times, rss = [], []
for i in range(runs):
    with tempfile.TemporaryDirectory() as d:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), DATA_DIR=d,
                   JWT_SECRET="bench-secret-0123456789abcdef", LOG_LEVEL="warn")
        env.pop("DATABASE_URL", None)
        t0 = time.monotonic()
        p = subprocess.Popen([binary, "serve"], env=env, stderr=subprocess.DEVNULL)
        try:
            while True:
                if time.monotonic() - t0 > 30:
                    raise SystemExit("no /health within 30 s")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.002)
            t = (time.monotonic() - t0) * 1000
            time.sleep(2)
            kb = next(int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS:"))
            times.append(t); rss.append(kb / 1024)
            print(f"run {i + 1}: first /health {t:.0f} ms, idle RSS {kb / 1024:.1f} MB")
        finally:
            p.terminate(); p.wait(10)
print(f"median: first /health {statistics.median(times):.0f} ms, idle RSS {statistics.median(rss):.1f} MB")
PY
