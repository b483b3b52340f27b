/*-------------------------------------------------------------------------
 *
 * common.cuh
 *	  Shared definitions of the CUDA part: error checking (RSR_CUDA_CHECK,
 *	  launch check), warp reduction, the device-resident index, the
 *	  top-n chunk size and the choice of kernel instance for a block
 *	  height.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  cuda/common.cuh
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_CUDA_COMMON_CUH
#define RSR_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include "rsr_cuda.h"

#define RSR_CUDA_WARP 32
#define RSR_CUDA_CODE_ALIGN 16	/* bytes: each code plane starts aligned */
#define RSR_CUDA_TOPN_CHUNK 4096	/* keys one top-n block sorts (32 KiB of
									 * shared memory) */

/* Record a failed CUDA call for rsr_cuda_last_error(); map it to a status */
extern RsrCudaStatus rsr_cuda_fail(cudaError_t err, const char *expr,
								   const char *file, int line);

/*
 * Evaluate a CUDA runtime call; on failure return its status from the
 * enclosing function (which returns RsrCudaStatus), keeping the expression,
 * file, line and cudaGetErrorString for rsr_cuda_last_error().
 */
#define RSR_CUDA_CHECK(expr) \
	do { \
		cudaError_t rsr_err_ = (expr); \
		if (rsr_err_ != cudaSuccess) \
			return rsr_cuda_fail(rsr_err_, #expr, __FILE__, __LINE__); \
	} while (0)

/* After every <<<>>>: a bad configuration shows up only here */
#define RSR_CUDA_CHECK_LAUNCH() RSR_CUDA_CHECK(cudaGetLastError())

/* One segment's codes on the device */
typedef struct RsrCudaSeg
{
	uint64_t	off;			/* byte offset of the "+1" code plane */
	uint32_t	plane;			/* bytes of one padded plane ("-1" plane at
								 * off + plane) */
	uint32_t	col_start;		/* first column covered */
	uint32_t	ncols;			/* columns covered */
} RsrCudaSeg;

/* A block of rows: a run of segments sharing their output rows */
typedef struct RsrCudaGroup
{
	uint32_t	first;			/* first segment of the run */
	uint32_t	count;			/* segments in the run */
	uint32_t	out;			/* output index of row 0 */
	uint32_t	nrows;			/* rows of the block, 1..k */
} RsrCudaGroup;

/* The device-resident index behind the opaque RsrCudaIndex */
struct RsrCudaIndex
{
	int			device;			/* CUDA device ordinal */
	int			on_device;		/* device memory may have been allocated */
	RsrKind		kind;			/* binary or ternary */
	uint32_t	k;				/* block height of every segment */
	uint32_t	dims;			/* row dimension */
	uint32_t	nout;			/* output rows */
	uint32_t	ngroups;		/* blocks of rows */
	int			covered;		/* groups cover [0, nout) exactly */
	size_t		code_bytes;		/* bytes of d_codes */
	uint8_t    *d_codes;		/* every segment's code planes */
	RsrCudaSeg *d_segs;			/* segment descriptors */
	RsrCudaGroup *d_groups;		/* group descriptors */
	float	   *d_qraw;			/* staging: queries as given, dims * 64 */
	float	   *d_qt;			/* transposed queries, dims * 64 */
	float	   *d_y;			/* scores for top-n, nout * y_batch */
	uint8_t    *d_live;			/* top-n row mask, nout bytes (0: excluded) */
	int			use_live;		/* 1: d_live is in force, 0: no mask, -1: its
								 * update failed (top-n refuses to run) */
	uint32_t	y_batch;		/* batch d_y is sized for (0: none) */
	uint64_t   *d_keys[2];		/* top-n candidate keys, ping-pong */
	size_t		key_cap;		/* keys each of d_keys holds */
	uint64_t   *h_keys;			/* host copy of the final keys */
	size_t		h_key_cap;		/* keys h_keys holds */
};

/* Kernel instances: codes of k <= 4, <= 8 (one byte) and <= 16 (u16) */
typedef enum RsrCudaVariant
{
	RSR_CUDA_B4,
	RSR_CUDA_B8,
	RSR_CUDA_B16,
	RSR_CUDA_T4,
	RSR_CUDA_T8,
	RSR_CUDA_T16
} RsrCudaVariant;

/* Instance for an index: rows past nrows have zero codes, so rounding k up is exact */
static inline RsrCudaVariant
rsr_cuda_variant(const RsrCudaIndex *index)
{
	int			v = index->k <= 4 ? 0 : index->k <= 8 ? 1 : 2;

	return (RsrCudaVariant) (index->kind == RSR_KIND_TERNARY ? v + 3 : v);
}

/* Sum of v over the warp, in every lane */
static __device__ __forceinline__ float
warp_reduce_sum(float v)
{
#pragma unroll
	for (int m = RSR_CUDA_WARP / 2; m > 0; m >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, m);
	return v;
}

/* gemv.cu: d_y = M Q^T for host queries, enqueued on the stream */
extern RsrCudaStatus rsr_cuda_product(RsrCudaIndex *index, const float *Q,
									  uint32_t batch, cudaStream_t stream);

/* index.cu: make d_qt from host queries Q[b * dims + j] */
extern RsrCudaStatus rsr_cuda_stage_queries(RsrCudaIndex *index,
											const float *Q, uint32_t batch,
											cudaStream_t stream);

#endif							/* RSR_CUDA_COMMON_CUH */
