/*-------------------------------------------------------------------------
 *
 * rsrquery.c
 *	  One preparation of real[] queries for every path: the <#> operators
 *	  (sequential scans), the index scan, rsr_scores, rsr_topk and the GPU
 *	  client.
 *
 * Validation: a bad query gets the same SQLSTATE and the same message
 * whichever plan reads it, because every path checks it here, in the same
 * order: element type, shape, NULL elements, length, then NaN and
 * infinities.  The quantizers check their input with the same function.
 *
 * Scaling: the float32 kernels must never overflow (inf - inf gives NaN,
 * which top-n takes for an empty slot).  Every partial sum is at most
 * sum |q|, so a query with sum |q| >= FLT_MAX / 4 is scored as q * 2^-e
 * with sum |q| * 2^-e < FLT_MAX / 4.  Scaling by a power of two is exact
 * except for values it makes subnormal; each loses less than
 * FLT_TRUE_MIN * 2^e, added to the bound.
 *
 * Bound: the kernels accumulate in float32 while the operators sum in
 * double.  rsr_error_bound() bounds the kernel against the exact value;
 * the operator's double sum adds at most dims ulps of sum |q|, and a
 * margin covers the rounding of score * scale - bound itself.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrquery.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "rsr_core.h"
#include "rsr_query.h"
#include "tvec.h"

/* A query of the wrong length */
void
RsrQueryDimsError(int expected, int got)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("different vector dimensions %d and %d", expected, got)));
}

/* No NaN nor infinity among x[0..n) */
static void
CheckFinite(const float4 *x, int n)
{
	for (int j = 0; j < n; j++)
	{
		if (unlikely(isnan(x[j])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN not allowed in vector")));
		if (unlikely(isinf(x[j])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("infinite value not allowed in vector")));
	}
}

/* The elements must be real */
static void
CheckElements(ArrayType *a, const char *what)
{
	if (ARR_ELEMTYPE(a) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a real[] array", what)));
}

/*
 * Check a query array and return its values.
 *
 * The array must be a one-dimensional real[] without NULLs, NaN or
 * infinities, of exactly expected_dim elements (any length from 1 to
 * TVEC_MAX_DIM when expected_dim is -1).  The result points into the
 * array's own data (float4 elements without NULLs are contiguous), so it
 * lives as long as the array; *dim_out receives the length.
 */
float4 *
RsrQueryFromArray(ArrayType *a, int expected_dim, int *dim_out)
{
	float4	   *x;
	int			n;

	CheckElements(a, "query");
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (expected_dim >= 0)
	{
		if (n != expected_dim)
			RsrQueryDimsError(expected_dim, n);
	}
	else
	{
		if (n < 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("vector must have at least 1 dimension")));
		if (n > TVEC_MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("vector cannot have more than %d dimensions",
							TVEC_MAX_DIM)));
	}

	x = (float4 *) ARR_DATA_PTR(a);
	CheckFinite(x, n);
	*dim_out = n;
	return x;
}

/*
 * Check a real[][] of queries, one per row, as RsrQueryFromArray() checks
 * one (rows of `dims` elements, any length when dims is 0), and return the
 * values, query after query; *nq and *qdims receive the shape.
 */
float4 *
RsrQueriesFromArray(ArrayType *a, uint32 dims, int *nq, int *qdims)
{
	float4	   *x;

	CheckElements(a, "queries");
	if (ARR_NDIM(a) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array of queries must not be empty")));
	if (ARR_NDIM(a) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array of queries must be 2-D"),
				 errhint("Write one query per row, as in ARRAY[[1,2,3]]::real[].")));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));
	*nq = ARR_DIMS(a)[0];
	*qdims = ARR_DIMS(a)[1];
	if (dims > 0 && *qdims != (int) dims)
		RsrQueryDimsError((int) dims, *qdims);
	if (*qdims > TVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions",
						TVEC_MAX_DIM)));

	x = (float4 *) ARR_DATA_PTR(a);
	CheckFinite(x, ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
	return x;
}

/*
 * Prepare the checked query q[0..dims) for the kernels: kq (which may be q
 * itself) receives q, scaled by 2^-e when sum |q| is too large for float32
 * sums, and out the factor back and the bound of the kernel's error.
 */
void
RsrQueryPrepare(const float4 *q, uint32 dims, float4 *kq, RsrQuery *out)
{
	double		qabs = 0;
	uint32		j;
	int			e;

	for (j = 0; j < dims; j++)
		qabs += fabs((double) q[j]);
	out->dims = dims;
	out->qabs = qabs;
	out->scale = 1.0;
	out->bound = rsr_error_bound(dims, qabs) + qabs * (dims + 4) * DBL_EPSILON +
		DBL_MIN;
	if (qabs < FLT_MAX / 4)
	{
		if (kq != q)
			memcpy(kq, q, dims * sizeof(float4));
		return;
	}
	(void) frexp(qabs / (FLT_MAX / 4), &e);
	for (j = 0; j < dims; j++)
		kq[j] = ldexpf(q[j], -e);
	out->scale = ldexp(1.0, e);
	out->bound += dims * ldexp(FLT_TRUE_MIN, e);
}
