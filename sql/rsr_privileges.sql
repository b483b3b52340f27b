-- Privileges: every function that reads a table needs SELECT on it
-- (42501 otherwise); rsr_index_check is also revoked from PUBLIC, as
-- amcheck's functions are, and must be granted.
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
	RETURN SQLSTATE || ': ' || msg;
END
$$;

CREATE TABLE priv_docs (id int PRIMARY KEY, t tvec(8), b bit(8));
INSERT INTO priv_docs
SELECT i, ARRAY(SELECT (i * 7 + j * 3) % 3 - 1 FROM generate_series(1, 8) j)::int[]::tvec,
       (i % 256)::bit(8)
FROM generate_series(1, 50) i;
CREATE INDEX priv_docs_t ON priv_docs USING rsr (t tvec_ip_ops);
CREATE INDEX priv_docs_b ON priv_docs USING rsr (b bit_ip_ops);

-- Only rsr_index_check has an ACL of its own: no EXECUTE for PUBLIC
SELECT p.oid::regprocedure AS function, p.proacl IS NOT NULL AS restricted,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'rsr_vector'
WHERE p.proname IN ('rsr_index_check', 'rsr_scores', 'rsr_topk', 'rsr_index_info', 'rsr_gpu_status')
ORDER BY 1::text;

CREATE ROLE regress_rsr_priv_reader;
SET ROLE regress_rsr_priv_reader;
-- no EXECUTE on rsr_index_check, no SELECT on the table
SELECT pg_temp.try($$SELECT rsr_index_check('priv_docs_t')$$);
SELECT pg_temp.try($$SELECT rsr_scores('priv_docs_t', array_fill(1::real, ARRAY[8]))$$);
SELECT pg_temp.try($$SELECT rsr_scores('priv_docs_b', array_fill(1::real, ARRAY[8]))$$);
SELECT pg_temp.try($$SELECT rsr_topk('priv_docs_t', ARRAY[array_fill(1::real, ARRAY[8])], 3)$$);
SELECT pg_temp.try($$SELECT rsr_index_info('priv_docs_b')$$);
SELECT pg_temp.try($$SELECT id FROM priv_docs ORDER BY t <#> array_fill(1::real, ARRAY[8]) LIMIT 3$$);
-- rsr_gpu_status reads no table (worker state and counters only): open to all
SELECT (rsr_gpu_status())->'running' AS gpu_running;
RESET ROLE;

-- EXECUTE alone is not enough: the check reads the table
GRANT EXECUTE ON FUNCTION rsr_index_check(regclass) TO regress_rsr_priv_reader;
SET ROLE regress_rsr_priv_reader;
SELECT pg_temp.try($$SELECT rsr_index_check('priv_docs_t')$$);
SELECT pg_temp.try($$SELECT rsr_index_check('priv_docs_b')$$);
RESET ROLE;

-- Column privileges are not table privileges
GRANT SELECT (id, t) ON priv_docs TO regress_rsr_priv_reader;
SET ROLE regress_rsr_priv_reader;
SELECT pg_temp.try($$SELECT rsr_index_check('priv_docs_t')$$);
SELECT pg_temp.try($$SELECT rsr_scores('priv_docs_t', array_fill(1::real, ARRAY[8]))$$);
RESET ROLE;
REVOKE SELECT (id, t) ON priv_docs FROM regress_rsr_priv_reader;

-- With SELECT on the table every function works
GRANT SELECT ON priv_docs TO regress_rsr_priv_reader;
SET ROLE regress_rsr_priv_reader;
SELECT rsr_index_check('priv_docs_t') AS t_ok, rsr_index_check('priv_docs_b') AS b_ok;
SELECT count(*) AS scored FROM rsr_scores('priv_docs_t', array_fill(1::real, ARRAY[8]));
SELECT count(*) AS topk FROM rsr_topk('priv_docs_b', ARRAY[array_fill(1::real, ARRAY[8])], 3);
SELECT (rsr_index_info('priv_docs_t'))->'live_rows' AS live_rows;
RESET ROLE;

REVOKE SELECT ON priv_docs FROM regress_rsr_priv_reader;
REVOKE EXECUTE ON FUNCTION rsr_index_check(regclass) FROM regress_rsr_priv_reader;
DROP ROLE regress_rsr_priv_reader;
DROP TABLE priv_docs;
