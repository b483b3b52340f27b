-- sqlbench.sql - SQL benchmark of the rsr index (run by test/bench/sqlbench.sh
-- on a throwaway cluster whose tables bin and tern are loaded).
-- Builds the indexes, then times inside this one connection: top-10 through
-- the index (1 and 2 threads, and from the backend's copy of the index,
-- rsr_vector.scan_cache_size) and through a 2-worker sequential scan with
-- the same operator, and rsr_topk with 16 queries.  Every figure goes into
-- the table results (kind, what, threads, ms): medians over the queries of
-- the median of :runs runs, one warm-up run first.  The first query of a
-- new connection is timed by sqlbench.sh, which also prints the summary.
\set ON_ERROR_STOP 1
SET jit = off;

-- Milliseconds of each run of a statement (one warm-up run first)
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
CREATE FUNCTION median(float8[]) RETURNS float8
LANGUAGE sql AS $$
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest($1) x
$$;
SELECT setseed(0.5);
CREATE TABLE queries AS
SELECT qi, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 1024 + 0 * qi)) AS q
FROM generate_series(1, 16) qi;
-- Median over the queries of the median of `runs` runs of a top-10
CREATE FUNCTION time_top10(tab text, runs int) RETURNS float8
LANGUAGE sql AS $$
SELECT median(ARRAY(
	SELECT median(time_runs(format('SELECT id FROM %I ORDER BY v <#> %L::real[] LIMIT 10',
								   tab, q), runs))
	FROM queries ORDER BY qi))
$$;
CREATE TABLE results (kind text, what text, threads int, ms float8);

-- Build
\echo == build
SELECT clock_timestamp() AS t0 \gset
CREATE INDEX bin_idx ON bin USING rsr (v bit_ip_ops);
INSERT INTO results VALUES ('binary', 'build', 1,
	extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SELECT clock_timestamp() AS t0 \gset
CREATE INDEX tern_idx ON tern USING rsr (v tvec_ip_ops);
INSERT INTO results VALUES ('ternary', 'build', 1,
	extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SELECT r.kind, round((r.ms / 1000)::numeric, 2) AS build_s,
	   round(pg_relation_size(i)::numeric / 1048576, 1) AS index_mb,
	   round(pg_relation_size(i)::numeric / (:rows::numeric * (b + 6)), 3) AS vs_packed_tids
FROM results r
JOIN (VALUES ('binary', 'bin_idx'::regclass, 128), ('ternary', 'tern_idx'::regclass, 256)) x(kind, i, b)
	ON x.kind = r.kind
WHERE r.what = 'build';
CHECKPOINT;

-- Only the first :nqueries queries are timed one by one
DELETE FROM queries WHERE qi > :nqueries;
CREATE TABLE queries16 AS SELECT array_agg(q ORDER BY qi) AS qs FROM
	(SELECT qi, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 1024 + 0 * qi)) AS q
	 FROM generate_series(1, 16) qi) s;

-- Warm the caches (heap and index pages in shared buffers)
SELECT count(*) FROM bin;
SELECT count(*) FROM tern;
SELECT count(*) FROM rsr_scores('bin_idx', (SELECT q FROM queries WHERE qi = 1));
SELECT count(*) FROM rsr_scores('tern_idx', (SELECT q FROM queries WHERE qi = 1));

\echo == top-10 inside one connection (ms, median over queries of the median of :runs runs)
SET max_parallel_workers_per_gather = 0;
SET enable_seqscan = off;
SET rsr_vector.threads = 1;
INSERT INTO results SELECT 'binary', 'index', 1, time_top10('bin', :runs);
INSERT INTO results SELECT 'ternary', 'index', 1, time_top10('tern', :runs);
SET rsr_vector.threads = 2;
INSERT INTO results SELECT 'binary', 'index', 2, time_top10('bin', :runs);
INSERT INTO results SELECT 'ternary', 'index', 2, time_top10('tern', :runs);
-- From the backend's copy of the index (its warm-up run makes the copy)
SET rsr_vector.threads = 1;
SET rsr_vector.scan_cache_size = '512MB';
INSERT INTO results SELECT 'binary', 'index-copy', 1, time_top10('bin', :runs);
INSERT INTO results SELECT 'ternary', 'index-copy', 1, time_top10('tern', :runs);
RESET rsr_vector.scan_cache_size;
RESET enable_seqscan;

-- rsr_topk: 16 queries in one call, exact top 10 of each
SET rsr_vector.threads = 1;
INSERT INTO results SELECT 'binary', 'topk16', 1,
	median(time_runs(format('SELECT count(*) FROM rsr_topk(%L, %L::real[], 10)', 'bin_idx', qs), :runs))
FROM queries16;
INSERT INTO results SELECT 'ternary', 'topk16', 1,
	median(time_runs(format('SELECT count(*) FROM rsr_topk(%L, %L::real[], 10)', 'tern_idx', qs), :runs))
FROM queries16;
SET rsr_vector.threads = 2;
INSERT INTO results SELECT 'binary', 'topk16', 2,
	median(time_runs(format('SELECT count(*) FROM rsr_topk(%L, %L::real[], 10)', 'bin_idx', qs), :runs))
FROM queries16;
INSERT INTO results SELECT 'ternary', 'topk16', 2,
	median(time_runs(format('SELECT count(*) FROM rsr_topk(%L, %L::real[], 10)', 'tern_idx', qs), :runs))
FROM queries16;
SET rsr_vector.threads = 1;

-- Sequential scan with the same operator, on 2 parallel workers
SET enable_indexscan = off;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
INSERT INTO results SELECT 'binary', 'seqscan2', 2, time_top10('bin', :seqruns);
INSERT INTO results SELECT 'ternary', 'seqscan2', 2, time_top10('tern', :seqruns);
RESET ALL;
SET jit = off;

SELECT kind, what, threads, round(ms::numeric, 1) AS ms FROM results
WHERE what <> 'build' ORDER BY 1, 2, 3;

-- The plan a user gets at default settings
\echo == default plan
EXPLAIN (COSTS OFF) SELECT id FROM bin ORDER BY v <#> (SELECT q FROM queries WHERE qi = 1) LIMIT 10;
