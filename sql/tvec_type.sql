-- tvec: text and binary I/O, type modifier, casts, comparison, DISTINCT and
-- GROUP BY through both sort and hash plans, and every input error with its
-- SQLSTATE.
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

-- Text form: spaces are allowed around elements and brackets
SELECT '[1,0,-1]'::tvec;
SELECT ' [ 1 , 0 ,-1 ] '::tvec;
SELECT '[+1,-0,01]'::tvec;
SELECT '[-1]'::tvec, '[0]'::tvec, '[1]'::tvec;
SELECT '[1,0,-1,1,1,0,0,-1,-1]'::tvec;
SELECT tvec_dims('[1,0,-1]'), tvec_dims('[0,0,0,0,0,0,0,0,1]');

-- Round trip of every length 1..70 through text, arrays and casts
SELECT count(*) AS vectors,
	   count(*) FILTER (WHERE v::text = lit) AS text_ok,
	   count(*) FILTER (WHERE v::int[] = a) AS int_ok,
	   count(*) FILTER (WHERE v::real[] = a::real[]) AS real_ok,
	   count(*) FILTER (WHERE a::tvec = v) AS cast_ok,
	   count(*) FILTER (WHERE tvec_dims(v) = d) AS dims_ok
FROM (SELECT d, a, '[' || array_to_string(a, ',') || ']' AS lit,
			 ('[' || array_to_string(a, ',') || ']')::tvec AS v
	  FROM (SELECT d, array_agg(((hashint4(d * 65536 + j)::bigint + 2147483648) % 3)::int - 1 ORDER BY j) AS a
			FROM generate_series(1, 70) AS d, generate_series(1, d) AS j
			GROUP BY d) s) t;

-- Largest dimension
SELECT tvec_dims(('[' || array_to_string(array_fill(-1, ARRAY[65535]), ',') || ']')::tvec);
SELECT tvec_dims(array_fill(1, ARRAY[65535])::tvec);

-- Type modifier, in a cast and in a table column
SELECT '[1,0,-1]'::tvec(3);
SELECT ARRAY[1,0,-1]::tvec(3);
SELECT '[1,0,-1]'::tvec::tvec(3);
CREATE TABLE tvec_typmod (v tvec(3));
\d tvec_typmod
INSERT INTO tvec_typmod VALUES ('[1,0,-1]'), (ARRAY[0,0,1]), (NULL);
INSERT INTO tvec_typmod VALUES ('[1,0]');
INSERT INTO tvec_typmod VALUES (ARRAY[1,0,0,1]);
INSERT INTO tvec_typmod SELECT '[1,1]'::tvec;
SELECT v, tvec_dims(v) FROM tvec_typmod ORDER BY v;
DROP TABLE tvec_typmod;

-- Casts
SELECT '[1,0,-1]'::tvec::real[], '[1,0,-1]'::tvec::int[];
SELECT ARRAY[-1,0,1]::tvec, '{1,1,0}'::int[]::tvec;
SELECT pg_typeof('[1,0,-1]'::tvec::real[]), pg_typeof('[1,0,-1]'::tvec::int[]);

-- Text input errors
SELECT s AS input, pg_temp.try(format('SELECT %L::tvec', s)) AS result
FROM unnest(ARRAY['1,0,-1]', '[1,0,-1', '[1,0,-1]x', '[1,0,-1] ]', '[]', '[ ]',
				  '', '[a]', '[1,b]', '[1.5]', '[1,,0]', '[,1]', '[1,]',
				  '[2]', '[1,-2]', '[0,99999999999999999999]', '[0x1]']) AS s;
SELECT pg_temp.try('SELECT (''['' || array_to_string(array_fill(0, ARRAY[65536]), '','') || '']'')::tvec');

-- Type modifier errors
SELECT pg_temp.try('SELECT ''[1,0]''::tvec(3)');
SELECT pg_temp.try('SELECT ''[1,0,1,1]''::tvec::tvec(3)');
SELECT pg_temp.try('SELECT ''[1]''::tvec(0)');
SELECT pg_temp.try('SELECT ''[1]''::tvec(65536)');
SELECT pg_temp.try('SELECT ''[1]''::tvec(1, 2)');

-- Array cast errors
SELECT pg_temp.try('SELECT ARRAY[1,2,0]::tvec');
SELECT pg_temp.try('SELECT ARRAY[-5]::tvec');
SELECT pg_temp.try('SELECT ARRAY[[1,0],[0,1]]::tvec');
SELECT pg_temp.try('SELECT ARRAY[1,NULL,0]::tvec');
SELECT pg_temp.try('SELECT ''{}''::int[]::tvec');
SELECT pg_temp.try('SELECT ARRAY[1,0]::tvec(3)');
SELECT pg_temp.try('SELECT array_fill(0, ARRAY[65536])::tvec');

-- Binary form: int32 dimension, plus plane, minus plane
SELECT tvec_send('[1,0,-1]');
SELECT tvec_send('[1,1,1,1,1,1,1,1,-1]');

-- COPY (FORMAT binary) round trip through tvec_send and tvec_recv
SELECT current_setting('data_directory') || '/rsr_vector_tvec_copy.bin' AS copy_file,
	   'rm -f ' || current_setting('data_directory') || '/rsr_vector_tvec_copy.bin' AS rm_copy_file \gset
CREATE TABLE tvec_copy (id int, v tvec, w tvec(9));
INSERT INTO tvec_copy
SELECT d, array_agg(((hashint4(d * 65536 + j)::bigint + 2147483648) % 3)::int - 1 ORDER BY j),
	   array_agg(((hashint4(j * 65536 + d)::bigint + 2147483648) % 3)::int - 1 ORDER BY j) FILTER (WHERE j <= 9)
FROM generate_series(1, 200) AS d, generate_series(1, d) AS j
WHERE d >= 9
GROUP BY d;
COPY tvec_copy TO :'copy_file' (FORMAT binary);
CREATE TABLE tvec_copy2 (LIKE tvec_copy);
COPY tvec_copy2 FROM :'copy_file' (FORMAT binary);
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE a.v = b.v AND a.w = b.w AND a.v::text = b.v::text) AS equal
FROM tvec_copy a FULL JOIN tvec_copy2 b USING (id);

-- The binary form of a bytea column holds raw bytes: feed crafted values to
-- tvec_recv through COPY FROM
CREATE TABLE tvec_recv_test (v tvec);
CREATE TABLE tvec_recv_test3 (v tvec(3));
CREATE FUNCTION pg_temp.recv(bytes bytea, tab text DEFAULT 'tvec_recv_test') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
BEGIN
	EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, current_setting('data_directory') || '/rsr_vector_tvec_copy.bin');
	EXECUTE format('TRUNCATE %I', tab);
	result := pg_temp.try(format('COPY %I FROM %L (FORMAT binary)', tab, current_setting('data_directory') || '/rsr_vector_tvec_copy.bin'));
	IF result = 'ok' THEN
		EXECUTE format('SELECT v::text FROM %I', tab) INTO result;
	END IF;
	RETURN result;
END
$$;
SELECT b AS bytes, pg_temp.recv(b) AS result
FROM unnest(ARRAY['\x000000038020', '\x000000010000', '\x000000018000', '\x000000010080',
				  '\x0000000901ff8000', '\x00000009ff0000ff',
				  '\x00000003a0c0', '\x000000031000', '\x000000030010',
				  '\x00000009ff800100', '\x000000000000', '\xffffffff',
				  '\x0001000000', '\x00000009000000', '\x0000000380200000',
				  '\x0000']::bytea[]) AS b;
SELECT pg_temp.recv('\x000000038020', 'tvec_recv_test3'), pg_temp.recv('\x0000000400f0', 'tvec_recv_test3');
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE pg_temp.recv(tvec_send(v)) = v::text) AS recv_equal
FROM tvec_copy;
COPY (SELECT) TO PROGRAM :'rm_copy_file';
DROP TABLE tvec_copy, tvec_copy2, tvec_recv_test, tvec_recv_test3;

-- Comparison: element by element with -1 < 0 < 1, then shorter first
SELECT v FROM unnest(ARRAY['[1,0]', '[0]', '[-1,1,1]', '[0,0]', '[-1,1]', '[1]',
						   '[0,-1]', '[-1]', '[1,0,0,0,0,0,0,0,-1]',
						   '[1,0,0,0,0,0,0,0,1]', '[1,0,0,0,0,0,0,0]']::tvec[]) AS v
ORDER BY v;
SELECT '[1,0,-1]'::tvec = '[1,0,-1]', '[1,0,-1]'::tvec = '[1,0,-1,0]', '[1,0,-1]'::tvec <> '[1,0,0]',
	   '[1,0,-1]'::tvec < '[1,0,0]', '[1,0,-1]'::tvec <= '[1,0,-1]', '[1]'::tvec > '[0,1]',
	   '[0]'::tvec >= '[0,0]', tvec_cmp('[0,1]', '[0,1]'), tvec_cmp('[1]', '[-1]');

-- DISTINCT and GROUP BY, by sorting and by hashing
CREATE TABLE tvec_dup (id int, v tvec);
INSERT INTO tvec_dup
SELECT i, array_agg(((hashint4((i % 10) * 65536 + j)::bigint + 2147483648) % 3)::int - 1 ORDER BY j)
FROM generate_series(1, 1000) AS i, generate_series(1, 9 + (i % 10) / 2) AS j
GROUP BY i;
ANALYZE tvec_dup;
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT DISTINCT v FROM tvec_dup;
SELECT count(*) FROM (SELECT DISTINCT v FROM tvec_dup) s;
SELECT v, count(*) FROM tvec_dup GROUP BY v ORDER BY v;
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT DISTINCT v FROM tvec_dup;
SELECT count(*) FROM (SELECT DISTINCT v FROM tvec_dup) s;
EXPLAIN (COSTS OFF) SELECT v, count(*) FROM tvec_dup GROUP BY v;
SELECT tvec_dims(v), count(*) FROM tvec_dup GROUP BY v ORDER BY 2, 1;
RESET enable_sort;

-- Hash join, merge join, and B-tree and hash indexes
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tvec_dup a JOIN tvec_dup b USING (v);
SELECT count(*) FROM tvec_dup a JOIN tvec_dup b USING (v);
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tvec_dup a JOIN tvec_dup b USING (v);
SELECT count(*) FROM tvec_dup a JOIN tvec_dup b USING (v);
RESET enable_hashjoin;
CREATE INDEX tvec_dup_btree ON tvec_dup USING btree (v);
CREATE INDEX tvec_dup_hash ON tvec_dup USING hash (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT v AS v3 FROM tvec_dup WHERE id = 3 \gset
EXPLAIN (COSTS OFF) SELECT count(*) FROM tvec_dup WHERE v = :'v3';
SELECT count(*) FROM tvec_dup WHERE v = (SELECT v FROM tvec_dup WHERE id = 3);
DROP INDEX tvec_dup_btree;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tvec_dup WHERE v = :'v3';
SELECT count(*) FROM tvec_dup WHERE v = (SELECT v FROM tvec_dup WHERE id = 3);
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT tvec_hash('[1,0,-1]') = tvec_hash(ARRAY[1,0,-1]::tvec) AS hash_stable,
	   tvec_hash_extended('[1,0,-1]', 0) = tvec_hash_extended(ARRAY[1,0,-1]::tvec, 0) AS hash_extended_stable,
	   tvec_hash_extended('[1,0,-1]', 0) <> tvec_hash_extended('[1,0,-1]', 1) AS seed_matters;
DROP TABLE tvec_dup;

-- The operator classes pass the access methods' own validation
SELECT opcname, amname, amvalidate(c.oid)
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
WHERE opcname = 'tvec_ops' ORDER BY amname;
