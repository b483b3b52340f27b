#!/usr/bin/env bash
# sql_writes.sh - SQL benchmark of writes into an rsr index (part of
# `make sqlbench`).
#
# On a throwaway cluster (synchronous_commit = off, autovacuum off): rows
# of 1024 bits, copied by pgbench one per transaction from a table of
# SRC seeded random rows (test/bench/gen_rows.c) into a table that starts
# with BASE rows, for SECS seconds with 1 and with 4 clients, without and
# with an rsr index; then the index size after ROUNDS rounds of delete 30%
# / VACUUM / insert as many, against a fresh build (REINDEX) on the same
# rows.  The WAL written per insert comes from pg_current_wal_lsn() around
# each run.  The churn runs again deleting the oldest rows (retention),
# on 1024-bit and on 1024-dimension ternary rows, and on WIDE_BASE ternary
# rows of WIDE dimensions.  Environment: BASE (20000), SRC (20000), SECS (15), ROUNDS
# (10), WIDE (3072), WIDE_BASE (5000).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/pgenv.sh

BASE=${BASE:-20000}
SRC=${SRC:-20000}
SECS=${SECS:-15}
ROUNDS=${ROUNDS:-10}
WIDE=${WIDE:-3072}
WIDE_BASE=${WIDE_BASE:-5000}

base_packages
make -s WERROR=1
make_tmp_install
cc -O2 -o test/bench/gen_rows test/bench/gen_rows.c

work=$(mktemp -d /tmp/rsr_vector_sqlbench.XXXXXX)
chmod 755 "$work"
trap 'stop_cluster "$work/db" "$TMP_BINDIR"; rm -rf "$work"' EXIT
start_cluster "$work/db" "$TMP_BINDIR" "shared_buffers = 512MB" "synchronous_commit = off" \
	"autovacuum = off" "max_connections = 20" "jit = off" "max_wal_size = 4GB"
psql_() { PGOPTIONS="-c client_min_messages=warning" as_pg "$TMP_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
	-h "$PGHOST" -p "$PGPORT" -U postgres "$@" postgres; }

echo "== writes: 1024-bit rows, base $BASE rows, ${SECS}s per run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
psql_ -c "CREATE EXTENSION rsr_vector" \
	-c "CREATE TABLE src (id int, v bit(1024))"
test/bench/gen_rows binary "$SRC" 1024 3 | psql_ -c "COPY src FROM STDIN (FORMAT binary)"
psql_ -c "CREATE UNIQUE INDEX ON src (id)" -c "CREATE SEQUENCE ids" -c "VACUUM ANALYZE src"

script=$work/insert.sql
cat >"$script" <<SQL
\set r random(1, $SRC)
INSERT INTO w SELECT nextval('ids'), v FROM src WHERE id = :r;
SQL
chmod 644 "$script"

# Inserts per second of `clients` clients into w, with or without an
# index, and the WAL bytes per insert: "tps wal"
run() {
	local index=$1 clients=$2 out lsn tps n wal
	psql_ -c "DROP TABLE IF EXISTS w" -c "CREATE TABLE w (id bigint, v bit(1024))" \
		-c "INSERT INTO w SELECT id, v FROM src WHERE id <= $BASE"
	[ "$index" = rsr ] && psql_ -c "CREATE INDEX w_idx ON w USING rsr (v bit_ip_ops)"
	psql_ -c "VACUUM ANALYZE w" -c "CHECKPOINT"
	lsn=$(psql_ -At -c "SELECT pg_current_wal_lsn()")
	out=$(as_pg "$TMP_BINDIR/pgbench" -n -c "$clients" -j "$clients" -T "$SECS" -f "$script" \
		-h "$PGHOST" -p "$PGPORT" -U postgres postgres 2>/dev/null)
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	wal=$(psql_ -At -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn') / $n")
	echo "$tps $wal"
}

for clients in 1 4; do
	read -r plain plainwal < <(run none "$clients")
	read -r indexed indexedwal < <(run rsr "$clients")
	printf 'inserts/s, %d client(s): no index %.0f, rsr index %.0f (%.2fx); WAL bytes/insert %.0f / %.0f; load %s\n' \
		"$clients" "$plain" "$indexed" "$(echo "$indexed / $plain" | bc -l)" \
		"$plainwal" "$indexedwal" "$(cut -d' ' -f1 /proc/loadavg)"
done

# Churn: ROUNDS x (delete 30%, VACUUM, insert as many), then REINDEX, on
# a table of `base` rows of column type `type` (opclass `ops`) copied from
# the table `src`; the rows deleted are random ones, or with `oldest` the
# oldest (retention: whole blocks die)
churn() {
	local type=$1 ops=$2 src=$3 base=$4 which=${5:-random} start deleted churned info fresh cond
	cond="random() < 0.3"
	[ "$which" = oldest ] &&
		cond="id < (SELECT percentile_disc(0.3) WITHIN GROUP (ORDER BY id) FROM w)"
	psql_ -c "DROP TABLE IF EXISTS w" -c "CREATE TABLE w (id bigint, v $type)" \
		-c "INSERT INTO w SELECT id, v FROM $src WHERE id <= $base" \
		-c "CREATE INDEX w_idx ON w USING rsr (v $ops)" -c "SELECT setval('ids', $base)" >/dev/null
	start=$(psql_ -At -c "SELECT pg_relation_size('w_idx')")
	for round in $(seq 1 "$ROUNDS"); do
		deleted=$(psql_ -At -c "WITH d AS (DELETE FROM w WHERE $cond RETURNING 1) SELECT count(*) FROM d")
		psql_ -c "VACUUM w"
		psql_ -c "INSERT INTO w SELECT nextval('ids'), v FROM $src WHERE id <= $deleted"
	done
	churned=$(psql_ -At -c "SELECT pg_relation_size('w_idx')")
	info=$(psql_ -At -c "SELECT rsr_index_info('w_idx')->>'dead_rows', rsr_index_info('w_idx')->>'free_pages'")
	psql_ -c "REINDEX INDEX w_idx"
	fresh=$(psql_ -At -c "SELECT pg_relation_size('w_idx')")
	printf '%s: index after %d churn rounds (%s 30%%): %d kB (built %d kB), fresh build %d kB: %.2fx; dead rows|free pages left %s\n' \
		"$type" "$ROUNDS" "$which" $((churned / 1024)) $((start / 1024)) $((fresh / 1024)) \
		"$(echo "$churned / $fresh" | bc -l)" "$info"
}

churn "bit(1024)" bit_ip_ops src "$BASE"
churn "bit(1024)" bit_ip_ops src "$BASE" oldest

# Retention on ternary rows of 1024 dimensions (tile blocks of 8.4 kB)
psql_ -c "CREATE TABLE src_tern (id int, v tvec(1024))"
test/bench/gen_rows ternary "$SRC" 1024 5 | psql_ -c "COPY src_tern FROM STDIN (FORMAT binary)"
psql_ -c "CREATE UNIQUE INDEX ON src_tern (id)" -c "VACUUM ANALYZE src_tern"
churn "tvec(1024)" tvec_ip_ops src_tern "$BASE" oldest

# The same on wide rows (blocks on more pages than VACUUM rewrites: it
# retires dead ones and inserts fill dead rows' slots): ternary, WIDE dims
psql_ -c "CREATE TABLE src_wide (id int, v tvec($WIDE))"
test/bench/gen_rows ternary "$WIDE_BASE" "$WIDE" 4 | psql_ -c "COPY src_wide FROM STDIN (FORMAT binary)"
psql_ -c "CREATE UNIQUE INDEX ON src_wide (id)" -c "VACUUM ANALYZE src_wide"
churn "tvec($WIDE)" tvec_ip_ops src_wide "$WIDE_BASE"
