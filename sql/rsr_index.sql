-- The rsr index access method: build, insert, delete, VACUUM, update,
-- NULLs, filters, LIMIT/OFFSET, LATERAL, cursors, prepared statements,
-- unlogged tables, options and errors.  Every ordered result is compared
-- with the same query run as a sequential scan, and rsr_index_check()
-- verifies the index against its heap after every change.
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SET enable_bitmapscan = off;

-- Runs a statement and shows its error as SQLSTATE, message and detail
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || msg || CASE WHEN detail <> '' THEN ' / ' || detail ELSE '' END;
END
$$;

-- Ids of a query run with the index only, then with a sequential scan
-- only; returns 'same (n rows)' or both lists
CREATE FUNCTION pg_temp.idx_vs_seq(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	a int[];
	b int[];
	plan text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		EXIT WHEN plan LIKE '%Index Scan using%';
	END LOOP;
	IF plan NOT LIKE '%Index Scan using%' THEN
		RETURN 'index not used';
	END IF;
	EXECUTE 'SELECT array_agg(id) FROM (' || query || ') s' INTO a;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'SELECT array_agg(id) FROM (' || query || ') s' INTO b;
	PERFORM set_config('enable_indexscan', 'on', true);
	IF a IS NOT DISTINCT FROM b THEN
		RETURN 'same (' || coalesce(cardinality(a), 0) || ' rows)';
	END IF;
	RETURN 'index ' || coalesce(a::text, 'none') || ' seqscan ' || coalesce(b::text, 'none');
END
$$;

-- The plan of a query, without the (long) literals of its Order By line
CREATE FUNCTION pg_temp.plan_shape(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		-- PostgreSQL 18 marks the nodes that enable_* settings disfavour
		CONTINUE WHEN line ~ '^\s*Disabled: true$';
		-- PostgreSQL 17 dropped "(returns $0)" from InitPlan lines
		RETURN NEXT regexp_replace(regexp_replace(line, 'Order By: .*', 'Order By: ...'),
								   ' \(returns \$\d+\)', '');
	END LOOP;
END
$$;

-- Seeded random data
CREATE FUNCTION pg_temp.rand_bits(n int) RETURNS varbit
LANGUAGE sql AS $$
SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '')::varbit
FROM generate_series(1, n)
$$;
CREATE FUNCTION pg_temp.rand_query(n int) RETURNS real[]
LANGUAGE sql AS $$
SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, n)
$$;
CREATE FUNCTION pg_temp.rand_tvec(n int) RETURNS tvec
LANGUAGE sql AS $$
SELECT array_agg(floor(random() * 3)::int - 1)::tvec FROM generate_series(1, n)
$$;
SELECT setseed(0.25);

-- Access method and operator classes
SELECT amname, amtype FROM pg_am WHERE amname = 'rsr';
SELECT opcname, opcintype::regtype FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'rsr') ORDER BY 1;

-- Build on an empty table, then inserts fill blocks and start new ones
CREATE TABLE empty_bits (id int, v bit(40));
CREATE INDEX empty_bits_idx ON empty_bits USING rsr (v bit_ip_ops) WITH (k = 4);
SELECT rsr_index_check('empty_bits_idx');
SET enable_seqscan = off;
SELECT id FROM empty_bits ORDER BY v <#> pg_temp.rand_query(40) LIMIT 3;
RESET enable_seqscan;
INSERT INTO empty_bits SELECT i, pg_temp.rand_bits(40)::bit(40) FROM generate_series(1, 9) i;
SELECT rsr_index_check('empty_bits_idx');
CREATE TEMP TABLE q40 AS SELECT pg_temp.rand_query(40) AS q;
SELECT pg_temp.idx_vs_seq('SELECT id FROM empty_bits ORDER BY v <#> (SELECT q FROM q40)');

-- No typmod: the first row decides the dimension, later rows must match
CREATE TABLE empty_tvec (id int, v tvec);
CREATE INDEX empty_tvec_idx ON empty_tvec USING rsr (v tvec_ip_ops);
INSERT INTO empty_tvec VALUES (1, '[1,0,-1,1]'), (2, '[-1,-1,0,1]');
SELECT pg_temp.try($$INSERT INTO empty_tvec VALUES (3, '[1,0,-1]')$$);
SELECT rsr_index_check('empty_tvec_idx');
SET enable_seqscan = off;
SELECT id, v <#> '{1,2,3,4}' AS score FROM empty_tvec ORDER BY v <#> '{1,2,3,4}';
RESET enable_seqscan;

-- Builds over 1, k - 1, k and k + 1 rows, then an insert into each
CREATE TABLE sizes (n int, id int, v bit(20));
INSERT INTO sizes
SELECT n, i, pg_temp.rand_bits(20 + 0 * i)::bit(20)
FROM unnest(ARRAY[1, 4, 5, 6]) n, generate_series(1, n) i;
CREATE TABLE sizes_1 AS SELECT id, v FROM sizes WHERE n = 1;
CREATE TABLE sizes_4 AS SELECT id, v FROM sizes WHERE n = 4;
CREATE TABLE sizes_5 AS SELECT id, v FROM sizes WHERE n = 5;
CREATE TABLE sizes_6 AS SELECT id, v FROM sizes WHERE n = 6;
CREATE INDEX sizes_1_idx ON sizes_1 USING rsr (v bit_ip_ops) WITH (k = 5);
CREATE INDEX sizes_4_idx ON sizes_4 USING rsr (v bit_ip_ops) WITH (k = 5);
CREATE INDEX sizes_5_idx ON sizes_5 USING rsr (v bit_ip_ops) WITH (k = 5);
CREATE INDEX sizes_6_idx ON sizes_6 USING rsr (v bit_ip_ops) WITH (k = 5);
SELECT rsr_index_check('sizes_1_idx'), rsr_index_check('sizes_4_idx'),
	   rsr_index_check('sizes_5_idx'), rsr_index_check('sizes_6_idx');
CREATE TEMP TABLE q20 AS SELECT pg_temp.rand_query(20) AS q;
SELECT pg_temp.idx_vs_seq('SELECT id FROM sizes_1 ORDER BY v <#> (SELECT q FROM q20)') AS rows_1,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_4 ORDER BY v <#> (SELECT q FROM q20)') AS rows_4,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_5 ORDER BY v <#> (SELECT q FROM q20)') AS rows_5,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_6 ORDER BY v <#> (SELECT q FROM q20)') AS rows_6;
INSERT INTO sizes_1 VALUES (100, B'10000000000000000001');
INSERT INTO sizes_4 VALUES (100, B'10000000000000000001');
INSERT INTO sizes_5 VALUES (100, B'10000000000000000001');
INSERT INTO sizes_6 VALUES (100, B'10000000000000000001');
SELECT rsr_index_check('sizes_1_idx'), rsr_index_check('sizes_4_idx'),
	   rsr_index_check('sizes_5_idx'), rsr_index_check('sizes_6_idx');
SELECT pg_temp.idx_vs_seq('SELECT id FROM sizes_1 ORDER BY v <#> (SELECT q FROM q20)') AS rows_1,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_4 ORDER BY v <#> (SELECT q FROM q20)') AS rows_4,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_5 ORDER BY v <#> (SELECT q FROM q20)') AS rows_5,
	   pg_temp.idx_vs_seq('SELECT id FROM sizes_6 ORDER BY v <#> (SELECT q FROM q20)') AS rows_6;

-- Random binary data: build, then inserts, deletes, VACUUM and updates
CREATE TABLE bits (id int, v bit(200), tag int);
INSERT INTO bits SELECT i, pg_temp.rand_bits(200 + 0 * i)::bit(200), i % 7
FROM generate_series(1, 1500) i;
CREATE INDEX bits_idx ON bits USING rsr (v bit_ip_ops);
SELECT rsr_index_check('bits_idx');
CREATE TEMP TABLE q200 AS SELECT i, pg_temp.rand_query(200 + 0 * i) AS q FROM generate_series(1, 3) i;
SELECT pg_temp.plan_shape('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 1) LIMIT 10');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ') LIMIT 10') FROM q200;
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ')') FROM q200;
-- NULLs are not indexed: as with pgvector, an index scan returns only the
-- rows with a value
CREATE TABLE nulls (id int, v bit(8));
INSERT INTO nulls VALUES (1, B'10000000'), (2, NULL), (3, B'11000000');
CREATE INDEX nulls_idx ON nulls USING rsr (v bit_ip_ops);
INSERT INTO nulls VALUES (4, NULL), (5, B'11100000');
SELECT rsr_index_check('nulls_idx');
SET enable_seqscan = off;
SELECT id, v <#> '{1,1,1,1,1,1,1,1}' AS score FROM nulls ORDER BY v <#> '{1,1,1,1,1,1,1,1}';
RESET enable_seqscan;

INSERT INTO bits SELECT i, pg_temp.rand_bits(200 + 0 * i)::bit(200), i % 7
FROM generate_series(1501, 1700) i;
SELECT rsr_index_check('bits_idx');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ') LIMIT 20') FROM q200;

DELETE FROM bits WHERE id % 3 = 0;
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ') LIMIT 20') FROM q200;
VACUUM bits;
SELECT rsr_index_check('bits_idx');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ')') FROM q200;

UPDATE bits SET v = ~v WHERE id % 5 = 1;
SELECT rsr_index_check('bits_idx');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = ' || i || ') LIMIT 50') FROM q200;
VACUUM bits;
SELECT rsr_index_check('bits_idx');

-- Filters stay exact: every matching row comes out, in order
SELECT pg_temp.idx_vs_seq('SELECT id FROM bits WHERE tag = 3 ORDER BY v <#> (SELECT q FROM q200 WHERE i = 2) LIMIT 30');
SELECT pg_temp.idx_vs_seq('SELECT id FROM bits WHERE id BETWEEN 100 AND 110 ORDER BY v <#> (SELECT q FROM q200 WHERE i = 2)');
-- LIMIT and OFFSET
SELECT pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 3) LIMIT 10 OFFSET 200');
SELECT pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 3) OFFSET 1000');
-- Queries of huge dynamic range (the tile kernels' heavy columns and
-- scales): one or three entries of 1e6 among 1e-3, a FLT_MAX/4 scale,
-- denormals (random rows and queries: no exact ties)
CREATE TEMP TABLE qwide AS
SELECT 1 AS i, (SELECT array_agg((CASE WHEN j = 17 THEN 1e6 ELSE (random() - 0.5) * 1e-3 END)::real)
				FROM generate_series(1, 200) j) AS q
UNION ALL
SELECT 2, (SELECT array_agg((CASE WHEN j IN (3, 150) THEN 1e6 WHEN j = 99 THEN -1e6
								  ELSE (random() - 0.5) * 1e-3 END)::real)
		   FROM generate_series(1, 200) j)
UNION ALL
SELECT 3, (SELECT array_agg(((random() - 0.5) * 1.7e38)::real) FROM generate_series(1, 200) j)
UNION ALL
SELECT 4, (SELECT array_agg(((random() - 0.5) * 1e-39)::real) FROM generate_series(1, 200) j);
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM bits ORDER BY v <#> (SELECT q FROM qwide WHERE i = ' || i || ') LIMIT 40')
FROM qwide ORDER BY i;

-- LATERAL: one rescan per outer row, each with its own query
SET enable_seqscan = off;
SELECT pg_temp.plan_shape('SELECT q200.i, b.id FROM q200, LATERAL (SELECT id FROM bits ORDER BY v <#> q200.q LIMIT 3) b');
CREATE TEMP TABLE lateral_idx AS
SELECT q200.i, array_agg(b.id) AS ids FROM q200, LATERAL (SELECT id FROM bits ORDER BY v <#> q200.q LIMIT 5) b GROUP BY 1;
SET enable_seqscan = on;
SET enable_indexscan = off;
CREATE TEMP TABLE lateral_seq AS
SELECT q200.i, array_agg(b.id) AS ids FROM q200, LATERAL (SELECT id FROM bits ORDER BY v <#> q200.q LIMIT 5) b GROUP BY 1;
RESET enable_indexscan;
SELECT i, l.ids = s.ids AS same FROM lateral_idx l JOIN lateral_seq s USING (i) ORDER BY i;

-- Inside a parallel worker: force_parallel_mode runs the whole query under
-- Gather (initplans and temp tables would keep it in the leader, so the
-- query is a literal)
SELECT q AS q1 FROM q200 WHERE i = 1 \gset
-- (named debug_parallel_query since PostgreSQL 16)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET :force_parallel = on;
SET parallel_setup_cost = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_seqscan = off;
SELECT pg_temp.plan_shape(format('SELECT id FROM bits ORDER BY v <#> %L LIMIT 5', :'q1'));
SELECT array_agg(id) FROM (SELECT id FROM bits ORDER BY v <#> :'q1' LIMIT 5) s;
RESET enable_seqscan;
RESET :force_parallel;
RESET parallel_setup_cost;
SET max_parallel_workers_per_gather = 0;
SELECT ids FROM lateral_seq WHERE i = 1;

-- Prepared statement (generic plan) and cursor, against a sequential scan
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
PREPARE top3(int) AS SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = $1) LIMIT 3;
EXECUTE top3(1);
EXECUTE top3(2);
RESET plan_cache_mode;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 1);
FETCH 3 FROM c;
FETCH 2 FROM c;
COMMIT;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 1) LIMIT 5;
SELECT id FROM bits ORDER BY v <#> (SELECT q FROM q200 WHERE i = 2) LIMIT 3;
RESET enable_indexscan;

-- Near ties: rows that differ only in elements whose query entries are
-- tiny; float32 sums cannot tell them apart, the operator (double) can
CREATE TABLE ties (id int, v bit(64));
INSERT INTO ties
SELECT i, (repeat('1', 56) || '0' || (i::bit(7))::text)::bit(64) FROM generate_series(0, 79) i;
INSERT INTO ties
SELECT 100 + i, (repeat('1', 55) || '00' || (i::bit(7))::text)::bit(64) FROM generate_series(0, 9) i;
CREATE INDEX ties_idx ON ties USING rsr (v bit_ip_ops) WITH (k = 8);
CREATE TEMP TABLE qties AS
SELECT array_fill(1000::real, ARRAY[57]) || ARRAY(SELECT (1e-6 * 2 ^ (6 - b))::real FROM generate_series(0, 6) b) AS plus,
	   array_fill(1000::real, ARRAY[57]) || ARRAY(SELECT (-1e-6 * 2 ^ (6 - b))::real FROM generate_series(0, 6) b) AS minus;
SELECT pg_temp.idx_vs_seq('SELECT id FROM ties ORDER BY v <#> (SELECT plus FROM qties) LIMIT 30');
SELECT pg_temp.idx_vs_seq('SELECT id FROM ties ORDER BY v <#> (SELECT minus FROM qties) LIMIT 30');
SELECT pg_temp.idx_vs_seq('SELECT id FROM ties ORDER BY v <#> (SELECT plus FROM qties)');
SET enable_seqscan = off;
SELECT array_agg(id) FROM (SELECT id FROM ties ORDER BY v <#> (SELECT plus FROM qties) LIMIT 12) s;
SELECT array_agg(id) FROM (SELECT id FROM ties ORDER BY v <#> (SELECT minus FROM qties) LIMIT 12) s;
RESET enable_seqscan;

-- Random ternary data, two layouts and several k
CREATE TABLE terns (id int, v tvec(300));
INSERT INTO terns SELECT i, pg_temp.rand_tvec(300 + 0 * i) FROM generate_series(1, 700) i;
CREATE INDEX terns_auto ON terns USING rsr (v tvec_ip_ops);
CREATE INDEX terns_perm ON terns USING rsr (v tvec_ip_ops) WITH (k = 3, layout = perm);
CREATE INDEX terns_bucket ON terns USING rsr (v tvec_ip_ops) WITH (k = 6, layout = bucket);
SELECT rsr_index_check('terns_auto'), rsr_index_check('terns_perm'), rsr_index_check('terns_bucket');
CREATE TEMP TABLE q300 AS SELECT i, pg_temp.rand_query(300 + 0 * i) AS q FROM generate_series(1, 3) i;
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM terns ORDER BY v <#> (SELECT q FROM q300 WHERE i = ' || i || ') LIMIT 25') FROM q300;
INSERT INTO terns SELECT i, pg_temp.rand_tvec(300 + 0 * i) FROM generate_series(701, 750) i;
DELETE FROM terns WHERE id % 4 = 0;
VACUUM terns;
SELECT rsr_index_check('terns_auto'), rsr_index_check('terns_perm'), rsr_index_check('terns_bucket');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM terns ORDER BY v <#> (SELECT q FROM q300 WHERE i = ' || i || ')') FROM q300;
DROP INDEX terns_auto, terns_bucket;
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM terns ORDER BY v <#> (SELECT q FROM q300 WHERE i = ' || i || ') LIMIT 25') FROM q300;

-- Rows wider than a page: one block of rows is several column ranges
CREATE TABLE wide (id int, v tvec(20000));
INSERT INTO wide SELECT i, pg_temp.rand_tvec(20000 + 0 * i) FROM generate_series(1, 30) i;
CREATE INDEX wide_idx ON wide USING rsr (v tvec_ip_ops) WITH (k = 16);
SELECT rsr_index_check('wide_idx');
INSERT INTO wide SELECT i, pg_temp.rand_tvec(20000 + 0 * i) FROM generate_series(31, 40) i;
DELETE FROM wide WHERE id % 3 = 0;
VACUUM wide;
SELECT rsr_index_check('wide_idx');
CREATE TEMP TABLE q20000 AS SELECT pg_temp.rand_query(20000) AS q;
SELECT pg_temp.idx_vs_seq('SELECT id FROM wide ORDER BY v <#> (SELECT q FROM q20000)');

-- REINDEX, TRUNCATE, VACUUM FULL, CREATE INDEX CONCURRENTLY
REINDEX INDEX bits_idx;
SELECT rsr_index_check('bits_idx');
VACUUM FULL terns;
SELECT rsr_index_check('terns_perm');
SELECT i, pg_temp.idx_vs_seq('SELECT id FROM terns ORDER BY v <#> (SELECT q FROM q300 WHERE i = ' || i || ') LIMIT 25') FROM q300;
TRUNCATE sizes_6;
SELECT rsr_index_check('sizes_6_idx');
INSERT INTO sizes_6 VALUES (1, B'11110000111100001111');
SELECT rsr_index_check('sizes_6_idx');
CREATE INDEX CONCURRENTLY bits_cidx ON bits USING rsr (v bit_ip_ops) WITH (k = 16);
SELECT rsr_index_check('bits_cidx');

-- Unlogged table: the init fork holds an empty index
CREATE UNLOGGED TABLE unlogged_bits (id int, v bit(16));
CREATE INDEX unlogged_bits_idx ON unlogged_bits USING rsr (v bit_ip_ops);
INSERT INTO unlogged_bits SELECT i, pg_temp.rand_bits(16 + 0 * i)::bit(16) FROM generate_series(1, 50) i;
SELECT rsr_index_check('unlogged_bits_idx');
SELECT pg_temp.idx_vs_seq('SELECT id FROM unlogged_bits ORDER BY v <#> (SELECT q FROM q20)[1:16] LIMIT 5');

-- Options and errors
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops) WITH (k = 0)');
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops) WITH (k = 17)');
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops) WITH (k = two)');
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops) WITH (layout = diagonal)');
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops) WITH (m = 3)');
SELECT pg_temp.try('CREATE INDEX ON bits USING rsr (v bit_ip_ops, tag)');
SELECT pg_temp.try('ALTER INDEX bits_idx SET (k = 20)');
CREATE TABLE mixed (id int, v varbit);
INSERT INTO mixed VALUES (1, B'101'), (2, B'1011');
SELECT pg_temp.try('CREATE INDEX ON mixed USING rsr (v bit_ip_ops)');
DELETE FROM mixed WHERE id = 2;
CREATE INDEX mixed_idx ON mixed USING rsr (v bit_ip_ops);
SELECT pg_temp.try($$INSERT INTO mixed VALUES (3, B'10')$$);
SET enable_seqscan = off;
SELECT pg_temp.try($$SELECT id FROM bits ORDER BY v <#> '{1,2,3}' LIMIT 1$$);
SELECT pg_temp.try($$SELECT id FROM mixed ORDER BY v <#> '{1,2}' LIMIT 1$$);
SELECT pg_temp.try($$SELECT id FROM mixed ORDER BY v <#> '{{1,2,3}}' LIMIT 1$$);
SELECT pg_temp.try($$SELECT id FROM mixed ORDER BY v <#> '{1,NULL,3}' LIMIT 1$$);
SELECT id FROM mixed ORDER BY v <#> NULL LIMIT 1;
SELECT pg_temp.try($$SELECT rsr_index_check('bits')$$);
SELECT pg_temp.try($$SELECT rsr_index_check('bits_pkey_none')$$);
RESET enable_seqscan;

-- The planner picks the index for ORDER BY <#> LIMIT at default settings
CREATE TABLE plan_bits (id int, v bit(256));
INSERT INTO plan_bits SELECT i, pg_temp.rand_bits(256 + 0 * i)::bit(256) FROM generate_series(1, 3000) i;
CREATE INDEX ON plan_bits USING rsr (v bit_ip_ops);
ANALYZE plan_bits;
RESET enable_bitmapscan;
RESET max_parallel_workers_per_gather;
SELECT pg_temp.plan_shape('SELECT id FROM plan_bits ORDER BY v <#> (SELECT pg_temp.rand_query(256)) LIMIT 10');
-- but not for a scan without ORDER BY
EXPLAIN (COSTS OFF) SELECT id FROM plan_bits WHERE id < 10;

-- The suites share one database: leave nothing behind
DROP TABLE bits, empty_bits, empty_tvec, mixed, nulls, plan_bits, sizes, sizes_1,
	sizes_4, sizes_5, sizes_6, terns, ties, unlogged_bits, wide;
