/*-------------------------------------------------------------------------
 *
 * test_core.c
 *	  Unit tests of the RSR engine (no server): every kernel and layout
 *	  against a double-precision reference loop, batched against single,
 *	  1 thread against 2, the error bound, corrupt segments and top-n.
 *
 * Usage: test_core [--quick] [--seed N].  Prints the seed, stops at the
 * first mismatch with a non-zero exit, ends with "N passed, 0 failed".
 *
 * Tolerance: |kernel - reference| <= rsr_error_bound(dims, ||q||_1) +
 * 2^-50 * ||q||_1 (the second term covers the double reference's own
 * rounding, (dims) * 2^-53 relative at most).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/unit/test_core.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsr_internal.h"
#include "test_util.h"

#define SLACK 16				/* extra output entries past the last row */

static int	quick;

enum
{
	FILL_RANDOM, FILL_ZERO, FILL_ONE, FILL_MINUS, FILL_SPARSE, NFILL
};

/* Set element j of a packed row to v (-1, 0, 1) */
static void
set_elem(uint8_t *row, size_t plane, uint32_t j, int v)
{
	if (v > 0)
		row[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
	else if (v < 0)
		row[plane + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
}

/* Fill a packed row by mode */
static void
fill_row(RsrKind kind, uint8_t *row, uint32_t dims, int fill)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	uint32_t	j;

	memset(row, 0, rsr_row_bytes(kind, dims));
	for (j = 0; j < dims; j++)
	{
		int			v = 0;

		switch (fill)
		{
			case FILL_RANDOM:
				v = kind == RSR_KIND_BINARY ? (int) rndn(2) : (int) rndn(3) - 1;
				break;
			case FILL_ONE:
				v = 1;
				break;
			case FILL_MINUS:
				v = kind == RSR_KIND_BINARY ? 1 : -1;
				break;
			case FILL_SPARSE:
				v = rndn(10) != 0 ? 0 : (kind == RSR_KIND_BINARY || rndn(2) ? 1 : -1);
				break;
		}
		set_elem(row, plane, j, v);
	}
}

/* Reference row . q in double precision */
static double
ref_dot(RsrKind kind, const uint8_t *row, uint32_t dims, const float *q)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	double		s = 0.0;
	uint32_t	j;

	for (j = 0; j < dims; j++)
	{
		if (rsr_bit(row, j))
			s += q[j];
		if (kind == RSR_KIND_TERNARY && rsr_bit(row + plane, j))
			s -= q[j];
	}
	return s;
}

/* Random query: mostly N(0,1)-like values, sometimes integers or scaled */
static void
fill_query(float *q, uint32_t dims, double *l1)
{
	uint32_t	j;
	int			style = (int) rndn(4);
	double		s = 0.0;

	for (j = 0; j < dims; j++)
	{
		double		u = ((double) (rnd() >> 11) / 9007199254740992.0) * 2.0 - 1.0;

		switch (style)
		{
			case 0:
				q[j] = (float) u;
				break;
			case 1:
				q[j] = (float) (u * 1000.0);
				break;
			case 2:
				q[j] = (float) ((int) rndn(7) - 3);
				break;
			default:
				q[j] = (float) (u * ldexp(1.0, (int) rndn(40) - 20));
				break;
		}
		s += fabs(q[j]);
	}
	*l1 = s;
}

/* Tolerance of a kernel result */
static double
tolerance(uint32_t dims, double l1)
{
	return rsr_error_bound(dims, l1) + ldexp(l1, -50);
}

/*
 * One shape: build segments of `nrows` random rows with block height k and
 * column ranges of `range` columns, then check every kernel against the
 * reference.
 */
static void
run_case(RsrKind kind, RsrLayout layout, uint32_t k, uint32_t dims,
		 uint32_t nrows, int fill, uint32_t range, uint32_t batch)
{
	size_t		rb = rsr_row_bytes(kind, dims);
	uint8_t    *rowbuf = xmalloc(rb * nrows);
	const uint8_t **rows = xmalloc(sizeof(*rows) * nrows);
	uint32_t	nblocks = (nrows + k - 1) / k;
	uint32_t	nranges = (dims + range - 1) / range;
	size_t		nsegs = (size_t) nblocks * nranges;
	RsrSegmentRef *segs = xmalloc(sizeof(*segs) * nsegs);
	size_t		segcap = 0;
	uint8_t    *segbuf;
	size_t		used = 0;
	float	   *Q = xmalloc(sizeof(float) * (size_t) dims * batch);
	double	   *l1 = xmalloc(sizeof(double) * batch);
	double	   *ref = xmalloc(sizeof(double) * (size_t) nrows * batch);
	float	   *y1 = xmalloc(sizeof(float) * (nrows + SLACK));
	float	   *y2 = xmalloc(sizeof(float) * (nrows + SLACK));
	float	   *ys = xmalloc(sizeof(float) * (nrows + SLACK));
	float	   *Y = xmalloc(sizeof(float) * (nrows + SLACK) * batch);
	float	   *Ys = xmalloc(sizeof(float) * (nrows + SLACK) * batch);
	size_t		wsize = rsr_workspace_size(k, batch, 2);
	void	   *work = xmalloc(wsize);
	uint8_t    *dec = xmalloc(rb);
	char		what[200];
	char		detail[200];
	uint32_t	i;
	uint32_t	b;
	size_t		si;
	RsrStatus	st;

	snprintf(what, sizeof(what), "%s layout=%s k=%u dims=%u rows=%u fill=%d range=%u batch=%u",
			 kind == RSR_KIND_BINARY ? "binary" : "ternary",
			 layout == RSR_LAYOUT_PERM ? "perm" : "bucket", k, dims, nrows,
			 fill, range, batch);
	for (i = 0; i < nrows; i++)
	{
		fill_row(kind, rowbuf + rb * i, dims, fill);
		rows[i] = rowbuf + rb * i;
	}
	for (i = 0; i < nranges; i++)
	{
		uint32_t	n = dims - i * range < range ? dims - i * range : range;

		segcap += rsr_segment_max_size(kind, layout, k, n) * nblocks;
	}
	segbuf = xmalloc(segcap);

	/* build, validate, decode */
	si = 0;
	for (i = 0; i < nblocks; i++)
	{
		uint32_t	r0 = i * k;
		uint32_t	nr = nrows - r0 < k ? nrows - r0 : k;
		uint32_t	c;

		for (c = 0; c < dims; c += range)
		{
			uint32_t	n = dims - c < range ? dims - c : range;
			size_t		size;
			RsrSegmentInfo info;
			uint32_t	r;

			st = rsr_segment_build(kind, layout, k, rows + r0, nr, dims, c, n,
								   segbuf + used, segcap - used, &size);
			snprintf(detail, sizeof(detail), "build block %u col %u: %s", i, c,
					 rsr_status_string(st));
			check(st == RSR_OK, what, detail);
			check(size <= rsr_segment_max_size(kind, layout, k, n), what,
				  "segment larger than rsr_segment_max_size");
			st = rsr_segment_validate(segbuf + used, size, &info);
			check(st == RSR_OK && info.k == k && info.nrows == nr &&
				  info.dims == dims && info.col_start == c && info.ncols == n &&
				  info.size == size && info.kind == kind && info.layout == layout,
				  what, "validate of a fresh segment");
			for (r = 0; r < nr; r++)
			{
				uint32_t	j;
				size_t		dplane = ((size_t) n + 7) / 8;
				size_t		plane = ((size_t) dims + 7) / 8;

				st = rsr_segment_get_row(segbuf + used, size, r, dec, rb);
				check(st == RSR_OK, what, "get_row");
				for (j = 0; j < n; j++)
				{
					int			ok = rsr_bit(dec, j) == rsr_bit(rows[r0 + r], c + j);

					if (kind == RSR_KIND_TERNARY)
						ok = ok && rsr_bit(dec + dplane, j) == rsr_bit(rows[r0 + r] + plane, c + j);
					if (!ok)
						fail(what, "get_row does not give the row back");
				}
				npassed++;
			}
			segs[si].data = segbuf + used;
			segs[si].size = (uint32_t) size;
			segs[si].out = r0;
			si++;
			used += size;
		}
	}

	/* reference */
	for (b = 0; b < batch; b++)
	{
		fill_query(Q + (size_t) b * dims, dims, &l1[b]);
		for (i = 0; i < nrows; i++)
			ref[(size_t) i * batch + b] = ref_dot(kind, rows[i], dims, Q + (size_t) b * dims);
	}

	/* single query: dispatched kernels (1 and 2 threads), scalar kernels */
	memset(y1, 0, sizeof(float) * (nrows + SLACK));
	memset(y2, 0, sizeof(float) * (nrows + SLACK));
	memset(ys, 0, sizeof(float) * (nrows + SLACK));
	st = rsr_gemv(segs, nsegs, Q, dims, y1, work, wsize, 1);
	check(st == RSR_OK, what, rsr_status_string(st));
	st = rsr_gemv(segs, nsegs, Q, dims, y2, work, wsize, 2);
	check(st == RSR_OK, what, rsr_status_string(st));
	st = rsr_gemv_with(&rsr_kernels_scalar, segs, nsegs, Q, dims, ys, work, wsize, 1);
	check(st == RSR_OK, what, rsr_status_string(st));
	check(memcmp(y1, y2, sizeof(float) * (nrows + SLACK)) == 0, what,
		  "1 thread and 2 threads differ");
	for (i = 0; i < nrows; i++)
	{
		double		tol = tolerance(dims, l1[0]);

		snprintf(detail, sizeof(detail), "row %u: gemv %.9g scalar %.9g reference %.9g tolerance %.3g",
				 i, y1[i], ys[i], ref[(size_t) i * batch], tol);
		check(fabs(y1[i] - ref[(size_t) i * batch]) <= tol &&
			  fabs(ys[i] - ref[(size_t) i * batch]) <= tol, what, detail);
	}
	for (i = nrows; i < nrows + SLACK; i++)
		check(y1[i] == 0.0f, what, "gemv wrote past the last row");

	/* rows kernels */
	st = rsr_gemv_rows(kind, rows, nrows, dims, Q, y1);
	check(st == RSR_OK, what, "gemv_rows");
	st = rsr_gemv_rows_with(&rsr_kernels_scalar, kind, rows, nrows, dims, Q, ys);
	check(st == RSR_OK, what, "gemv_rows scalar");
	for (i = 0; i < nrows; i++)
	{
		snprintf(detail, sizeof(detail), "row %u: gemv_rows %.9g scalar %.9g reference %.9g",
				 i, y1[i], ys[i], ref[(size_t) i * batch]);
		check(fabs(y1[i] - ref[(size_t) i * batch]) <= tolerance(dims, l1[0]) &&
			  fabs(ys[i] - ref[(size_t) i * batch]) <= tolerance(dims, l1[0]),
			  what, detail);
	}

	/* batched: dispatched (2 threads), scalar, rows */
	memset(Y, 0, sizeof(float) * (nrows + SLACK) * batch);
	memset(Ys, 0, sizeof(float) * (nrows + SLACK) * batch);
	st = rsr_gemm(segs, nsegs, Q, batch, dims, Y, work, wsize, 2);
	check(st == RSR_OK, what, rsr_status_string(st));
	memset(Ys, 0, sizeof(float) * (nrows + SLACK) * batch);
	st = rsr_gemm(segs, nsegs, Q, batch, dims, Ys, work, wsize, 1);
	check(st == RSR_OK, what, rsr_status_string(st));
	check(memcmp(Y, Ys, sizeof(float) * (nrows + SLACK) * batch) == 0, what,
		  "batched: 1 thread and 2 threads differ");
	memset(Ys, 0, sizeof(float) * (nrows + SLACK) * batch);
	st = rsr_gemm_with(&rsr_kernels_scalar, segs, nsegs, Q, batch, dims, Ys, work, wsize, 1);
	check(st == RSR_OK, what, rsr_status_string(st));
	for (b = 0; b < batch; b++)
	{
		memset(y1, 0, sizeof(float) * (nrows + SLACK));
		st = rsr_gemv(segs, nsegs, Q + (size_t) b * dims, dims, y1, work, wsize, 2);
		check(st == RSR_OK, what, rsr_status_string(st));
		for (i = 0; i < nrows; i++)
		{
			size_t		o = (size_t) i * batch + b;
			double		tol = tolerance(dims, l1[b]);

			snprintf(detail, sizeof(detail), "row %u query %u: gemm %.9g scalar %.9g gemv %.9g reference %.9g",
					 i, b, Y[o], Ys[o], y1[i], ref[o]);
			check(fabs(Y[o] - ref[o]) <= tol && fabs(Ys[o] - ref[o]) <= tol &&
				  fabs(Y[o] - y1[i]) <= 2 * tol, what, detail);
		}
	}
	for (i = nrows * batch; i < (nrows + SLACK) * batch; i++)
		check(Y[i] == 0.0f, what, "gemm wrote past the last row");
	st = rsr_gemm_rows(kind, rows, nrows, dims, Q, batch, Y);
	check(st == RSR_OK, what, "gemm_rows");
	for (i = 0; i < nrows * batch; i++)
		check(fabs(Y[i] - ref[i]) <= tolerance(dims, l1[i % batch]), what,
			  "gemm_rows against the reference");

	free(rowbuf);
	free(rows);
	free(segs);
	free(segbuf);
	free(Q);
	free(l1);
	free(ref);
	free(y1);
	free(y2);
	free(ys);
	free(Y);
	free(Ys);
	free(work);
	free(dec);
}

/* The shape sweep of the brief */
static void
test_kernels(void)
{
	static const uint32_t dims_list[] = {1, 7, 63, 64, 65, 384, 1000, 1024, 4099, 65535};
	static const uint32_t batches[] = {2, 3, 16, 5, 64, 7};
	int			kind;
	int			layout;
	int			di;
	long		ncase = 0;

	for (kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		for (layout = RSR_LAYOUT_PERM; layout <= RSR_LAYOUT_BUCKET; layout++)
			for (di = 0; di < (int) (sizeof(dims_list) / sizeof(dims_list[0])); di++)
			{
				uint32_t	dims = dims_list[di];
				uint32_t	k;

				for (k = 1; k <= RSR_MAX_K; k++)
				{
					uint32_t	counts[5];
					int			nc = 0;
					int			ci;
					int			all_k = dims <= 1024;

					/* every k for small dims; a spread of k for wide rows */
					if (!all_k && k != 1 && k != 5 && k != 8 && k != 12 && k != 16)
						continue;
					if (quick && dims >= 4099 && k != 16)
						continue;
					counts[nc++] = 1;
					if (k > 2)
						counts[nc++] = k - 1;
					if (k > 1)
						counts[nc++] = k;
					counts[nc++] = k + 1;
					if ((k == 3 || k == 8 || k == 16) && dims <= (quick ? 384u : 4099u))
						counts[nc++] = 1000;
					for (ci = 0; ci < nc; ci++)
					{
						uint32_t	range = dims;
						uint32_t	batch = batches[ncase % 6];
						int			fill = (int) (ncase % NFILL);

						/* every third case splits the columns into ranges */
						if (ncase % 3 == 1 && dims > 1)
							range = 1 + rndn(dims - 1);
						if (dims >= 4099 && batch > 16)
							batch = 3;
						if (quick && batch > 16)
							batch = 16;
						run_case((RsrKind) kind, (RsrLayout) layout, k, dims,
								 counts[ci], fill, range, batch);
						ncase++;
					}
				}
			}
	printf("kernels: %ld shapes\n", ncase);
}

/*
 * The error bound is a true bound: sums built to lose the most, 1 followed
 * by many values of half an ulp of 1 (each addition rounds them away, or,
 * summed in another order, they add up).
 */
static void
test_error_bound(void)
{
	uint32_t	dims_list[] = {100, 4096, 65535};
	int			di;

	for (di = 0; di < 3; di++)
	{
		uint32_t	dims = dims_list[di];
		size_t		rb = rsr_row_bytes(RSR_KIND_BINARY, dims);
		uint8_t    *row = xmalloc(rb);
		float	   *q = xmalloc(sizeof(float) * dims);
		float		y;
		double		l1 = 0.0;
		double		exact = 0.0;
		uint32_t	j;

		memset(row, 0xFF, rb);
		if (dims % 8)
			row[rb - 1] = (uint8_t) (0xFF << (8 - dims % 8));
		for (j = 0; j < dims; j++)
		{
			q[j] = j == 0 ? 1.0f : (float) ldexp(1.0, -24);
			l1 += q[j];
			exact += q[j];
		}
		rsr_gemv_rows_with(&rsr_kernels_scalar, RSR_KIND_BINARY,
						   (const uint8_t *const *) &row, 1, dims, q, &y);
		check(fabs(y - exact) <= rsr_error_bound(dims, l1), "error bound",
			  "adversarial sum exceeds rsr_error_bound");
		check(fabs(y - exact) >= 0.25 * rsr_error_bound(dims, l1) || dims < 1000,
			  "error bound", "the adversarial sum shows no rounding");
		free(row);
		free(q);
	}
	check(rsr_error_bound(1000, 0.0) == 0.0, "error bound", "zero query");
}

/* Corrupt segments: byte flips and truncation give RSR_ECORRUPT, never a crash */
static void
test_corrupt(void)
{
	int			kind;
	int			layout;
	int			trials = quick ? 150 : 600;

	for (kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		for (layout = RSR_LAYOUT_PERM; layout <= RSR_LAYOUT_BUCKET; layout++)
		{
			uint32_t	dims = 300;
			uint32_t	k = (uint32_t) (layout == RSR_LAYOUT_PERM ? 6 : 11);
			uint32_t	nrows = k - 1;
			size_t		rb = rsr_row_bytes((RsrKind) kind, dims);
			uint8_t    *rowbuf = xmalloc(rb * nrows);
			const uint8_t *rows[RSR_MAX_K];
			size_t		cap = rsr_segment_max_size((RsrKind) kind, (RsrLayout) layout, k, dims);
			uint8_t    *seg = xmalloc(cap);
			uint8_t    *bad;
			size_t		size;
			float		q[300];
			float		y[RSR_MAX_K + SLACK];
			size_t		wsize = rsr_workspace_size(RSR_MAX_K, 4, 2);
			void	   *work = xmalloc(wsize);
			float		Y[(RSR_MAX_K + SLACK) * 4];
			uint8_t		row[2 * ((300 + 7) / 8)];
			double		l1;
			uint32_t	i;
			int			t;

			for (i = 0; i < nrows; i++)
			{
				fill_row((RsrKind) kind, rowbuf + rb * i, dims, FILL_RANDOM);
				rows[i] = rowbuf + rb * i;
			}
			fill_query(q, dims, &l1);
			check(rsr_segment_build((RsrKind) kind, (RsrLayout) layout, k, rows,
									nrows, dims, 0, dims, seg, cap, &size) == RSR_OK,
				  "corrupt", "build");
			for (t = 0; t < trials; t++)
			{
				RsrSegmentRef ref;
				RsrStatus	st;
				int			nflips = 1 + (t % 3 == 2);
				int			f;

				bad = xmalloc(size);	/* exact size: ASan sees any overread */
				memcpy(bad, seg, size);
				for (f = 0; f < nflips; f++)
					bad[rndn((uint32_t) size)] ^= (uint8_t) (1 + rndn(255));
				if (memcmp(bad, seg, size) == 0)
				{
					free(bad);
					continue;
				}
				check(rsr_segment_validate(bad, size, NULL) == RSR_ECORRUPT,
					  "corrupt", "a byte flip was not detected");
				ref.data = bad;
				ref.size = (uint32_t) size;
				ref.out = 0;
				/* the kernels may compute garbage but stay in bounds */
				memset(y, 0, sizeof(y));
				st = rsr_gemv(&ref, 1, q, dims, y, work, wsize, 1);
				check(st == RSR_OK || st == RSR_ECORRUPT || st == RSR_EINVAL,
					  "corrupt", "gemv status");
				memset(Y, 0, sizeof(Y));
				st = rsr_gemm(&ref, 1, q, 1, dims, Y, work, wsize, 1);
				check(st == RSR_OK || st == RSR_ECORRUPT || st == RSR_EINVAL,
					  "corrupt", "gemm status");
				rsr_segment_get_row(bad, size, 0, row, sizeof(row));
				free(bad);
			}
			for (size = size - 1;; size--)
			{
				RsrSegmentRef ref;

				bad = xmalloc(size);
				memcpy(bad, seg, size);
				check(rsr_segment_validate(bad, size, NULL) == RSR_ECORRUPT,
					  "corrupt", "truncation was not detected");
				ref.data = bad;
				ref.size = (uint32_t) size;
				ref.out = 0;
				check(rsr_gemv(&ref, 1, q, dims, y, work, wsize, 1) == RSR_ECORRUPT,
					  "corrupt", "gemv on a truncated segment");
				free(bad);
				if (size == 0)
					break;
				if (size > 64)
					size -= rndn(40);
			}
			free(rowbuf);
			free(seg);
			free(work);
		}
}

/* Argument checks: bad k, dims, ranges, sizes, buffers */
static void
test_args(void)
{
	uint8_t		rowb[4] = {0xF0, 0, 0, 0};
	uint8_t		rowt[8] = {0xF0, 0, 0, 0, 0x0F, 0, 0, 0};
	uint8_t		badt[8] = {0xF0, 0, 0, 0, 0x10, 0, 0, 0};
	const uint8_t *rb[1] = {rowb};
	const uint8_t *rt[1] = {rowt};
	const uint8_t *bt[1] = {badt};
	uint8_t		seg[256];
	size_t		size;
	float		q[32] = {0};
	float		y[32] = {0};
	char		work[1024];
	RsrSegmentRef ref;
	uint32_t	k;
	uint32_t	t;
	RsrLayout	layout;

	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 0, rb, 1, 32, 0, 32, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "k = 0");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 17, rb, 1, 32, 0, 32, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "k = 17");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 4, rb, 5, 32, 0, 32, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "nrows > k");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 4, rb, 1, 0, 0, 1, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "dims = 0");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 4, rb, 1, 32, 20, 13, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "range past dims");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 4, rb, 1, 32, 0, 0, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "ncols = 0");
	check(rsr_segment_build(RSR_KIND_TERNARY, RSR_LAYOUT_PERM, 4, bt, 1, 32, 0, 32, seg, sizeof(seg), &size) == RSR_EINVAL, "args", "element both +1 and -1");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 4, rb, 1, 32, 0, 32, seg, 40, &size) == RSR_ENOMEM, "args", "small output");
	check(rsr_segment_build(RSR_KIND_TERNARY, RSR_LAYOUT_PERM, 4, rt, 1, 32, 0, 32, seg, 40, &size) == RSR_ENOMEM, "args", "small output (perm)");
	check(rsr_segment_build(RSR_KIND_TERNARY, RSR_LAYOUT_PERM, 4, rt, 1, 32, 0, 32, seg, sizeof(seg), &size) == RSR_OK, "args", "build");
	check(rsr_segment_max_cols(RSR_KIND_BINARY, RSR_LAYOUT_BUCKET, 8, 8192) == 8192 - RSR_SEG_HEADER, "args", "max_cols");
	check(rsr_segment_max_size(RSR_KIND_TERNARY, RSR_LAYOUT_PERM, 8,
							   rsr_segment_max_cols(RSR_KIND_TERNARY, RSR_LAYOUT_PERM, 8, 8000)) <= 8000,
		  "args", "max_cols fits");
	ref.data = seg;
	ref.size = (uint32_t) size;
	ref.out = 0;
	check(rsr_gemv(&ref, 1, q, 31, y, work, sizeof(work), 1) == RSR_EINVAL, "args", "dims mismatch");
	check(rsr_gemv(&ref, 1, q, 32, y, work, 16, 1) == RSR_ENOMEM, "args", "small workspace");
	check(rsr_gemv(&ref, 1, q, 32, y, work, sizeof(work), 0) == RSR_EINVAL, "args", "0 threads");
	q[5] = INFINITY;
	check(rsr_gemv(&ref, 1, q, 32, y, work, sizeof(work), 1) == RSR_EINVAL, "args", "infinite query");
	q[5] = NAN;
	check(rsr_gemm(&ref, 1, q, 1, 32, y, work, sizeof(work), 1) == RSR_EINVAL, "args", "NaN query");
	q[5] = 0.0f;
	check(rsr_gemm(&ref, 1, q, 65, 32, y, work, sizeof(work), 1) == RSR_EINVAL, "args", "batch 65");
	check(rsr_gemv(&ref, 1, q, 32, y, work, sizeof(work), 1) == RSR_OK && y[0] == 0.0f, "args", "gemv");
	check(rsr_segment_get_row(seg, size, 1, (uint8_t *) work, 8) == RSR_EINVAL, "args", "get_row past nrows");
	check(rsr_segment_get_row(seg, size, 0, (uint8_t *) work, 7) == RSR_ENOMEM, "args", "get_row small buffer");
	check(rsr_gemv_rows(RSR_KIND_BINARY, rb, 1, 0, q, y) == RSR_EINVAL, "args", "rows dims = 0");
	check(rsr_gemv_rows(RSR_KIND_BINARY, rb, 0, 32, q, y) == RSR_OK, "args", "no rows");
	for (t = 1; t <= 8; t++)
	{
		rsr_choose((RsrKind) (1 + t % 2), 64u << t, 1000000, t * 8, &k, &layout);
		check(layout == RSR_LAYOUT_TILE && k == RSR_TILE_ROWS, "args", "rsr_choose");
		k = rsr_choose_bucket_k((RsrKind) (1 + t % 2), 64u << t, t * 8);
		check(k >= 1 && k <= RSR_MAX_K, "args", "rsr_choose_bucket_k");
	}
	check(strcmp(rsr_status_string(RSR_ECORRUPT), "corrupt segment") == 0, "args", "status string");
}

/* Compare two candidates for the sorted reference of top-n */
static const float *sort_scores;

/* qsort order: higher score first, then lower index; NaN last */
static int
cmp_idx(const void *a, const void *b)
{
	uint32_t	ia = *(const uint32_t *) a;
	uint32_t	ib = *(const uint32_t *) b;
	float		sa = sort_scores[ia];
	float		sb = sort_scores[ib];

	if (sa != sa || sb != sb)
		return (sa != sa) - (sb != sb);
	if (sa != sb)
		return sa > sb ? -1 : 1;
	return ia < ib ? -1 : 1;
}

/* Top-n against a full sort, single and batched, with ties and NaN */
static void
test_topn(void)
{
	int			t;

	for (t = 0; t < (quick ? 200 : 1000); t++)
	{
		size_t		count = rndn(t % 10 == 0 ? 5000 : 300);
		size_t		n = rndn(40);
		uint32_t	batch = 1 + rndn(6);
		float	   *Y = xmalloc(sizeof(float) * count * batch);
		float	   *s = xmalloc(sizeof(float) * count);
		uint32_t   *order = xmalloc(sizeof(uint32_t) * count);
		uint32_t   *idx = xmalloc(sizeof(uint32_t) * (n * (batch + 1) + 1));
		size_t	   *counts = xmalloc(sizeof(size_t) * batch);
		void	   *work = xmalloc(rsr_topn_work_size(n));
		size_t		i;
		uint32_t	b;

		for (i = 0; i < count * batch; i++)
		{
			uint32_t	r = rndn(20);

			Y[i] = r == 0 ? NAN : r < 8 ? (float) rndn(5) : (float) rnd() / 1e18f - 9.0f;
		}
		rsr_topn_batch(Y, count, batch, n, idx, counts, work);
		for (b = 0; b < batch; b++)
		{
			size_t		valid = 0;
			size_t		got;

			for (i = 0; i < count; i++)
			{
				s[i] = Y[i * batch + b];
				order[i] = (uint32_t) i;
				valid += s[i] == s[i];
			}
			sort_scores = s;
			qsort(order, count, sizeof(uint32_t), cmp_idx);
			got = rsr_topn(s, count, n, idx + (size_t) batch * n, work);
			check(got == (n < valid ? n : valid) && counts[b] == got, "topn", "count");
			for (i = 0; i < got; i++)
				check(idx[(size_t) batch * n + i] == order[i] && idx[(size_t) b * n + i] == order[i],
					  "topn", "differs from the sorted order");
		}
		free(Y);
		free(s);
		free(order);
		free(idx);
		free(counts);
		free(work);
	}
}

/* Entry point */
int
main(int argc, char **argv)
{
	uint64_t	seed = (uint64_t) time(NULL);
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
	}
	printf("seed %llu%s\n", (unsigned long long) seed, quick ? " (quick)" : "");
	rng_state = seed * 2654435761ULL + 1;
	rsr_init();
	printf("kernels: %s\n", rsr_kernel_name());

	test_args();
	test_topn();
	test_error_bound();
	test_corrupt();
	test_kernels();
	printf("%ld passed, 0 failed\n", npassed);
	return 0;
}
