/*-------------------------------------------------------------------------
 *
 * rsr_internal.h
 *	  Engine-private definitions: segment header format, byte access
 *	  helpers and the per-segment kernels shared by the scalar and SIMD
 *	  files.  Not part of the public API (the benchmark and the unit
 *	  tests include it to reach individual kernel variants).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_INTERNAL_H
#define RSR_INTERNAL_H

#include <string.h>

#include "rsr_core.h"

/*
 * Segment header, 32 bytes, little-endian, no alignment assumed:
 *	 0 magic (RSR_SEG_MAGIC)		 1 format version	 2 kind	  3 layout
 *	 4 k							 5 nrows			 6 dims (u16)
 *	 8 col_start (u16)			10 ncols (u16)		12 size (u32)
 *	16 ngroups (u16, layout a)	18 nperm (u16, layout a)
 *	20 reserved (u32, zero)		24 checksum (u64) of every other byte
 *
 * Payload, layout (a) RSR_LAYOUT_PERM:
 *	ngroups records {u16 len, u16 mask} (binary) or {u16 len, u16 pos,
 *	u16 neg} (ternary), then nperm u16 column offsets (relative to
 *	col_start), grouped by pattern; columns whose pattern is all zero are
 *	dropped, so nperm <= ncols and the group lengths sum to nperm.
 * Payload, layout (b) RSR_LAYOUT_BUCKET:
 *	one code per column, 1 byte when k <= 8 and u16 otherwise; bit r of a
 *	code is the element of row r.  Ternary stores the "+1" codes of all
 *	columns, then the "-1" codes.
 */
#define RSR_SEG_MAGIC 0x52		/* 'R' */
#define RSR_SEG_VERSION 1
#define RSR_SEG_HEADER 32

/* Columns of the transposed-query tile that the batched kernels keep per thread */
#define RSR_TILE_COLS 16384

/* Query lanes per pass of the batched bucket kernel (keeps buckets in L1) */
#define RSR_PASS_LANES 16

/* A segment whose header passed the structural checks */
typedef struct RsrSeg
{
	RsrKind		kind;
	RsrLayout	layout;
	uint32_t	k;				/* block height, 1..16 */
	uint32_t	nrows;			/* rows present, 1..k */
	uint32_t	dims;			/* row dimension */
	uint32_t	col_start;		/* first column covered */
	uint32_t	ncols;			/* columns covered */
	uint32_t	size;			/* bytes, header included */
	uint32_t	ngroups;		/* layout (a): group records */
	uint32_t	nperm;			/* layout (a): permuted columns */
	const uint8_t *payload;		/* bytes after the header */
} RsrSeg;

/* Read a little-endian u16 at any alignment */
static inline uint32_t
rsr_rd16(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8);
}

/* Read a little-endian u32 at any alignment */
static inline uint32_t
rsr_rd32(const uint8_t *p)
{
	return rsr_rd16(p) | (rsr_rd16(p + 2) << 16);
}

/* Write a little-endian u16 */
static inline void
rsr_wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

/* Bytes per column code of layout (b) */
static inline uint32_t
rsr_code_bytes(uint32_t k)
{
	return k <= 8 ? 1 : 2;
}

/*
 * Layout (b) kernels with buckets split the rows of a block with k > 8 into
 * two halves of h = ceil(k / 2) and k - h rows, each with its own bucket
 * array: the same column loads feed both (RSR with an effective height of
 * k / 2, at the storage cost of k), and the arrays stay small enough for L1.
 */
static inline uint32_t
rsr_split_bits(uint32_t k)
{
	return k <= 8 ? k : (k + 1) / 2;
}

/* Floats per lane of the bucket arrays of a block of height k */
static inline size_t
rsr_bucket_count(uint32_t k)
{
	uint32_t	h = rsr_split_bits(k);

	return ((size_t) 1 << h) + (k > h ? (size_t) 1 << (k - h) : 0);
}

/* Bytes of a layout (a) group record */
static inline uint32_t
rsr_group_bytes(RsrKind kind)
{
	return kind == RSR_KIND_TERNARY ? 6 : 4;
}

/* Element j of a packed plane (PostgreSQL bit order, MSB first) */
static inline uint32_t
rsr_bit(const uint8_t *plane, uint32_t j)
{
	return (plane[j >> 3] >> (7 - (j & 7))) & 1;
}

/* rsr_pack.c */
extern RsrStatus rsr_seg_parse(const uint8_t *seg, size_t size, RsrSeg *s);

/*
 * Per-segment kernels.  Single: acc[r] = partial product of row r over the
 * segment's columns, q indexed by absolute column.  Batched scatter: query
 * lane b of column c0 + i is qt[i * qt_stride + b] (the query tile
 * transposed by the driver), bucket c lane b is buckets[c * lanes + b];
 * the fold writes acc[r * acc_stride + b].
 * `buckets` holds rsr_bucket_count(k) * batch floats, zeroed by the
 * driver; the scatter adds rows [0, h) into the first 2^h buckets and rows
 * [h, nrows) into the next ones (h = rsr_split_bits(k)).
 */
typedef RsrStatus (*RsrSegGemvFn) (const RsrSeg *s, const float *q,
								   float *acc, float *buckets);
typedef void (*RsrScatterFn) (const RsrSeg *s, uint32_t c0, uint32_t c1,
							  const float *qt, size_t qt_stride,
							  uint32_t lanes, float *buckets);
typedef void (*RsrFoldFn) (float *buckets, uint32_t nbits, uint32_t lanes,
						   float *acc, size_t acc_stride);
typedef void (*RsrRowFn) (RsrKind kind, const uint8_t *row, uint32_t dims,
						  const float *q, float *out);

/* The set of kernels chosen by rsr_init() */
typedef struct RsrKernels
{
	const char *name;
	uint32_t	lanes;			/* the batched kernels pad B to a multiple */
	RsrSegGemvFn gemv_perm;		/* layout (a), single query */
	RsrSegGemvFn gemv_bucket;	/* layout (b), single query */
	RsrScatterFn scatter;		/* layout (b), batched: aggregate step */
	RsrFoldFn	fold;			/* layout (b), batched: RSR++ fold */
	RsrRowFn	row;			/* bit-packed row . q */
} RsrKernels;

/* rsr_gemv.c: scalar reference kernels */
extern RsrStatus rsr_seg_gemv_perm_scalar(const RsrSeg *s, const float *q,
										  float *acc, float *buckets);
extern RsrStatus rsr_seg_gemv_bucket_scalar(const RsrSeg *s, const float *q,
											float *acc, float *buckets);
extern void rsr_scatter_scalar(const RsrSeg *s, uint32_t c0, uint32_t c1,
							   const float *qt, size_t qt_stride,
							   uint32_t lanes, float *buckets);
extern void rsr_fold_scalar(float *buckets, uint32_t nbits, uint32_t lanes,
							float *acc, size_t acc_stride);
extern void rsr_row_scalar(RsrKind kind, const uint8_t *row, uint32_t dims,
						   const float *q, float *out);
extern const RsrKernels rsr_kernels_scalar;

/* rsr_simd.c: AVX2 kernels (x86-64 only; NULL name when not built) */
extern const RsrKernels *rsr_kernels_avx2(void);

/*
 * rsr_gemv.c: run the drivers with an explicit kernel set (the benchmark
 * and the tests compare variants this way).
 */
extern RsrStatus rsr_gemv_with(const RsrKernels *kern,
							   const RsrSegmentRef *segs, size_t nsegs,
							   const float *q, uint32_t dims, float *y,
							   void *work, size_t work_size, int threads);
extern RsrStatus rsr_gemm_with(const RsrKernels *kern,
							   const RsrSegmentRef *segs, size_t nsegs,
							   const float *Q, uint32_t batch, uint32_t dims,
							   float *Y, void *work, size_t work_size,
							   int threads);
extern RsrStatus rsr_gemv_rows_with(const RsrKernels *kern, RsrKind kind,
									const uint8_t *const *rows,
									uint32_t nrows, uint32_t dims,
									const float *q, float *y);

#endif							/* RSR_INTERNAL_H */
