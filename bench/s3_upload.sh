#!/usr/bin/env bash
# Upload throughput of the S3 storage backend against s3rver, beside `curl -T` of
# the same bytes to the same server in the same run; prints both and their ratio.
#   bench/s3_upload.sh [N] [SIZE_KIB] [ROUNDS]   (default 50 PUTs of 1024 KiB, 5 rounds)
# The two sides alternate ROUNDS times and the best time of each is reported (the
# machine is shared, so single runs are noisy).
# Both sides PUT sequentially over one reused connection: the backend through
# storage_put() (SigV4 with the payload's SHA-256, retries armed), curl with one
# process and N -T/URL pairs (--aws-sigv4, UNSIGNED payload). s3rver checks no
# signature, so both are accepted (curl 7.88 omits x-amz-content-sha256, which
# s3rver requires, so the script adds it). Needs `make build s3deps`.
set -euo pipefail

N=${1:-50}
SIZE_KIB=${2:-1024}
ROUNDS=${3:-5}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
S3RVER=$REPO/tests/s3/node_modules/.bin/s3rver
for f in "$BUILD/s3_put" "$S3RVER"; do
  [ -x "$f" ] || { echo "missing $f: run make build s3deps" >&2; exit 2; }
done

work=$(mktemp -d)
s3pid=
cleanup() {
  if [ -n "$s3pid" ]; then kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node_opts=
if node --openssl-legacy-provider -e 0 2>/dev/null; then
  node_opts=--openssl-legacy-provider # s3rver's list tokens use DES (OpenSSL 3 legacy)
fi
NODE_OPTIONS=$node_opts "$S3RVER" -d "$work/s3" -a 127.0.0.1 -p "$port" --silent \
  --no-vhost-buckets --configure-bucket bench >"$work/s3rver.log" 2>&1 &
s3pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
endpoint="http://127.0.0.1:$port"
head -c $((SIZE_KIB * 1024)) /dev/urandom >"$work/object.bin"

# curl -T: the same bytes, N times in one process (connection reused)
args=()
for i in $(seq 1 "$N"); do
  args+=(-T "$work/object.bin" "$endpoint/bench/users/curl/original/$(printf %06d "$i").png")
done

backend_times=()
curl_times=()
for _ in $(seq 1 "$ROUNDS"); do
  backend_times+=("$(cd "$work" && env -i PATH="$PATH" DATA_DIR="$work/data" SPACES_KEY=S3RVER \
    SPACES_SECRET=S3RVER STORAGE_ENDPOINT_URL="$endpoint" SPACES_BUCKET=bench \
    "$BUILD/s3_put" "$work/object.bin" "$N" 2>/dev/null)")
  t0=$(date +%s.%N)
  curl -sS --fail -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -H "Expect:" -H "Content-Type: image/png" \
    "${args[@]}"
  t1=$(date +%s.%N)
  curl_times+=("$(echo "$t1 - $t0" | bc -l)")
done

/usr/bin/python3 - "$N" "$SIZE_KIB" "${backend_times[*]}" "${curl_times[*]}" <<'PY'
import sys
n, kib = int(sys.argv[1]), int(sys.argv[2])
bs, cs = [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
b, c = min(bs), min(cs)
mib = n * kib / 1024
print(f"{n} PUTs of {kib} KiB to s3rver, best of {len(bs)} alternating rounds")
print("backend rounds (s): " + " ".join(f"{x:.3f}" for x in bs))
print("curl rounds (s):    " + " ".join(f"{x:.3f}" for x in cs))
print(f"backend (storage_put): {b:7.3f} s  {mib / b:8.1f} MiB/s  {1000 * b / n:6.1f} ms/PUT")
print(f"curl -T:               {c:7.3f} s  {mib / c:8.1f} MiB/s  {1000 * c / n:6.1f} ms/PUT")
print(f"ratio backend/curl throughput: {c / b:.2f}")
PY
