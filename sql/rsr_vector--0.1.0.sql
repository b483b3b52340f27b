-- rsr_vector 0.1.0 install script
\echo Use "CREATE EXTENSION rsr_vector" to load this file. \quit

-- ==== tvec type ====

-- ==== operators, scoring and quantizers ====

-- ==== rsr index access method ====

CREATE FUNCTION rsrhandler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD rsr TYPE INDEX HANDLER rsrhandler;

COMMENT ON ACCESS METHOD rsr IS 'exact inner-product search over binary and ternary embeddings with RSR kernels';

CREATE OPERATOR CLASS bit_ip_ops
	FOR TYPE bit USING rsr AS
	OPERATOR 1 <#> (bit, real[]) FOR ORDER BY float_ops;

CREATE OPERATOR CLASS tvec_ip_ops
	FOR TYPE tvec USING rsr AS
	OPERATOR 1 <#> (tvec, real[]) FOR ORDER BY float_ops;

CREATE FUNCTION rsr_index_check(regclass) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

-- ==== bulk scoring and introspection ====

-- ==== GPU ====
