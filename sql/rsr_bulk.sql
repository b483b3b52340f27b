-- Bulk scoring and introspection: rsr_scores, rsr_topk, rsr_index_info.
-- rsr_topk is compared row by row (TID, exact score, order) with the same
-- top-n computed by a plain query with inner_product; rsr_scores with
-- inner_product within the kernel's error bound; every error is shown with
-- its SQLSTATE.
SET max_parallel_workers_per_gather = 0;

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

-- Documented bound of |rsr_scores score - inner_product|: the float32
-- kernel's bound (2d + 64) u / (1 - (2d + 64) u) * sum |q|, u = 2^-24,
-- plus (d + 4) ulps of sum |q| for the double sum of inner_product
CREATE FUNCTION pg_temp.bound(q real[]) RETURNS double precision
LANGUAGE sql AS $$
SELECT m * u / (1 - m * u) * s + s * (d + 4) * 2.220446049250313e-16
FROM (SELECT 2.0 ^ -24 AS u, 2.0 * cardinality(q) + 64 AS m, cardinality(q) AS d,
			 (SELECT sum(abs(x::float8)) FROM unnest(q) x) AS s) c
$$;

-- rsr_topk(index, queries, n) against the exact top n of each query by a
-- plain scan of the table (ORDER BY inner_product DESC, ctid): 'same (r
-- rows)' when every query number, TID, score and position agree
CREATE FUNCTION pg_temp.topk_vs_exact(idx regclass, tab regclass, col text,
									  queries real[], n int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	got text[];
	want text[];
BEGIN
	SELECT array_agg(format('%s|%s|%s', query, tid, score) ORDER BY ord) INTO got
	FROM rsr_topk(idx, queries, n) WITH ORDINALITY AS r(query, tid, score, ord);
	EXECUTE format($q$
		SELECT array_agg(format('%%s|%%s|%%s', qn, tid, score) ORDER BY qn, rn)
		FROM generate_subscripts($1, 1) AS qn,
			 LATERAL (SELECT array_agg(x ORDER BY o) AS q
					  FROM unnest($1[qn:qn][:]) WITH ORDINALITY AS u(x, o)) AS one,
			 LATERAL (SELECT ctid AS tid, inner_product(%I, one.q) AS score,
							 row_number() OVER (ORDER BY inner_product(%I, one.q) DESC, ctid) AS rn
					  FROM %s) s
		WHERE rn <= $2$q$, col, col, tab) INTO want USING queries, n;
	IF got IS NOT DISTINCT FROM want THEN
		RETURN 'same (' || coalesce(cardinality(got), 0) || ' rows)';
	END IF;
	RETURN 'rsr_topk ' || coalesce(got::text, 'none') || ' exact ' || coalesce(want::text, 'none');
END
$$;

-- rsr_scores(index, q) against inner_product over the visible rows: count,
-- TIDs all joined, and the largest error relative to the bound
CREATE FUNCTION pg_temp.scores_vs_exact(idx regclass, tab regclass, col text,
										q real[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	EXECUTE format($q$
		SELECT (SELECT count(*) FROM %s) AS rows,
			   (SELECT count(*) FROM rsr_scores($1, $2)) AS scored,
			   (SELECT count(DISTINCT tid) FROM rsr_scores($1, $2)) AS tids,
			   count(*) AS joined,
			   coalesce(bool_and(abs(s.score - inner_product(t.%I, $2)) <= pg_temp.bound($2)), true) AS within
		FROM rsr_scores($1, $2) s JOIN %s t ON t.ctid = s.tid$q$, tab, col, tab)
	INTO r USING idx, q;
	RETURN format('rows %s scored %s distinct %s joined %s within bound %s',
				  r.rows, r.scored, r.tids, r.joined, r.within);
END
$$;

-- rsr_index_info without what depends on the machine or the chosen shape
CREATE FUNCTION pg_temp.info(idx regclass) RETURNS jsonb
LANGUAGE sql AS $$
SELECT i - 'kernel' - 'threads' - 'bytes' - 'pages' - 'segment_bytes' - 'bits_per_weight'
	   || jsonb_build_object('kernel_named', i->>'kernel' <> '',
							 'bytes_are_pages', (i->>'bytes')::bigint = (i->>'pages')::bigint * 8192,
							 'bits_per_weight_positive', (i->>'bits_per_weight')::float8 > 0)
FROM rsr_index_info(idx) i
$$;

SELECT setseed(0.5);

-- Ternary rows, two layouts, k not dividing the row count, and duplicate
-- rows so that exact ties occur
CREATE TABLE bulk_docs (id int, v tvec(40));
INSERT INTO bulk_docs SELECT i, pg_temp.rand_tvec(40 + 0 * i) FROM generate_series(1, 500) i;
INSERT INTO bulk_docs SELECT id + 1000, v FROM bulk_docs WHERE id <= 60;
CREATE INDEX bulk_docs_bucket ON bulk_docs USING rsr (v tvec_ip_ops) WITH (k = 6, layout = bucket);
CREATE INDEX bulk_docs_perm ON bulk_docs USING rsr (v tvec_ip_ops) WITH (k = 3, layout = perm);
CREATE TEMP TABLE q40 AS SELECT i, pg_temp.rand_query(40 + 0 * i) AS q FROM generate_series(1, 70) i;
-- Integer queries: many rows tie exactly, order then follows the TID
CREATE TEMP TABLE q40int AS
SELECT i, array(SELECT (floor(random() * 3) - 1)::real FROM generate_series(1, 40 + 0 * i)) AS q
FROM generate_series(1, 3) i;

SELECT pg_temp.info('bulk_docs_bucket');
SELECT pg_temp.info('bulk_docs_perm');

-- rsr_scores: every visible row once, within the bound
SELECT pg_temp.scores_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', q) FROM q40 WHERE i <= 2;
SELECT pg_temp.scores_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', q) FROM q40 WHERE i = 3;
SELECT tid, score FROM rsr_scores('bulk_docs_bucket', (SELECT q FROM q40int WHERE i = 1)) ORDER BY tid LIMIT 5;
SELECT d.id, s.score, inner_product(d.v, (SELECT q FROM q40int WHERE i = 1)) AS exact
FROM rsr_scores('bulk_docs_bucket', (SELECT q FROM q40int WHERE i = 1)) s JOIN bulk_docs d ON d.ctid = s.tid
ORDER BY d.id LIMIT 5;

-- rsr_topk: one query, a few, more than one batch (70 > 64), n from 1 to
-- more than the rows; exact ties broken by TID
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40 WHERE i = 1), 10);
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40 WHERE i <= 5), 1);
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40), 7);
SELECT pg_temp.topk_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40), 7);
SELECT pg_temp.topk_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40 WHERE i <= 2), 1000);
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40int), 25);
SELECT query, tid, score FROM rsr_topk('bulk_docs_bucket', (SELECT array_agg(q ORDER BY i) FROM q40int), 4);
SELECT count(*), count(DISTINCT query), min(query), max(query)
FROM rsr_topk('bulk_docs_perm', (SELECT array_agg(q ORDER BY i) FROM q40), 3);

-- Deletes, HOT and non-HOT updates, then VACUUM: only visible rows, with
-- the TID of their visible version
DELETE FROM bulk_docs WHERE id % 7 = 0;
UPDATE bulk_docs SET id = id + 0 WHERE id % 7 = 1;
UPDATE bulk_docs SET v = v WHERE id % 11 = 2;
SELECT pg_temp.scores_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', q) FROM q40 WHERE i = 4;
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40), 9);
SELECT pg_temp.topk_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40int), 30);
SELECT (pg_temp.info('bulk_docs_bucket'))->'rows' AS rows, (pg_temp.info('bulk_docs_bucket'))->'dead_rows' AS dead;
VACUUM bulk_docs;
SELECT (pg_temp.info('bulk_docs_bucket'))->'rows' AS rows, (pg_temp.info('bulk_docs_bucket'))->'dead_rows' AS dead,
	   (pg_temp.info('bulk_docs_bucket'))->'live_rows' AS live, (SELECT count(*) FROM bulk_docs) AS table_rows;
SELECT pg_temp.scores_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', q) FROM q40 WHERE i = 5;
SELECT pg_temp.topk_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40 WHERE i <= 10), 12);

-- A transaction's own uncommitted rows are seen; rolled back rows are not
BEGIN;
INSERT INTO bulk_docs SELECT 5000 + i, pg_temp.rand_tvec(40 + 0 * i) FROM generate_series(1, 20) i;
SELECT pg_temp.scores_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', q) FROM q40 WHERE i = 6;
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT array_agg(q ORDER BY i) FROM q40 WHERE i <= 10), 5);
ROLLBACK;
SELECT pg_temp.scores_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', q) FROM q40 WHERE i = 6;

-- Near ties: rows that differ only where the query is tiny; float32
-- kernel sums cannot tell them apart, the exact rescoring can
CREATE TABLE bulk_ties (id int, v bit(64));
INSERT INTO bulk_ties
SELECT i, (repeat('1', 56) || '0' || (i::bit(7))::text)::bit(64) FROM generate_series(0, 79) i;
INSERT INTO bulk_ties
SELECT 100 + i, (repeat('1', 55) || '00' || (i::bit(7))::text)::bit(64) FROM generate_series(0, 9) i;
CREATE INDEX bulk_ties_idx ON bulk_ties USING rsr (v bit_ip_ops) WITH (k = 8);
CREATE TEMP TABLE qties AS
SELECT ARRAY[array_fill(1000::real, ARRAY[57]) || ARRAY(SELECT (1e-6 * 2 ^ (6 - b))::real FROM generate_series(0, 6) b),
			 array_fill(1000::real, ARRAY[57]) || ARRAY(SELECT (-1e-6 * 2 ^ (6 - b))::real FROM generate_series(0, 6) b)] AS qs;
SELECT pg_temp.topk_vs_exact('bulk_ties_idx', 'bulk_ties', 'v', (SELECT qs FROM qties), 12);
SELECT pg_temp.topk_vs_exact('bulk_ties_idx', 'bulk_ties', 'v', (SELECT qs FROM qties), 100);
SELECT r.query, t.id FROM rsr_topk('bulk_ties_idx', (SELECT qs FROM qties), 6) r JOIN bulk_ties t ON t.ctid = r.tid;

-- Binary rows over many pages (several batches of pages per pass)
CREATE TABLE bulk_bits (id int, v bit(512));
INSERT INTO bulk_bits
SELECT i, ('x' || md5(i || 'a') || md5(i || 'b') || md5(i || 'c') || md5(i || 'd'))::bit(512)
FROM generate_series(1, 5000) i;
CREATE INDEX bulk_bits_idx ON bulk_bits USING rsr (v bit_ip_ops) WITH (k = 8, layout = bucket);
CREATE TEMP TABLE q512 AS SELECT i, pg_temp.rand_query(512 + 0 * i) AS q FROM generate_series(1, 20) i;
SELECT (pg_temp.info('bulk_bits_idx'))->'segments' AS segments, (rsr_index_info('bulk_bits_idx')->>'pages')::int > 32 AS many_pages;
SELECT pg_temp.scores_vs_exact('bulk_bits_idx', 'bulk_bits', 'v', q) FROM q512 WHERE i = 1;
SELECT pg_temp.topk_vs_exact('bulk_bits_idx', 'bulk_bits', 'v', (SELECT array_agg(q ORDER BY i) FROM q512), 10);

-- Rows wider than a page: the column ranges of one block of rows span
-- pages and batches of pages
CREATE TABLE bulk_wide (id int, v tvec(20000));
INSERT INTO bulk_wide SELECT i, pg_temp.rand_tvec(20000 + 0 * i) FROM generate_series(1, 80) i;
CREATE INDEX bulk_wide_idx ON bulk_wide USING rsr (v tvec_ip_ops) WITH (k = 16);
CREATE TEMP TABLE q20000 AS SELECT i, pg_temp.rand_query(20000 + 0 * i) AS q FROM generate_series(1, 3) i;
SELECT (rsr_index_info('bulk_wide_idx')->>'ranges')::int > 1 AS ranges, (rsr_index_info('bulk_wide_idx')->>'pages')::int > 32 AS many_pages;
SELECT pg_temp.scores_vs_exact('bulk_wide_idx', 'bulk_wide', 'v', q) FROM q20000 WHERE i = 1;
SELECT pg_temp.topk_vs_exact('bulk_wide_idx', 'bulk_wide', 'v', (SELECT array_agg(q ORDER BY i) FROM q20000), 5);

-- Expression index: rescoring evaluates the indexed expression
CREATE TABLE bulk_emb (id int, x real[]);
INSERT INTO bulk_emb SELECT i, pg_temp.rand_query(40 + 0 * i) FROM generate_series(1, 200) i;
CREATE INDEX bulk_emb_idx ON bulk_emb USING rsr ((ternary_quantize(x)) tvec_ip_ops);
SELECT count(*) = 200 AS all_rows FROM rsr_scores('bulk_emb_idx', (SELECT q FROM q40 WHERE i = 1));
SELECT array_agg(e.id ORDER BY r.score DESC, r.tid) =
	   (SELECT array_agg(id) FROM (SELECT id FROM bulk_emb ORDER BY inner_product(ternary_quantize(x), (SELECT q FROM q40 WHERE i = 1)) DESC, ctid LIMIT 8) s) AS same
FROM rsr_topk('bulk_emb_idx', (SELECT array_agg(q) FROM q40 WHERE i = 1), 8) r JOIN bulk_emb e ON e.ctid = r.tid;

-- Huge query values: the kernels score the query scaled by a power of two
-- (no float32 overflow), results are unscaled and rescored exactly
CREATE TEMP TABLE qhuge AS
SELECT ARRAY[array(SELECT (x * 2e37)::real FROM unnest(q) x), q] AS qs FROM q40 WHERE i = 7;
SELECT pg_temp.topk_vs_exact('bulk_docs_bucket', 'bulk_docs', 'v', (SELECT qs FROM qhuge), 6);
SELECT pg_temp.scores_vs_exact('bulk_docs_perm', 'bulk_docs', 'v', (SELECT array(SELECT unnest(qs[1:1][:])) FROM qhuge));

-- Empty indexes and a NULL-only table: no rows
CREATE TABLE bulk_empty (id int, v tvec(8));
CREATE INDEX bulk_empty_idx ON bulk_empty USING rsr (v tvec_ip_ops) WITH (k = 8, layout = bucket);
SELECT pg_temp.info('bulk_empty_idx');
SELECT * FROM rsr_scores('bulk_empty_idx', '{1,2,3,4,5,6,7,8}');
SELECT * FROM rsr_topk('bulk_empty_idx', '{{1,2,3,4,5,6,7,8}}', 3);
INSERT INTO bulk_empty VALUES (1, NULL);
SELECT * FROM rsr_topk('bulk_empty_idx', '{{1,2,3,4,5,6,7,8}}', 3);
-- Without a typmod the dimension is unknown until the first row
CREATE TABLE bulk_anydim (id int, v tvec);
CREATE INDEX bulk_anydim_idx ON bulk_anydim USING rsr (v tvec_ip_ops);
SELECT (pg_temp.info('bulk_anydim_idx'))->'dims' AS dims;
SELECT * FROM rsr_scores('bulk_anydim_idx', '{1,2,3}');
SELECT * FROM rsr_topk('bulk_anydim_idx', '{{1,2,3},{4,5,6}}', 3);
INSERT INTO bulk_anydim VALUES (1, '[1,0,-1]'), (2, '[1,1,1]');
SELECT * FROM rsr_topk('bulk_anydim_idx', '{{1,2,3},{4,5,6}}', 3);
SELECT s.score, a.id FROM rsr_scores('bulk_anydim_idx', '{1,2,3}') s JOIN bulk_anydim a ON a.ctid = s.tid ORDER BY a.id;

-- NULL arguments: the functions are strict
SELECT count(*) FROM rsr_scores(NULL, '{1}');
SELECT count(*) FROM rsr_topk('bulk_docs_bucket', NULL, 3);
SELECT count(*) FROM rsr_topk('bulk_docs_bucket', (SELECT array_agg(q) FROM q40 WHERE i = 1), NULL);
SELECT rsr_index_info(NULL);

-- Errors
CREATE INDEX bulk_docs_btree ON bulk_docs (id);
CREATE TABLE bulk_parted (id int, v tvec(3)) PARTITION BY RANGE (id);
CREATE INDEX bulk_parted_idx ON bulk_parted USING rsr (v tvec_ip_ops);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs', '{1}')$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_btree', '{{1}}', 1)$$);
SELECT pg_temp.try($$SELECT rsr_index_info('bulk_docs_btree')$$);
SELECT pg_temp.try($$SELECT rsr_index_info('bulk_parted_idx')$$);
SELECT pg_temp.try($$SELECT rsr_index_info(0)$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', '{1,2,3}')$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', '{}')$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_empty_idx', '{}')$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[39]) || 'NaN'::real)$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[39]) || 'Infinity'::real)$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[39]) || NULL::real)$$);
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[2, 20]))$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', array_fill(1::real, ARRAY[2, 39]), 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', array_fill(1::real, ARRAY[40]), 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', array_fill(1::real, ARRAY[2, 2, 10]), 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', '{}', 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', '{{1,2},{3}}', 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[39]) || NULL::real], 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[39]) || 'NaN'::real], 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[39]) || '-Infinity'::real], 1)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[40])], 0)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[40])], -5)$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_empty_idx', '{{1,2,3},{4,5,6}}', 0)$$);

-- Permissions: SELECT on the table is required
CREATE ROLE regress_rsr_bulk_reader;
SET ROLE regress_rsr_bulk_reader;
SELECT pg_temp.try($$SELECT rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[40]))$$);
SELECT pg_temp.try($$SELECT rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[40])], 1)$$);
SELECT pg_temp.try($$SELECT rsr_index_info('bulk_docs_bucket')$$);
RESET ROLE;
GRANT SELECT ON bulk_docs TO regress_rsr_bulk_reader;
SET ROLE regress_rsr_bulk_reader;
SELECT count(*) = (SELECT count(*) FROM bulk_docs) AS all_rows FROM rsr_scores('bulk_docs_bucket', array_fill(1::real, ARRAY[40]));
SELECT count(*) FROM rsr_topk('bulk_docs_bucket', ARRAY[array_fill(1::real, ARRAY[40])], 3);
SELECT (rsr_index_info('bulk_docs_bucket'))->'dims' AS dims;
RESET ROLE;
REVOKE SELECT ON bulk_docs FROM regress_rsr_bulk_reader;
DROP ROLE regress_rsr_bulk_reader;
