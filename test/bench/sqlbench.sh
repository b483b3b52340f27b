#!/usr/bin/env bash
# sqlbench.sh - `make sqlbench`: the SQL benchmark of the rsr index on a
# throwaway cluster: ROWS (default 1000000) rows of 1024-dim binary and
# ternary embeddings, index build time and size, top-10 latency with the
# index and with a sequential scan (1 and 2 threads).  Not part of
# `make test`.  Environment: ROWS, QUERIES (default 5), RUNS (default 7),
# SEQRUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/pgenv.sh

ROWS=${ROWS:-1000000}
QUERIES=${QUERIES:-5}
RUNS=${RUNS:-7}
SEQRUNS=${SEQRUNS:-3}

base_packages
make -s WERROR=1
make_tmp_install
cc -O2 -o test/bench/gen_rows test/bench/gen_rows.c

work=$(mktemp -d /tmp/rsr_vector_sqlbench.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/bench" "$TMP_BINDIR"; rm -rf "$work"' EXIT
start_cluster "$work/bench" "$TMP_BINDIR" "shared_buffers = 2GB" "max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" "max_parallel_workers_per_gather = 2"

psql_() { as_pg "$TMP_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== loading $ROWS binary and $ROWS ternary rows of 1024 dimensions"
psql_ -c "CREATE EXTENSION rsr_vector" \
	-c "CREATE TABLE bin (id int, v bit(1024))" \
	-c "CREATE TABLE tern (id int, v tvec(1024))"
start=$(date +%s.%N)
test/bench/gen_rows binary "$ROWS" 1024 1 | psql_ -c "COPY bin FROM STDIN (FORMAT binary)"
test/bench/gen_rows ternary "$ROWS" 1024 2 | psql_ -c "COPY tern FROM STDIN (FORMAT binary)"
psql_ -c "VACUUM ANALYZE bin" -c "VACUUM ANALYZE tern" -c "CHECKPOINT"
echo "loaded in $(echo "$(date +%s.%N) - $start" | bc) s"

psql_ -v nqueries="$QUERIES" -v runs="$RUNS" -v seqruns="$SEQRUNS" -f test/bench/sqlbench.sql
