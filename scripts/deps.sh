#!/usr/bin/env bash
# Installs the Debian packages NovaDraw needs to build, run and test, only those
# that are missing. Idempotent and quiet when everything is there.
#   scripts/deps.sh          build + run + test packages
#   scripts/deps.sh --check  only report what is missing (exit 1 if anything is)
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config
  # make fuzz: Debian's clang, and libFuzzer's runtime (only recommended by clang)
  clang libclang-rt-14-dev
  # libraries (each wrapped by one module)
  libmicrohttpd-dev libvips-dev libjansson-dev libjwt-dev libsqlite3-dev libpq-dev libssl-dev
  libcurl4-openssl-dev libargon2-dev libavformat-dev libavcodec-dev libavutil-dev libswresample-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us libarchive-dev zlib1g-dev
  # tests and benchmarks (boto3/botocore: the independent S3 client and SigV4 oracle)
  postgresql curl python3 python3-pytest python3-requests python3-jwt python3-pil wrk
  python3-boto3 python3-botocore espeak-ng ffmpeg
  # the web app's tests: headless, driven by npm playwright-core (make browser)
  chromium
  # `promtool check metrics` (only the binary: the prometheus service is kept from
  # starting, see below) and `systemd-analyze verify` for contrib/novadraw.service
  prometheus systemd
)
# node + npm run the test S3 server (s3rver, installed by `make s3deps` into tests/s3).
# A node from elsewhere (e.g. nodesource, which bundles npm) is fine: only install
# Debian's when there is none, since the two conflict.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "missing packages: ${missing[*]}"
  exit 1
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
others=()
want_prometheus=false
for p in "${missing[@]}"; do
  if [ "$p" = prometheus ]; then want_prometheus=true; else others+=("$p"); fi
done
if [ ${#others[@]} -gt 0 ]; then
  $sudo apt-get install -y -q "${others[@]}"
fi
if $want_prometheus; then
  # The package would start a Prometheus server listening on 0.0.0.0:9090 (and pull in
  # node-exporter, another listener, as a recommendation). Tests need only promtool:
  # no recommends, a policy-rc.d that forbids starting services during the install,
  # and the unit disabled afterwards where systemd runs.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$guard" >/dev/null
    $sudo chmod 755 "$guard"
  fi
  rc=0
  $sudo apt-get install -y -q --no-install-recommends prometheus || rc=$?
  if [ -n "$guard" ]; then
    $sudo rm -f "$guard"
  fi
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  exit $rc
fi
