-- Model weights from safetensors files.  test/safetensors_gen.py writes the
-- files (good and bad) and the reference values into rsr_safetensors/ in the
-- data directory, so that the paths in messages are relative and the same
-- on every run; psql runs it, so psql's user must be able to write there
-- (true for the throwaway clusters of `make test`).
SET max_parallel_workers_per_gather = 0;
SELECT setting AS datadir FROM pg_settings WHERE name = 'data_directory' \gset
\setenv RSR_ST_DIR :datadir/rsr_safetensors
\! python3 "$PG_ABS_SRCDIR/test/safetensors_gen.py" "$RSR_ST_DIR"

-- ==== listing ====
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/weights.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/layer.safetensors');
-- names with JSON escapes (a surrogate pair, quote, backslash, slash) and raw UTF-8
SELECT name, length(name) AS chars, dtype, shape FROM rsr_safetensors_tensors('rsr_safetensors/escapes.safetensors');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/escapes.safetensors', E'a\u00e9\U0001F600"\\/');
SELECT * FROM rsr_safetensors_binary('rsr_safetensors/escapes.safetensors', 'été');

-- ==== F32, F16, BF16: absmean over the whole tensor ====
-- Every row of "known" has sum |x| = 4 over 8 columns: scale 0.5 for the
-- tensor and for each row, so rows equal ternary_quantize(row); the ties
-- 0.25 / 0.5 = 0.5 and -0.5 round to 0 (rint, half to even)
SELECT row_id, w, scale FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'known.f32');
CREATE TEMP TABLE known (row_id int, x real[]);
INSERT INTO known VALUES
	(0, '{0.25,-0.25,0.5,-0.5,1,-1,0.375,0.125}'),
	(1, '{0,0,0,0,2,-2,0,0}'),
	(2, '{0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5}'),
	(3, '{-0.75,0.75,-0.25,0.25,-1.5,0.5,0,-0}');
SELECT t AS tensor, count(*) AS rows,
	   bool_and(s.w = ternary_quantize(k.x)) AS equal_ternary_quantize,
	   bool_and(s.scale = 0.5) AS scale
FROM unnest(ARRAY['known.f32', 'known.f16', 'known.bf16']) t,
	 rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', t) s
JOIN known k USING (row_id)
GROUP BY t ORDER BY t;

-- A tensor whose rows have different means: the tensor's scale (mean |W| in
-- double, row-major order) and rint(clip(x / scale, -1, 1)), ternary_quantize's
-- rule, computed here in SQL from the values the generator wrote
CREATE TEMP TABLE mixed (i int, j int, v real);
COPY mixed FROM 'rsr_safetensors/mixed.csv' (FORMAT csv);
CREATE TEMP TABLE mixed_ref AS
SELECT i, array_agg(round(greatest(-1, least(1, v::float8 / s.scale)))::int ORDER BY j) AS e, s.scale
FROM mixed, (SELECT sum(abs(v::float8) ORDER BY i, j) / count(*) AS scale FROM mixed) s
GROUP BY i, s.scale;
SELECT count(*) AS rows,
	   bool_and(t.w::int[] = r.e) AS rows_equal,
	   bool_and(t.scale = r.scale::real) AS scale_equal,
	   count(DISTINCT t.scale) AS scales,
	   sum((SELECT count(*) FROM unnest(r.e) u WHERE u = 0)) AS zeros
FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'mixed') t
JOIN mixed_ref r ON r.i = t.row_id;

-- F16 and BF16 conversion is exact: one value per tensor, scale = |value|
SELECT t AS tensor, s.w, s.scale, s.scale::float8 AS scale_float8
FROM unnest(ARRAY['f16.min_subnormal', 'f16.max_subnormal', 'f16.min_normal', 'f16.max', 'f16.neg',
				  'bf16.min_subnormal', 'bf16.max', 'bf16.one_plus']) WITH ORDINALITY AS u(t, n),
	 rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', t) s
ORDER BY n;
SELECT bool_and(scale::float8 = v) AS exact
FROM (VALUES ('f16.min_subnormal', 2 ^ -24), ('f16.max_subnormal', 1023 * 2 ^ -24),
			 ('f16.min_normal', 2 ^ -14), ('f16.max', 65504.0), ('f16.neg', 2.5),
			 ('bf16.min_subnormal', 2 ^ -133), ('bf16.max', 255 * 2 ^ 120),
			 ('bf16.one_plus', 1 + 2 ^ -7)) AS c(t, v),
	 rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', t);

-- All zeros: scale 0 and zero rows, as ternary_quantize; no rows: no output
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'zeros');
SELECT count(*) FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'empty');

-- ==== binary: x > 0 -> 1, as binary_quantize ====
SELECT row_id, b FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'known.bf16');
SELECT t AS tensor, bool_and(s.b = binary_quantize(k.x)) AS equal_binary_quantize
FROM unnest(ARRAY['known.f32', 'known.f16', 'known.bf16']) t,
	 rsr_safetensors_binary('rsr_safetensors/weights.safetensors', t) s
JOIN known k USING (row_id)
GROUP BY t ORDER BY t;
SELECT count(*) AS rows,
	   bool_and(t.b = binary_quantize((SELECT array_agg(v ORDER BY j) FROM mixed m WHERE m.i = t.row_id))) AS equal
FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'mixed') t;

-- ==== BitNet-packed U8 (transformers' pack_weights layout) ====
-- 3 packed rows of 5 bytes are 12 output rows: row r is bits 2(r / 3)..2(r / 3)+1
-- of packed row r % 3, minus 1; the generator packed a known ternary matrix
CREATE TEMP TABLE packed_ref (row_id int, e int[]);
COPY packed_ref FROM 'rsr_safetensors/packed.csv' (FORMAT csv);
SELECT row_id, w, scale FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed');
SELECT count(*) AS rows, bool_and(t.w::int[] = r.e) AS rows_equal
FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed') t JOIN packed_ref r USING (row_id);
-- with the scale tensor: BitLinear divides by weight_scale (2.0), so scale = 0.5
SELECT count(*) AS rows, bool_and(t.w::int[] = r.e) AS rows_equal, min(scale) AS scale, max(scale)
FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'packed.weight_scale') t
JOIN packed_ref r USING (row_id);

-- ==== errors ====
\set VERBOSITY default
-- the tensor
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'missing');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'bias');
SELECT * FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'conv');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'wide');
SELECT * FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'wide');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'ints');
SELECT * FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'packed');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'nan');
SELECT * FROM rsr_safetensors_binary('rsr_safetensors/weights.safetensors', 'inf');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'known.f32', 'packed.weight_scale');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'packed.bad_scale');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'packed.zero_scale');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'ints');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'nope');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/bad_bad_packed.safetensors', 'w');
-- the file
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/no_such_file.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_empty.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_short.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_header_past_end.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_header_huge.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_header_over_cap.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_truncated.safetensors');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/bad_truncated.safetensors', 't');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_not_json.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_trailing_junk.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_nul_in_header.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_not_object.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_deep.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_bad_dtype.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_missing_field.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_float_shape.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_negative_offset.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_offsets_past_end.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_offsets_reversed.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_overlap.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_size_mismatch.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_shape_overflow.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_number_overflow.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_too_many_dims.safetensors');
SELECT * FROM rsr_safetensors_ternary('rsr_safetensors/bad_duplicate.safetensors', 't');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_bad_utf8_name.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_lone_surrogate.safetensors');
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/bad_nul_escape.safetensors');
-- the SQLSTATE of each bad file
CREATE FUNCTION st_sqlstate(path text, tensor text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF tensor IS NULL THEN
		PERFORM count(*) FROM rsr_safetensors_tensors(path);
	ELSE
		PERFORM count(*) FROM rsr_safetensors_ternary(path, tensor);
	END IF;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SELECT f, t, st_sqlstate('rsr_safetensors/' || f || '.safetensors', t) AS sqlstate
FROM (VALUES ('bad_empty', NULL), ('bad_short', NULL), ('bad_header_past_end', NULL),
			 ('bad_header_huge', NULL), ('bad_header_over_cap', NULL), ('bad_truncated', NULL),
			 ('bad_not_json', NULL), ('bad_trailing_junk', NULL), ('bad_nul_in_header', NULL),
			 ('bad_not_object', NULL), ('bad_deep', NULL), ('bad_bad_dtype', NULL),
			 ('bad_missing_field', NULL), ('bad_float_shape', NULL), ('bad_negative_offset', NULL),
			 ('bad_offsets_past_end', NULL), ('bad_offsets_reversed', NULL), ('bad_overlap', NULL),
			 ('bad_size_mismatch', NULL), ('bad_shape_overflow', NULL), ('bad_number_overflow', NULL),
			 ('bad_too_many_dims', NULL), ('bad_duplicate', 't'), ('bad_bad_utf8_name', NULL),
			 ('bad_lone_surrogate', NULL), ('bad_nul_escape', NULL),
			 ('bad_bad_packed', 'w'), ('no_such_file', NULL), ('weights', 'missing'), ('weights', 'bias'),
			 ('weights', 'conv'), ('weights', 'wide'), ('weights', 'ints'), ('weights', 'nan'),
			 ('weights', 'known.f32')) AS c(f, t);
DROP FUNCTION st_sqlstate(text, text);
-- NULL arguments: no rows (STRICT)
SELECT count(*) FROM rsr_safetensors_ternary(NULL, 'packed');

-- ==== privileges: superusers and pg_read_server_files only (42501) ====
SELECT p.oid::regprocedure, p.provolatile, p.proisstrict, p.proparallel,
	   array(SELECT a.grantee::regrole::text FROM aclexplode(p.proacl) a
			 WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1) AS execute
FROM pg_proc p WHERE p.proname LIKE 'rsr\_safetensors\_%'
ORDER BY p.oid::regprocedure::text;
CREATE ROLE regress_st_plain;
CREATE ROLE regress_st_reader IN ROLE pg_read_server_files;
SET ROLE regress_st_plain;
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/weights.safetensors');
RESET ROLE;
GRANT EXECUTE ON FUNCTION rsr_safetensors_tensors(text) TO regress_st_plain;
SET ROLE regress_st_plain;
SELECT * FROM rsr_safetensors_tensors('rsr_safetensors/weights.safetensors');
RESET ROLE;
SET ROLE regress_st_reader;
SELECT count(*) FROM rsr_safetensors_tensors('rsr_safetensors/weights.safetensors');
SELECT count(*) FROM rsr_safetensors_ternary('rsr_safetensors/weights.safetensors', 'packed', 'packed.weight_scale');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rsr_safetensors_tensors(text) FROM regress_st_plain;
DROP ROLE regress_st_plain;
DROP ROLE regress_st_reader;

-- ==== end to end: a BF16 layer, y = W x, the top 16 activations ====
-- The generator quantized W (512 x 320) itself and computed W x in float64
-- from the activation it wrote: the sum of +-x_j over the nonzero elements in
-- element order, as inner_product adds them
CREATE TABLE st_layer (row_id int PRIMARY KEY, w tvec(320), scale real);
INSERT INTO st_layer
SELECT row_id, w, scale
FROM rsr_safetensors_ternary('rsr_safetensors/layer.safetensors', 'model.layers.0.mlp.down_proj.weight');
CREATE INDEX st_layer_rsr ON st_layer USING rsr (w tvec_ip_ops);
CREATE TEMP TABLE st_x (j int, v real);
COPY st_x FROM 'rsr_safetensors/layer_x.csv' (FORMAT csv);
CREATE TEMP TABLE st_y (row_id int, y float8, scale float8);
COPY st_y FROM 'rsr_safetensors/layer_y.csv' (FORMAT csv);
SELECT array_agg(v ORDER BY j) AS x FROM st_x \gset

SELECT count(*) AS rows, count(DISTINCT l.scale) AS scales,
	   bool_and(l.scale = r.scale::real) AS scale_equal,
	   bool_and(inner_product(l.w, :'x') = r.y) AS inner_product_equal
FROM st_layer l JOIN st_y r USING (row_id);

-- y through the index: within the bound e of README "Bulk scoring":
-- (2d + 64) u / (1 - (2d + 64) u) * sum |x| + (d + 4) 2^-52 sum |x|, u = 2^-24
CREATE TEMP TABLE st_bound AS
SELECT m * u / (1 - m * u) * s + (320 + 4) * 2.0 ^ -52 * s AS e
FROM (SELECT 2.0 ^ -24 AS u, 2.0 * 320 + 64 AS m,
			 (SELECT sum(abs(v::float8)) FROM st_x) AS s) c;
SELECT count(*) AS outputs, bool_and(abs(s.score - r.y) <= b.e) AS within_bound,
	   max(abs(s.score - r.y)) <= min(b.e) AS max_error_within_bound
FROM rsr_scores('st_layer_rsr', :'x') s
JOIN st_layer l ON l.ctid = s.tid
JOIN st_y r USING (row_id), st_bound b;

-- the 16 largest activations are exact: rows, order and scores
SELECT bool_and(t.row_id = r.row_id AND t.score = r.y) AS top16_exact, count(*) AS n
FROM (SELECT l.row_id, k.score, k.rn
	  FROM rsr_topk('st_layer_rsr', ARRAY[:'x'::real[]], 16) WITH ORDINALITY AS k(query, tid, score, rn)
	  JOIN st_layer l ON l.ctid = k.tid) t
JOIN (SELECT row_id, y, row_number() OVER (ORDER BY y DESC, row_id) AS rn FROM st_y) r USING (rn);
DROP TABLE st_layer;
