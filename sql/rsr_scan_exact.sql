-- Index scans equal sequential scans on every data style, for the index
-- layout under test (indexes here take no layout option: test/run.sh runs
-- the suite with rsr_vector.default_layout = tile, perm and bucket).  The
-- scores of the two plans must be equal, position by position, and so must
-- the ids wherever the scores tell rows apart (rows tied with the last score
-- of a LIMIT may differ).  Uniform, clustered and duplicate-heavy rows;
-- random, integer, huge-dynamic-range, huge and denormal queries; filters,
-- OFFSET past the first batch, every row, cursors, LATERAL rescans, then
-- the same after inserts, deletes and VACUUM.  Every index plan runs twice:
-- reading the pages, and from the backend's copy of the index
-- (rsr_vector.scan_cache_size), which each change must invalidate.
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.75);

CREATE FUNCTION pg_temp.rand_bits(n int) RETURNS varbit
LANGUAGE sql AS $$
SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '')::varbit
FROM generate_series(1, n)
$$;
CREATE FUNCTION pg_temp.rand_tvec(n int) RETURNS tvec
LANGUAGE sql AS $$
SELECT array_agg(floor(random() * 3)::int - 1)::tvec FROM generate_series(1, n)
$$;
-- Flip each bit of v with probability p
CREATE FUNCTION pg_temp.near_bits(v varbit, p float8) RETURNS varbit
LANGUAGE sql AS $$
SELECT string_agg(CASE WHEN random() < p THEN (1 - substring(v::text, j, 1)::int)::text
					   ELSE substring(v::text, j, 1) END, '' ORDER BY j)::varbit
FROM generate_series(1, length(v)) j
$$;
CREATE FUNCTION pg_temp.query(n int, style text) RETURNS real[]
LANGUAGE sql AS $$
SELECT array_agg(CASE style
		WHEN 'random' THEN (random() * 2 - 1)::real
		WHEN 'integer' THEN (floor(random() * 3) - 1)::real
		WHEN 'heavy' THEN CASE WHEN i IN (5, n / 2) THEN 1e6::real ELSE ((random() - 0.5) * 1e-3)::real END
		WHEN 'huge' THEN ((random() - 0.5) * 1.7e38)::real
		ELSE ((random() - 0.5) * 1e-39::float8)::real
	END ORDER BY i)
FROM generate_series(1, n) i
$$;

-- Run a query (columns id, score, in its order) with the index only, from
-- the pages and from the copy, then with a sequential scan only, and compare
CREATE FUNCTION pg_temp.same(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	ai int[]; asc_ float8[];
	ci int[]; csc float8[];
	bi int[]; bsc float8[];
	plan text;
	used boolean := false;
	res text;
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_indexscan', 'on', true);
	FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		used := used OR plan LIKE '%Index Scan using%';
	END LOOP;
	IF NOT used THEN
		RETURN 'index not used';
	END IF;
	PERFORM set_config('rsr_vector.scan_cache_size', '0', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || query || ') s' INTO ai, asc_;
	PERFORM set_config('rsr_vector.scan_cache_size', '1MB', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || query || ') s' INTO ci, csc;
	PERFORM set_config('rsr_vector.scan_cache_size', '0', true);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || query || ') s' INTO bi, bsc;
	PERFORM set_config('enable_indexscan', 'on', true);
	res := pg_temp.compare(ci, csc, bi, bsc, query LIKE '%OFFSET%');
	IF res NOT LIKE 'same%' THEN
		RETURN 'copy: ' || res;
	END IF;
	RETURN pg_temp.compare(ai, asc_, bi, bsc, query LIKE '%OFFSET%');
END
$$;

-- Scores equal; ids equal except among rows tied with the last score (a
-- LIMIT cuts that group) or, with an OFFSET, with the first
CREATE FUNCTION pg_temp.compare(ai int[], asc_ float8[], bi int[], bsc float8[],
								offset_cut boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	last float8 := bsc[cardinality(bsc)];
	first float8 := CASE WHEN offset_cut THEN bsc[1] END;
BEGIN
	IF asc_ IS DISTINCT FROM bsc THEN
		RETURN 'scores differ: index ' || coalesce(asc_::text, 'none') || ' seqscan ' || coalesce(bsc::text, 'none');
	END IF;
	IF ARRAY(SELECT (s, i)::text FROM unnest(asc_, ai) u(s, i) WHERE s <> last AND s IS DISTINCT FROM first ORDER BY s, i) <>
	   ARRAY(SELECT (s, i)::text FROM unnest(bsc, bi) u(s, i) WHERE s <> last AND s IS DISTINCT FROM first ORDER BY s, i) THEN
		RETURN 'ids differ: index ' || ai::text || ' seqscan ' || bi::text;
	END IF;
	RETURN 'same (' || coalesce(cardinality(bsc), 0) || ' rows)';
END
$$;

-- A cursor: 70 rows (past the first batch of 64), then the rest
CREATE FUNCTION pg_temp.cursor_same(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	c refcursor;
	r record;
	ai int[]; asc_ float8[];
	bi int[]; bsc float8[];
	cache text;
	res text;
BEGIN
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || query || ') s' INTO bi, bsc;
	PERFORM set_config('enable_indexscan', 'on', true);
	FOREACH cache IN ARRAY ARRAY['1MB', '0'] LOOP
		PERFORM set_config('rsr_vector.scan_cache_size', cache, true);
		PERFORM set_config('enable_seqscan', 'off', true);
		ai := '{}';
		asc_ := '{}';
		OPEN c FOR EXECUTE query;
		LOOP
			FETCH c INTO r;
			EXIT WHEN NOT FOUND;
			ai := ai || r.id;
			asc_ := asc_ || r.score;
		END LOOP;
		CLOSE c;
		PERFORM set_config('enable_seqscan', 'on', true);
		res := pg_temp.compare(ai, asc_, bi, bsc);
		IF res NOT LIKE 'same%' THEN
			RETURN CASE WHEN cache = '0' THEN res ELSE 'copy: ' || res END;
		END IF;
	END LOOP;
	RETURN res;
END
$$;

-- Data: uniform, clustered (20 centres, 3% of bits flipped) and
-- duplicate-heavy (40 distinct values) binary rows; uniform ternary rows
-- with duplicates
CREATE TABLE se_uniform (id int, v bit(256), tag int);
INSERT INTO se_uniform SELECT i, pg_temp.rand_bits(256 + 0 * i)::bit(256), i % 7 FROM generate_series(1, 900) i;
CREATE TEMP TABLE centres AS SELECT c, pg_temp.rand_bits(256 + 0 * c) AS v FROM generate_series(0, 19) c;
CREATE TABLE se_clustered (id int, v bit(256), tag int);
INSERT INTO se_clustered SELECT i, pg_temp.near_bits((SELECT v FROM centres WHERE c = i % 20), 0.03)::bit(256), i % 7
FROM generate_series(1, 900) i;
CREATE TEMP TABLE dups AS SELECT c, pg_temp.rand_bits(256 + 0 * c) AS v FROM generate_series(0, 39) c;
CREATE TABLE se_dups (id int, v bit(256), tag int);
INSERT INTO se_dups SELECT i, (SELECT v FROM dups WHERE c = i % 40)::bit(256), i % 7 FROM generate_series(1, 900) i;
CREATE TABLE se_tern (id int, v tvec(100), tag int);
INSERT INTO se_tern SELECT i, pg_temp.rand_tvec(100 + 0 * i), i % 7 FROM generate_series(1, 700) i;
INSERT INTO se_tern SELECT id + 1000, v, tag FROM se_tern WHERE id <= 200;
CREATE INDEX ON se_uniform USING rsr (v bit_ip_ops);
CREATE INDEX ON se_clustered USING rsr (v bit_ip_ops);
CREATE INDEX ON se_dups USING rsr (v bit_ip_ops);
CREATE INDEX ON se_tern USING rsr (v tvec_ip_ops);

CREATE TABLE se_tables (tab text, d int);
INSERT INTO se_tables VALUES ('se_uniform', 256), ('se_clustered', 256), ('se_dups', 256), ('se_tern', 100);
CREATE TABLE se_queries (n int, style text);
INSERT INTO se_queries VALUES (1, 'random'), (2, 'integer'), (3, 'heavy'), (4, 'huge'), (5, 'denormal');
CREATE TABLE se_q AS
SELECT t.tab, q.n, q.style, pg_temp.query(t.d, q.style) AS q FROM se_tables t, se_queries q;

-- Every table, query style and query shape
CREATE FUNCTION pg_temp.all_shapes(tab text, q real[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
	ord text := format('ORDER BY v <#> %L::real[]', q);
	sel text := format('SELECT id, v <#> %L::real[] AS score FROM %I', q, tab);
BEGIN
	RETURN ARRAY[
		pg_temp.same(sel || ' ' || ord || ' LIMIT 10'),
		pg_temp.same(sel || ' ' || ord || ' LIMIT 10 OFFSET 100'),
		pg_temp.same(sel || ' WHERE tag = 3 ' || ord || ' LIMIT 30'),
		pg_temp.same(sel || ' ' || ord),
		pg_temp.cursor_same(sel || ' ' || ord)];
END
$$;
SELECT tab, n, style, pg_temp.all_shapes(tab, q) AS "limit 10 | offset 100 | filter | all | cursor"
FROM se_q ORDER BY tab, n;

-- LATERAL: one rescan per query, index against sequential scan
CREATE FUNCTION pg_temp.lateral_same(tab text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	sql text := format('SELECT q.n, l.id, l.score FROM se_q q, LATERAL (SELECT id, v <#> q.q AS score FROM %I
						ORDER BY v <#> q.q LIMIT 7) l WHERE q.tab = %L', tab, tab);
	a text[]; b text[]; c text[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE 'SELECT array_agg(format(''%s|%s'', n, score) ORDER BY n, score) FROM (' || sql || ') s' INTO a;
	PERFORM set_config('rsr_vector.scan_cache_size', '1MB', true);
	EXECUTE 'SELECT array_agg(format(''%s|%s'', n, score) ORDER BY n, score) FROM (' || sql || ') s' INTO c;
	PERFORM set_config('rsr_vector.scan_cache_size', '0', true);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'SELECT array_agg(format(''%s|%s'', n, score) ORDER BY n, score) FROM (' || sql || ') s' INTO b;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN CASE WHEN a = b AND c = b THEN 'same (' || cardinality(a) || ' rows)'
		WHEN a = b THEN 'copy differs' ELSE 'differ' END;
END
$$;
SELECT tab, pg_temp.lateral_same(tab) FROM se_tables ORDER BY tab;

-- Inserts, deletes, VACUUM
INSERT INTO se_uniform SELECT i, pg_temp.rand_bits(256 + 0 * i)::bit(256), i % 7 FROM generate_series(901, 1100) i;
INSERT INTO se_dups SELECT i, (SELECT v FROM dups WHERE c = i % 40)::bit(256), i % 7 FROM generate_series(901, 1100) i;
INSERT INTO se_tern SELECT i, pg_temp.rand_tvec(100 + 0 * i), i % 7 FROM generate_series(2001, 2150) i;
SELECT tab, n, style, pg_temp.all_shapes(tab, q) AS after_inserts
FROM se_q WHERE n IN (1, 3) ORDER BY tab, n;
DELETE FROM se_uniform WHERE id % 3 = 0;
DELETE FROM se_clustered WHERE id % 2 = 0;
DELETE FROM se_dups WHERE id % 5 < 2;
DELETE FROM se_tern WHERE id % 4 = 1;
SELECT tab, n, style, pg_temp.all_shapes(tab, q) AS after_deletes
FROM se_q WHERE n IN (2, 4) ORDER BY tab, n;
VACUUM se_uniform, se_clustered, se_dups, se_tern;
SELECT tab, n, style, pg_temp.all_shapes(tab, q) AS after_vacuum
FROM se_q WHERE n IN (1, 5) ORDER BY tab, n;
INSERT INTO se_clustered SELECT i, pg_temp.near_bits((SELECT v FROM centres WHERE c = i % 20), 0.03)::bit(256), i % 7
FROM generate_series(901, 1000) i;
SELECT tab, n, style, pg_temp.all_shapes(tab, q) AS after_vacuum_and_inserts
FROM se_q WHERE n IN (2, 3) ORDER BY tab, n;
SELECT tab, pg_temp.lateral_same(tab) FROM se_tables ORDER BY tab;
SELECT rsr_index_check(i.indexrelid::regclass)
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname LIKE 'se\_%' ORDER BY c.relname;

-- An index of many pages with 1024-column rows, whose blocks span pages:
-- a search lists and feeds the pages of a batch a few at a time, so blocks
-- are cut between those groups; on 1 and 2 threads
CREATE TABLE se_wide (id int, v bit(1024), tag int);
INSERT INTO se_wide SELECT i, pg_temp.rand_bits(1024 + 0 * i)::bit(1024), i % 7 FROM generate_series(1, 1500) i;
CREATE INDEX se_wide_idx ON se_wide USING rsr (v bit_ip_ops);
SELECT pg_relation_size('se_wide_idx') / current_setting('block_size')::int > 24 AS many_pages;
SELECT t.threads, q.style, pg_temp.all_shapes('se_wide', q.q) AS wide
FROM (VALUES (1), (2)) t(threads),
	 LATERAL (SELECT set_config('rsr_vector.threads', t.threads::text, false)) s,
	 LATERAL (SELECT style, pg_temp.query(1024, style) AS q FROM se_queries WHERE n IN (1, 3)) q
ORDER BY t.threads, q.style;
RESET rsr_vector.threads;
SELECT rsr_index_check('se_wide_idx');

-- Copies of several indexes in one backend: rsr_vector.scan_cache_size
-- stays on while searches go from index to index, with a budget that holds
-- the wide index and some of the small ones but not all (copies searched
-- longest ago are dropped to make room), an insert between rounds, and in
-- the last round a budget too small for the wide index (its searches read
-- the pages).  Every search is compared with a sequential scan.
CREATE FUNCTION pg_temp.same_cached(tab text, q real[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	sql text := format('SELECT id, v <#> %L::real[] AS score FROM %I ORDER BY v <#> %L::real[] LIMIT 10', q, tab, q);
	ai int[]; asc_ float8[];
	bi int[]; bsc float8[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || sql || ') s' INTO ai, asc_;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE 'SELECT array_agg(id), array_agg(score) FROM (' || sql || ') s' INTO bi, bsc;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN pg_temp.compare(ai, asc_, bi, bsc);
END
$$;
CREATE FUNCTION pg_temp.copies_same(budget_kb int, rounds int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	tabs text[] := ARRAY['se_wide', 'se_uniform', 'se_tern', 'se_wide', 'se_dups', 'se_clustered',
						 'se_uniform', 'se_wide'];
	t text;
	q real[];
	res text;
	searches int := 0;
BEGIN
	PERFORM set_config('rsr_vector.scan_cache_size', budget_kb::text, false);
	FOR r IN 1 .. rounds LOOP
		IF r = rounds THEN
			PERFORM set_config('rsr_vector.scan_cache_size', '64', false);
		END IF;
		FOREACH t IN ARRAY tabs LOOP
			IF t = 'se_wide' THEN
				q := pg_temp.query(1024, 'random');
			ELSE
				SELECT se_q.q INTO q FROM se_q
				WHERE se_q.tab = t AND se_q.n = 1 + (r + searches) % 5;
			END IF;
			res := pg_temp.same_cached(t, q);
			IF res NOT LIKE 'same%' THEN
				RETURN format('round %s, %s: %s', r, t, res);
			END IF;
			searches := searches + 1;
		END LOOP;
		INSERT INTO se_uniform SELECT 5000 + r, pg_temp.rand_bits(256)::bit(256), 0;
	END LOOP;
	PERFORM set_config('rsr_vector.scan_cache_size', '0', false);
	RETURN format('same (%s searches)', searches);
END
$$;
SELECT pg_relation_size('se_wide_idx') / 1024 + 160 <
	   (SELECT sum(pg_relation_size(i.indexrelid)) / 1024 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		WHERE c.relname LIKE 'se\_%') AS budget_below_all;
SELECT pg_temp.copies_same((pg_relation_size('se_wide_idx') / 1024 + 160)::int, 4);

-- The suites share one database: leave nothing behind
DROP TABLE se_uniform, se_clustered, se_dups, se_tern, se_tables, se_queries, se_q, se_wide;
