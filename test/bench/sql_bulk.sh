#!/usr/bin/env bash
# sql_bulk.sh - SQL benchmark of batched scoring (part of `make sqlbench`).
#
# On a throwaway cluster: ROWS seeded random ternary rows of DIMS elements
# (test/bench/gen_rows.c), an rsr index, then queries per second of the
# exact top N for 16 and 64 queries answered as
#   - separate index-scan queries (SELECT ... ORDER BY v <#> q LIMIT N),
#   - one LATERAL join over the queries (an index scan per query),
#   - one rsr_topk() call (batched kernel, one pass per 64 queries).
# The three answers are compared first; each timing is the median of REPS
# runs after a warm-up.  Environment: ROWS (1000000), DIMS (1024),
# KIND (ternary | binary), N (10), REPS (3), THREADS (1), KEEP=1 keeps the
# cluster running and prints how to reach it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/pgenv.sh

ROWS=${ROWS:-1000000}
DIMS=${DIMS:-1024}
KIND=${KIND:-ternary}
N=${N:-10}
REPS=${REPS:-3}
THREADS=${THREADS:-1}
[ "$KIND" = ternary ] && TYPE=tvec && OPC=tvec_ip_ops
[ "$KIND" = binary ] && TYPE=bit && OPC=bit_ip_ops

base_packages
make -s WERROR=1
make_tmp_install
cc -O2 -o test/bench/gen_rows test/bench/gen_rows.c

work=$(mktemp -d /tmp/rsr_vector_sqlbench.XXXXXX)
chmod 755 "$work"
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT; stop with: pg_ctl -D $work/db/data stop"
		return
	fi
	stop_cluster "$work/db" "$TMP_BINDIR"
	rm -rf "$work"
}
trap cleanup EXIT
start_cluster "$work/db" "$TMP_BINDIR" "shared_buffers = 1GB" "max_parallel_workers_per_gather = 0" \
	"jit = off" "rsr_vector.threads = $THREADS"
psql_() { as_pg "$TMP_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@" postgres; }

echo "== $ROWS x $DIMS $KIND rows, top $N, $THREADS kernel thread(s), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
psql_ -c "CREATE EXTENSION rsr_vector" \
	-c "CREATE TABLE docs (id int, v $TYPE($DIMS))"
t0=$(date +%s.%N)
test/bench/gen_rows "$KIND" "$ROWS" "$DIMS" 2 | psql_ -c "COPY docs FROM STDIN (FORMAT binary)"
t1=$(date +%s.%N)
psql_ -c "CREATE INDEX docs_idx ON docs USING rsr (v $OPC)" -c "VACUUM ANALYZE docs"
t2=$(date +%s.%N)
printf 'load %.1f s, index build + vacuum %.1f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
psql_ -At -c "SELECT 'index: ' || rsr_index_info('docs_idx')::text"

psql_ <<SQL
SELECT setseed(0.5) AS seed \gset
CREATE TABLE queries AS
SELECT i, array(SELECT (random() * 2 - 1)::real FROM generate_series(1, $DIMS + 0 * i)) AS q
FROM generate_series(1, 64) i;

-- Seconds of one run of each method for the first nq queries
CREATE FUNCTION run_scans(nq int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz := clock_timestamp(); qq real[]; r record;
BEGIN
	FOR qq IN SELECT q FROM queries WHERE i <= nq ORDER BY i LOOP
		FOR r IN EXECUTE 'SELECT id FROM docs ORDER BY v <#> \$1 LIMIT $N' USING qq LOOP
		END LOOP;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t);
END \$\$;
CREATE FUNCTION run_lateral(nq int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz := clock_timestamp();
BEGIN
	PERFORM count(*) FROM (SELECT * FROM queries WHERE i <= nq) q
	CROSS JOIN LATERAL (SELECT id FROM docs ORDER BY v <#> q.q LIMIT $N) d;
	RETURN extract(epoch FROM clock_timestamp() - t);
END \$\$;
CREATE FUNCTION run_topk(nq int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz := clock_timestamp();
BEGIN
	PERFORM count(*) FROM rsr_topk('docs_idx', (SELECT array_agg(q ORDER BY i) FROM queries WHERE i <= nq), $N);
	RETURN extract(epoch FROM clock_timestamp() - t);
END \$\$;
CREATE FUNCTION median(float8[]) RETURNS float8 LANGUAGE sql AS
'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(\$1) x';
SQL

echo "== check: rsr_topk, index scans and a sequential scan agree (16 queries)"
psql_ -At <<SQL
SET enable_seqscan = off;
CREATE TEMP TABLE by_scan AS
SELECT q.i, d.id, row_number() OVER (PARTITION BY q.i ORDER BY d.ord) AS rn
FROM queries q CROSS JOIN LATERAL
	(SELECT id, row_number() OVER () AS ord FROM (SELECT id FROM docs ORDER BY v <#> q.q LIMIT $N) s) d
WHERE q.i <= 16;
CREATE TEMP TABLE by_topk AS
SELECT t.query AS i, d.id, row_number() OVER (PARTITION BY t.query ORDER BY t.ord) AS rn
FROM rsr_topk('docs_idx', (SELECT array_agg(q ORDER BY i) FROM queries WHERE i <= 16), $N)
	 WITH ORDINALITY AS t(query, tid, score, ord)
JOIN docs d ON d.ctid = t.tid;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE by_seq AS
SELECT q.i, d.id, d.rn FROM queries q CROSS JOIN LATERAL
	(SELECT id, row_number() OVER (ORDER BY v <#> q.q, ctid) AS rn FROM docs) d
WHERE q.i <= 2 AND d.rn <= $N;
SELECT CASE WHEN (SELECT count(*) FROM by_topk) = 16 * $N
			 AND NOT EXISTS (SELECT * FROM by_scan EXCEPT SELECT * FROM by_topk)
			 AND NOT EXISTS (SELECT * FROM by_seq EXCEPT SELECT * FROM by_topk WHERE i <= 2)
	   THEN 'ok: same rows in the same order'
	   ELSE 'MISMATCH' END;
SQL

echo "== queries per second (median of $REPS runs after a warm-up)"
for nq in 16 64; do
	psql_ -At <<SQL
SELECT run_scans(1) + run_lateral(1) + run_topk(1) AS warm \gset
WITH r AS (SELECT array_agg(run_scans($nq)) s, array_agg(run_lateral($nq)) l, array_agg(run_topk($nq)) t
		   FROM generate_series(1, $REPS))
SELECT format('%s queries: index scans %s q/s (%s s), LATERAL %s q/s (%s s), rsr_topk %s q/s (%s s); rsr_topk / index scans = %sx',
			  $nq, round(($nq / median(s))::numeric, 1), round(median(s)::numeric, 3),
			  round(($nq / median(l))::numeric, 1), round(median(l)::numeric, 3),
			  round(($nq / median(t))::numeric, 1), round(median(t)::numeric, 3),
			  round((median(s) / median(t))::numeric, 1))
FROM r;
SQL
done
