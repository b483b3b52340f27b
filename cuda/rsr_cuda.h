/*-------------------------------------------------------------------------
 *
 * rsr_cuda.h
 *	  C-callable interface of the CUDA kernels: device probe, upload of a
 *	  set of RSR segments into a device-resident index, matrix-vector
 *	  products (single and batched) and top-n selection on the device,
 *	  restricted to the rows of a live mask.
 *
 * Plain C types only, so that src/ (C11, no CUDA headers) can include it
 * and call the library through load_external_function().  Like src/core,
 * the library never prints, exits or aborts: every function returns an
 * RsrCudaStatus, and rsr_cuda_last_error() gives the text of the last
 * CUDA failure (the failing expression, file, line and cudaGetErrorString)
 * of the calling thread.
 *
 * Streams are passed as `void *` (a cudaStream_t; NULL is the default
 * stream).  An index holds scratch buffers, so calls on one index must not
 * overlap: one caller (the GPU worker) at a time.  Functions that take host
 * pointers synchronize the stream before returning; the `_device` variants
 * take device pointers and only enqueue work.
 *
 * Hard limits: the segments of one index share kind, dims and k, use
 * layout RSR_LAYOUT_BUCKET, and their output rows fit in uint32;
 * batch <= RSR_MAX_BATCH; n <= RSR_CUDA_MAX_TOPN.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  cuda/rsr_cuda.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_CUDA_H
#define RSR_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "rsr_core.h"

#ifdef __cplusplus
extern "C"
{
#endif

#define RSR_CUDA_MAX_TOPN 1024	/* largest n of the top-n functions */

typedef enum RsrCudaStatus
{
	RSR_CUDA_OK = 0,
	RSR_CUDA_EINVAL,			/* bad argument or unsupported shape */
	RSR_CUDA_ECORRUPT,			/* a segment fails validation */
	RSR_CUDA_ENODEV,			/* no CUDA device, or no such device */
	RSR_CUDA_ENOMEM,			/* device or host allocation failed */
	RSR_CUDA_ECUDA				/* any other CUDA runtime error */
} RsrCudaStatus;

/* Device-resident index: opaque to callers */
typedef struct RsrCudaIndex RsrCudaIndex;

/* What rsr_cuda_probe() reports about one device */
typedef struct RsrCudaDeviceInfo
{
	char		name[256];		/* marketing name */
	int			major;			/* compute capability */
	int			minor;
	size_t		total_mem;		/* bytes of device memory */
	double		mem_bandwidth;	/* peak bytes/s (2 * clock * bus width) */
	int			sm_count;		/* multiprocessors */
} RsrCudaDeviceInfo;

/* Number of usable CUDA devices in *count (0 when none; rsr_cuda_last_error() says why) */
extern RsrCudaStatus rsr_cuda_device_count(int *count);

/* Properties of device `device` */
extern RsrCudaStatus rsr_cuda_probe(int device, RsrCudaDeviceInfo *info);

/*
 * Upload segments (host bytes, as for rsr_gemv: segments sharing an `out`
 * adjacent) to device `device`.  Every segment is checked with
 * rsr_segment_validate(); output ranges of different blocks must not
 * overlap.  *nout receives the number of output rows (max out + nrows).
 */
extern RsrCudaStatus rsr_cuda_index_upload(int device,
										   const RsrSegmentRef *segs,
										   size_t nsegs, void *stream,
										   RsrCudaIndex **index,
										   uint32_t *nout);

/* Release an index and its device memory (NULL is allowed) */
extern void rsr_cuda_index_free(RsrCudaIndex *index);

/* Device bytes of the codes of an index (what one product reads) */
extern size_t rsr_cuda_index_code_bytes(const RsrCudaIndex *index);

/*
 * y = M q (overwrites y[0..nout)); q has `dims` floats.  The _device form
 * takes device pointers to the same arrays.
 */
extern RsrCudaStatus rsr_cuda_gemv(RsrCudaIndex *index, const float *q,
								   float *y, void *stream);
extern RsrCudaStatus rsr_cuda_gemv_device(RsrCudaIndex *index,
										  const float *d_q, float *d_y,
										  void *stream);

/*
 * Y = M Q^T for `batch` queries Q[b * dims + j]; Y[row * batch + b]
 * (overwritten), the layout of rsr_gemm.  The _device form takes the
 * queries transposed, d_qt[j * batch + b], and a device Y.
 */
extern RsrCudaStatus rsr_cuda_gemm(RsrCudaIndex *index, const float *Q,
								   uint32_t batch, float *Y, void *stream);
extern RsrCudaStatus rsr_cuda_gemm_device(RsrCudaIndex *index,
										  const float *d_qt, uint32_t batch,
										  float *d_Y, void *stream);

/*
 * Which rows the top-n functions may return: live[row] != 0 for each of the
 * nout rows of the index (count must equal nout; 0 excludes the row), or
 * live == NULL to allow every row again.  The mask stays on the device with
 * the index until the next call; the products (gemv, gemm) are not masked.
 * Returns when the copy is done.  If the device copy fails, the top-n
 * functions return RSR_CUDA_EINVAL until a call succeeds.
 */
extern RsrCudaStatus rsr_cuda_index_set_live(RsrCudaIndex *index,
											 const uint8_t *live,
											 size_t count, void *stream);

/*
 * Top-n of M q: indexes of the n best rows, best first, ties to the lower
 * index, NaN never selected (rsr_topn's rules), nor a row the live mask
 * excludes; scores (may be NULL) gets their values (-0 as +0); *count =
 * how many were written (n, or fewer when fewer rows are live and not
 * NaN).  Only the n results leave the device.
 */
extern RsrCudaStatus rsr_cuda_topn(RsrCudaIndex *index, const float *q,
								   uint32_t n, uint32_t *idx, float *scores,
								   size_t *count, void *stream);

/* Batched top-n: idx[b * n + i], scores[b * n + i], counts[b] */
extern RsrCudaStatus rsr_cuda_topn_batch(RsrCudaIndex *index,
										 const float *Q, uint32_t batch,
										 uint32_t n, uint32_t *idx,
										 float *scores, size_t *counts,
										 void *stream);

/* Text of a status code */
extern const char *rsr_cuda_status_string(RsrCudaStatus status);

/* Detail of the calling thread's last RSR_CUDA_ECUDA/ENOMEM ("" if none) */
extern const char *rsr_cuda_last_error(void);

#ifdef __cplusplus
}
#endif

#endif							/* RSR_CUDA_H */
