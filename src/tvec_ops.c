/*-------------------------------------------------------------------------
 *
 * tvec_ops.c
 *	  Scoring operators of tvec and bit against a real[] query, the
 *	  quantizers that make tvec and bit values from real[], and the one
 *	  check of query arrays shared with the index and bulk functions.
 *
 * Scores are exact in a fixed order: the contributions of the nonzero
 * elements are added in double precision in element order j = 0..d-1, so
 * a score equals sum(x_j * q_j) done in SQL over float8 in that order, and
 * the same row and query always give the same bits.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/tvec_ops.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/varbit.h"

#include "rsr_query.h"
#include "tvec.h"

PG_FUNCTION_INFO_V1(tvec_inner_product);
PG_FUNCTION_INFO_V1(tvec_negative_inner_product);
PG_FUNCTION_INFO_V1(bit_inner_product);
PG_FUNCTION_INFO_V1(bit_negative_inner_product);
PG_FUNCTION_INFO_V1(ternary_quantize);
PG_FUNCTION_INFO_V1(ternary_quantize_threshold);
PG_FUNCTION_INFO_V1(binary_quantize);

/*
 * Load up to 8 bytes of a bit plane as a word in which bit k is element k
 * of the word (least significant bit first), keeping only the first nbits
 * (1..64) elements.  Planes store the first element in the most significant
 * bit of each byte, so the bits of every byte are reversed.
 */
static inline uint64
LoadPlaneWord(const uint8 *p, int nbits)
{
	uint64		w = 0;

	memcpy(&w, p, (nbits + 7) / 8);
#ifdef WORDS_BIGENDIAN
	w = pg_bswap64(w);			/* byte 0 in the low bits */
#endif
	w = ((w >> 1) & UINT64CONST(0x5555555555555555)) |
		((w & UINT64CONST(0x5555555555555555)) << 1);
	w = ((w >> 2) & UINT64CONST(0x3333333333333333)) |
		((w & UINT64CONST(0x3333333333333333)) << 2);
	w = ((w >> 4) & UINT64CONST(0x0F0F0F0F0F0F0F0F)) |
		((w & UINT64CONST(0x0F0F0F0F0F0F0F0F)) << 4);
	if (nbits < 64)
		w &= (UINT64CONST(1) << nbits) - 1;
	return w;
}

/*
 * Inner product of a packed row with q[0..dim).
 *
 * plus marks the +1 elements and minus (NULL for a binary row) the -1
 * elements.  Sixty-four elements are read at a time and only the nonzero
 * ones are visited, lowest element first; each adds +q_j or -q_j (the sign
 * bit flipped without a branch) to a double accumulator.  The result is
 * the plain sequential sum, independent of the word size: the only
 * loop-carried dependency is the double add, so this runs at about one
 * nonzero element per add latency.  Bits past dim are ignored.
 */
static double
PackedInnerProduct(const uint8 *plus, const uint8 *minus, int dim,
				   const float4 *q)
{
	double		sum = 0.0;

	for (int base = 0; base < dim; base += 64)
	{
		int			nbits = Min(64, dim - base);
		uint64		m = minus ? LoadPlaneWord(minus + base / 8, nbits) : 0;
		uint64		nz = LoadPlaneWord(plus + base / 8, nbits) | m;
		const float4 *qw = q + base;

		while (nz != 0)
		{
			int			k = pg_rightmost_one_pos64(nz);
			uint32		u;
			float4		x;

			memcpy(&u, &qw[k], sizeof(u));
			u ^= (uint32) ((m >> k) & 1) << 31;
			memcpy(&x, &u, sizeof(x));
			sum += (double) x;
			nz &= nz - 1;
		}
	}

	return sum;
}

/*
 * The query of an operator call, checked once per query execution.
 *
 * A scan calls the operator once per row with the same query, so the first
 * call detoasts and checks it and keeps the values in fn_extra; later calls
 * compare the argument's raw bytes (plain, compressed, or a pointer to an
 * on-disk toast value) with the first call's and reuse the values when they
 * are equal.  Expanded and indirect datums point to memory that may change
 * in place, so they are never cached.
 */
typedef struct QueryCache
{
	Size		rawsize;		/* bytes of raw; 0 while not valid */
	char	   *raw;			/* the argument as passed */
	int			dim;			/* elements of q */
	float4	   *q;				/* checked values */
} QueryCache;

/* Checked values of argument argno, which must have expected_dim elements */
static float4 *
GetQuery(FunctionCallInfo fcinfo, int argno, int expected_dim)
{
	char	   *raw = DatumGetPointer(PG_GETARG_DATUM(argno));
	QueryCache *cache = NULL;
	MemoryContext mcxt;
	Size		rawsize = VARSIZE_ANY(raw);
	float4	   *q;
	int			dim;

	if (fcinfo->flinfo != NULL &&
		(!VARATT_IS_EXTERNAL(raw) || VARATT_IS_EXTERNAL_ONDISK(raw)))
		cache = (QueryCache *) fcinfo->flinfo->fn_extra;

	if (cache != NULL && cache->rawsize == rawsize &&
		memcmp(cache->raw, raw, rawsize) == 0)
	{
		if (cache->dim != expected_dim)
			RsrQueryDimsError(expected_dim, cache->dim);
		return cache->q;
	}

	q = RsrQueryFromArray(PG_GETARG_ARRAYTYPE_P(argno), expected_dim, &dim);

	if (fcinfo->flinfo == NULL ||
		(VARATT_IS_EXTERNAL(raw) && !VARATT_IS_EXTERNAL_ONDISK(raw)))
		return q;

	mcxt = fcinfo->flinfo->fn_mcxt;
	cache = (QueryCache *) fcinfo->flinfo->fn_extra;
	if (cache == NULL)
	{
		cache = (QueryCache *) MemoryContextAllocZero(mcxt, sizeof(QueryCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	else if (cache->rawsize > 0)
	{
		cache->rawsize = 0;
		pfree(cache->raw);
		pfree(cache->q);
	}
	cache->raw = MemoryContextAlloc(mcxt, rawsize);
	memcpy(cache->raw, raw, rawsize);
	cache->q = (float4 *) MemoryContextAlloc(mcxt, sizeof(float4) * Max(dim, 1));
	memcpy(cache->q, q, sizeof(float4) * dim);
	cache->dim = dim;
	cache->rawsize = rawsize;

	return cache->q;
}

/*
 * Header and bytes of argument argno without copying it.
 *
 * Small values are stored with a 1-byte varlena header, and detoasting them
 * would copy every row into an aligned palloc'd chunk.  Scoring reads only
 * bytes, so it takes the packed datum as it is: *len receives the leading
 * int32 (tvec's dim, varbit's bit length) and the result points at the
 * bytes after it.  *raw is what to hand to PG_FREE_IF_COPY.
 */
static const uint8 *
PackedArg(FunctionCallInfo fcinfo, int argno, int32 *len, struct varlena **raw)
{
	*raw = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(argno));
	memcpy(len, VARDATA_ANY(*raw), sizeof(int32));
	return (const uint8 *) VARDATA_ANY(*raw) + sizeof(int32);
}

/* Inner product of the tvec and the real[] query that are the arguments */
static double
TvecScore(FunctionCallInfo fcinfo)
{
	struct varlena *raw;
	int32		dim;
	const uint8 *planes = PackedArg(fcinfo, 0, &dim, &raw);
	float4	   *q = GetQuery(fcinfo, 1, dim);
	double		result;

	result = PackedInnerProduct(planes, planes + TvecPlaneBytes(dim), dim, q);
	PG_FREE_IF_COPY(raw, 0);
	return result;
}

/* Inner product of the bit string and the real[] query that are the arguments */
static double
BitScore(FunctionCallInfo fcinfo)
{
	struct varlena *raw;
	int32		nbits;
	const uint8 *bits = PackedArg(fcinfo, 0, &nbits, &raw);
	float4	   *q = GetQuery(fcinfo, 1, nbits);
	double		result;

	result = PackedInnerProduct(bits, NULL, nbits, q);
	PG_FREE_IF_COPY(raw, 0);
	return result;
}

/* inner_product(tvec, real[]) */
Datum
tvec_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(TvecScore(fcinfo));
}

/*
 * tvec <#> real[]: the negative inner product, so that ascending order puts
 * the most similar first (pgvector's convention).  0.0 - x is -x except
 * that a zero score stays +0 instead of printing as -0.
 */
Datum
tvec_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(0.0 - TvecScore(fcinfo));
}

/* inner_product(bit, real[]): a set bit is 1, a clear bit 0 */
Datum
bit_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(BitScore(fcinfo));
}

/* bit <#> real[]: the negative inner product */
Datum
bit_negative_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(0.0 - BitScore(fcinfo));
}

/* Set element j of a tvec to sign (-1, 0 or 1) */
static inline void
TvecSet(Tvec *v, int j, int sign)
{
	uint8		bit = (uint8) (0x80 >> (j & 7));

	if (sign > 0)
		TvecPlus(v)[j >> 3] |= bit;
	else if (sign < 0)
		TvecMinus(v)[j >> 3] |= bit;
}

/*
 * ternary_quantize(real[]): the absmean rule of BitNet b1.58.
 *
 * scale = mean |x|; element j is round(clip(x_j / scale, -1, 1)), with
 * rint()'s round-half-to-even like torch.round (so x_j = scale / 2 gives 0).
 * Computed in double.  An all-zero input has scale 0 and gives all zeros.
 */
Datum
ternary_quantize(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float4	   *x = RsrQueryFromArray(a, -1, &dim);
	double		sum = 0.0;
	double		scale;
	Tvec	   *result = InitTvec(dim);

	for (int j = 0; j < dim; j++)
		sum += fabs((double) x[j]);
	scale = sum / dim;

	if (scale > 0.0)
	{
		for (int j = 0; j < dim; j++)
		{
			double		r = (double) x[j] / scale;

			r = Max(-1.0, Min(1.0, r));
			TvecSet(result, j, (int) rint(r));
		}
	}

	PG_RETURN_TVEC_P(result);
}

/* ternary_quantize(real[], threshold): |x| <= threshold gives 0, else the sign */
Datum
ternary_quantize_threshold(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	float4		threshold = PG_GETARG_FLOAT4(1);
	int			dim;
	float4	   *x;
	Tvec	   *result;

	if (isnan(threshold) || threshold < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threshold must be a non-negative number")));

	x = RsrQueryFromArray(a, -1, &dim);
	result = InitTvec(dim);
	for (int j = 0; j < dim; j++)
	{
		if (x[j] > threshold)
			TvecSet(result, j, 1);
		else if (x[j] < -threshold)
			TvecSet(result, j, -1);
	}

	PG_RETURN_TVEC_P(result);
}

/* binary_quantize(real[]) -> bit: bit j is set when x_j > 0 */
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float4	   *x = RsrQueryFromArray(a, -1, &dim);
	int			size = VARBITTOTALLEN(dim);
	VarBit	   *result = (VarBit *) palloc0(size);
	bits8	   *r;

	SET_VARSIZE(result, size);
	VARBITLEN(result) = dim;
	r = VARBITS(result);
	for (int j = 0; j < dim; j++)
	{
		if (x[j] > 0)
			r[j >> 3] |= (bits8) (0x80 >> (j & 7));
	}

	PG_RETURN_VARBIT_P(result);
}
