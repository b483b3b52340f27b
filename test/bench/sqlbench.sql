-- sqlbench.sql - SQL benchmark of the rsr index (run by test/bench/sqlbench.sh
-- on a throwaway cluster whose tables bin and tern are loaded).
-- Prints build time, index size against the packed bits plus TIDs, and
-- top-10 latency through the index and through a sequential scan, medians
-- over repeated runs of several random queries.
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
FROM generate_series(1, :nqueries) qi;

-- Build
\echo == build
SELECT now() AS t0 \gset
CREATE INDEX bin_idx ON bin USING rsr (v bit_ip_ops);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS bin_build_s \gset
SELECT now() AS t0 \gset
CREATE INDEX tern_idx ON tern USING rsr (v tvec_ip_ops);
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS tern_build_s \gset
SELECT 'binary' AS kind, :bin_build_s AS build_s,
	   pg_relation_size('bin_idx') / 1048576 AS index_mb,
	   round(pg_relation_size('bin_idx')::numeric / (count(*) * (128 + 6)), 3) AS vs_packed_tids
FROM bin
UNION ALL
SELECT 'ternary', :tern_build_s, pg_relation_size('tern_idx') / 1048576,
	   round(pg_relation_size('tern_idx')::numeric / (count(*) * (256 + 6)), 3)
FROM tern;

-- Top-10 latency: warm the caches, then time each query
SELECT count(*) FROM bin;
SELECT count(*) FROM tern;
\echo == top-10 latency (ms, median over queries of the median of :runs runs)
CREATE TABLE results (kind text, plan text, threads int, ms float8);
SET max_parallel_workers_per_gather = 0;
SET rsr_vector.threads = 1;
SET enable_seqscan = off;
INSERT INTO results SELECT 'binary', 'index', 1, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM bin ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
INSERT INTO results SELECT 'ternary', 'index', 1, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM tern ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
SET rsr_vector.threads = 2;
INSERT INTO results SELECT 'binary', 'index', 2, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM bin ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
INSERT INTO results SELECT 'ternary', 'index', 2, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM tern ORDER BY v <#> %L::real[] LIMIT 10', q), :runs)) FROM queries));
RESET enable_seqscan;
SET enable_indexscan = off;
INSERT INTO results SELECT 'binary', 'seqscan', 1, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM bin ORDER BY v <#> %L::real[] LIMIT 10', q), :seqruns)) FROM queries));
INSERT INTO results SELECT 'ternary', 'seqscan', 1, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM tern ORDER BY v <#> %L::real[] LIMIT 10', q), :seqruns)) FROM queries));
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
INSERT INTO results SELECT 'binary', 'seqscan', 2, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM bin ORDER BY v <#> %L::real[] LIMIT 10', q), :seqruns)) FROM queries));
INSERT INTO results SELECT 'ternary', 'seqscan', 2, median(ARRAY(SELECT median(time_runs(format('SELECT id FROM tern ORDER BY v <#> %L::real[] LIMIT 10', q), :seqruns)) FROM queries));
RESET enable_indexscan;

SELECT r.kind, r.threads,
	   round(i.ms::numeric, 1) AS index_ms,
	   round(r.ms::numeric, 1) AS seqscan_ms,
	   round((r.ms / i.ms)::numeric, 1) AS speedup
FROM results r JOIN results i ON i.kind = r.kind AND i.threads = r.threads AND i.plan = 'index'
WHERE r.plan = 'seqscan'
ORDER BY 1, 2;

-- The plan a user gets at default settings
\echo == default plan
RESET ALL;
SET jit = off;
EXPLAIN (COSTS OFF) SELECT id FROM bin ORDER BY v <#> (SELECT q FROM queries WHERE qi = 1) LIMIT 10;
