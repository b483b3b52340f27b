#!/usr/bin/env bash
# sql_scaling.sh - top-10 latency against row count, rsr index against a
# sequential scan with the same operator (part of `make sqlbench`).
#
# On a throwaway cluster: the first S rows of seeded random 1024-dimension
# binary and ternary embeddings (test/bench/gen_rows.c) for each S in
# SIZES, an rsr index with the default options, then the median over
# QUERIES random queries of the best of RUNS runs (after a warm-up; the
# best, not the median, because the machines are shared) of
# SELECT id ... ORDER BY v <#> q LIMIT 10, once through the index and once
# by a sequential scan (one process, rsr_vector.threads = 1, no parallel
# workers).  Writes the numbers to OUT.csv and a log-log chart to OUT.svg
# (drawn by this script, no plotting package needed).
# Environment: SIZES ("10000 30000 100000 300000 1000000"), QUERIES (3),
# RUNS (3), OUT (docs/img/sql_latency).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/pgenv.sh

SIZES=${SIZES:-10000 30000 100000 300000 1000000}
QUERIES=${QUERIES:-3}
RUNS=${RUNS:-3}
OUT=${OUT:-docs/img/sql_latency}
MAX=$(printf '%s\n' $SIZES | sort -n | tail -n 1)

base_packages
make -s WERROR=1
make_tmp_install
cc -O2 -o test/bench/gen_rows test/bench/gen_rows.c
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

work=$(mktemp -d /tmp/rsr_vector_scaling.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/bench" "$TMP_BINDIR"; rm -rf "$work"' EXIT
start_cluster "$work/bench" "$TMP_BINDIR" "shared_buffers = 1GB" "max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" "max_parallel_workers_per_gather = 0" "jit = off"
psql_() { as_pg "$TMP_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== machine: $machine, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== loading $MAX binary and $MAX ternary rows of 1024 dimensions"
psql_ -c "CREATE EXTENSION rsr_vector" \
	-c "CREATE TABLE bin_all (id int, v bit(1024))" \
	-c "CREATE TABLE tern_all (id int, v tvec(1024))"
test/bench/gen_rows binary "$MAX" 1024 1 | psql_ -c "COPY bin_all FROM STDIN (FORMAT binary)"
test/bench/gen_rows ternary "$MAX" 1024 2 | psql_ -c "COPY tern_all FROM STDIN (FORMAT binary)"

psql_ -v nqueries="$QUERIES" <<'SQL'
CREATE FUNCTION time_runs(stmt text, runs int) RETURNS float8[]
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	ms float8[] := '{}';
BEGIN
	EXECUTE stmt;
	FOR i IN 1 .. runs LOOP
		t0 := clock_timestamp();
		EXECUTE stmt;
		ms := ms || (extract(epoch FROM clock_timestamp() - t0) * 1000);
	END LOOP;
	RETURN ms;
END
$$;
CREATE FUNCTION best(float8[]) RETURNS float8
LANGUAGE sql AS $$ SELECT min(x) FROM unnest($1) x $$;
CREATE FUNCTION median(float8[]) RETURNS float8
LANGUAGE sql AS $$ SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest($1) x $$;
SELECT setseed(0.5);
CREATE TABLE queries AS
SELECT qi, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 1024 + 0 * qi)) AS q
FROM generate_series(1, :nqueries) qi;
CREATE TABLE results (kind text, plan text, nrows int, ms float8);
SQL

# One size of one kind: copy the first rows, index them, time both plans
measure() {
	local kind=$1 src=$2 opc=$3 n=$4
	psql_ -v n="$n" -v runs="$RUNS" -v kind="$kind" -v src="$src" -v opc="$opc" <<'SQL'
SET rsr_vector.threads = 1;
DROP TABLE IF EXISTS t;
CREATE TABLE t AS SELECT * FROM :src ORDER BY id LIMIT :n;
VACUUM ANALYZE t;
CREATE INDEX t_idx ON t USING rsr (v :opc);
SELECT count(*) FROM t \g /dev/null
SET enable_seqscan = off;
INSERT INTO results SELECT :'kind', 'index', :n, median(ARRAY(SELECT best(time_runs(
	format('SELECT id FROM t ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
RESET enable_seqscan;
SET enable_indexscan = off;
INSERT INTO results SELECT :'kind', 'seqscan', :n, median(ARRAY(SELECT best(time_runs(
	format('SELECT id FROM t ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
SQL
}
for n in $SIZES; do
	echo "== $n rows"
	measure binary bin_all bit_ip_ops "$n"
	measure ternary tern_all tvec_ip_ops "$n"
done

echo "== top-10 latency (ms), load $(cut -d' ' -f1-3 /proc/loadavg)"
psql_ -c "SELECT i.kind, i.nrows AS rows, round(i.ms::numeric, 2) AS index_ms,
	round(s.ms::numeric, 2) AS seqscan_ms, round((s.ms / i.ms)::numeric, 1) AS speedup
	FROM results i JOIN results s USING (kind, nrows)
	WHERE i.plan = 'index' AND s.plan = 'seqscan' ORDER BY 1, 2"
mkdir -p "$(dirname "$OUT")"
psql_ -A -t -F, -c "SELECT kind, plan, nrows, round(ms::numeric, 3) FROM results ORDER BY 1, 2, 3" >"$OUT.csv"
note="$(date -u +%Y-%m-%d), $machine, load $(cut -d' ' -f1 /proc/loadavg), rsr_vector.threads = 1"
bash test/bench/latency_svg.sh "$note" <"$OUT.csv" >"$OUT.svg"
echo "wrote $OUT.csv and $OUT.svg"
