#!/usr/bin/env bash
# The database cost per edit of SPEC §14's guards (build/guards_bench): a rate-limit
# check, an idempotency key's claim and stored answer, a replay; on SQLite (a fresh
# database in a temporary DATA_DIR), then on a throwaway PostgreSQL cluster.
#   bench/guards.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
N=${2:-500}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && DATA_DIR="$dir" "$OLDPWD/$BUILD/guards_bench" "$N")
scripts/pg.sh run sh -c "cd '$dir' && DATA_DIR='$dir' DATABASE_URL=\"\$NOVADRAW_TEST_DATABASE_URL\" '$PWD/$BUILD/guards_bench' $N"
