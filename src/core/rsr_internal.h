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

#include <stdbool.h>
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
 * Payload, layout (c) RSR_LAYOUT_TILE (k = 32, col_start a multiple of 8):
 *	ceil(ncols / 8) column bytes, each 32 bytes per plane: byte b of row i
 *	(PostgreSQL bit order, bits past ncols zero) at payload[(b * P + p) * 32
 *	+ i] for plane p of P (1 binary; 2 ternary: "+1" then "-1"), so the
 *	planes of one column byte are adjacent; rows past nrows are zero.
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
	uint32_t	k;				/* block height, 1..16, or 32 (tile) */
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

/* Valid block height of a layout: 1..RSR_MAX_K, or exactly 32 for tiles */
static inline int
rsr_k_valid(RsrLayout layout, uint32_t k)
{
	if (layout == RSR_LAYOUT_TILE)
		return k == RSR_TILE_ROWS;
	return (layout == RSR_LAYOUT_PERM || layout == RSR_LAYOUT_BUCKET) &&
		k >= 1 && k <= RSR_MAX_K;
}

/* Payload bytes of a tile segment of ncols columns */
static inline size_t
rsr_tile_payload_bytes(RsrKind kind, uint32_t ncols)
{
	return ((size_t) ncols + 7) / 8 * RSR_TILE_ROWS *
		(kind == RSR_KIND_TERNARY ? 2 : 1);
}

/* rsr_pack.c */
extern RsrStatus rsr_seg_parse(const uint8_t *seg, size_t size, RsrSeg *s);

/* rsr_tile.c: the tile layout's payload */
extern void rsr_tile_build(RsrKind kind, const uint8_t *const *rows,
						   uint32_t nrows, uint32_t dims, uint32_t col_start,
						   uint32_t ncols, uint8_t *payload);
extern RsrStatus rsr_tile_check(const RsrSeg *s);
extern RsrStatus rsr_tile_range_parse(const uint8_t *seg, size_t size,
									  uint32_t dims, uint32_t col,
									  uint32_t *nrows, RsrSeg *s);
extern void rsr_tile_get_row(const RsrSeg *s, uint32_t r, uint8_t *row);

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

/*
 * Tile kernels (rsr_tile.c, rsr_tile_search.c, rsr_tile_simd.c).
 *
 * A prepared query: this header, then the quantized tables (16 bytes per
 * 4-column group g, entry p = the sum of the columns 4g + t whose bit
 * 3 - t of p is set, so a column byte's high nibble indexes group 2b and
 * its low nibble group 2b + 1), then the query's floats.
 */
#define RSR_TILE_QMAGIC 0x54515259u	/* prepared query */
#define RSR_TILE_M 127				/* largest table entry */
#define RSR_TILE_MAX_HEAVY 8		/* heavy columns, binary (ternary: 4) */

typedef struct RsrTileQuery
{
	uint32_t	magic;
	RsrKind		kind;
	uint32_t	dims;
	uint32_t	ngroups;		/* table groups, ceil(dims / 4) */
	uint32_t	nheavy;			/* heavy columns, scored outside the table */
	uint32_t	heavy[RSR_TILE_MAX_HEAVY];	/* their columns */
	double		s;				/* table unit */
	double		C;				/* sum of the groups' negative parts */
	double		lo;				/* S - A in [lo, hi] */
	double		hi;
	double		hi_cmp;			/* hi plus the rounding of a comparison */
	int64_t		W;				/* pruning width in table units */
	size_t		tab_off;		/* bytes from the header to the tables */
	size_t		q_off;			/* bytes from the header to the floats */
	size_t		size;			/* bytes in all */
	int64_t		hq[256];		/* heavy part of a row in table units, by
								 * its heavy mask */
} RsrTileQuery;

static inline const uint8_t *
rsr_tile_tab(const RsrTileQuery *tq)
{
	return (const uint8_t *) tq + tq->tab_off;
}

static inline const float *
rsr_tile_q(const RsrTileQuery *tq)
{
	return (const float *) ((const uint8_t *) tq + tq->q_off);
}

/* One column range of a block of rows: a tile payload of nb column bytes */
typedef struct RsrTilePart
{
	const uint8_t *tile;
	uint32_t	nb;				/* column bytes */
	uint32_t	tab;			/* offset of its first group's table */
} RsrTilePart;

/*
 * Lookup kernel: for up to 4 queries, I[b][i] += the table sum of row i over
 * the parts of a block (ternary: "+1" minus "-1"), the tables of query b at
 * tabs[b] + part.tab.
 */
typedef void (*RsrTileFn) (const RsrTilePart *parts, uint32_t nparts,
						   int ternary, const uint8_t *const *tabs,
						   uint32_t nq, int32_t (*I)[RSR_TILE_ROWS]);

/*
 * Exact-sum kernel (rsr_tile_exact.c): acc[i] += row i's sum over the parts
 * of a block of tab[part.tab + 32 b + hi nibble] + tab[... + 16 + lo
 * nibble] ("+1" minus "-1" for ternary), in doubles whose sums are all
 * exact, so any order gives the same bits.
 */
typedef void (*RsrTileExactFn) (const RsrTilePart *parts, uint32_t nparts,
								int ternary, const double *tab,
								double *acc);

typedef struct RsrTileKernels
{
	const char *name;
	RsrTileFn	lookup;
	RsrTileExactFn exact;
} RsrTileKernels;

/* Dispatch levels, in the order rsr_init() prefers the last available */
enum
{
	RSR_TILE_SCALAR, RSR_TILE_AVX2, RSR_TILE_AVX512BW, RSR_TILE_AVX512VBMI,
	RSR_TILE_NLEVELS
};

/* rsr_tile_simd.c: the kernels of a level, NULL when the CPU lacks it */
extern const RsrTileKernels *rsr_tile_kernels(int level);
extern const RsrTileKernels *rsr_tile_active;
extern void rsr_tile_dispatch(void);

/* rsr_tile_search.c: run with an explicit kernel set (tests, benchmark) */
extern void rsr_tile_set_kernels(void *state, const RsrTileKernels *kern);
extern RsrStatus rsr_tile_scores_with(const RsrTileKernels *kern,
									  const void *const *tq, uint32_t nq,
									  const RsrTileRef *refs, size_t nrefs,
									  double *A, int threads);

/*
 * rsr_tile_exact.c: the tables of exact sums of one query (workspace of
 * rsr_tile_exact_work_size()); true when they give the operator's score
 */
extern bool rsr_tile_exact_tables(const float *q, uint32_t dims, double *tab);
extern RsrStatus rsr_tile_exact_with(const RsrTileKernels *kern,
									 const RsrSegmentRef *segs, size_t nsegs,
									 const float *Q, uint32_t batch,
									 uint32_t dims, float *Yf, double *Yd,
									 void *work, size_t work_size,
									 int threads);

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
