-- Writes: VACUUM reclaims the blocks of deleted rows and inserts reuse
-- them, so churn does not grow the index; results stay exact.
CREATE FUNCTION pg_temp.bits(seed int, nbits int) RETURNS varbit LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(('x' || md5(seed || ':' || j))::bit(128)::text, '')::varbit
	FROM generate_series(0, nbits / 128 - 1) j
$$;
CREATE TABLE wr (id int, b bit(1024));
ALTER TABLE wr SET (autovacuum_enabled = off);
INSERT INTO wr SELECT i, pg_temp.bits(i, 1024)::bit(1024) FROM generate_series(1, 4000) i;
CREATE INDEX wr_idx ON wr USING rsr (b bit_ip_ops);
CREATE TABLE wr_q (q real[]);
INSERT INTO wr_q SELECT ARRAY(SELECT sin(j * 0.37)::real FROM generate_series(1, 1024) j);

-- Index and sequential scan give the same top n of the query in qtab
CREATE FUNCTION pg_temp.same_top(tab text, qtab text, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	sql text := format('SELECT ARRAY(SELECT id FROM %I ORDER BY b <#> (SELECT q FROM %I) LIMIT %s)',
					   tab, qtab, n);
	i int[]; s int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	EXECUTE sql INTO i;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE sql INTO s;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN i = s AND cardinality(i) = n;
END
$$;

CREATE TEMP TABLE sizes AS SELECT pg_relation_size('wr_idx') AS built;

-- Delete half the rows, VACUUM, insert as many again: at most 10% growth
DELETE FROM wr WHERE id % 2 = 0;
VACUUM wr;
SELECT (rsr_index_info('wr_idx')->>'free_pages')::int > 0 AS free_pages,
	   (rsr_index_info('wr_idx')->>'dead_rows')::int <= 16 AS reclaimed; -- of 2000 (open blocks keep theirs)
INSERT INTO wr SELECT i, pg_temp.bits(i, 1024)::bit(1024) FROM generate_series(4001, 6000) i;
SELECT pg_relation_size('wr_idx') <= 1.10 * built AS grew_at_most_10pct FROM sizes;
SELECT pg_temp.same_top('wr', 'wr_q', 50) AS index_equals_seqscan;
SELECT rsr_index_check('wr_idx');

-- Ten rounds of delete 30% / VACUUM / insert as many: against a fresh
-- build on the same rows, at most 15% larger (VACUUM compacts blocks that
-- span pages too, and inserts fill them again; see rsrvacuum.c)
CREATE TEMP TABLE churn (r int, deleted bigint);
SELECT format('WITH d AS (DELETE FROM wr WHERE abs(hashint4(id + %s)) %% 10 < 3 RETURNING 1) '
			  'INSERT INTO churn SELECT %s, count(*) FROM d', r * 7919, r),
	   'VACUUM wr',
	   format('INSERT INTO wr SELECT i, pg_temp.bits(i, 1024)::bit(1024) FROM generate_series('
			  '(SELECT max(id) + 1 FROM wr), '
			  '(SELECT max(id) FROM wr) + (SELECT deleted::int FROM churn WHERE r = %s)) i', r)
FROM generate_series(1, 10) r \gexec
SELECT count(*) AS live_rows FROM wr;
SELECT pg_temp.same_top('wr', 'wr_q', 50) AS index_equals_seqscan;
SELECT rsr_index_check('wr_idx');
UPDATE sizes SET built = pg_relation_size('wr_idx');
REINDEX INDEX wr_idx;
SELECT built <= 1.15 * pg_relation_size('wr_idx') AS churned_at_most_15pct_larger FROM sizes;
SELECT pg_temp.same_top('wr', 'wr_q', 50) AS index_equals_seqscan;

-- Retention: the older half deleted, VACUUM, as many inserted.  A dead
-- block of more than a page's bytes (tiles of 1024 ternary dimensions:
-- 8.4 kB) is retired and a new block takes it over; the room its removal
-- left would take no new block whole, and the index would grow 1.5x
CREATE FUNCTION pg_temp.tern(seed int) RETURNS tvec LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(abs(hashint4(seed * 4099 + j)) % 3 - 1 ORDER BY j)::int[]::tvec(1024)
	FROM generate_series(1, 1024) j
$$;
CREATE TABLE wt (id int, b tvec(1024));
ALTER TABLE wt SET (autovacuum_enabled = off);
INSERT INTO wt SELECT i, pg_temp.tern(i) FROM generate_series(1, 1280) i;
CREATE INDEX wt_idx ON wt USING rsr (b tvec_ip_ops);
UPDATE sizes SET built = pg_relation_size('wt_idx');
DELETE FROM wt WHERE id <= 640;
VACUUM wt;
INSERT INTO wt SELECT i, pg_temp.tern(i) FROM generate_series(1281, 1920) i;
SELECT pg_relation_size('wt_idx') = built AS same_size,
	   (rsr_index_info('wt_idx')->>'retired_blocks')::int AS retired_blocks_left FROM sizes;
SELECT pg_temp.same_top('wt', 'wr_q', 50) AS index_equals_seqscan;
SELECT rsr_index_check('wt_idx');
DROP TABLE wr, wr_q, wt;

-- Blocks on more pages than one record holds (8192-bit rows: a block of
-- 32 tile rows takes 5 pages, of 16 perm rows 7) are retired when all their
-- rows are dead, and new blocks take them over; new rows fill the slots of
-- dead rows in the others (a tile in place, perm by rebuilding the block)
CREATE TABLE ww (id int, b bit(8192));
ALTER TABLE ww SET (autovacuum_enabled = off);
INSERT INTO ww SELECT i, pg_temp.bits(i, 8192)::bit(8192) FROM generate_series(1, 640) i;
CREATE INDEX ww_idx ON ww USING rsr (b bit_ip_ops) WITH (layout = tile);
CREATE INDEX ww_perm ON ww USING rsr (b bit_ip_ops) WITH (layout = perm, k = 16);
CREATE TABLE ww_q (q real[]);
INSERT INTO ww_q SELECT ARRAY(SELECT cos(j * 0.11)::real FROM generate_series(1, 8192) j);
-- The top n of rsr_topk over the index named and of a sequential scan
CREATE FUNCTION pg_temp.same_topk(idx regclass, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	i tid[]; s tid[];
BEGIN
	i := ARRAY(SELECT tid FROM rsr_topk(idx, ARRAY[(SELECT q FROM ww_q)], n));
	PERFORM set_config('enable_indexscan', 'off', true);
	s := ARRAY(SELECT ctid FROM ww ORDER BY b <#> (SELECT q FROM ww_q) LIMIT n);
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN i = s AND cardinality(i) = n;
END
$$;
SELECT i.relname, (rsr_index_info(i.oid)->>'pages')::int > 4 * (rsr_index_info(i.oid)->>'blocks')::int
		AS blocks_span_more_than_3_pages
FROM pg_class i WHERE i.relname IN ('ww_idx', 'ww_perm') ORDER BY 1;
CREATE TEMP TABLE wsizes AS
SELECT pg_relation_size('ww_idx') AS built, pg_relation_size('ww_perm') AS perm_built;
DELETE FROM ww WHERE id <= 320 OR id % 10 = 0;	-- 10 tile blocks whole, the others in part
VACUUM ww;
SELECT i.relname, rsr_index_info(i.oid)->>'retired_blocks' AS retired_blocks,
	   rsr_index_info(i.oid)->>'live_rows' AS live_rows,
	   rsr_index_info(i.oid)->>'dead_rows' AS dead_rows	-- partly dead: marked only
FROM pg_class i WHERE i.relname IN ('ww_idx', 'ww_perm') ORDER BY 1;
SELECT pg_temp.same_top('ww', 'ww_q', 40) AS index_equals_seqscan,
	   pg_temp.same_topk('ww_perm', 40) AS perm_equals_seqscan;
SELECT rsr_index_check('ww_idx'), rsr_index_check('ww_perm');
-- The retired blocks and the dead rows have 352 slots; 348 new rows take
-- them without growing the index.  The dead rows of the block the build
-- left open to a slot (4 tile, 2 perm rows) stay when this backend inserts
-- through another slot.
INSERT INTO ww SELECT i, pg_temp.bits(i, 8192)::bit(8192) FROM generate_series(1001, 1348) i;
SELECT i.relname, rsr_index_info(i.oid)->>'retired_blocks' AS retired_blocks,
	   (rsr_index_info(i.oid)->>'dead_rows')::int <= 4 AS dead_rows_filled
FROM pg_class i WHERE i.relname IN ('ww_idx', 'ww_perm') ORDER BY 1;
SELECT pg_relation_size('ww_idx') = built AS same_size,
	   pg_relation_size('ww_perm') = perm_built AS perm_same_size FROM wsizes;
SELECT pg_temp.same_top('ww', 'ww_q', 40) AS index_equals_seqscan,
	   pg_temp.same_topk('ww_perm', 40) AS perm_equals_seqscan;
SELECT rsr_index_check('ww_idx'), rsr_index_check('ww_perm');
DROP TABLE ww, ww_q;
