/*-------------------------------------------------------------------------
 *
 * segment_fuzzer.c
 *	  libFuzzer target for segment decoding: rsr_segment_validate(), then
 *	  rsr_gemv(), rsr_gemm() and rsr_segment_get_row() on the bytes.
 *
 * The first input byte picks a mode:
 *	- even: the rest is a segment as read from disk.  Validate it, and run
 *	  the kernels and the row decoder on it whatever validation said (they
 *	  check headers themselves): nothing may read or write out of bounds;
 *	  what validates must decode.
 *	- odd: the rest describes rows and parameters; build a segment from
 *	  them.  It must validate with the same parameters, decode to the rows,
 *	  and score like the bit-packed baseline (within rsr_error_bound) with
 *	  the scalar and the dispatched kernels, single and batched.  Then the
 *	  remaining bytes flip bytes of the segment (checksum left stale, so
 *	  validation sees corruption while the kernels see what a torn page
 *	  would give them) and the first mode runs on the result.
 * Every buffer is allocated to its exact size, so ASan catches any byte
 * read or written past it.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/fuzz/segment_fuzzer.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsr_internal.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Widest segment the build mode makes (keeps each run fast) */
#define FUZZ_MAX_COLS 600

static void *work;
static size_t work_size;

/*
 * Queries are carved from the end of one global pool (globals have ASan
 * redzones), so a kernel reading past a query's last float is caught, and
 * no run pays for allocating and filling megabytes.
 */
#define POOL_FLOATS (3 * RSR_MAX_DIMS)
static float query_pool[POOL_FLOATS];

/* Set up the kernels, a workspace for k <= 16, batch <= 3, 1 thread, the pool */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint32_t	j;

	rsr_init();
	work_size = rsr_workspace_size(RSR_MAX_K, 3, 1);
	work = malloc(work_size);
	/* mixed signs and magnitudes, deterministic */
	for (j = 0; j < POOL_FLOATS; j++)
		query_pool[j] = (float) ((int) ((j * 2654435761u) >> 20) % 2001 - 1000) / 64.0f;
	return work == NULL;
}

/* `batch` queries of dims floats ending exactly at the pool's end */
static const float *
make_query(uint32_t dims, uint32_t batch)
{
	CHECK((size_t) dims * batch <= POOL_FLOATS);
	return query_pool + POOL_FLOATS - (size_t) dims * batch;
}

static uint8_t tile_query[1 << 20];

/*
 * A tile segment covering all columns through the tile kernels: phase-1
 * scores within the interval of the exact scores of its decoded rows, and
 * the exact top 3 equal to the best decoded rows.  Any other bytes: the
 * kernels answer a status, never read out of bounds.
 */
static void
tile_any(const uint8_t *seg, size_t size, uint32_t dims, int valid,
		 const RsrSegmentInfo *info)
{
	const float *q = make_query(dims, 1);
	RsrTileRef	ref = {seg, (uint32_t) size, 0, 0};
	const void *tqs[1] = {tile_query};
	double		A[RSR_TILE_ROWS];
	double		lo,
				hi;
	static uint8_t state[1 << 21];
	uint64_t	ids[3];
	double		scores[3];
	size_t		count;
	size_t		consumed;
	RsrKind		kind = valid ? info->kind : (size > 2 && seg[2] == 2 ? RSR_KIND_TERNARY : RSR_KIND_BINARY);
	RsrStatus	st;
	uint32_t	r;

	CHECK(rsr_tile_query_size(kind, dims) <= sizeof(tile_query));
	CHECK(rsr_tile_prepare(kind, q, dims, tile_query, sizeof(tile_query)) == RSR_OK);
	st = rsr_tile_scores(tqs, 1, &ref, 1, A, 1);
	if (!valid)
		return;
	CHECK((st == RSR_OK) == (info->col_start == 0 && info->ncols == dims));
	if (st != RSR_OK)
		return;
	rsr_tile_interval(tile_query, &lo, &hi);
	for (r = 0; r < info->nrows; r++)
	{
		uint8_t		row[2 * ((RSR_MAX_DIMS + 7) / 8)];
		double		S;

		CHECK(rsr_segment_get_row(seg, size, r, row, sizeof(row)) == RSR_OK);
		S = rsr_exact_score(kind, row, dims, q);
		CHECK(S - A[r] >= lo && S - A[r] <= hi);
	}
	CHECK(rsr_tile_state_size(kind, dims, 1, 3, 32) <= sizeof(state));
	CHECK(rsr_tile_init(state, sizeof(state), tqs, 1, 3, 32) == RSR_OK);
	CHECK(rsr_tile_feed(state, &ref, 1, 1, &consumed) == RSR_OK && consumed == 1);
	CHECK(rsr_tile_finish(state, ids, scores, &count) == RSR_OK);
	CHECK(count == (info->nrows < 3 ? info->nrows : 3));
	for (r = 0; r < count; r++)
	{
		uint8_t		row[2 * ((RSR_MAX_DIMS + 7) / 8)];

		CHECK(ids[r] < info->nrows);
		CHECK(rsr_segment_get_row(seg, size, (uint32_t) ids[r], row, sizeof(row)) == RSR_OK);
		CHECK(rsr_exact_score(kind, row, dims, q) == scores[r]);
		CHECK(r == 0 || scores[r] < scores[r - 1] ||
			  (scores[r] == scores[r - 1] && ids[r] > ids[r - 1]));
	}
}

/* Run everything that reads a segment on seg[0..size) */
static void
decode_any(const uint8_t *bytes, size_t size)
{
	uint8_t    *seg = malloc(size ? size : 1);
	RsrSegmentInfo info;
	RsrSegmentRef ref;
	RsrStatus	valid;
	uint32_t	dims = 1;
	const float *q;
	float		y[RSR_MAX_K];
	float		Y[RSR_MAX_K * 2];
	uint32_t	r;

	CHECK(seg != NULL);
	memcpy(seg, bytes, size);
	valid = rsr_segment_validate(seg, size, &info);
	CHECK(valid == RSR_OK || valid == RSR_ECORRUPT);
	if (valid == RSR_OK)
		CHECK(info.size <= size && info.nrows >= 1 && info.nrows <= info.k &&
			  info.col_start + info.ncols <= info.dims);

	/* The kernels parse the header themselves: match its dims to reach them */
	if (size >= 8)
		dims = rsr_rd16(seg + 6);
	if (dims < 1)
		dims = 1;
	q = make_query(dims, 2);
	ref.data = seg;
	ref.size = (uint32_t) size;
	ref.out = 0;
	memset(y, 0, sizeof(y));
	memset(Y, 0, sizeof(Y));
	if (rsr_gemv(&ref, 1, q, dims, y, work, work_size, 1) == RSR_OK)
		CHECK(valid == RSR_OK || valid == RSR_ECORRUPT);
	(void) rsr_gemv_with(&rsr_kernels_scalar, &ref, 1, q, dims, y, work, work_size, 1);
	(void) rsr_gemm(&ref, 1, q, 2, dims, Y, work, work_size, 1);
	if (valid == RSR_OK && info.layout != RSR_LAYOUT_TILE)
		CHECK(rsr_gemv(&ref, 1, q, dims, y, work, work_size, 1) == RSR_OK);
	if (size >= 4 && seg[3] == RSR_LAYOUT_TILE)
		tile_any(seg, size, dims, valid == RSR_OK, &info);

	/* Decode every row into a buffer of exactly the row's size */
	for (r = 0; r <= RSR_TILE_ROWS; r++)
	{
		size_t		cap = 1;
		uint8_t    *row;
		RsrStatus	st;

		if (valid == RSR_OK)
			cap = rsr_row_bytes(info.kind, info.ncols);
		else if (size >= 12)
			cap = rsr_row_bytes(RSR_KIND_TERNARY, rsr_rd16(seg + 10));
		row = malloc(cap ? cap : 1);
		CHECK(row != NULL);
		st = rsr_segment_get_row(seg, size, r, row, cap);
		if (valid == RSR_OK)
			CHECK((st == RSR_OK) == (r < info.nrows));
		free(row);
	}
	free(seg);
}

/* Take one byte from the input (0 once it is used up) */
static uint8_t
take(const uint8_t **p, size_t *n)
{
	uint8_t		b = 0;

	if (*n > 0)
	{
		b = **p;
		(*p)++;
		(*n)--;
	}
	return b;
}

/* Build a segment from fuzzed rows and check it against the baseline */
static void
build_and_check(const uint8_t *p, size_t n)
{
	RsrKind		kind = (take(&p, &n) & 1) ? RSR_KIND_TERNARY : RSR_KIND_BINARY;
	RsrLayout	layout = (RsrLayout) (take(&p, &n) % 3 + 1);
	uint32_t	k = layout == RSR_LAYOUT_TILE ? RSR_TILE_ROWS : take(&p, &n) % RSR_MAX_K + 1;
	uint32_t	nrows = take(&p, &n) % k + 1;
	uint32_t	ncols = (take(&p, &n) | (take(&p, &n) << 8)) % FUZZ_MAX_COLS + 1;
	uint32_t	col_start = take(&p, &n) % 64 & (layout == RSR_LAYOUT_TILE ? ~7u : ~0u);
	uint32_t	dims = col_start + ncols + take(&p, &n) % 64;
	size_t		rb = rsr_row_bytes(kind, dims);
	size_t		plane = (dims + 7) / 8;
	uint8_t    *rowbuf = calloc(RSR_TILE_ROWS, rb);
	const uint8_t *rows[RSR_TILE_ROWS];
	size_t		cap = rsr_segment_max_size(kind, layout, k, ncols);
	uint8_t    *seg = malloc(cap);
	size_t		segsize = 0;
	RsrSegmentInfo info;
	RsrSegmentRef ref;
	RsrStatus	st;
	const float *q;
	float	   *qm;
	float		y[RSR_MAX_K];
	float		yref[RSR_MAX_K];
	float		Y[RSR_MAX_K * 3];
	double		abs_sum[3] = {0, 0, 0};
	uint32_t	r;
	uint32_t	j;
	uint32_t	b;

	CHECK(rowbuf != NULL && seg != NULL);
	CHECK(rsr_segment_max_cols(kind, layout, k, cap) >= ncols);

	/* Row bytes from the input, repeated; ternary planes made disjoint */
	for (r = 0; r < nrows; r++)
	{
		uint8_t    *row = rowbuf + r * rb;

		for (j = 0; j < rb; j++)
			row[j] = n > 0 ? p[(r * rb + j) % n] : 0;
		if (kind == RSR_KIND_TERNARY)
			for (j = 0; j < plane; j++)
				row[plane + j] &= (uint8_t) ~row[j];
		if (dims % 8)
		{
			row[plane - 1] &= (uint8_t) (0xFF << (8 - dims % 8));
			if (kind == RSR_KIND_TERNARY)
				row[2 * plane - 1] &= (uint8_t) (0xFF << (8 - dims % 8));
		}
		rows[r] = row;
	}
	/* The bytes after the rows flip bytes of the built segment */
	{
		size_t		used = (size_t) nrows * rb < n ? (size_t) nrows * rb : n;

		p += used;
		n -= used;
	}

	st = rsr_segment_build(kind, layout, k, rows, nrows, dims, col_start,
						   ncols, seg, cap, &segsize);
	CHECK(st == RSR_OK && segsize <= cap);
	CHECK(rsr_segment_validate(seg, segsize, &info) == RSR_OK);
	CHECK(info.kind == kind && info.layout == layout && info.k == k &&
		  info.nrows == nrows && info.dims == dims &&
		  info.col_start == col_start && info.ncols == ncols &&
		  info.size == segsize);
	/* One byte short never validates */
	CHECK(rsr_segment_validate(seg, segsize - 1, NULL) == RSR_ECORRUPT);

	/* Rows decode to their slice [col_start, col_start + ncols) */
	for (r = 0; r < nrows; r++)
	{
		size_t		cb = rsr_row_bytes(kind, ncols);
		size_t		cplane = (ncols + 7) / 8;
		uint8_t    *row = malloc(cb);
		uint32_t	pl;

		CHECK(row != NULL);
		CHECK(rsr_segment_get_row(seg, segsize, r, row, cb) == RSR_OK);
		CHECK(rsr_segment_get_row(seg, segsize, r, row, cb - 1) == RSR_ENOMEM);
		CHECK(rsr_segment_get_row(seg, segsize, r, row, cb) == RSR_OK);
		for (pl = 0; pl < (kind == RSR_KIND_TERNARY ? 2u : 1u); pl++)
			for (j = 0; j < ncols; j++)
				CHECK(rsr_bit(row + pl * cplane, j) ==
					  rsr_bit(rows[r] + pl * plane, col_start + j));
		free(row);
	}

	if (layout == RSR_LAYOUT_TILE)
	{
		/* the tile kernels on it; the float kernels refuse it */
		tile_any(seg, segsize, dims, 1, &info);
		ref.data = seg;
		ref.size = (uint32_t) segsize;
		ref.out = 0;
		CHECK(rsr_gemv(&ref, 1, make_query(dims, 1), dims, y, work, work_size, 1) == RSR_EINVAL);
		goto corrupt;
	}

	/* Scores: the baseline sees the query zeroed outside the columns */
	q = make_query(dims, 3);
	qm = calloc((size_t) dims * 3, sizeof(float));
	CHECK(qm != NULL);
	for (b = 0; b < 3; b++)
		for (j = col_start; j < col_start + ncols; j++)
		{
			qm[b * dims + j] = q[b * dims + j];
			abs_sum[b] += fabs(q[b * dims + j]);
		}
	ref.data = seg;
	ref.size = (uint32_t) segsize;
	ref.out = 0;
	for (b = 0; b < 3; b++)
	{
		CHECK(rsr_gemv_rows(kind, rows, nrows, dims, qm + b * dims, yref) == RSR_OK);
		memset(y, 0, sizeof(y));
		CHECK(rsr_gemv(&ref, 1, q + b * dims, dims, y, work, work_size, 1) == RSR_OK);
		for (r = 0; r < nrows; r++)
			CHECK(fabs((double) y[r] - yref[r]) <= 2 * rsr_error_bound(dims, abs_sum[b]));
		memset(y, 0, sizeof(y));
		CHECK(rsr_gemv_with(&rsr_kernels_scalar, &ref, 1, q + b * dims, dims,
							y, work, work_size, 1) == RSR_OK);
		for (r = 0; r < nrows; r++)
			CHECK(fabs((double) y[r] - yref[r]) <= 2 * rsr_error_bound(dims, abs_sum[b]));
	}
	memset(Y, 0, sizeof(Y));
	CHECK(rsr_gemm(&ref, 1, q, 3, dims, Y, work, work_size, 1) == RSR_OK);
	for (b = 0; b < 3; b++)
	{
		CHECK(rsr_gemv_rows(kind, rows, nrows, dims, qm + b * dims, yref) == RSR_OK);
		for (r = 0; r < nrows; r++)
			CHECK(fabs((double) Y[r * 3 + b] - yref[r]) <= 2 * rsr_error_bound(dims, abs_sum[b]));
	}
	free(qm);

	/* Corrupt: pairs (offset, xor) from the rest of the input */
corrupt:
	if (n >= 2)
	{
		while (n >= 2)
		{
			size_t		off = (size_t) take(&p, &n) * 257 % segsize;

			seg[off] ^= take(&p, &n) | 1;
		}
		decode_any(seg, segsize);
	}
	free(seg);
	free(rowbuf);
}

/* Run one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		build_and_check(data + 1, size - 1);
	else
		decode_any(data + 1, size - 1);
	return 0;
}
