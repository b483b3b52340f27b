-- A ternary weight matrix stored one row per output neuron, as BitNet
-- b1.58 quantizes it (absmean), is an rsr index: rsr_scores over it is the
-- matrix-vector product y = W x and rsr_topk its exact largest outputs.
-- W is 2560 x 2560 from seeded random floats; y is checked row by row
-- against inner_product and a plain SQL sum(w * x) over unnest.
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.125);

CREATE TABLE layer (row_id int PRIMARY KEY, w tvec(2560));
INSERT INTO layer
SELECT r, ternary_quantize(array(SELECT (random() * 2 - 1)::real FROM generate_series(1, 2560 + 0 * r)))
FROM generate_series(1, 2560) r;
CREATE INDEX layer_rsr ON layer USING rsr (w tvec_ip_ops);
CREATE TEMP TABLE act AS
SELECT i, array(SELECT (random() * 2 - 1)::real FROM generate_series(1, 2560 + 0 * i)) AS x
FROM generate_series(1, 4) i;

-- absmean quantization of uniform floats keeps about three quarters of
-- the weights nonzero
SELECT count(*) AS rows, round(avg(n)::numeric / 2560, 2) AS nonzero
FROM (SELECT (SELECT count(*) FROM unnest(w::int[]) e WHERE e <> 0) AS n FROM layer) s;
SELECT rsr_index_info('layer_rsr') @> '{"type": "ternary", "dims": 2560, "rows": 2560, "live_rows": 2560}' AS info;

-- y = W x with rsr_scores, in row order
CREATE TEMP TABLE y AS
SELECT a.i, l.row_id, s.score
FROM act a, rsr_scores('layer_rsr', a.x) s JOIN layer l ON l.ctid = s.tid;

-- The same product in SQL: with inner_product for every output, and as
-- sum(w * x) over the elements in order for every fourth output of the
-- first activation (equal to the last bit: inner_product adds the nonzero
-- terms in double, in element order)
CREATE TEMP TABLE y_sql AS
SELECT a.i, l.row_id, inner_product(l.w, a.x) AS ip,
	   CASE WHEN a.i = 1 AND l.row_id % 4 = 1 THEN
			(SELECT sum(e::float8 * xe::float8 ORDER BY j)
			 FROM unnest(l.w::int[], a.x) WITH ORDINALITY AS u(e, xe, j))
	   END AS dot
FROM act a, layer l;

-- The error bound of rsr_scores (README, "Weight matrices"): the float32
-- kernel's (2d + 64) u / (1 - (2d + 64) u) * sum |x| with u = 2^-24, plus
-- (d + 4) ulps of sum |x| for the double sum
CREATE TEMP TABLE bound AS
SELECT i, m * u / (1 - m * u) * s + s * (2560 + 4) * 2.220446049250313e-16 AS bound, s AS abs_sum
FROM (SELECT i, 2.0 ^ -24 AS u, 2.0 * 2560 + 64 AS m,
			 (SELECT sum(abs(e::float8)) FROM unnest(x) e) AS s FROM act) c;

SELECT i, count(*) AS outputs, count(DISTINCT row_id) AS distinct_rows FROM y GROUP BY i ORDER BY i;
SELECT q.i,
	   count(q.dot) AS sums,
	   bool_and(q.dot = q.ip) FILTER (WHERE q.dot IS NOT NULL) AS sum_equals_inner_product,
	   bool_and(abs(y.score - q.dot) <= b.bound) FILTER (WHERE q.dot IS NOT NULL) AS sum_within_bound,
	   bool_and(abs(y.score - q.ip) <= b.bound) AS within_bound,
	   max(abs(y.score - q.ip)) < b.bound AS max_error_below_bound
FROM y JOIN y_sql q USING (i, row_id) JOIN bound b USING (i)
GROUP BY q.i, b.bound ORDER BY q.i;

-- The output vector as an array, row order, against the SQL one
SELECT i, cardinality(y) AS n,
	   (SELECT bool_and(abs(a - b) <= (SELECT bound FROM bound WHERE bound.i = v.i))
		FROM unnest(y, ys) AS u(a, b)) AS close
FROM (SELECT i, array_agg(score ORDER BY row_id) AS y,
			 (SELECT array_agg(ip ORDER BY row_id) FROM y_sql q WHERE q.i = y.i) AS ys
	  FROM y GROUP BY i) v ORDER BY i;

-- The largest outputs of all four activations in one batched pass: exact,
-- equal to the same top 5 from inner_product
SELECT bool_and(same) AS same_top5
FROM (SELECT t.query, t.tid = l.ctid AND t.score = q.ip AS same
	  FROM rsr_topk('layer_rsr', (SELECT array_agg(x ORDER BY i) FROM act), 5)
		   WITH ORDINALITY AS t(query, tid, score, ord)
	  JOIN (SELECT i, row_id, ip, row_number() OVER (PARTITION BY i ORDER BY ip DESC, row_id) AS rn
			FROM y_sql) q ON q.i = t.query AND q.rn = (t.ord - 1) % 5 + 1
	  JOIN layer l ON l.row_id = q.row_id) s;
SELECT count(*) FROM rsr_topk('layer_rsr', (SELECT array_agg(x ORDER BY i) FROM act), 5);
