/*-------------------------------------------------------------------------
 *
 * tvec.c
 *	  The ternary vector type: text and binary I/O, type modifier, casts,
 *	  and the comparison and hash support behind =, DISTINCT and GROUP BY.
 *
 * Every value that enters (text, binary, arrays) is checked here, so the
 * rest of the extension may rely on a tvec being canonical: 1..65535
 * elements, no element set in both planes, padding bits zero.  Canonical
 * values are equal exactly when their bytes are equal.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/tvec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "rsr_core.h"
#include "tvec.h"

PG_FUNCTION_INFO_V1(tvec_in);
PG_FUNCTION_INFO_V1(tvec_out);
PG_FUNCTION_INFO_V1(tvec_typmod_in);
PG_FUNCTION_INFO_V1(tvec_typmod_out);
PG_FUNCTION_INFO_V1(tvec_recv);
PG_FUNCTION_INFO_V1(tvec_send);
PG_FUNCTION_INFO_V1(tvec);
PG_FUNCTION_INFO_V1(array_to_tvec);
PG_FUNCTION_INFO_V1(tvec_to_float4);
PG_FUNCTION_INFO_V1(tvec_to_int4);
PG_FUNCTION_INFO_V1(tvec_dims);
PG_FUNCTION_INFO_V1(tvec_eq);
PG_FUNCTION_INFO_V1(tvec_ne);
PG_FUNCTION_INFO_V1(tvec_lt);
PG_FUNCTION_INFO_V1(tvec_le);
PG_FUNCTION_INFO_V1(tvec_gt);
PG_FUNCTION_INFO_V1(tvec_ge);
PG_FUNCTION_INFO_V1(tvec_cmp);
PG_FUNCTION_INFO_V1(tvec_hash);
PG_FUNCTION_INFO_V1(tvec_hash_extended);

/* Check that dim is within 1..TVEC_MAX_DIM */
static inline void
CheckDim(int64 dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("tvec must have at least 1 dimension")));

	if (dim > TVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tvec cannot have more than %d dimensions", TVEC_MAX_DIM)));
}

/* Check a dimension against a type modifier (-1: none) */
static inline void
CheckExpectedDim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/* Value (-1, 0 or 1) of element j of a tvec */
static inline int
TvecElement(const Tvec *v, int j)
{
	int			shift = 7 - (j & 7);

	return ((TvecPlus(v)[j >> 3] >> shift) & 1) -
		((TvecMinus(v)[j >> 3] >> shift) & 1);
}

/* Allocate a zeroed tvec (all elements 0) of dim elements */
Tvec *
InitTvec(int dim)
{
	Tvec	   *result;
	Size		size = TVEC_SIZE(dim);

	result = (Tvec *) palloc0(size);
	SET_VARSIZE(result, size);
	result->dim = dim;

	return result;
}

/* Build a tvec from dim values that are each -1, 0 or 1 */
static Tvec *
PackTvec(const int8 *x, int dim)
{
	Tvec	   *result = InitTvec(dim);
	uint8	   *plus = TvecPlus(result);
	uint8	   *minus = TvecMinus(result);

	for (int j = 0; j < dim; j++)
	{
		uint8		bit = (uint8) (0x80 >> (j & 7));

		if (x[j] > 0)
			plus[j >> 3] |= bit;
		else if (x[j] < 0)
			minus[j >> 3] |= bit;
	}

	return result;
}

/* Convert the text form [1,0,-1] into a tvec (parsed by src/core) */
Datum
tvec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	size_t		len = strlen(lit);
	size_t		cap = Min(len / 2 + 1, TVEC_MAX_DIM);
	int8	   *x;
	RsrTvecParse res;
	Tvec	   *result;

	/* Each element takes at least one character and one separator */
	x = (int8 *) palloc(cap);

	if (rsr_tvec_parse_text(lit, len, typmod, x, cap, &res) != RSR_OK)
	{
		switch (res.error)
		{
			case RSR_TVEC_NO_BRACKET:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type tvec: \"%s\"", lit),
						 errdetail("Vector contents must start with \"[\".")));
				break;
			case RSR_TVEC_NO_DIMS:
			case RSR_TVEC_TOO_MANY_DIMS:
				CheckDim(res.error == RSR_TVEC_NO_DIMS ? 0 : (int64) TVEC_MAX_DIM + 1);
				break;
			case RSR_TVEC_BAD_ELEMENT:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type tvec: \"%s\"", lit),
						 errdetail("Element %u is \"%s\", but elements must be -1, 0 or 1.",
								   res.elem, pnstrdup(lit + res.off, res.len))));
				break;
			case RSR_TVEC_JUNK:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type tvec: \"%s\"", lit),
						 errdetail("Junk after closing right bracket.")));
				break;
			case RSR_TVEC_DIM_MISMATCH:
				CheckExpectedDim(typmod, (int) res.dim);
				break;
			case RSR_TVEC_SYNTAX:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type tvec: \"%s\"", lit)));
				break;
			default:
				break;
		}
		elog(ERROR, "unexpected tvec parse result %d", (int) res.error);
	}

	result = PackTvec(x, (int) res.dim);
	pfree(x);

	PG_RETURN_TVEC_P(result);
}

/* Convert a tvec into its text form [1,0,-1] */
Datum
tvec_out(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	char	   *buf;
	char	   *ptr;

	/* "-1" plus a separator per element, the brackets and the terminator */
	buf = (char *) palloc(3 * (Size) v->dim + 2);
	ptr = buf;

	*ptr++ = '[';
	for (int j = 0; j < v->dim; j++)
	{
		int			e = TvecElement(v, j);

		if (j > 0)
			*ptr++ = ',';
		if (e < 0)
			*ptr++ = '-';
		*ptr++ = e != 0 ? '1' : '0';
	}
	*ptr++ = ']';
	*ptr = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

/* Parse the type modifier: tvec(n) with 1 <= n <= 65535 */
Datum
tvec_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);

	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));

	if (*tl < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type tvec must be at least 1")));

	if (*tl > TVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type tvec cannot exceed %d", TVEC_MAX_DIM)));

	PG_RETURN_INT32(*tl);
}

/* Print the type modifier as (n) */
Datum
tvec_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));

	PG_RETURN_CSTRING(psprintf("(%d)", typmod));
}

/*
 * Convert the external binary form into a tvec.
 *
 * The external form is the storage form without the varlena header: int32
 * dim (network order), then the plus plane and the minus plane.  Bytes from
 * a client are checked like text: dim in range, no element in both planes,
 * padding bits zero; a short message fails as in pq_copymsgbytes and a long
 * one in the caller (COPY's "incorrect binary data format").
 */
Datum
tvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	RsrTvecParse res;
	Tvec	   *result;

	if (rsr_tvec_parse_binary((const uint8 *) buf->data + buf->cursor,
							  buf->len - buf->cursor, typmod, &res) != RSR_OK)
	{
		switch (res.error)
		{
			case RSR_TVEC_SHORT:
				/* pq_getmsgint's and pq_copymsgbytes's report */
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("insufficient data left in message")));
				break;
			case RSR_TVEC_NO_DIMS:
			case RSR_TVEC_TOO_MANY_DIMS:
				CheckDim((int32) res.dim);
				break;
			case RSR_TVEC_DIM_MISMATCH:
				CheckExpectedDim(typmod, (int32) res.dim);
				break;
			case RSR_TVEC_BOTH_PLANES:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("invalid external tvec value"),
						 errdetail("Element %u is set in both the plus and the minus plane.",
								   res.elem)));
				break;
			case RSR_TVEC_PADDING:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
						 errmsg("invalid external tvec value"),
						 errdetail("Padding bits after the last element must be zero.")));
				break;
			default:
				break;
		}
		elog(ERROR, "unexpected tvec parse result %d", (int) res.error);
	}

	result = InitTvec((int) res.dim);
	memcpy(result->data, buf->data + buf->cursor + res.off, res.len - res.off);
	buf->cursor += (int) res.len;

	PG_RETURN_TVEC_P(result);
}

/* Convert a tvec into its external binary form (see tvec_recv) */
Datum
tvec_send(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendbytes(&buf, (const char *) v->data, 2 * TvecPlaneBytes(v->dim));

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Apply a type modifier: tvec to tvec(n) */
Datum
tvec(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	CheckExpectedDim(typmod, v->dim);

	PG_RETURN_TVEC_P(v);
}

/* Cast int[] to tvec: every element must be -1, 0 or 1 */
Datum
array_to_tvec(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	int			n;
	int32	   *values;
	int8	   *x;
	Tvec	   *result;

	if (ARR_ELEMTYPE(array) != INT4OID)
		elog(ERROR, "array_to_tvec expects an integer array");

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));

	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	CheckDim(n);
	CheckExpectedDim(typmod, n);

	/* Without nulls the int4 elements are contiguous */
	values = (int32 *) ARR_DATA_PTR(array);
	x = (int8 *) palloc(n);
	for (int j = 0; j < n; j++)
	{
		if (values[j] < -1 || values[j] > 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("tvec elements must be -1, 0 or 1"),
					 errdetail("Element %d is %d.", j + 1, values[j])));
		x[j] = (int8) values[j];
	}

	result = PackTvec(x, n);
	pfree(x);

	PG_RETURN_TVEC_P(result);
}

/* Cast tvec to real[] */
Datum
tvec_to_float4(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	Datum	   *datums;
	ArrayType  *result;

	datums = (Datum *) palloc(sizeof(Datum) * v->dim);
	for (int j = 0; j < v->dim; j++)
		datums[j] = Float4GetDatum((float4) TvecElement(v, j));

	result = construct_array(datums, v->dim, FLOAT4OID, sizeof(float4),
							 true, TYPALIGN_INT);

	pfree(datums);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* Cast tvec to int[] */
Datum
tvec_to_int4(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	Datum	   *datums;
	ArrayType  *result;

	datums = (Datum *) palloc(sizeof(Datum) * v->dim);
	for (int j = 0; j < v->dim; j++)
		datums[j] = Int32GetDatum(TvecElement(v, j));

	result = construct_array(datums, v->dim, INT4OID, sizeof(int32), true,
							 TYPALIGN_INT);

	pfree(datums);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* Number of elements of a tvec */
Datum
tvec_dims(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	int32		dim = v->dim;

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_INT32(dim);
}

/*
 * Compare two tvecs: element by element with -1 < 0 < 1, then a shorter
 * vector before a longer one that it prefixes (as pgvector orders vectors).
 */
static int
TvecCompare(const Tvec *a, const Tvec *b)
{
	int			dim = Min(a->dim, b->dim);
	int			nbytes = TvecPlaneBytes(dim);
	const uint8 *ap = TvecPlus(a);
	const uint8 *am = TvecMinus(a);
	const uint8 *bp = TvecPlus(b);
	const uint8 *bm = TvecMinus(b);

	for (int i = 0; i < nbytes; i++)
	{
		uint8		diff = (ap[i] ^ bp[i]) | (am[i] ^ bm[i]);

		/* Only the common elements count in the last byte */
		if (i == nbytes - 1)
			diff &= (uint8) (0xFF << (7 - ((dim - 1) & 7)));

		if (diff != 0)
		{
			int			j = i * 8 + 7 - pg_leftmost_one_pos32(diff);

			return TvecElement(a, j) < TvecElement(b, j) ? -1 : 1;
		}
	}

	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	return 0;
}

/* Equality of canonical tvecs is equality of their bytes */
static bool
TvecEqual(const Tvec *a, const Tvec *b)
{
	return a->dim == b->dim &&
		memcmp(a->data, b->data, 2 * TvecPlaneBytes(a->dim)) == 0;
}

/*
 * Compare the two tvec arguments with TvecCompare() or, for equality only,
 * TvecEqual().  Sorts call these millions of times in one memory context,
 * so detoasted copies are freed.
 */
static int
TvecCompareArgs(FunctionCallInfo fcinfo, bool equality_only)
{
	Tvec	   *a = PG_GETARG_TVEC_P(0);
	Tvec	   *b = PG_GETARG_TVEC_P(1);
	int			result;

	if (equality_only)
		result = TvecEqual(a, b) ? 0 : 1;
	else
		result = TvecCompare(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

/* tvec = tvec */
Datum
tvec_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, true) == 0);
}

/* tvec <> tvec */
Datum
tvec_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, true) != 0);
}

/* tvec < tvec */
Datum
tvec_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, false) < 0);
}

/* tvec <= tvec */
Datum
tvec_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, false) <= 0);
}

/* tvec > tvec */
Datum
tvec_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, false) > 0);
}

/* tvec >= tvec */
Datum
tvec_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TvecCompareArgs(fcinfo, false) >= 0);
}

/* B-tree support: -1, 0 or 1 */
Datum
tvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(TvecCompareArgs(fcinfo, false));
}

/* Hash support: the hash of the planes, combined with the dimension */
Datum
tvec_hash(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	uint32		h;

	h = DatumGetUInt32(hash_any(v->data, 2 * TvecPlaneBytes(v->dim)));
	h = hash_combine(h, DatumGetUInt32(hash_uint32((uint32) v->dim)));

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_UINT32(h);
}

/* Extended hash support (hash partitioning): as tvec_hash, with a seed */
Datum
tvec_hash_extended(PG_FUNCTION_ARGS)
{
	Tvec	   *v = PG_GETARG_TVEC_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	uint64		h;

	h = DatumGetUInt64(hash_any_extended(v->data, 2 * TvecPlaneBytes(v->dim),
										 seed));
	h = hash_combine64(h, DatumGetUInt64(hash_uint32_extended((uint32) v->dim,
															  seed)));

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_UINT64(h);
}
