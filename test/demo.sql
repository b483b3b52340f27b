-- demo.sql: sample embeddings and example queries for `make demo`.
--
-- 4,000 documents in 8 topics, each with a 256-dimensional float embedding
-- (its topic's centroid plus noise) stored three ways: the floats, a
-- ternary tvec(256) and a binary bit(256).  Queries are real[] vectors;
-- `emb <#> query` is the negative inner product, so ORDER BY ... ASC puts
-- the best match first.  Everything is seeded, so the output repeats.
\set ECHO queries
CREATE EXTENSION rsr_vector;
SET max_parallel_workers_per_gather = 0;

\echo '==== the types in one line each ===='
SELECT '[1,0,-1,1]'::tvec AS ternary, tvec_dims('[1,0,-1,1]') AS dims,
	   '[1,0,-1,1]'::tvec::int[] AS as_array, ARRAY[0,1,-1]::tvec AS from_array;
SELECT ternary_quantize('{0.9,-0.05,-1.3,0.4}') AS absmean,
	   ternary_quantize('{0.9,-0.05,-1.3,0.4}', 0.5) AS threshold,
	   binary_quantize('{0.9,-0.05,-1.3,0.4}') AS binary;
SELECT inner_product('[1,0,-1,1]'::tvec, '{0.5,2,-1,0.25}') AS ip,
	   '[1,0,-1,1]'::tvec <#> '{0.5,2,-1,0.25}' AS neg_ip,
	   B'1011' <#> '{0.5,2,-1,0.25}' AS bit_neg_ip;

\echo '==== sample data ===='
SELECT setseed(0.42);
CREATE TABLE topics AS
SELECT t AS topic, array_agg((random() * 2 - 1)::real ORDER BY j) AS centroid
FROM generate_series(1, 8) AS t, generate_series(1, 256) AS j
GROUP BY t;

CREATE TABLE docs (
	id		int PRIMARY KEY,
	topic	int NOT NULL,
	emb		real[] NOT NULL,		-- the float embedding
	t		tvec(256) NOT NULL,		-- ternary_quantize(emb)
	b		bit(256) NOT NULL		-- binary_quantize(emb)
);
INSERT INTO docs
SELECT id, topic, emb, ternary_quantize(emb), binary_quantize(emb)
FROM (SELECT i AS id, c.topic,
			 (SELECT array_agg(x + (random() * 2 - 1)::real ORDER BY j)
			  FROM unnest(c.centroid) WITH ORDINALITY AS u(x, j)) AS emb
	  FROM generate_series(1, 4000) AS i JOIN topics c ON c.topic = 1 + i % 8) s;
ANALYZE docs;
SELECT count(*) AS docs, count(DISTINCT t) AS distinct_tvecs, count(DISTINCT b) AS distinct_bits,
	   round(avg(pg_column_size(t))) AS tvec_bytes,
	   round(avg(pg_column_size(b))) AS bit_bytes,
	   round(avg(pg_column_size(emb))) AS float_bytes
FROM docs;
SELECT substr(t::text, 1, 40) || '...' AS tvec_prefix, substr(b::text, 1, 20) || '...' AS bit_prefix
FROM docs ORDER BY id LIMIT 3;

\echo '-- A query: topic 3''s centroid plus fresh noise'
CREATE TABLE queries AS
SELECT 1 AS qid, array_agg(centroid[j] + (random() * 2 - 1)::real ORDER BY j) AS q
FROM topics, generate_series(1, 256) AS j WHERE topic = 3;

\echo '==== exact search with a sequential scan ===='
\echo '-- Ternary: the best 5 documents (all from topic 3)'
SELECT id, topic, round((t <#> q)::numeric, 3) AS neg_ip
FROM docs, queries ORDER BY t <#> q LIMIT 5;

\echo '-- Binary: the same query against the bit(256) column'
SELECT id, topic, round((b <#> q)::numeric, 3) AS neg_ip
FROM docs, queries ORDER BY b <#> q LIMIT 5;

\echo '-- Filters compose: the best 5 documents among ids 1..2000'
SELECT id, topic, round((t <#> q)::numeric, 3) AS neg_ip
FROM docs, queries WHERE id <= 2000 ORDER BY t <#> q LIMIT 5;

\echo '-- Quantized search, then rerank with the floats: how many of the float'
\echo '-- top-10 are among the quantized top-k candidates'
CREATE TABLE float_scores AS
SELECT id, (SELECT sum(x::float8 * y) FROM unnest(emb, q) AS u(x, y)) AS ip
FROM docs, queries;
WITH float_top AS (SELECT id FROM float_scores ORDER BY ip DESC LIMIT 10),
	 k AS (SELECT unnest(ARRAY[10, 50, 200]) AS k)
SELECT k AS candidates,
	   (SELECT count(*) FROM float_top
		WHERE id IN (SELECT id FROM docs, queries ORDER BY t <#> q LIMIT k)) AS tvec_recall_at_10,
	   (SELECT count(*) FROM float_top
		WHERE id IN (SELECT id FROM docs, queries ORDER BY b <#> q LIMIT k)) AS bit_recall_at_10
FROM k ORDER BY k;

\echo '-- Rerank: 50 candidates by the tvec, the final 5 by the float embedding'
SELECT id, topic, round(ip::numeric, 3) AS float_ip
FROM (SELECT id, topic FROM docs, queries ORDER BY t <#> q LIMIT 50) c
JOIN float_scores USING (id)
ORDER BY ip DESC LIMIT 5;

\echo '-- Scores are exact: they equal the sum done in SQL, in element order'
SELECT count(*) AS docs,
	   count(*) FILTER (WHERE inner_product(t, q) =
		   (SELECT sum(x::float8 * y ORDER BY o)
			FROM unnest(t::int[], q) WITH ORDINALITY AS u(x, y, o))) AS exact
FROM docs, queries;

\echo '-- Per-topic mean score of the query: topic 3 stands out'
SELECT topic, round(avg(inner_product(t, q))::numeric, 1) AS mean_ip
FROM docs, queries GROUP BY topic ORDER BY mean_ip DESC;

\echo '==== rsr index ===='
\echo '-- Index both columns: RSR segments are built once, at CREATE INDEX'
CREATE INDEX docs_t_rsr ON docs USING rsr (t tvec_ip_ops);
CREATE INDEX docs_b_rsr ON docs USING rsr (b bit_ip_ops);
SELECT rsr_index_info('docs_t_rsr') ->> 'k' AS k,
	   rsr_index_info('docs_t_rsr') ->> 'layout' AS layout,
	   rsr_index_info('docs_t_rsr') ->> 'kernel' AS kernel,
	   round((rsr_index_info('docs_t_rsr') ->> 'bits_per_weight')::numeric, 2) AS tvec_bits_per_weight,
	   round((rsr_index_info('docs_b_rsr') ->> 'bits_per_weight')::numeric, 2) AS bit_bits_per_weight;

\echo '-- The top-10 search now runs as an index scan (the table is small, so force it)'
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM docs ORDER BY t <#> (SELECT q FROM queries) LIMIT 10;

\echo '-- Same rows, same order as the sequential scan: the index is exact'
SELECT (SELECT array_agg(id) FROM (SELECT id FROM docs ORDER BY t <#> (SELECT q FROM queries) LIMIT 10) i)
	 = (SELECT array_agg(id ORDER BY s, id)
		FROM (SELECT id, t <#> (SELECT q FROM queries) AS s FROM docs ORDER BY s, id LIMIT 10) x) AS index_equals_seqscan;
SELECT id, topic, round((-(b <#> (SELECT q FROM queries)))::numeric, 3) AS bit_ip
FROM docs ORDER BY b <#> (SELECT q FROM queries) LIMIT 5;
RESET enable_seqscan;

\echo '-- Bulk: the exact top 3 of 8 queries (one per topic centroid) in one batched pass'
SELECT r.query, d.id, d.topic, round(r.score::numeric, 3) AS score
FROM rsr_topk('docs_t_rsr', (SELECT array_agg(centroid ORDER BY topic) FROM topics), 3) r
JOIN docs d ON d.ctid = r.tid
ORDER BY r.query, r.score DESC;
