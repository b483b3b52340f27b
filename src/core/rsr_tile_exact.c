/*-------------------------------------------------------------------------
 *
 * rsr_tile_exact.c
 *	  Exact scores of every row of tile segments: the double sum, in
 *	  element order, that the operator <#> computes, bit for bit, without
 *	  summing element by element when the query allows it.
 *
 * The operator's score of a row is S = fl(...fl(fl(0 + x_0) + x_1)...)
 * over its nonzero elements in element order, x_j = +-q_j (a float, exact
 * in double).  Let 2^e be the lowest bit set in any nonzero q_j (its
 * trailing one: e >= -149), so every q_j is an integer multiple of 2^e,
 * and let L = sum_j |q_j|.  Every partial sum of any subset of the +-q_j,
 * in any order, is k 2^e with |k| <= L / 2^e.  When L <= 2^53 2^e, every
 * such value is a double (|k| <= 2^53 fits the significand; 2^e >= 2^-149
 * and L < 2^145 stay inside the exponent range), so no addition of the
 * operator rounds: S is the real sum of the row's +-q_j, whatever the
 * order.  Then the row may be summed in any order and any grouping with
 * the same result, bit for bit: here, per column byte, two tables of the
 * 16 subset sums of its high and low 4 columns (each entry a subset sum,
 * exact), looked up for 32 rows at a time (rsr_tile_simd.c: scalar, or
 * AVX-512 permutes of 16-double tables) and added into 32 accumulators
 * (each an exact subset sum too; a ternary row adds its "+1" entries and
 * subtracts its "-1" entries, planes disjoint).  Neither S nor these sums
 * can be -0: a sum that starts at +0 stays +0 when it adds +-0.
 *
 * The test uses a computed L' = fl(sum |q_j|): for nonnegative terms
 * L <= L' (1 + (d - 1) 2^-53)^-1 < 2 L', so L' <= 2^52 2^e implies the
 * condition.  Typical float queries pass (a dynamic range up to about
 * 2^28 between the largest |q_j| and the lowest bit of the smallest, at
 * d = 1024); a query that fails it (denormals next to normal values,
 * 1e6 next to full-mantissa 1e-3 values) gets each row summed element by
 * element in order (rsr_exact_score()), slower and the same result.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_tile_exact.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rsr_internal.h"

/* Doubles of the tables of one column byte: high nibble, low nibble */
#define BYTE_TAB 32

/* Bytes of rsr_tile_exact()'s workspace: the tables of one query */
size_t
rsr_tile_exact_work_size(uint32_t dims)
{
	return ((size_t) dims + 7) / 8 * BYTE_TAB * sizeof(double) + 64;
}

/* Exponent of the lowest set bit of a finite nonzero float */
static int
low_bit_exponent(float f)
{
	uint32_t	u;
	uint32_t	mant;
	int			ex;

	memcpy(&u, &f, sizeof(u));
	mant = u & 0x7FFFFFu;
	ex = (int) ((u >> 23) & 0xFFu);
	if (ex == 0)
		return -149 + __builtin_ctz(mant);	/* denormal: mant != 0 */
	return ex - 150 + __builtin_ctz(mant | 0x800000u);
}

/*
 * Fill the tables of query q; true when every sum of its values is exact
 * (see the file header), so that the tables give the operator's score.
 */
bool
rsr_tile_exact_tables(const float *q, uint32_t dims, double *tab)
{
	size_t		nb = ((size_t) dims + 7) / 8;
	double		L = 0.0;
	int			emin = 1000;
	size_t		b;
	uint32_t	j;

	for (j = 0; j < dims; j++)
		if (q[j] != 0.0f)
		{
			int			e = low_bit_exponent(q[j]);

			emin = e < emin ? e : emin;
			L += fabs((double) q[j]);
		}
	if (emin == 1000)
		emin = 0;				/* all zero */
	if (L > ldexp(1.0, 52 + emin))
		return false;

	for (b = 0; b < nb; b++)
	{
		double	   *t = tab + b * BYTE_TAB;
		int			half;

		/* element 8b + i is bit 7 - i: the high nibble holds 8b..8b+3 */
		for (half = 0; half < 2; half++)
		{
			double		v[4];
			uint32_t	p;
			int			i;

			for (i = 0; i < 4; i++)
			{
				size_t		c = 8 * b + 4 * (size_t) half + (size_t) i;

				v[i] = c < dims ? (double) q[c] : 0.0;
			}
			for (p = 0; p < 16; p++)
			{
				double		s = 0.0;

				for (i = 0; i < 4; i++)
					if (p & (8u >> i))
						s += v[i];
				t[16 * half + p] = s;
			}
		}
	}
	return true;
}

/*
 * Scores of the 32 rows of one block from the tables: acc[r] for the rows
 * of segments segs[i..end) (one block, checked).
 */
static void
block_tables(const RsrTileKernels *kern, const RsrSegmentRef *segs,
			 size_t i, size_t end, RsrKind kind, const double *tab,
			 double *acc)
{
	RsrTilePart parts[64];
	size_t		k = i;
	uint32_t	r;

	for (r = 0; r < RSR_TILE_ROWS; r++)
		acc[r] = 0.0;
	while (k < end)
	{
		uint32_t	nparts = 0;

		for (; k < end && nparts < 64; k++)
		{
			RsrSeg		s;

			(void) rsr_seg_parse(segs[k].data, segs[k].size, &s);
			parts[nparts].tile = s.payload;
			parts[nparts].nb = (s.ncols + 7) / 8;
			parts[nparts].tab = s.col_start / 8 * BYTE_TAB;
			nparts++;
		}
		kern->exact(parts, nparts, kind == RSR_KIND_TERNARY, tab, acc);
	}
}

/*
 * Scores of the rows of one block, element by element in order: acc[r]
 * for r < nrows (queries whose sums may round).
 */
static void
block_in_order(const RsrSegmentRef *segs, size_t i, size_t end,
			   RsrKind kind, uint32_t dims, uint32_t nrows, const float *q,
			   double *acc)
{
	uint8_t		row[2 * ((RSR_MAX_DIMS + 7) / 8)];
	size_t		plane = ((size_t) dims + 7) / 8;
	uint32_t	r;

	for (r = 0; r < nrows; r++)
	{
		size_t		k;

		for (k = i; k < end; k++)
		{
			RsrSeg		s;
			uint32_t	nb;
			uint32_t	c0;
			uint32_t	bb;

			(void) rsr_seg_parse(segs[k].data, segs[k].size, &s);
			nb = (s.ncols + 7) / 8;
			c0 = s.col_start / 8;
			for (bb = 0; bb < nb; bb++)
			{
				if (kind == RSR_KIND_TERNARY)
				{
					row[c0 + bb] = s.payload[(size_t) 64 * bb + r];
					row[plane + c0 + bb] = s.payload[(size_t) 64 * bb + 32 + r];
				}
				else
					row[c0 + bb] = s.payload[(size_t) 32 * bb + r];
			}
		}
		acc[r] = rsr_exact_score(kind, row, dims, q);
	}
}

/*
 * Check the block starting at segs[i]: ranges of one kind covering
 * [0, dims) in order (rsr_tile_range_parse(), which sets *nrows).  *end =
 * one past its last segment.
 */
static RsrStatus
check_block(const RsrSegmentRef *segs, size_t nsegs, size_t i,
			uint32_t dims, size_t *end, RsrKind *kind, uint32_t *nrows)
{
	size_t		j = i;
	uint32_t	col = 0;

	*nrows = 0;
	while (j < nsegs && segs[j].out == segs[i].out && col < dims)
	{
		RsrSeg		s;
		RsrStatus	rc = rsr_tile_range_parse(segs[j].data, segs[j].size,
											  dims, col, nrows, &s);

		if (rc == RSR_OK && j > i && s.kind != *kind)
			rc = RSR_EINVAL;
		if (rc != RSR_OK)
			return rc;
		*kind = s.kind;
		col += s.ncols;
		j++;
	}
	if (col != dims)
		return RSR_EINVAL;
	*end = j;
	return RSR_OK;
}

/*
 * Exact scores of the rows of whole blocks of tile segments for queries
 * Q[b * dims ..], written (not added) to Yd[(out + r) * batch + b] as
 * doubles or to Yf[...] rounded to float (exactly one of them non-NULL).
 */
RsrStatus
rsr_tile_exact_with(const RsrTileKernels *kern, const RsrSegmentRef *segs,
					size_t nsegs, const float *Q, uint32_t batch,
					uint32_t dims, float *Yf, double *Yd, void *work,
					size_t work_size, int threads)
{
	double	   *tab;
	int			status = RSR_OK;
	int			team;
	uint32_t	qb;

	if ((segs == NULL && nsegs > 0) || Q == NULL || (Yf == NULL) == (Yd == NULL) ||
		batch < 1 || batch > RSR_MAX_BATCH || dims < 1 || dims > RSR_MAX_DIMS ||
		threads < 1 || work == NULL)
		return RSR_EINVAL;
	if (work_size < rsr_tile_exact_work_size(dims))
		return RSR_ENOMEM;
	tab = (double *) (((uintptr_t) work + 63) & ~(uintptr_t) 63);
	team = threads;
	if ((size_t) team > nsegs)
		team = nsegs > 0 ? (int) nsegs : 1;

	for (qb = 0; qb < batch && status == RSR_OK; qb++)
	{
		const float *q = Q + (size_t) qb * dims;
		bool		fast = rsr_tile_exact_tables(q, dims, tab);

#pragma omp parallel num_threads(team) if (team > 1) reduction(max:status)
		{
			int			t = 0;
			int			n = 1;
			size_t		i;
			size_t		stop;
			double		acc[RSR_TILE_ROWS];

#ifdef _OPENMP
			t = omp_get_thread_num();
			n = omp_get_num_threads();
#endif
			/* thread t takes the blocks that start in its share of segs */
			i = nsegs * (size_t) t / (size_t) n;
			stop = nsegs * (size_t) (t + 1) / (size_t) n;
			while (i > 0 && i < nsegs && segs[i].out == segs[i - 1].out)
				i++;
			while (i < stop)
			{
				size_t		end = i;
				RsrKind		kind = RSR_KIND_BINARY;
				uint32_t	nrows;
				uint32_t	r;
				RsrStatus	rc = check_block(segs, nsegs, i, dims, &end,
											 &kind, &nrows);

				if (rc != RSR_OK)
				{
					if ((int) rc > status)
						status = (int) rc;
					break;
				}
				if (fast)
					block_tables(kern, segs, i, end, kind, tab, acc);
				else
					block_in_order(segs, i, end, kind, dims, nrows, q, acc);
				for (r = 0; r < nrows; r++)
				{
					size_t		o = ((size_t) segs[i].out + r) * batch + qb;

					if (Yd != NULL)
						Yd[o] = acc[r];
					else
						Yf[o] = (float) acc[r];
				}
				i = end;
			}
		}
	}
	return (RsrStatus) status;
}

/* Exact scores with the kernels rsr_init() chose */
RsrStatus
rsr_tile_exact(const RsrSegmentRef *segs, size_t nsegs, const float *Q,
			   uint32_t batch, uint32_t dims, float *Yf, double *Yd,
			   void *work, size_t work_size, int threads)
{
	return rsr_tile_exact_with(rsr_tile_active, segs, nsegs, Q, batch, dims,
							   Yf, Yd, work, work_size, threads);
}
