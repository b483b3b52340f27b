-- rsr_scores on tile indexes returns the exact inner product: equal to
-- inner_product (the double sum in element order) bit for bit, for every
-- visible row, on binary and ternary rows of 1, 77, 1024 and 3000 elements
-- (3000: blocks cut into column ranges), duplicate rows, and queries that
-- are random, integer (ties), tiny, denormal, huge, or of a dynamic range
-- so wide that the double sums round (then rows are summed in order).
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.25);

CREATE FUNCTION pg_temp.rand_bits(n int) RETURNS varbit
LANGUAGE sql AS $$
SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '')::varbit
FROM generate_series(1, n)
$$;
CREATE FUNCTION pg_temp.rand_tvec(n int) RETURNS tvec
LANGUAGE sql AS $$
SELECT array_agg(floor(random() * 3)::int - 1)::tvec FROM generate_series(1, n)
$$;

-- Queries of n elements in styles: random, integer, tiny (1e-30 scale),
-- denormal, huge (1e37 scale), wide (2^-60..2^60 and denormals: sums round),
-- one 1e6 among 1e-3, and signed zeros
CREATE FUNCTION pg_temp.query(n int, style text) RETURNS real[]
LANGUAGE sql AS $$
SELECT array_agg(CASE style
		WHEN 'random' THEN (random() * 2 - 1)::real
		WHEN 'integer' THEN (floor(random() * 3) - 1)::real
		WHEN 'tiny' THEN ((random() * 2 - 1) * 1e-30)::real
		WHEN 'denormal' THEN ((random() * 2 - 1) * 1e-40::float8)::real
		WHEN 'huge' THEN ((random() * 2 - 1) * 1e37)::real
		WHEN 'wide' THEN CASE WHEN random() < 0.05 THEN ((random() * 2 - 1) * 1e-41::float8)::real
							  ELSE ((random() * 2 - 1) * 2.0 ^ floor(random() * 121 - 60))::real END
		WHEN 'heavy' THEN CASE WHEN i = n / 2 + 1 THEN 1e6::real ELSE ((random() * 2 - 1) * 1e-3)::real END
		ELSE CASE WHEN random() < 0.5 THEN '-0'::real ELSE 0::real END
	END ORDER BY i)
FROM generate_series(1, n) i
$$;

-- rsr_scores against inner_product: rows, distinct TIDs, and how many
-- scores differ from inner_product in any bit
CREATE FUNCTION pg_temp.check(idx regclass, tab regclass, q real[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	EXECUTE format($q$
		SELECT (SELECT count(*) FROM %s) AS rows,
			   count(*) AS scored,
			   count(DISTINCT s.tid) AS tids,
			   count(*) FILTER (WHERE s.score::text <> inner_product(t.v, $2)::text
								OR s.score <> inner_product(t.v, $2)) AS differ
		FROM rsr_scores($1, $2) s JOIN %s t ON t.ctid = s.tid$q$, tab, tab)
	INTO r USING idx, q;
	RETURN format('rows %s scored %s distinct %s differ %s', r.rows, r.scored, r.tids, r.differ);
END
$$;

SET extra_float_digits = 3;

CREATE TABLE dims (kind text, d int);
INSERT INTO dims VALUES ('b', 1), ('b', 77), ('b', 1024), ('b', 3000), ('t', 40), ('t', 513);

-- One table and index per shape: 300 rows (not a multiple of 32), a third
-- of them duplicates (exact ties)
DO $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT * FROM dims ORDER BY kind, d LOOP
		IF s.kind = 'b' THEN
			EXECUTE format('CREATE TABLE xs_b%s (id int, v bit(%s))', s.d, s.d);
			EXECUTE format('INSERT INTO xs_b%s SELECT i, pg_temp.rand_bits(%s) FROM generate_series(1, 200) i', s.d, s.d);
			EXECUTE format('INSERT INTO xs_b%s SELECT id + 1000, v FROM xs_b%s WHERE id <= 100', s.d, s.d);
			EXECUTE format('CREATE INDEX xs_b%s_idx ON xs_b%s USING rsr (v bit_ip_ops) WITH (layout = tile)', s.d, s.d);
		ELSE
			EXECUTE format('CREATE TABLE xs_t%s (id int, v tvec(%s))', s.d, s.d);
			EXECUTE format('INSERT INTO xs_t%s SELECT i, pg_temp.rand_tvec(%s) FROM generate_series(1, 200) i', s.d, s.d);
			EXECUTE format('INSERT INTO xs_t%s SELECT id + 1000, v FROM xs_t%s WHERE id <= 100', s.d, s.d);
			EXECUTE format('CREATE INDEX xs_t%s_idx ON xs_t%s USING rsr (v tvec_ip_ops) WITH (layout = tile)', s.d, s.d);
		END IF;
	END LOOP;
END
$$;

SELECT d.kind, d.d, (SELECT (rsr_index_info(format('xs_%s%s_idx', d.kind, d.d)::regclass))->>'layout') AS layout,
	   (SELECT (rsr_index_info(format('xs_%s%s_idx', d.kind, d.d)::regclass))->>'ranges') AS ranges
FROM dims d ORDER BY d.kind, d.d;

-- Every shape, every query style
SELECT d.kind, d.d, st.style,
	   pg_temp.check(format('xs_%s%s_idx', d.kind, d.d)::regclass, format('xs_%s%s', d.kind, d.d)::regclass,
					 pg_temp.query(d.d, st.style)) AS result
FROM dims d,
	 (VALUES (1, 'random'), (2, 'integer'), (3, 'tiny'), (4, 'denormal'), (5, 'huge'),
			 (6, 'wide'), (7, 'heavy'), (8, 'zero')) AS st(n, style)
ORDER BY d.kind, d.d, st.n;

-- The same after deletes (dead rows skipped) and a VACUUM
DELETE FROM xs_b1024 WHERE id % 3 = 0;
DELETE FROM xs_t513 WHERE id % 4 = 0;
SELECT pg_temp.check('xs_b1024_idx', 'xs_b1024', pg_temp.query(1024, 'random'));
SELECT pg_temp.check('xs_t513_idx', 'xs_t513', pg_temp.query(513, 'wide'));
VACUUM xs_b1024;
VACUUM xs_t513;
SELECT pg_temp.check('xs_b1024_idx', 'xs_b1024', pg_temp.query(1024, 'heavy'));
SELECT pg_temp.check('xs_t513_idx', 'xs_t513', pg_temp.query(513, 'random'));

-- A few values, to be read: the score is inner_product's
CREATE TEMP TABLE q77 AS
SELECT array_cat('{0.5,-0.25,3,1e-3,7}'::real[], array_fill(0.125::real, ARRAY[72])) AS q;
SELECT t.id, s.score, inner_product(t.v, q) AS inner_product
FROM q77, rsr_scores('xs_b77_idx', q) s JOIN xs_b77 t ON t.ctid = s.tid
WHERE t.id <= 3 ORDER BY t.id;
