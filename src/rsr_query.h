/*-------------------------------------------------------------------------
 *
 * rsr_query.h
 *	  Query preparation shared by the operators, the index scan, the bulk
 *	  functions and the GPU client (rsrquery.c).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsr_query.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_QUERY_H
#define RSR_QUERY_H

#include "utils/array.h"

#include "pg_compat.h"

/*
 * A query made ready for the kernels: the values to score with, the
 * factor back to scores of the query, and how far a kernel score times
 * that factor may be from the <#> operator's value.
 */
typedef struct RsrQuery
{
	uint32		dims;			/* elements */
	double		qabs;			/* sum |q| of the checked values */
	double		scale;			/* kernel score * scale = score of q */
	double		bound;			/* |kernel score * scale - operator's value|
								 * <= bound */
} RsrQuery;

extern float4 *RsrQueryFromArray(ArrayType *a, int expected_dim, int *dim_out);
extern float4 *RsrQueriesFromArray(ArrayType *a, uint32 dims, int *nq,
								   int *qdims);
pg_noreturn extern void RsrQueryDimsError(int expected, int got);
extern void RsrQueryPrepare(const float4 *q, uint32 dims, float4 *kq,
							RsrQuery *out);

#endif							/* RSR_QUERY_H */
