-- A bad query gets the same SQLSTATE and message on every plan: sequential
-- scan (the <#> operator), index scan, rsr_scores and rsr_topk, for bit and
-- tvec columns.  Each line of a result below shows the four side by side.
SET client_min_messages = warning;

-- Runs a statement and shows its error as SQLSTATE and message
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The query through each plan; `tab` has column v and an rsr index tab_v
CREATE FUNCTION pg_temp.plans(tab text, query text)
RETURNS TABLE(plan text, result text)
LANGUAGE plpgsql AS $$
DECLARE
	q text := format('SELECT id FROM %I ORDER BY v <#> %s LIMIT 3', tab, query);
BEGIN
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_bitmapscan = off;
	SET LOCAL enable_seqscan = on;
	plan := 'seq scan';
	result := pg_temp.try(q);
	RETURN NEXT;
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_seqscan = off;
	plan := 'index scan';
	result := pg_temp.try(q);
	RETURN NEXT;
	plan := 'rsr_scores';
	result := pg_temp.try(format('SELECT count(*) FROM rsr_scores(%L, %s)',
								 tab || '_v', query));
	RETURN NEXT;
	plan := 'rsr_topk';
	result := pg_temp.try(format('SELECT count(*) FROM rsr_topk(%L, ARRAY[%s], 3)',
								 tab || '_v', query));
	RETURN NEXT;
	RESET enable_indexscan;
	RESET enable_seqscan;
	RESET enable_bitmapscan;
END
$$;

CREATE TABLE err_bit (id int, v bit(3));
INSERT INTO err_bit SELECT i, (i % 8)::bit(3) FROM generate_series(1, 20) i;
CREATE INDEX err_bit_v ON err_bit USING rsr (v bit_ip_ops);
CREATE TABLE err_tvec (id int, v tvec(3));
INSERT INTO err_tvec
	SELECT i, format('[%s,%s,%s]', i % 3 - 1, (i / 3) % 3 - 1, (i / 9) % 3 - 1)::tvec
	FROM generate_series(1, 20) i;
CREATE INDEX err_tvec_v ON err_tvec USING rsr (v tvec_ip_ops);
ANALYZE err_bit, err_tvec;

-- The plans the two scans take
SET enable_indexscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM err_bit ORDER BY v <#> '{1,2,3}'::real[] LIMIT 3;
RESET enable_indexscan;
RESET enable_bitmapscan;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM err_bit ORDER BY v <#> '{1,2,3}'::real[] LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM err_tvec ORDER BY v <#> '{1,2,3}'::real[] LIMIT 3;
RESET enable_seqscan;

-- A good query works on every plan
SELECT * FROM pg_temp.plans('err_bit', $$'{1,2,3}'::real[]$$);

-- NaN
SELECT * FROM pg_temp.plans('err_bit', $$'{1,NaN,3}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{1,NaN,3}'::real[]$$);

-- Infinity
SELECT * FROM pg_temp.plans('err_bit', $$'{1,Infinity,3}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{-Infinity,2,3}'::real[]$$);

-- NULL element
SELECT * FROM pg_temp.plans('err_bit', $$'{1,NULL,3}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{1,NULL,3}'::real[]$$);

-- Wrong length: shorter and longer
SELECT * FROM pg_temp.plans('err_bit', $$'{1,2}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{1,2,3,4}'::real[]$$);

-- Length checked before the values
SELECT * FROM pg_temp.plans('err_bit', $$'{NaN,2}'::real[]$$);

-- Two-dimensional array (rsr_topk takes one: its queries are its rows)
SELECT * FROM pg_temp.plans('err_bit', $$'{{1,2,3}}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{{1,2,3},{4,5,6}}'::real[]$$);

-- Empty array (for rsr_topk, no query at all)
SELECT * FROM pg_temp.plans('err_bit', $$'{}'::real[]$$);
SELECT * FROM pg_temp.plans('err_tvec', $$'{}'::real[]$$);

-- A huge but finite query is no error (scaled for the kernels)
SELECT * FROM pg_temp.plans('err_bit', $$'{3e38,3e38,-3e38}'::real[]$$);

-- NULL query: the operator is strict, every score is NULL; the bulk
-- functions are strict and return no row
SELECT count(*) FROM (SELECT id FROM err_bit ORDER BY v <#> NULL::real[] LIMIT 3) s;
SET enable_seqscan = off;
-- a NULL known only at run time, so that the index scan gets it (a constant
-- NULL folds the ORDER BY away, and PostgreSQL 18 then plans a scan of the
-- index without order, which an rsr index refuses)
SELECT count(*) FROM (SELECT id FROM err_bit ORDER BY v <#> (SELECT NULL::real[]) LIMIT 3) s;
RESET enable_seqscan;
SELECT count(*) FROM rsr_scores('err_bit_v', NULL);
SELECT count(*) FROM rsr_topk('err_tvec_v', NULL, 3);

DROP TABLE err_bit, err_tvec;
