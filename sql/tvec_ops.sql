-- Scoring (inner_product and <#> for tvec and bit against real[]) checked
-- against plain SQL arithmetic on seeded random data, the quantizers, and
-- every error with its SQLSTATE.
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

-- Small cases worked by hand
SELECT inner_product('[1,0,-1]'::tvec, '{1,2,3}'), '[1,0,-1]'::tvec <#> '{1,2,3}';
SELECT inner_product('[1,1,1,1,1,1,1,1,-1]'::tvec, '{1,2,3,4,5,6,7,8,0.5}'),
	   '[1,1,1,1,1,1,1,1,-1]'::tvec <#> '{1,2,3,4,5,6,7,8,0.5}';
SELECT inner_product('[0,0,0]'::tvec, '{1,2,3}'), '[0,0,0]'::tvec <#> '{1,2,3}';
SELECT inner_product(B'101', '{1,2,3}'), B'101' <#> '{1,2,3}';
SELECT inner_product('101'::varbit, '{1,2,3}'), '101'::varbit <#> '{1,2,3}';
SELECT inner_product(B'000000001', '{1,2,3,4,5,6,7,8,-0.25}'), B'111111110' <#> '{1,2,3,4,5,6,7,8,-0.25}';
-- added in element order: (1e30 - 1e30) + 1 = 1 but (1e30 + 1) - 1e30 = 0
SELECT inner_product('[1,-1,1]'::tvec, ARRAY[1e30, 1e30, 1]::real[]) AS cancel_first,
	   inner_product('[1,1,-1]'::tvec, ARRAY[1e30, 1, 1e30]::real[]) AS cancel_last;
-- an empty bit string against an empty query: the empty sum
SELECT inner_product(B'', '{}'), ''::varbit <#> '{}';
SELECT inner_product(NULL::tvec, '{1}'), inner_product('[1]'::tvec, NULL), NULL::bit <#> '{1}';

-- Random data, fixed seed, dimensions around the byte and word boundaries:
-- each score must equal sum(x * q) in float8, added in element order
SELECT setseed(0.42);
CREATE TABLE score_elems AS
SELECT d, r, j,
	   floor(random() * 3)::int - 1 AS t,
	   floor(random() * 2)::int AS b,
	   (random() * 2 - 1)::real AS q
FROM unnest(ARRAY[1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 4099]) AS d,
	 generate_series(1, 25) AS r,
	 generate_series(1, d) AS j;
CREATE TABLE score_rows AS
SELECT d, r,
	   array_agg(t ORDER BY j) AS ta,
	   array_agg(b ORDER BY j) AS ba,
	   array_agg(q ORDER BY j) AS q
FROM score_elems GROUP BY d, r;
ALTER TABLE score_rows
	ADD COLUMN v tvec, ADD COLUMN bv varbit;
UPDATE score_rows SET v = ta::tvec, bv = array_to_string(ba, '')::varbit;
SELECT d, count(*) AS rows,
	   count(*) FILTER (WHERE inner_product(v, q) = ref_t) AS tvec_ip,
	   count(*) FILTER (WHERE v <#> q = -ref_t) AS tvec_nip,
	   count(*) FILTER (WHERE inner_product(bv, q) = ref_b) AS bit_ip,
	   count(*) FILTER (WHERE bv <#> q = -ref_b) AS bit_nip,
	   count(*) FILTER (WHERE ref_t <> 0 AND ref_b <> 0) AS nonzero
FROM score_rows,
	 LATERAL (SELECT sum(x::float8 * y ORDER BY o) AS ref_t
			  FROM unnest(ta, q) WITH ORDINALITY AS u(x, y, o)) rt,
	 LATERAL (SELECT sum(x::float8 * y ORDER BY o) AS ref_b
			  FROM unnest(ba, q) WITH ORDINALITY AS u(x, y, o)) rb
GROUP BY d ORDER BY d;

-- bit(n) columns (what people store) score like varbit
CREATE TABLE score_bits (b bit(100), q real[]);
INSERT INTO score_bits SELECT bv::bit(100), q FROM score_rows WHERE d = 100;
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE inner_product(b, q) = inner_product(b::varbit, q)
						AND b <#> q = -inner_product(b, q)) AS same
FROM score_bits;

-- Ranking: ascending <#> puts the largest inner product first
SELECT (SELECT array_agg(r ORDER BY v <#> q0, r) FROM score_rows WHERE d = 64)
	 = (SELECT array_agg(r ORDER BY inner_product(v, q0) DESC, r) FROM score_rows WHERE d = 64) AS same_order
FROM (SELECT q AS q0 FROM score_rows WHERE d = 64 AND r = 1) s;

-- One query for every row, as a scan runs it: a 4099-element query is
-- stored out of line (toasted), is checked once and gives the same scores
SELECT pg_relation_size(reltoastrelid) > 0 AS has_toast FROM pg_class WHERE relname = 'score_rows';
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE inner_product(v, q0) =
			(SELECT sum(x::float8 * y ORDER BY o) FROM unnest(ta, q0) WITH ORDINALITY AS u(x, y, o))) AS tvec_exact,
	   count(*) FILTER (WHERE bv <#> q0 =
			-(SELECT sum(x::float8 * y ORDER BY o) FROM unnest(ba, q0) WITH ORDINALITY AS u(x, y, o))) AS bit_exact
FROM score_rows, (SELECT q AS q0 FROM score_rows WHERE d = 4099 AND r = 1) s
WHERE d = 4099;
-- the length is still checked on every row
SELECT pg_temp.try('SELECT sum(v <#> q0) FROM score_rows, (SELECT q AS q0 FROM score_rows WHERE d = 65 AND r = 1) s WHERE d IN (65, 100)');
SELECT pg_temp.try('SELECT sum(bv <#> q0) FROM score_rows, (SELECT q AS q0 FROM score_rows WHERE d = 65 AND r = 1) s WHERE d IN (65, 100)');

-- A PL/pgSQL array changed in place between calls (an expanded datum)
DO $$
DECLARE
	q real[] := '{1,2,3}';
	s text := '';
BEGIN
	FOR i IN 1..3 LOOP
		s := s || ('[1,1,-1]'::tvec <#> q) || ' ' || (B'101' <#> q) || ' ';
		q[i] := 10 * i;
	END LOOP;
	RAISE NOTICE '%', s;
END
$$;

-- A tvec scored against another tvec through the implicit cast to real[]
SELECT '[1,0,-1,1]'::tvec <#> '[1,1,-1,-1]'::tvec;

DROP TABLE score_elems, score_rows, score_bits;

-- Query errors: length, NaN, infinity, NULL element, shape
SELECT pg_temp.try('SELECT inner_product(''[1,0,-1]''::tvec, ''{1,2}'')');
SELECT pg_temp.try('SELECT ''[1,0,-1]''::tvec <#> ''{1,2,3,4}''');
SELECT pg_temp.try('SELECT ''[1,0,-1]''::tvec <#> ''{}''');
SELECT pg_temp.try('SELECT inner_product(B''101'', ''{1,2}'')');
SELECT pg_temp.try('SELECT B''101'' <#> ''{1,2,3,4}''');
SELECT pg_temp.try('SELECT inner_product(''[1,0,-1]''::tvec, ''{1,NaN,3}'')');
SELECT pg_temp.try('SELECT ''[1,0,-1]''::tvec <#> ''{1,2,Infinity}''');
SELECT pg_temp.try('SELECT ''[1,0,-1]''::tvec <#> ''{-Infinity,2,3}''');
SELECT pg_temp.try('SELECT inner_product(B''101'', ''{1,NaN,3}'')');
SELECT pg_temp.try('SELECT B''101'' <#> ''{1,2,-Infinity}''');
SELECT pg_temp.try('SELECT inner_product(''[1,0,-1]''::tvec, ARRAY[1,NULL,3]::real[])');
SELECT pg_temp.try('SELECT B''101'' <#> ARRAY[1,NULL,3]::real[]');
SELECT pg_temp.try('SELECT inner_product(''[1,0,-1]''::tvec, ''{{1,2,3}}'')');
SELECT pg_temp.try('SELECT B''1010'' <#> ''{{1,2},{3,4}}''');
-- a zero score against a NaN-free query is +0, never -0
SELECT '[0,0]'::tvec <#> '{1,2}', B'00' <#> '{1,2}';

-- Quantizers.  absmean: scale = mean |x|, then round(clip(x / scale, -1, 1))
SELECT ternary_quantize('{1,-0.2,0.4,-3}');				-- scale 1.15
SELECT ternary_quantize('{0.5,-0.5,2,-2,0.75,-0.25}');	-- scale 1: ties round to even
SELECT ternary_quantize('{1,2,3}');						-- scale 2
SELECT ternary_quantize('{0,0,0,0,0,0,0,0,0}');			-- all zero
SELECT ternary_quantize('{-0.0001}'), ternary_quantize('{3e38,3e38,-3e38}');
SELECT ternary_quantize(ARRAY[1,-1,0,1,-1,0,1,-1,0]::real[]) = '[1,-1,0,1,-1,0,1,-1,0]' AS identity;
-- threshold: |x| <= t gives 0, else the sign
SELECT ternary_quantize('{0.5,-0.5,0.51,-0.51,0,2,-2}', 0.5);
SELECT ternary_quantize('{0.5,-0.5,0,1e-30}', 0);
SELECT ternary_quantize('{1,-1}', 'Infinity');
-- binary: x > 0 gives 1
SELECT binary_quantize('{1,-1,0,0.001,-0.001,5,0,0,7}');
SELECT binary_quantize('{0}'), pg_typeof(binary_quantize('{1}'));
-- quantizing a random real[] agrees with the definitions computed in SQL
SELECT setseed(0.7);
CREATE TABLE quant AS
SELECT r, array_agg((random() * 4 - 2)::real ORDER BY j) AS x
FROM generate_series(1, 20) AS r, generate_series(1, 77) AS j GROUP BY r;
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE ternary_quantize(x)::int[] =
			(SELECT array_agg(round(greatest(-1, least(1, e / s)))::int ORDER BY o)
			 FROM unnest(x) WITH ORDINALITY u(e, o),
				  (SELECT avg(abs(e::float8)) AS s FROM unnest(x) e) m)) AS absmean_ok,
	   count(*) FILTER (WHERE ternary_quantize(x, 0.7)::int[] =
			(SELECT array_agg(CASE WHEN abs(e) <= 0.7::real THEN 0 ELSE sign(e)::int END ORDER BY o)
			 FROM unnest(x) WITH ORDINALITY u(e, o))) AS threshold_ok,
	   count(*) FILTER (WHERE binary_quantize(x)::text =
			(SELECT string_agg((e > 0)::int::text, '' ORDER BY o)
			 FROM unnest(x) WITH ORDINALITY u(e, o))) AS binary_ok
FROM quant;
DROP TABLE quant;
-- quantized values score like the formula says
SELECT inner_product(ternary_quantize('{0.9,-1.1,0.1,2}'), '{1,10,100,1000}'),
	   binary_quantize('{0.9,-1.1,0.1,2}') <#> '{1,10,100,1000}';

-- Quantizer errors: NaN, infinity, NULL, empty, shape, length, threshold
SELECT pg_temp.try('SELECT ternary_quantize(''{1,NaN}'')');
SELECT pg_temp.try('SELECT ternary_quantize(''{1,Infinity}'')');
SELECT pg_temp.try('SELECT ternary_quantize(ARRAY[1,NULL]::real[])');
SELECT pg_temp.try('SELECT ternary_quantize(''{}'')');
SELECT pg_temp.try('SELECT ternary_quantize(''{{1,2},{3,4}}'')');
SELECT pg_temp.try('SELECT ternary_quantize(array_fill(1::real, ARRAY[65536]))');
SELECT pg_temp.try('SELECT ternary_quantize(''{1,NaN}'', 0.5)');
SELECT pg_temp.try('SELECT ternary_quantize(''{}'', 0.5)');
SELECT pg_temp.try('SELECT ternary_quantize(ARRAY[NULL]::real[], 0.5)');
SELECT pg_temp.try('SELECT ternary_quantize(''{1,2}'', -0.5)');
SELECT pg_temp.try('SELECT ternary_quantize(''{1,2}'', ''NaN'')');
SELECT pg_temp.try('SELECT binary_quantize(''{1,NaN}'')');
SELECT pg_temp.try('SELECT binary_quantize(''{-Infinity}'')');
SELECT pg_temp.try('SELECT binary_quantize(ARRAY[NULL,1]::real[])');
SELECT pg_temp.try('SELECT binary_quantize(''{}'')');
SELECT pg_temp.try('SELECT binary_quantize(''{{1},{2}}'')');
SELECT pg_temp.try('SELECT binary_quantize(array_fill(1::real, ARRAY[65536]))');
SELECT tvec_dims(ternary_quantize(array_fill(1::real, ARRAY[65535]))),
	   length(binary_quantize(array_fill(1::real, ARRAY[65535])));
SELECT ternary_quantize(NULL), ternary_quantize('{1}', NULL), binary_quantize(NULL);

-- Function properties
SELECT p.oid::regprocedure, p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'rsr_vector'
WHERE p.proname IN ('inner_product', 'tvec_negative_inner_product', 'bit_negative_inner_product',
					'ternary_quantize', 'binary_quantize')
ORDER BY p.oid::regprocedure::text;
