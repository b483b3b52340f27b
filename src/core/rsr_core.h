/*-------------------------------------------------------------------------
 *
 * rsr_core.h
 *	  Public interface of the RSR engine: packing, segment preprocessing,
 *	  matrix-vector kernels (single and batched) and top-n selection.
 *
 * The engine is plain C11: it includes no PostgreSQL header, never prints,
 * exits or aborts, keeps no global state except the CPU feature flags set
 * once by rsr_init(), and allocates nothing: the caller owns every buffer.
 * Threads (OpenMP) run only inside the kernels, on memory the caller
 * prepared, and the thread count is an argument.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_CORE_H
#define RSR_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C"
{
#endif

/* Hard limits, checked where data enters */
#define RSR_MAX_DIMS 65535		/* elements per row */
#define RSR_MAX_K 16			/* rows per segment (block height) */
#define RSR_MAX_BATCH 64		/* query vectors per batched kernel call */
#define RSR_TILE_ROWS 32		/* rows of a tile segment (its k) */

typedef enum RsrStatus
{
	RSR_OK = 0,
	RSR_EINVAL,					/* bad argument (k, dims, sizes, NULL) */
	RSR_ENOMEM,					/* caller's buffer or workspace too small */
	RSR_ECORRUPT				/* segment bytes fail validation */
} RsrStatus;

typedef enum RsrKind
{
	RSR_KIND_BINARY = 1,		/* elements 0/1 */
	RSR_KIND_TERNARY = 2		/* elements -1/0/+1 */
} RsrKind;

typedef enum RsrLayout
{
	RSR_LAYOUT_PERM = 1,		/* (a) the papers' layout: column permutation
								 * by counting sort + group table */
	RSR_LAYOUT_BUCKET = 2,		/* (b) block-transposed column codes + dense
								 * buckets + RSR++ fold */
	RSR_LAYOUT_TILE = 3			/* (c) 32-row byte-transposed tile, scored by
								 * the two-phase lookup kernels (rsr_tile_*) */
} RsrLayout;

/*
 * Packed rows.
 *
 * A row is a byte string in PostgreSQL's bit(n) order: element j is bit
 * (7 - j % 8) of byte j / 8 (most significant bit first); padding bits past
 * the last element are zero.
 *	- binary: rsr_row_bytes() = ceil(dims / 8) bytes, set bit = 1;
 *	- ternary: two planes of ceil(dims / 8) bytes each, the "+1" plane first,
 *	  then the "-1" plane; a bit set in both planes is invalid.
 * This is exactly the data of a PostgreSQL varbit and of a tvec, so the glue
 * hands the engine pointers into detoasted datums without copying.
 */
extern size_t rsr_row_bytes(RsrKind kind, uint32_t dims);

/*
 * Segments.
 *
 * A segment is the RSR preprocessing of one block of 1..k rows restricted to
 * the columns [col_start, col_start + ncols): a self-contained, position
 * independent byte string (no pointers, no alignment requirement) that
 * starts with a fixed header.  Wide rows are split into several segments
 * over column ranges; their partial sums add up.  Layouts (a) and (b) take
 * k in 1..RSR_MAX_K; layout (c), the tile, takes k = RSR_TILE_ROWS and a
 * col_start that is a multiple of 8, and is scored only by rsr_tile_*
 * (rsr_gemv and rsr_gemm answer RSR_EINVAL).
 */
typedef struct RsrSegmentInfo
{
	RsrKind		kind;
	RsrLayout	layout;
	uint32_t	k;				/* block height the segment was built for */
	uint32_t	nrows;			/* rows present, 1..k */
	uint32_t	dims;			/* full row dimension */
	uint32_t	col_start;		/* first column covered */
	uint32_t	ncols;			/* columns covered */
	uint32_t	size;			/* total bytes, header included */
} RsrSegmentInfo;

/* Upper bound of the bytes of a segment with these parameters */
extern size_t rsr_segment_max_size(RsrKind kind, RsrLayout layout,
								   uint32_t k, uint32_t ncols);

/* Largest ncols whose segment is guaranteed to fit in max_bytes (0: none) */
extern uint32_t rsr_segment_max_cols(RsrKind kind, RsrLayout layout,
									 uint32_t k, size_t max_bytes);

/*
 * Preprocess rows[0..nrows) (packed rows of `dims` elements, nrows <= k)
 * over the columns [col_start, col_start + ncols) into out[0..out_cap).
 * On success *out_size is the segment's size.  RSR_ENOMEM when out_cap is
 * too small, RSR_EINVAL for bad parameters or an invalid ternary element.
 * Layout (a) sorts in the output buffer, so it needs 32 + 4 * ncols bytes
 * of out_cap (never more than rsr_segment_max_size()) even when the
 * finished segment is smaller.
 */
extern RsrStatus rsr_segment_build(RsrKind kind, RsrLayout layout, uint32_t k,
								   const uint8_t *const *rows, uint32_t nrows,
								   uint32_t dims, uint32_t col_start,
								   uint32_t ncols, uint8_t *out,
								   size_t out_cap, size_t *out_size);

/*
 * Check every field and offset of the segment at seg[0..size) (which may be
 * arbitrary bytes read back from disk) and fill *info.  RSR_ECORRUPT when
 * anything is out of range or inconsistent.  A validated segment is safe to
 * pass to the kernels.
 */
extern RsrStatus rsr_segment_validate(const uint8_t *seg, size_t size,
									  RsrSegmentInfo *info);

/* Decode row r of a segment back into packed form (its columns only) */
extern RsrStatus rsr_segment_get_row(const uint8_t *seg, size_t size,
									 uint32_t r, uint8_t *row,
									 size_t row_cap);

/*
 * Tile segments only: write the packed row `row` (all `dims` columns of the
 * segment's row shape) as row r of the segment at seg[0..size), in place,
 * and make it the segment's last row: rows past r are cleared, the row
 * count becomes r + 1 and the checksum is recomputed.  r may be at most the
 * segment's row count (append, or overwrite the last row or an earlier
 * one).  The segment keeps its size, so an insert changes a few bytes of a
 * page.  RSR_EINVAL for another layout, r out of range or an invalid
 * ternary element; RSR_ECORRUPT when the header does not parse.
 */
extern RsrStatus rsr_segment_put_row(uint8_t *seg, size_t size, uint32_t r,
									 const uint8_t *row);

/*
 * Tile segments only: replace row r (below the segment's row count) with
 * `row` in place, keeping the other rows and the count; the checksum is
 * recomputed.  An index fills the slot of a dead row with it.  Errors as
 * rsr_segment_put_row(), and RSR_EINVAL for r at or past the count.
 */
extern RsrStatus rsr_segment_set_row(uint8_t *seg, size_t size, uint32_t r,
									 const uint8_t *row);

/*
 * Kernels.
 *
 * A set of segments is scored by listing them as RsrSegmentRef.  Segment i
 * adds its partial results for rows 0..nrows-1 into y[out + r] (single) or
 * Y[(out + r) * batch + b] (batched); the caller zeroes y first.  Segments
 * sharing an `out` (column ranges of one block) must be adjacent in the
 * array: the kernels never give two threads the same output.  Every segment
 * is header-checked (RSR_ECORRUPT on failure, never an out-of-bounds read).
 *
 * `work` is caller memory of at least rsr_workspace_size() bytes for the
 * given maximum k, batch and threads; the kernels allocate nothing.
 * Accuracy: float32 accumulation; each result has absolute error at most
 * rsr_error_bound(dims, sum_j |q_j|).  Query values must be finite
 * (RSR_EINVAL otherwise).  The kernels write y[out .. out + nrows) with
 * nrows from the segment header, so segments read back from disk must pass
 * rsr_segment_validate() (checksum included) or y must have k entries of
 * room past every `out`.
 */
typedef struct RsrSegmentRef
{
	const uint8_t *data;		/* segment bytes */
	uint32_t	size;			/* segment bytes available */
	uint32_t	out;			/* output index of the segment's row 0 */
} RsrSegmentRef;

extern size_t rsr_workspace_size(uint32_t max_k, uint32_t batch, int threads);

/* y += M q for the rows held in segs (one query of `dims` floats) */
extern RsrStatus rsr_gemv(const RsrSegmentRef *segs, size_t nsegs,
						  const float *q, uint32_t dims, float *y,
						  void *work, size_t work_size, int threads);

/* Y += M Q^T for `batch` queries Q[b * dims + j]; Y is row-major [row][batch] */
extern RsrStatus rsr_gemm(const RsrSegmentRef *segs, size_t nsegs,
						  const float *Q, uint32_t batch, uint32_t dims,
						  float *Y, void *work, size_t work_size,
						  int threads);

/*
 * Exact bit-packed baseline on raw packed rows (rows not yet in a segment,
 * single-row operators): y[i] = row_i . q for i < nrows.
 */
extern RsrStatus rsr_gemv_rows(RsrKind kind, const uint8_t *const *rows,
							   uint32_t nrows, uint32_t dims, const float *q,
							   float *y);

/* Batched form: Y[i * batch + b] = row_i . Q[b] */
extern RsrStatus rsr_gemm_rows(RsrKind kind, const uint8_t *const *rows,
							   uint32_t nrows, uint32_t dims, const float *Q,
							   uint32_t batch, float *Y);

/* Absolute error bound of a float32 kernel result: depends on dims and ||q||_1 */
extern double rsr_error_bound(uint32_t dims, double q_abs_sum);

/*
 * Top-n: indexes of the n largest scores[0..count), best first, ties broken
 * by the lower index; NaN scores are never selected.  Returns how many were
 * written (min(n, count of non-NaN)).  `work` holds at least
 * rsr_topn_work_size(n) bytes.
 */
extern size_t rsr_topn_work_size(size_t n);
extern size_t rsr_topn(const float *scores, size_t count, size_t n,
					   uint32_t *idx, void *work);

/* Batched top-n over Y[row][batch]: idx[b * n + i]; counts[b] as above */
extern void rsr_topn_batch(const float *Y, size_t count, uint32_t batch,
						   size_t n, uint32_t *idx, size_t *counts,
						   void *work);

/*
 * Exact top-n over tile segments (layout (c), rsr_tile.c): the two-phase
 * lookup kernels.  See docs/tile-kernel.md for the method and the bound.
 *
 * Query preparation.  rsr_tile_prepare() turns one query of `dims` finite
 * floats into a prepared query in caller memory of rsr_tile_query_size()
 * bytes (no pointers inside; reusable by any number of states and
 * threads): per 4-column group the 16 partial sums quantized to bytes,
 * up to 8 (binary) / 4 (ternary) heavy columns scored outside the table,
 * and the proven interval: for every row r,
 *	  S(r) - A(r) lies in [lo, hi]
 * where S(r) is the exact score (the double sum, in element order, of
 * (double) q_j over the "+1" elements minus over the "-1" elements: the
 * definition of the operator <#>) and A(r) the phase-1 score that
 * rsr_tile_scores() returns.  rsr_tile_interval() reads lo and hi.
 */
extern size_t rsr_tile_query_size(RsrKind kind, uint32_t dims);
extern RsrStatus rsr_tile_prepare(RsrKind kind, const float *q, uint32_t dims,
								  void *tq, size_t tq_size);
extern void rsr_tile_interval(const void *tq, double *lo, double *hi);

/*
 * A tile segment in a stream.  Row r of the block gets the id `id + r`.
 * Wide rows are split into column ranges: the segments of one block (same
 * id) must be adjacent, in column order, and cover [0, dims) exactly.
 * Rows whose bit is set in `dead` (bit r = row r; read from the block's
 * first segment) are skipped.  The block's rows are those of its first
 * segment; a later segment may hold more (an index insert writes the other
 * column ranges before the first), and its extra rows are ignored.
 */
typedef struct RsrTileRef
{
	const uint8_t *data;		/* segment bytes */
	uint32_t	size;			/* segment bytes available */
	uint32_t	dead;			/* rows to skip */
	uint64_t	id;				/* id of the block's row 0 */
} RsrTileRef;

/*
 * Streaming exact top-n for 1..RSR_MAX_BATCH prepared queries of the same
 * kind and dims.  The state lives in caller memory of rsr_tile_state_size()
 * bytes: O(nq * (n + cand_cap * row bytes)), never O(rows).
 *	- rsr_tile_init(): start a search for the n best rows (n >= 1) of each
 *	  query; the prepared queries must outlive the state.
 *	- rsr_tile_feed(): phase 1 over refs[0..nrefs) with `threads` threads:
 *	  integer lookups, the running n-th best bound, and a copy of the bits
 *	  of every row that can still reach the top n (candidates), so the
 *	  segments may be released as soon as it returns.  Call it any number
 *	  of times (one batch of pages each).  *consumed = refs processed: all
 *	  of them, or on RSR_OK fewer when refs end inside a block (column
 *	  ranges): pass that block's segments again with the rest of it; on
 *	  RSR_ENOMEM (more candidates than cand_cap) it stops at a block
 *	  boundary: move the state to larger memory with rsr_tile_resize() and
 *	  call feed again with refs + *consumed.  Nothing is lost.
 *	- rsr_tile_finish(): phase 2: rescore the candidates exactly, best
 *	  candidate bound first, and stop at the first whose bound is below the
 *	  exact n-th score.  Writes ids[b * n + i] and scores[b * n + i] (exact
 *	  double scores, best first, ties by the lower id) and counts[b] =
 *	  min(n, live rows fed).  The state may be fed and finished again.
 * Segments are header-checked (RSR_ECORRUPT), not checksummed: segments
 * read back from disk must pass rsr_segment_validate() first.
 */
extern size_t rsr_tile_state_size(RsrKind kind, uint32_t dims, uint32_t nq,
								  size_t n, size_t cand_cap);
extern RsrStatus rsr_tile_init(void *state, size_t state_size,
							   const void *const *tq, uint32_t nq, size_t n,
							   size_t cand_cap);
extern RsrStatus rsr_tile_feed(void *state, const RsrTileRef *refs,
							   size_t nrefs, int threads, size_t *consumed);
extern RsrStatus rsr_tile_resize(const void *old_state, void *state,
								 size_t state_size, size_t cand_cap);
extern RsrStatus rsr_tile_finish(void *state, uint64_t *ids, double *scores,
								 size_t *counts);

/*
 * Threads a search uses from now on: `threads`, or 1 once its threads were
 * found to cost more than they saved (they started late on a busy
 * machine; rsr_tile_feed() then continues alone, with the same result).
 */
extern int	rsr_tile_threads(const void *state, int threads);

/* Candidates the state of a search holds (the largest count per query) */
extern size_t rsr_tile_candidates(const void *state);

/*
 * Phase-1 scores of every live row: A[(id + r) * nq + b] for query b, with
 * S - A in [lo, hi] of rsr_tile_interval().  Dead rows are not written.
 */
extern RsrStatus rsr_tile_scores(const void *const *tq, uint32_t nq,
								 const RsrTileRef *refs, size_t nrefs,
								 double *A, int threads);

/*
 * Exact scores of whole blocks of tile segments listed as RsrSegmentRef
 * (the segments of a block adjacent, same out, covering [0, dims)): the
 * operator's double sum in element order, bit for bit, written (not added)
 * to Yd[(out + r) * batch + b], or rounded to float to Yf[...] (exactly
 * one of Yd, Yf non-NULL; floats are within the float kernels' bound, for
 * their callers that meet a tile index).  Fast (4-column tables of exact
 * sums, any order) for every query whose sums cannot round: sum |q_j| <=
 * 2^52 times the lowest bit set in any q_j (rsr_tile_exact.c has the
 * proof); other queries are summed row by row in element order.  `work`
 * holds rsr_tile_exact_work_size(dims) bytes.
 */
extern size_t rsr_tile_exact_work_size(uint32_t dims);
extern RsrStatus rsr_tile_exact(const RsrSegmentRef *segs, size_t nsegs,
								const float *Q, uint32_t batch, uint32_t dims,
								float *Yf, double *Yd, void *work,
								size_t work_size, int threads);

/* Exact score of a packed row (the reference the kernels are checked against) */
extern double rsr_exact_score(RsrKind kind, const uint8_t *row, uint32_t dims,
							  const float *q);

/* The tile kernels rsr_init() chose: "avx512vbmi", "avx512bw", "avx2", "scalar" */
extern const char *rsr_tile_kernel_name(void);

/*
 * Choice of k and layout for (kind, dims, rows, batch), from the table of
 * measurements made by `make bench` (see rsr_choose.c for the command that
 * regenerates it).
 */
extern void rsr_choose(RsrKind kind, uint32_t dims, uint64_t rows,
					   uint32_t batch, uint32_t *k, RsrLayout *layout);

/* The layout (b) block height the float kernels run fastest with */
extern uint32_t rsr_choose_bucket_k(RsrKind kind, uint32_t dims,
									uint32_t batch);

/* CPU dispatch: call once (idempotent); names the kernel that will run */
extern void rsr_init(void);
extern const char *rsr_kernel_name(void);

extern const char *rsr_status_string(RsrStatus status);

/*
 * tvec input (rsr_tvec_parse.c): the checks behind tvec_in and tvec_recv,
 * free of PostgreSQL so that the fuzz targets run them directly.  On
 * RSR_EINVAL, res->error says which check failed; RSR_TVEC_BAD_ELEMENT
 * sets elem (1-based) and the element's text lit[off..off+len),
 * RSR_TVEC_BOTH_PLANES sets elem, RSR_TVEC_JUNK the junk's offset.
 */
typedef enum RsrTvecError
{
	RSR_TVEC_OK = 0,
	RSR_TVEC_NO_BRACKET,		/* text does not start with "[" */
	RSR_TVEC_NO_DIMS,			/* no element (binary: dim < 1) */
	RSR_TVEC_TOO_MANY_DIMS,		/* more than RSR_MAX_DIMS elements */
	RSR_TVEC_SYNTAX,			/* any other malformed text */
	RSR_TVEC_BAD_ELEMENT,		/* an element that is not -1, 0 or 1 */
	RSR_TVEC_JUNK,				/* text after the closing bracket */
	RSR_TVEC_DIM_MISMATCH,		/* dim differs from expected_dim */
	RSR_TVEC_NO_SPACE,			/* the caller's element buffer is full */
	RSR_TVEC_SHORT,				/* binary: message shorter than its dim */
	RSR_TVEC_BOTH_PLANES,		/* binary: element set in both planes */
	RSR_TVEC_PADDING			/* binary: padding bit set */
} RsrTvecError;

typedef struct RsrTvecParse
{
	RsrTvecError error;
	uint32_t	dim;			/* elements (as read, for binary errors) */
	uint32_t	elem;			/* 1-based element of BAD_ELEMENT, BOTH_PLANES */
	size_t		off;			/* text: error span; binary: planes offset */
	size_t		len;			/* text: error span; binary: bytes consumed */
} RsrTvecParse;

/* Text form: x[0..dim) = elements; expected_dim -1 for any */
extern RsrStatus rsr_tvec_parse_text(const char *lit, size_t len,
									 int32_t expected_dim, int8_t *x,
									 size_t x_cap, RsrTvecParse *res);

/* Binary form: big-endian int32 dim, plus plane, minus plane */
extern RsrStatus rsr_tvec_parse_binary(const uint8_t *msg, size_t len,
									   int32_t expected_dim,
									   RsrTvecParse *res);

/*
 * safetensors files (rsr_safetensors.c): the header parser and the row
 * conversions behind rsr_safetensors_*(), free of PostgreSQL so that the
 * fuzz target runs them directly.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON (an
 * object mapping each tensor name to {"dtype", "shape", "data_offsets"},
 * plus an optional "__metadata__" entry, which is skipped), then the data;
 * data_offsets [begin, end) count from the first byte after the header.
 * Limits: N <= RSR_ST_MAX_HEADER (the format's own cap, so every valid file
 * passes), at most RSR_ST_MAX_NDIM dimensions, JSON nested at most
 * RSR_ST_MAX_DEPTH deep inside skipped values.  The parser reads exactly
 * the bytes given, never past them, and allocates nothing.
 */
#define RSR_ST_MAX_HEADER 100000000	/* header bytes */
#define RSR_ST_MAX_NDIM 16			/* dimensions per tensor */
#define RSR_ST_MAX_DEPTH 32			/* nesting of skipped JSON values */

typedef enum RsrStDtype
{
	RSR_ST_BOOL = 1,
	RSR_ST_U8,
	RSR_ST_I8,
	RSR_ST_F8_E5M2,
	RSR_ST_F8_E4M3,
	RSR_ST_F8_E8M0,
	RSR_ST_I16,
	RSR_ST_U16,
	RSR_ST_F16,
	RSR_ST_BF16,
	RSR_ST_I32,
	RSR_ST_U32,
	RSR_ST_F32,
	RSR_ST_I64,
	RSR_ST_U64,
	RSR_ST_F64,
	RSR_ST_C64,
	RSR_ST_F4,
	RSR_ST_F6_E2M3,
	RSR_ST_F6_E3M2
} RsrStDtype;

typedef enum RsrStError
{
	RSR_ST_OK = 0,
	RSR_ST_SHORT_FILE,			/* fewer than 8 bytes */
	RSR_ST_HEADER_TOO_LARGE,	/* N > RSR_ST_MAX_HEADER */
	RSR_ST_HEADER_PAST_END,		/* N past the end of the file */
	RSR_ST_SYNTAX,				/* malformed JSON, or not a safetensors header */
	RSR_ST_TOO_DEEP,			/* nesting past RSR_ST_MAX_DEPTH */
	RSR_ST_MISSING_FIELD,		/* dtype, shape or data_offsets absent */
	RSR_ST_BAD_DTYPE,			/* dtype not a safetensors dtype */
	RSR_ST_TOO_MANY_DIMS,		/* more than RSR_ST_MAX_NDIM dimensions */
	RSR_ST_OVERFLOW,			/* a number, shape product or byte count past 2^63 */
	RSR_ST_BAD_OFFSETS,			/* begin > end, or end past the data */
	RSR_ST_SIZE_MISMATCH,		/* end - begin differs from the shape's bytes */
	RSR_ST_OVERLAP,				/* two tensors share data bytes */
	RSR_ST_BAD_STRING			/* bad escape or UTF-8, or a NUL, in a name */
} RsrStError;

typedef struct RsrStParse
{
	RsrStError	error;
	size_t		off;			/* header offset where the error was seen */
	uint32_t	index;			/* 0-based tensor entry of the error */
	uint32_t	other;			/* OVERLAP: the other entry */
} RsrStParse;

typedef struct RsrStTensor
{
	size_t		name_off;		/* name: raw JSON string contents, header */
	size_t		name_len;		/* offset and bytes (escapes not decoded) */
	RsrStDtype	dtype;
	uint32_t	ndim;			/* entries of shape */
	uint64_t	shape[RSR_ST_MAX_NDIM];
	uint64_t	numel;			/* product of shape (1 for a scalar) */
	uint64_t	begin;			/* data_offsets, bytes from the data start */
	uint64_t	end;
} RsrStTensor;

typedef struct RsrStCursor
{
	size_t		pos;			/* next header byte; 0 before the first call */
	uint32_t	count;			/* entries returned so far */
	int			done;			/* the closing brace was read */
} RsrStCursor;

typedef struct RsrStSpan
{
	uint64_t	begin;			/* data_offsets of one tensor */
	uint64_t	end;
	uint32_t	index;			/* its entry */
} RsrStSpan;

/*
 * Header length N from the first prefix_len bytes of a file of file_size
 * bytes (RSR_EINVAL: SHORT_FILE, HEADER_TOO_LARGE, HEADER_PAST_END).
 */
extern RsrStatus rsr_st_header_len(const uint8_t *prefix, size_t prefix_len,
								   uint64_t file_size, uint64_t *header_len,
								   RsrStParse *res);

/*
 * Next tensor of the header json[0..len) whose data has data_size bytes.
 * Start with a zeroed cursor.  RSR_OK with *found = 1 fills *t (offsets,
 * dtype, shape and byte count checked); RSR_OK with *found = 0 at the end
 * of a well-formed header; RSR_EINVAL with *res otherwise.
 */
extern RsrStatus rsr_st_next(const char *json, size_t len, uint64_t data_size,
							 RsrStCursor *cur, RsrStTensor *t, int *found,
							 RsrStParse *res);

/*
 * Decode the JSON string contents raw[0..len) into UTF-8 out[0..*out_len)
 * (out_cap >= len always suffices).  RSR_EINVAL on a bad escape, invalid
 * UTF-8, a control character or U+0000.
 */
extern RsrStatus rsr_st_decode_string(const char *raw, size_t len, char *out,
									  size_t out_cap, size_t *out_len);

/* Sort spans[0..n) by begin in place; RSR_EINVAL (OVERLAP) if two share a byte */
extern RsrStatus rsr_st_check_overlap(RsrStSpan *spans, size_t n,
									  RsrStParse *res);

extern const char *rsr_st_dtype_name(RsrStDtype dtype);
extern uint32_t rsr_st_dtype_bits(RsrStDtype dtype);

/* Exact conversions of IEEE binary16 and bfloat16 to float */
extern float rsr_st_f16_to_float(uint16_t h);
extern float rsr_st_bf16_to_float(uint16_t h);

/* n little-endian F32, F16 or BF16 values at src to floats (RSR_EINVAL: other dtype) */
extern RsrStatus rsr_st_to_float(RsrStDtype dtype, const uint8_t *src,
								 size_t n, float *dst);

/*
 * Packed ternary row (two planes, rsr_row_bytes()) of x[0..n) with the
 * rule of ternary_quantize: element j is rint(clip(x_j / scale, -1, 1)) in
 * double (ties to even); all zeros when scale is not > 0.
 */
extern void rsr_st_ternary_row(const float *x, uint32_t n, double scale,
							   uint8_t *planes);

/* Packed binary row of x[0..n): bit j set when x_j > 0 (binary_quantize) */
extern void rsr_st_binary_row(const float *x, uint32_t n, uint8_t *bits);

/*
 * One output row of a BitNet-packed U8 tensor (HuggingFace transformers'
 * pack_weights): 2-bit field `field` (0..3, bits 2 field .. 2 field + 1) of
 * each of the n bytes of one packed row, minus 1, as a packed ternary row.
 * RSR_EINVAL with *bad_col set when a field holds 3.
 */
extern RsrStatus rsr_st_bitnet_row(const uint8_t *packed, uint32_t n,
								   uint32_t field, uint8_t *planes,
								   uint32_t *bad_col);

#ifdef __cplusplus
}
#endif

#endif							/* RSR_CORE_H */
