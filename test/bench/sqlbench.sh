#!/usr/bin/env bash
# sqlbench.sh - `make sqlbench`: the SQL benchmark of the rsr index on a
# throwaway cluster: ROWS (default 1000000) rows of 1024-dim binary and
# ternary embeddings.  Reports index build time and size; exact top-10
# latency through the index (1 and 2 threads, and from the backend's copy
# of the index, rsr_vector.scan_cache_size) and through a 2-worker
# sequential scan with the same operator, warm (inside one connection,
# sqlbench.sql) and as the first query of a new connection (here); rsr_topk
# with 16 queries; the engine's own top-10 on the same machine
# (bench_core); and one summary line with the ratios of the targets.
# Not part of `make test`.  Environment: ROWS, QUERIES (queries timed,
# default 5), RUNS (warm runs per query, default 5), SEQRUNS (default 3),
# FIRST (new connections per figure, default 5), OMP_WAIT_POLICY (default
# passive), HUGE_PAGES (off by default; on: the cluster runs with
# huge_pages = on, and as root the script reserves the huge pages it needs
# with vm.nr_hugepages and gives them back at the end), PRELOAD (off by
# default; on: rsr_vector is in shared_preload_libraries, so a new
# connection neither loads the module nor starts without the shared map of
# recent buffers, src/rsrpages.c).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/pgenv.sh

ROWS=${ROWS:-1000000}
QUERIES=${QUERIES:-5}
RUNS=${RUNS:-5}
SEQRUNS=${SEQRUNS:-3}
FIRST=${FIRST:-5}

base_packages
make -s WERROR=1
make -s test/bench/bench_core
make_tmp_install
cc -O2 -o test/bench/gen_rows test/bench/gen_rows.c

# Kernel threads sleep between parallel regions instead of spinning: on a
# busy machine a spinning thread takes the core the backend needs (libgomp
# reads this when the module is loaded, so it must be in the server's
# environment; the engine benchmark gets it too)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# Huge pages for shared_buffers: 2 GB plus the rest of the shared memory
HUGE_PAGES=${HUGE_PAGES:-off}
PRELOAD=${PRELOAD:-off}
preload=
[ "$PRELOAD" = on ] && preload=rsr_vector
hugepages_before=
if [ "$HUGE_PAGES" = on ] && [ "$(id -u)" = 0 ]; then
	hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
	want=$((hugepages_before + 1200))
	echo "$want" >/proc/sys/vm/nr_hugepages
	[ "$(cat /proc/sys/vm/nr_hugepages)" -ge "$want" ] ||
		{ echo "could not reserve 1200 huge pages" >&2; echo "$hugepages_before" >/proc/sys/vm/nr_hugepages; exit 1; }
fi
cleanup() {
	stop_cluster "$work/bench" "$TMP_BINDIR"
	rm -rf "$work"
	[ -n "$hugepages_before" ] && echo "$hugepages_before" >/proc/sys/vm/nr_hugepages
	return 0
}

work=$(mktemp -d /tmp/rsr_vector_sqlbench.XXXXXX)
chmod 755 "$work"
trap cleanup EXIT
start_cluster "$work/bench" "$TMP_BINDIR" "shared_buffers = 2GB" "max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" "max_parallel_workers_per_gather = 2" "huge_pages = $HUGE_PAGES" \
	"shared_preload_libraries = '$preload'"

psql_() { as_pg "$TMP_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres "$@"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== machine: $(nproc) cores, $cpu, load $(load), OMP_WAIT_POLICY=$OMP_WAIT_POLICY, huge_pages=$HUGE_PAGES, preload=$PRELOAD"
echo "== loading $ROWS binary and $ROWS ternary rows of 1024 dimensions"
psql_ -c "CREATE EXTENSION rsr_vector" \
	-c "CREATE TABLE bin (id int, v bit(1024))" \
	-c "CREATE TABLE tern (id int, v tvec(1024))"
start=$(date +%s.%N)
test/bench/gen_rows binary "$ROWS" 1024 1 | psql_ -c "COPY bin FROM STDIN (FORMAT binary)"
test/bench/gen_rows ternary "$ROWS" 1024 2 | psql_ -c "COPY tern FROM STDIN (FORMAT binary)"
psql_ -c "VACUUM ANALYZE bin" -c "VACUUM ANALYZE tern" -c "CHECKPOINT"
echo "loaded in $(echo "$(date +%s.%N) - $start" | bc) s"

psql_ -v rows="$ROWS" -v nqueries="$QUERIES" -v runs="$RUNS" -v seqruns="$SEQRUNS" \
	-f test/bench/sqlbench.sql

# The first query of a new connection: FIRST connections, each runs its
# settings, reads its query, then one timed top-10 (psql's \timing: the
# query's round trip, not the connection).  first KIND TABLE THREADS PLAN
first() {
	local kind=$1 tab=$2 threads=$3 plan=$4 i ms=() settings
	if [ "$plan" = index ]; then
		settings="SET enable_seqscan = off; SET max_parallel_workers_per_gather = 0;"
	elif [ "$plan" = index-copy ]; then
		settings="SET enable_seqscan = off; SET max_parallel_workers_per_gather = 0;
			SET rsr_vector.scan_cache_size = '512MB';"
	else
		settings="SET enable_indexscan = off; SET max_parallel_workers_per_gather = 2;
			SET parallel_setup_cost = 0; SET min_parallel_table_scan_size = 0;"
	fi
	for i in $(seq 1 "$FIRST"); do
		ms+=("$(psql_ <<-SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
			SET jit = off; SET rsr_vector.threads = $threads; $settings
			SELECT q FROM queries WHERE qi = $(( (i - 1) % QUERIES + 1 )) \gset
			\timing on
			SELECT id FROM $tab ORDER BY v <#> :'q'::real[] LIMIT 10 \g /dev/null
		SQL
		)")
	done
	printf '%s\n' "${ms[@]}" | sort -n | awk -v k="$kind" -v p="$plan-first" -v t="$threads" \
		'{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
		  printf "INSERT INTO results VALUES (%s, %s, %d, %s);\n", "'\''" k "'\''", "'\''" p "'\''", t, m }' |
		psql_
}
echo "== first query of a new connection (ms, median of $FIRST connections), load $(load)"
for t in 1 2; do
	first binary bin "$t" index
	first ternary tern "$t" index
done
first binary bin 1 index-copy
first ternary tern 1 index-copy
first binary bin 2 seqscan2
first ternary tern 2 seqscan2
psql_ -c "SELECT kind, what, threads, round(ms::numeric, 1) AS ms FROM results
		  WHERE what LIKE '%first' ORDER BY 1, 2, 3"

# The engine's own exact top-10 over the same number of rows, same machine
echo "== engine: ./test/bench/bench_core --shape 1Mx1024 --rounds 3, load $(load)"
./test/bench/bench_core --shape 1Mx1024 --rounds 3 | tee "$work/core.txt" | grep -E 'tile-top10|tile16|stream'
engine() { awk -v k="$1" -v t="$2" '$2 == k && $3 == t && $4 == "tile-top10" { print $5 }' "$work/core.txt"; }
psql_ -c "INSERT INTO results VALUES ('binary', 'engine', 1, $(engine binary 1)),
		  ('ternary', 'engine', 1, $(engine ternary 1)), ('binary', 'engine', 2, $(engine binary 2)),
		  ('ternary', 'engine', 2, $(engine ternary 2))"

# The table and the summary line of the targets (index at 1 thread, the
# default): seq2_vs_index >= 40 (binary) and >= 25 (ternary),
# first_vs_warm <= 1.5, index_vs_engine <= 2
echo "== results (ms), load $(load)"
psql_ <<-'SQL'
	SELECT r.kind, r.threads,
		   round(max(ms) FILTER (WHERE what = 'index')::numeric, 1) AS index_warm,
		   round(max(ms) FILTER (WHERE what = 'index-first')::numeric, 1) AS index_first,
		   round(max(ms) FILTER (WHERE what = 'index-copy')::numeric, 1) AS copy_warm,
		   round(max(ms) FILTER (WHERE what = 'index-copy-first')::numeric, 1) AS copy_first,
		   round(max(ms) FILTER (WHERE what = 'seqscan2')::numeric, 1) AS seqscan2_warm,
		   round(max(ms) FILTER (WHERE what = 'seqscan2-first')::numeric, 1) AS seqscan2_first,
		   round(max(ms) FILTER (WHERE what = 'topk16')::numeric, 1) AS topk16_call,
		   round(max(ms) FILTER (WHERE what = 'engine')::numeric, 1) AS engine_top10
	FROM results r WHERE what <> 'build' GROUP BY 1, 2 ORDER BY 1, 2;
SQL
psql_ -At <<-'SQL'
	WITH r AS (SELECT kind, what, threads, ms FROM results),
	v AS (SELECT kind,
		  max(ms) FILTER (WHERE what = 'index' AND threads = 1) AS idx,
		  max(ms) FILTER (WHERE what = 'index-first' AND threads = 1) AS idxfirst,
		  max(ms) FILTER (WHERE what = 'seqscan2') AS seq,
		  max(ms) FILTER (WHERE what = 'engine' AND threads = 1) AS eng,
		  max(ms) FILTER (WHERE what = 'index-copy') AS cp,
		  max(ms) FILTER (WHERE what = 'index-copy-first') AS cpfirst
		  FROM r GROUP BY kind)
	SELECT 'summary: ' || string_agg(format('%s: seq2_vs_index=%s first_vs_warm=%s index_vs_engine=%s',
		kind, round((seq / idx)::numeric, 1), round((idxfirst / idx)::numeric, 2),
		round((idx / eng)::numeric, 2)), '; ' ORDER BY kind) || E'\n' ||
		'summary with the copy (scan_cache_size): ' ||
		string_agg(format('%s: seq2_vs_index=%s first_vs_warm=%s index_vs_engine=%s',
		kind, round((seq / cp)::numeric, 1), round((cpfirst / cp)::numeric, 2),
		round((cp / eng)::numeric, 2)), '; ' ORDER BY kind)
	FROM v;
SQL
echo "== load at the end $(load)"
