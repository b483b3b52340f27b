-- rsr_vector 0.1.0 install script
\echo Use "CREATE EXTENSION rsr_vector" to load this file. \quit

-- ==== tvec type ====

CREATE TYPE tvec;

CREATE FUNCTION tvec_in(cstring, oid, integer) RETURNS tvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_out(tvec) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_recv(internal, oid, integer) RETURNS tvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_send(tvec) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Two bit planes of ceil(n / 8) bytes each behind an int32 dimension; the
-- planes are dense, so compression would only cost time.
CREATE TYPE tvec (
	INPUT = tvec_in,
	OUTPUT = tvec_out,
	TYPMOD_IN = tvec_typmod_in,
	TYPMOD_OUT = tvec_typmod_out,
	RECEIVE = tvec_recv,
	SEND = tvec_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = external
);

COMMENT ON TYPE tvec IS 'ternary vector: elements -1, 0 and 1, at most 65535 of them';

CREATE FUNCTION tvec(tvec, integer, boolean) RETURNS tvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION array_to_tvec(integer[], integer, boolean) RETURNS tvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_to_float4(tvec) RETURNS real[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_to_int4(tvec) RETURNS integer[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (tvec AS tvec)
	WITH FUNCTION tvec(tvec, integer, boolean) AS IMPLICIT;

CREATE CAST (integer[] AS tvec)
	WITH FUNCTION array_to_tvec(integer[], integer, boolean) AS ASSIGNMENT;

CREATE CAST (tvec AS real[])
	WITH FUNCTION tvec_to_float4(tvec) AS IMPLICIT;

CREATE CAST (tvec AS integer[])
	WITH FUNCTION tvec_to_int4(tvec) AS ASSIGNMENT;

CREATE FUNCTION tvec_dims(tvec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Comparison: element by element with -1 < 0 < 1, then shorter first.
-- Values are canonical, so equal means bytewise equal: B-tree indexes may
-- deduplicate (btequalimage).
CREATE FUNCTION tvec_eq(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_ne(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_lt(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_le(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_gt(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_ge(tvec, tvec) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_cmp(tvec, tvec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_hash(tvec) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_hash_extended(tvec, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR = (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_eq,
	COMMUTATOR = '=', NEGATOR = '<>',
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);

CREATE OPERATOR <> (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_ne,
	COMMUTATOR = '<>', NEGATOR = '=',
	RESTRICT = neqsel, JOIN = neqjoinsel
);

CREATE OPERATOR < (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR > (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR >= (
	LEFTARG = tvec, RIGHTARG = tvec, PROCEDURE = tvec_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS tvec_ops
	DEFAULT FOR TYPE tvec USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 tvec_cmp(tvec, tvec),
	FUNCTION 4 btequalimage(oid);

CREATE OPERATOR CLASS tvec_ops
	DEFAULT FOR TYPE tvec USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 tvec_hash(tvec),
	FUNCTION 2 tvec_hash_extended(tvec, bigint);

-- ==== operators, scoring and quantizers ====

-- Inner products against a real[] query: exact, summed in double precision
-- in element order.  <#> is the negative inner product (pgvector's
-- convention: ascending order puts the most similar first).
CREATE FUNCTION inner_product(tvec, real[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'tvec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tvec_negative_inner_product(tvec, real[]) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <#> (
	LEFTARG = tvec, RIGHTARG = real[], PROCEDURE = tvec_negative_inner_product
);

-- bit(n) and varbit: a set bit is 1, a clear bit 0; bit i is element i.
CREATE FUNCTION inner_product(bit, real[]) RETURNS double precision
	AS 'MODULE_PATHNAME', 'bit_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION bit_negative_inner_product(bit, real[]) RETURNS double precision
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <#> (
	LEFTARG = bit, RIGHTARG = real[], PROCEDURE = bit_negative_inner_product
);

-- Quantizers: absmean (BitNet b1.58), threshold, and sign for binary.
CREATE FUNCTION ternary_quantize(real[]) RETURNS tvec
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION ternary_quantize(real[], real) RETURNS tvec
	AS 'MODULE_PATHNAME', 'ternary_quantize_threshold' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION binary_quantize(real[]) RETURNS bit
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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

COMMENT ON FUNCTION rsr_index_check(regclass) IS 'verify an rsr index against its table; true or an error';

-- Like amcheck's functions: only the owner (superuser) until granted, e.g.
-- GRANT EXECUTE ON FUNCTION rsr_index_check(regclass) TO app_admin;
-- the caller needs SELECT on the table too.
REVOKE ALL ON FUNCTION rsr_index_check(regclass) FROM PUBLIC;

-- ==== bulk scoring and introspection ====

CREATE FUNCTION rsr_scores(index regclass, query real[])
	RETURNS TABLE(tid tid, score double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rsr_scores(regclass, real[]) IS 'kernel inner product of every visible row of an rsr index with the query';

CREATE FUNCTION rsr_topk(index regclass, queries real[], n integer)
	RETURNS TABLE(query integer, tid tid, score double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rsr_topk(regclass, real[], integer) IS 'exact top n rows of an rsr index for each query (one per row of a 2-D array), scored in batches';

CREATE FUNCTION rsr_index_info(index regclass) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rsr_index_info(regclass) IS 'shape, size and row counts of an rsr index and the kernel that scores it';

-- ==== model weights from safetensors files ====
-- They read files on the server: VOLATILE (the file can change), PARALLEL
-- RESTRICTED (server file access stays in the leader, as pg_read_file's),
-- and, like pg_read_binary_file, not executable by PUBLIC; the C code
-- also requires the privileges of pg_read_server_files (or superuser).

CREATE FUNCTION rsr_safetensors_tensors(path text)
	RETURNS TABLE(name text, dtype text, shape bigint[])
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION rsr_safetensors_tensors(text) IS 'name, dtype and shape of every tensor of a safetensors file on the server';

CREATE FUNCTION rsr_safetensors_ternary(path text, tensor text)
	RETURNS TABLE(row_id integer, w tvec, scale real)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION rsr_safetensors_ternary(text, text) IS 'rows of a 2-D safetensors tensor as tvec: absmean-quantized F32/F16/BF16, or BitNet-packed U8 with scale 1';

CREATE FUNCTION rsr_safetensors_ternary(path text, tensor text, scale_tensor text)
	RETURNS TABLE(row_id integer, w tvec, scale real)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION rsr_safetensors_ternary(text, text, text) IS 'rows of a BitNet-packed U8 safetensors tensor as tvec, scale = 1 / the one element of scale_tensor';

CREATE FUNCTION rsr_safetensors_binary(path text, tensor text)
	RETURNS TABLE(row_id integer, b bit)
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION rsr_safetensors_binary(text, text) IS 'rows of a 2-D F32/F16/BF16 safetensors tensor as bit strings, bit set where the weight is > 0';

REVOKE ALL ON FUNCTION rsr_safetensors_tensors(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rsr_safetensors_ternary(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rsr_safetensors_ternary(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rsr_safetensors_binary(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rsr_safetensors_tensors(text) TO pg_read_server_files;
GRANT EXECUTE ON FUNCTION rsr_safetensors_ternary(text, text) TO pg_read_server_files;
GRANT EXECUTE ON FUNCTION rsr_safetensors_ternary(text, text, text) TO pg_read_server_files;
GRANT EXECUTE ON FUNCTION rsr_safetensors_binary(text, text) TO pg_read_server_files;

-- ==== GPU ====

CREATE FUNCTION rsr_gpu_status() RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION rsr_gpu_status() IS 'state of the rsr_vector GPU worker: running, engine, device, requests served, index copies resident';
