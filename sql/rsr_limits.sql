-- Limits: the largest dimension, LIMIT past the table, NULLs, extreme query
-- values.  Every case gives a correct result or a clear error.
SET extra_float_digits = 0;

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

-- 65535 elements (the maximum) in every input form; 65536 is rejected
SELECT tvec_dims(('[' || repeat('1,', 65534) || '-1]')::tvec) AS text_in,
	   tvec_dims(array_fill(-1, ARRAY[65535])::tvec) AS from_array,
	   tvec_dims(ternary_quantize(array_fill(2::real, ARRAY[65535]))) AS quantized,
	   length(('[' || repeat('0,', 65534) || '1]')::tvec::text) AS text_out;
SELECT pg_temp.try(format('SELECT %L::tvec', '[' || repeat('0,', 65535) || '0]')) AS text_65536,
	   pg_temp.try('SELECT array_fill(1, ARRAY[65536])::tvec') AS array_65536,
	   pg_temp.try('SELECT ''[1]''::tvec(65536)') AS typmod_65536,
	   pg_temp.try('SELECT array_fill(1::real, ARRAY[65536])::real[] <#> array_fill(1::real, ARRAY[65536])') AS no_such_operator;

CREATE TABLE lim_wide (id int, v tvec(65535), b bit(65535));
INSERT INTO lim_wide
SELECT i, (SELECT array_agg(CASE WHEN (j + i) % 3 = 0 THEN 1 WHEN (j + i) % 3 = 1 THEN -1 ELSE 0 END)
		   FROM generate_series(1, 65535) j)::tvec,
	   (SELECT string_agg(CASE WHEN (j * i) % 2 = 0 THEN '1' ELSE '0' END, '')
		FROM generate_series(1, 65535) j)::bit(65535)
FROM generate_series(1, 3) i;
INSERT INTO lim_wide VALUES (4, array_fill(1, ARRAY[65535])::tvec, repeat('1', 65535)::bit(65535));
-- scores are exact sums of the query's values: all-ones query, then 1..65535
SELECT id,
	   v <#> array_fill(1::real, ARRAY[65535]) AS tvec_ones,
	   inner_product(v, (SELECT array_agg(j::real) FROM generate_series(1, 65535) j)) AS tvec_ramp,
	   b <#> array_fill(1::real, ARRAY[65535]) AS bit_ones,
	   inner_product(b, (SELECT array_agg(j::real) FROM generate_series(1, 65535) j)) AS bit_ramp
FROM lim_wide ORDER BY id;
SELECT id FROM lim_wide ORDER BY v <#> array_fill(1::real, ARRAY[65535]), id LIMIT 2;
-- a query one element short or long is a clear error
SELECT pg_temp.try('SELECT v <#> array_fill(1::real, ARRAY[65534]) FROM lim_wide') AS short_query,
	   pg_temp.try('SELECT b <#> array_fill(1::real, ARRAY[65536]) FROM lim_wide') AS long_query,
	   pg_temp.try('SELECT array_fill(1, ARRAY[65535])::tvec <#> array_fill(1::real, ARRAY[65536])') AS tvec_vs_65536;
-- bit strings are not limited to 65535 by the operator (only by an index)
SELECT repeat('1', 70000)::bit(70000) <#> array_fill(0.5::real, ARRAY[70000]) AS bit_70000;

-- LIMIT past the table, LIMIT 0, OFFSET past the table
CREATE TABLE lim_small (id int, v tvec(4));
INSERT INTO lim_small VALUES (1, '[1,1,1,1]'), (2, '[1,0,0,-1]'), (3, '[-1,-1,-1,-1]'),
	(4, '[0,0,0,0]'), (5, '[1,-1,1,-1]');
SELECT id, v <#> '{1,2,3,4}' AS score FROM lim_small ORDER BY v <#> '{1,2,3,4}', id LIMIT 1000000;
SELECT count(*) FROM (SELECT id FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 9223372036854775807) s;
SELECT id FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 0;
SELECT id FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 5 OFFSET 1000;

-- Many NULLs: NULL rows score NULL and sort last; a NULL query scores NULL
CREATE TABLE lim_nulls (id int, v tvec(4));
INSERT INTO lim_nulls SELECT i, CASE WHEN i % 100 = 0 THEN '[1,1,0,-1]'::tvec END
FROM generate_series(1, 2000) i;
SELECT count(*) AS rows, count(v) AS non_null, count(v <#> '{1,1,1,1}') AS scored FROM lim_nulls;
SELECT id, v <#> '{1,1,1,1}' AS score FROM lim_nulls ORDER BY v <#> '{1,1,1,1}', id LIMIT 22;
SELECT count(*) FROM lim_nulls WHERE v <#> NULL::real[] IS NULL;
SELECT pg_temp.try('SELECT v <#> ''{1,NULL,1,1}'' FROM lim_nulls') AS null_element;

-- Extreme query values, scored exactly (a double sum of +-q_j)
SELECT id, v <#> '{1e30,-1e30,1e30,-1e30}' AS huge FROM lim_small ORDER BY v <#> '{1e30,-1e30,1e30,-1e30}', id;
SELECT id, v <#> '{1.4e-45,1.4e-45,-1.4e-45,1e-40}' AS denormal FROM lim_small ORDER BY 2, id;
SELECT id, v <#> '{-0.0,-0.0,-0.0,-0.0}' AS negative_zero, (v <#> '{-0.0,-0.0,-0.0,-0.0}')::text AS as_text
FROM lim_small ORDER BY id;
-- sums past the float4 range are still exact in the double result
SELECT id, inner_product(v, '{3.4e38,3.4e38,3.4e38,3.4e38}') AS over_float4,
	   inner_product(v, '{3.4e38,3.4e38,3.4e38,3.4e38}') > 3.4028234663852886e38 AS beyond_float4_max
FROM lim_small ORDER BY id;
SELECT inner_product(array_fill(1, ARRAY[65535])::tvec, array_fill(3.4e38::real, ARRAY[65535])) AS sum_65535_of_max;
-- 1 next to +-1e30 is absorbed, as for any float sum (error <= a few ulp of sum |q_j|)
SELECT inner_product('[1,1,1]'::tvec, '{1e30,1,-1e30}') AS absorbed;
-- non-finite values are rejected, and real[] rejects what overflows float4
SELECT pg_temp.try('SELECT ''[1,0]''::tvec <#> ''{NaN,1}''') AS nan,
	   pg_temp.try('SELECT ''[1,0]''::tvec <#> ''{Infinity,1}''') AS inf,
	   pg_temp.try('SELECT ''[1,0]''::tvec <#> ''{-Infinity,1}''') AS neg_inf,
	   pg_temp.try('SELECT ''[1,0]''::tvec <#> ''{1e39,1}''') AS float4_overflow,
	   pg_temp.try('SELECT ''10''::bit(2) <#> ''{1,NaN}''') AS bit_nan;

-- Binary input: a padding bit set in both planes is a padding error, not an
-- element past the end (found by test/fuzz/tvec_binary_fuzzer)
CREATE TABLE lim_recv (v tvec);
CREATE FUNCTION pg_temp.recv(bytes bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, current_setting('data_directory') || '/rsr_vector_limits_copy.bin');
	TRUNCATE lim_recv;
	result := pg_temp.try(format('COPY lim_recv FROM %L (FORMAT binary)', current_setting('data_directory') || '/rsr_vector_limits_copy.bin'));
	IF result = 'ok' THEN
		SELECT CASE WHEN tvec_dims(v) > 8 THEN 'dims ' || tvec_dims(v) ELSE v::text END INTO result FROM lim_recv;
	END IF;
	RETURN result;
END
$$;
SELECT left(b::text, 14) AS bytes, length(b) AS length, pg_temp.recv(b) AS result
FROM unnest(ARRAY['\x0000000404ff', '\x0000000404f0', '\x00000004a050',
				  '\x0000fffe' || repeat('00', 2 * 8192)::text,
				  '\x0000ffff' || repeat('00', 2 * 8192)::text]::bytea[]) AS b;

-- The same limits through rsr indexes: every answer equals the sequential
-- scan's (above) or is a clear error.  Rows tied at a score come in no
-- particular order, so results are sorted again by (score, id) outside.
SET enable_seqscan = off;
CREATE INDEX lim_wide_v ON lim_wide USING rsr (v tvec_ip_ops);
CREATE INDEX lim_wide_b ON lim_wide USING rsr (b bit_ip_ops);
SELECT * FROM (SELECT id, v <#> array_fill(1::real, ARRAY[65535]) AS score FROM lim_wide ORDER BY v <#> array_fill(1::real, ARRAY[65535]) LIMIT 4) s ORDER BY score, id;
SELECT * FROM (SELECT id, b <#> (SELECT array_agg(j::real) FROM generate_series(1, 65535) j) AS score FROM lim_wide ORDER BY b <#> (SELECT array_agg(j::real) FROM generate_series(1, 65535) j) LIMIT 4) s ORDER BY score, id;
SELECT pg_temp.try('SELECT id FROM lim_wide ORDER BY v <#> array_fill(1::real, ARRAY[65534]) LIMIT 1') AS short_query;
SELECT rsr_index_check('lim_wide_v') AND rsr_index_check('lim_wide_b') AS wide_checks;

CREATE INDEX lim_small_v ON lim_small USING rsr (v tvec_ip_ops);
SELECT * FROM (SELECT id, v <#> '{1,2,3,4}' AS score FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 1000000) s ORDER BY score, id;
SELECT count(*) FROM (SELECT id FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 9223372036854775807) s;
SELECT id FROM lim_small ORDER BY v <#> '{1,2,3,4}' LIMIT 5 OFFSET 1000;

-- an index scan returns the non-NULL rows only (as pgvector's indexes do)
CREATE INDEX lim_nulls_v ON lim_nulls USING rsr (v tvec_ip_ops);
SELECT count(*) AS through_index FROM (SELECT id FROM lim_nulls ORDER BY v <#> '{1,1,1,1}' LIMIT 100) s;
SELECT v <#> '{1,1,1,1}' AS score FROM lim_nulls ORDER BY v <#> '{1,1,1,1}' LIMIT 3;
SELECT rsr_index_check('lim_nulls_v') AS nulls_check;

-- float32 kernels: huge, denormal and -0.0 queries, and sums past the real
-- range, still come back exactly ordered with exact scores
SELECT * FROM (SELECT id, v <#> '{1e30,-1e30,1e30,-1e30}' AS huge FROM lim_small ORDER BY v <#> '{1e30,-1e30,1e30,-1e30}' LIMIT 2) s ORDER BY huge, id;
SELECT * FROM (SELECT id, v <#> '{1.4e-45,1.4e-45,-1.4e-45,1e-40}' AS denormal FROM lim_small ORDER BY v <#> '{1.4e-45,1.4e-45,-1.4e-45,1e-40}' LIMIT 2) s ORDER BY denormal, id;
SELECT v <#> '{-0.0,-0.0,-0.0,-0.0}' AS negative_zero FROM lim_small ORDER BY v <#> '{-0.0,-0.0,-0.0,-0.0}' LIMIT 1;
-- (float32 partial sums would overflow here: the scan scales the query by a
-- power of two; before, rows scored inf - inf = NaN went missing)
INSERT INTO lim_small VALUES (6, '[1,1,0,0]'), (7, '[-1,1,-1,1]');
EXPLAIN (COSTS OFF) SELECT id FROM lim_small ORDER BY v <#> '{3.4e38,3.4e38,3.4e38,3.4e38}' LIMIT 3;
SELECT * FROM (SELECT id, v <#> '{3.4e38,3.4e38,3.4e38,3.4e38}' AS over_float4 FROM lim_small ORDER BY v <#> '{3.4e38,3.4e38,3.4e38,3.4e38}' LIMIT 2) s ORDER BY over_float4, id;
SELECT * FROM (SELECT id, v <#> '{-3.4e38,-3.4e38,-3.4e38,-3.4e38}' AS over_float4_neg FROM lim_small ORDER BY v <#> '{-3.4e38,-3.4e38,-3.4e38,-3.4e38}' LIMIT 1) s ORDER BY over_float4_neg, id;
SELECT * FROM (SELECT id, v <#> '{3.4e38,-3.4e38,3.4e38,-3.4e38}' AS alternating FROM lim_small ORDER BY v <#> '{3.4e38,-3.4e38,3.4e38,-3.4e38}' LIMIT 7) s ORDER BY alternating, id;
SELECT * FROM (SELECT id, v <#> '{3.4e38,3.4e38,-3.4e38,-3.4e38}' AS halves FROM lim_small ORDER BY v <#> '{3.4e38,3.4e38,-3.4e38,-3.4e38}' LIMIT 7) s ORDER BY halves, id;
SELECT * FROM (SELECT id, v <#> '{2e38,2e38,1e-45,0}' AS mixed FROM lim_small ORDER BY v <#> '{2e38,2e38,1e-45,0}' LIMIT 7) s ORDER BY mixed, id;
SELECT * FROM (SELECT id, v <#> '{3.4e38,3.4e38,3.4e38,3.4e38}' AS all_rows FROM lim_small ORDER BY v <#> '{3.4e38,3.4e38,3.4e38,3.4e38}' LIMIT 100) s ORDER BY all_rows, id;
SELECT count(*) AS wide_rows FROM (SELECT id FROM lim_wide ORDER BY v <#> array_fill(3.4e38::real, ARRAY[65535]) LIMIT 10) s;
SELECT * FROM (SELECT id, v <#> array_fill(3.4e38::real, ARRAY[65535]) AS wide_over_float4 FROM lim_wide ORDER BY v <#> array_fill(3.4e38::real, ARRAY[65535]) LIMIT 4) s ORDER BY wide_over_float4, id;
SELECT pg_temp.try('SELECT id FROM lim_small ORDER BY v <#> ''{NaN,1,1,1}'' LIMIT 1') AS nan,
	   pg_temp.try('SELECT id FROM lim_small ORDER BY v <#> ''{1,1,Infinity,1}'' LIMIT 1') AS inf;
RESET enable_seqscan;
