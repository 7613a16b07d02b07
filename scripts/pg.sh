#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks.
#   scripts/pg.sh start DIR   initdb in DIR, start on a free 127.0.0.1 port, create the
#                             database "novadraw", print its DATABASE_URL (also in DIR/url)
#   scripts/pg.sh stop DIR    stop the cluster and remove DIR
#   scripts/pg.sh run CMD...  start one in a new temporary folder, run CMD with
#                             NOVADRAW_TEST_DATABASE_URL set to it, then stop and remove it
#                             (also when CMD fails or is interrupted); exits with CMD's status
# As root (CI), the cluster runs as the postgres user (PostgreSQL refuses root) and DIR is
# handed to it; otherwise it runs as the current user. The superuser "novadraw" has a
# random password (TCP, scram) and the server listens on 127.0.0.1 and a socket in DIR
# only. Durability is off (fsync, synchronous_commit): the data is thrown away anyway.
# stop removes only a directory that start made (it holds the marker .novadraw-pg).
set -euo pipefail

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  for v in 17 16 15 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
      PGBIN=/usr/lib/postgresql/$v/bin
      break
    fi
  done
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "pg.sh: initdb not found (install postgresql, or set PGBIN)" >&2
  exit 1
fi

usage() {
  echo "usage: scripts/pg.sh start|stop DIR | run CMD..." >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
shift
if [ "$cmd" = run ]; then
  dir=$(mktemp -d /tmp/novadraw-pg.XXXXXX)
else
  [ $# -eq 1 ] || usage
  dir=$1
fi

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -n "$(ls -A "$dir")" ]; then
    echo "pg.sh: $dir is not empty" >&2
    exit 1
  fi
  touch "$dir/.novadraw-pg"
  chmod 700 "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir" "$dir/.novadraw-pg"
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "pg.sh: the postgres user cannot write $dir (choose a folder under /tmp)" >&2
      exit 1
    fi
  fi

  local pass
  pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  ( umask 077 && printf '%s\n' "$pass" >"$dir/pwfile" )
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/pwfile"
  as_owner "$PGBIN/initdb" -D "$dir/data" -U novadraw --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"

  local port ok=0
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c max_connections=300" start >/dev/null; then
      ok=1
      break
    fi
  done
  if [ $ok -ne 1 ]; then
    echo "pg.sh: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
  as_owner "$PGBIN/psql" -X -q -h "$dir" -p "$port" -U novadraw -d postgres \
    -v ON_ERROR_STOP=1 -c "CREATE DATABASE novadraw" >/dev/null
  local url="postgresql://novadraw:$pass@127.0.0.1:$port/novadraw"
  ( umask 077 && printf '%s\n' "$url" >"$dir/url" )
  echo "$url"
}

stop() {
  if [ ! -d "$dir" ]; then
    return 0
  fi
  if [ ! -e "$dir/.novadraw-pg" ]; then
    echo "pg.sh: $dir was not made by pg.sh start; not removing it" >&2
    exit 1
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

run() {
  trap stop EXIT
  trap 'exit 130' INT TERM
  local url
  url=$(start)
  echo "pg.sh: PostgreSQL ${url%%://*}://novadraw:***@${url#*@} in $dir" >&2
  NOVADRAW_TEST_DATABASE_URL=$url "$@"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  run) run "$@" ;;
  *) usage ;;
esac
