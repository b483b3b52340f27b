/*-------------------------------------------------------------------------
 *
 * gemv.cu
 *	  RSR matrix-vector products on the device: one query (gemv) and a
 *	  batch of up to RSR_MAX_BATCH queries (gemm), over layout (b) codes.
 *
 * Single query: one warp per block of rows, lane l takes four columns at
 * a time, 4l .. 4l + 3, then 128 further on (one 4- or 8-byte code load
 * per lane, 128 or 256 contiguous bytes per warp), adds q[j] to the row
 * accumulators whose bit is set in the code, and a warp reduction gives
 * the k results; lane r writes row r.  This direct form reads exactly the
 * bytes the shared-memory bucket form reads (each code once, the query
 * from cache), keeps no shared state, is deterministic, and its
 * correctness is one line: y[r] = sum_j [bit r of code_j] q[j] (minus the
 * "-1" plane for ternary).  It costs 2-3 instructions per code bit (a bit
 * test, an add or a select), so for k = 8 an SM handles roughly 5-8 codes
 * per clock and the kernel may be bound by arithmetic rather than memory
 * on the fastest GPUs.  The bucket form would need a shared-memory atomic
 * per code (the lanes of a warp share the buckets) plus a fold per block;
 * it was not chosen without a GPU to measure the two on.
 *
 * Batched: one thread block per block of rows, thread b owns query b.
 * For k <= 8 each thread aggregates its query's values into its own
 * column of 2^nrows shared-memory buckets by code and then folds them
 * (RSR++, the CPU engine's scatter and fold, one lane each: no atomics, no
 * synchronization); for k > 8 (2^16 buckets do not fit) it uses the direct
 * form.  Codes are read once per block for all queries.
 *
 * Float32 accumulation throughout: each result is within rsr_error_bound()
 * of the exact value, like the CPU kernels, whose summation order differs.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  cuda/gemv.cu
 *
 *-------------------------------------------------------------------------
 */
#include "common.cuh"

#define GEMV_WARPS 4			/* warps (blocks of rows) per thread block */

/* Add x to acc[r] for the bits of p, subtract it for the bits of n */
template <bool Ternary, int K>
static __device__ __forceinline__ void
add_code(float (&acc)[K], uint32_t p, uint32_t n, float x)
{
#pragma unroll
	for (int r = 0; r < K; r++)
	{
		if ((p >> r) & 1)
			acc[r] += x;
		if (Ternary && ((n >> r) & 1))
			acc[r] -= x;
	}
}

/*
 * Codes j .. j + 3 of a plane (j a multiple of 4): one 4- or 8-byte load.
 * Planes are 16-byte aligned and zero-padded to a multiple of 16 bytes, so
 * the load stays inside the plane and codes past ncols read as zero.
 */
template <typename CodeT>
static __device__ __forceinline__ void
load4(const CodeT *p, uint32_t (&c)[4]);

template <>
__device__ __forceinline__ void
load4<uint8_t>(const uint8_t *p, uint32_t (&c)[4])
{
	uint32_t	w = *reinterpret_cast<const uint32_t *>(p);

	c[0] = w & 0xff;
	c[1] = (w >> 8) & 0xff;
	c[2] = (w >> 16) & 0xff;
	c[3] = w >> 24;
}

template <>
__device__ __forceinline__ void
load4<uint16_t>(const uint16_t *p, uint32_t (&c)[4])
{
	uint2		w = *reinterpret_cast<const uint2 *>(p);

	c[0] = w.x & 0xffff;
	c[1] = w.x >> 16;
	c[2] = w.y & 0xffff;
	c[3] = w.y >> 16;
}

/*
 * y[out + r] = row r . q for each block of rows, one warp per block; lane l
 * takes columns 4l .. 4l + 3, then 128 further, and so on (a warp reads 128
 * or 256 contiguous bytes of codes per step).  K is the number of code bits
 * computed (>= k: bits past nrows are zero).
 */
template <bool Ternary, typename CodeT, int K>
static __global__ void __launch_bounds__(GEMV_WARPS * RSR_CUDA_WARP)
gemv_kernel(const uint8_t *__restrict__ codes,
			const RsrCudaSeg *__restrict__ segs,
			const RsrCudaGroup *__restrict__ groups, uint32_t ngroups,
			const float *__restrict__ q, float *__restrict__ y)
{
	uint32_t	gi = blockIdx.x * GEMV_WARPS + threadIdx.x / RSR_CUDA_WARP;
	uint32_t	lane = threadIdx.x % RSR_CUDA_WARP;
	float		acc[K];

	if (gi >= ngroups)
		return;
#pragma unroll
	for (int r = 0; r < K; r++)
		acc[r] = 0.0f;

	const RsrCudaGroup g = groups[gi];

	for (uint32_t s = g.first; s < g.first + g.count; s++)
	{
		const RsrCudaSeg d = segs[s];
		const CodeT *pos = reinterpret_cast<const CodeT *>(codes + d.off);
		const CodeT *neg = reinterpret_cast<const CodeT *>(codes + d.off + d.plane);
		const float *qc = q + d.col_start;

#pragma unroll 2
		for (uint32_t j = 4 * lane; j < d.ncols; j += 4 * RSR_CUDA_WARP)
		{
			uint32_t	pc[4];
			uint32_t	nc[4] = {0, 0, 0, 0};

			load4<CodeT>(pos + j, pc);
			if (Ternary)
				load4<CodeT>(neg + j, nc);
#pragma unroll
			for (int v = 0; v < 4; v++)
			{
				// past ncols the code is zero; only the read of q needs the guard
				float		x = j + v < d.ncols ? qc[j + v] : 0.0f;

				add_code<Ternary, K>(acc, pc[v], nc[v], x);
			}
		}
	}

#pragma unroll
	for (int r = 0; r < K; r++)
	{
		float		v = warp_reduce_sum(acc[r]);

		if (lane == (uint32_t) r && lane < g.nrows)
			y[g.out + r] = v;
	}
}

/*
 * Batched, k <= 8: thread b aggregates query b into buckets[c * batch + b]
 * by code c, then folds them into the rows.  Each thread touches only its
 * own lane of the buckets, so no synchronization is needed.
 */
template <bool Ternary>
static __global__ void
gemm_bucket_kernel(const uint8_t *__restrict__ codes,
				   const RsrCudaSeg *__restrict__ segs,
				   const RsrCudaGroup *__restrict__ groups,
				   const float *__restrict__ qt, uint32_t batch,
				   float *__restrict__ Y)
{
	extern __shared__ float buckets[];	/* [1 << k][batch] */
	uint32_t	b = threadIdx.x;

	if (b >= batch)
		return;

	const RsrCudaGroup g = groups[blockIdx.x];
	const uint32_t mask = (1u << g.nrows) - 1;
	float	   *u = buckets + b;

	for (uint32_t c = 0; c <= mask; c++)
		u[c * batch] = 0.0f;

	for (uint32_t s = g.first; s < g.first + g.count; s++)
	{
		const RsrCudaSeg d = segs[s];
		const uint8_t *pos = codes + d.off;
		const uint8_t *neg = codes + d.off + d.plane;
		const float *qc = qt + (size_t) d.col_start * batch + b;

		for (uint32_t j = 0; j < d.ncols; j += 4)
		{
			uint32_t	pc[4];
			uint32_t	nc[4] = {0, 0, 0, 0};
			uint32_t	nv = d.ncols - j < 4 ? d.ncols - j : 4;

			// the same four codes for every thread: one broadcast load
			load4<uint8_t>(pos + j, pc);
			if (Ternary)
				load4<uint8_t>(neg + j, nc);
#pragma unroll
			for (uint32_t v = 0; v < 4; v++)
			{
				if (v < nv)
				{
					float		x = qc[(size_t) (j + v) * batch];

					// codes of a validated segment use only the nrows bits;
					// the mask keeps even a bad one inside the buckets
					u[(pc[v] & mask) * batch] += x;
					if (Ternary)
						u[(nc[v] & mask) * batch] -= x;
				}
			}
		}
	}

	// RSR++ fold (rsr_fold_scalar): the rows of the top bit take the sum of
	// the upper half of the pattern space, which then folds onto the lower
	for (int r = (int) g.nrows - 1; r >= 0; r--)
	{
		uint32_t	half = 1u << r;
		float		a = 0.0f;

		for (uint32_t c = half; c < 2 * half; c++)
		{
			float		v = u[c * batch];

			a += v;
			u[(c - half) * batch] += v;
		}
		Y[(size_t) (g.out + r) * batch + b] = a;
	}
}

/* Batched, any k: thread b computes query b's rows directly from the code bits */
template <bool Ternary, typename CodeT, int K>
static __global__ void
gemm_direct_kernel(const uint8_t *__restrict__ codes,
				   const RsrCudaSeg *__restrict__ segs,
				   const RsrCudaGroup *__restrict__ groups,
				   const float *__restrict__ qt, uint32_t batch,
				   float *__restrict__ Y)
{
	uint32_t	b = threadIdx.x;
	float		acc[K];

	if (b >= batch)
		return;
#pragma unroll
	for (int r = 0; r < K; r++)
		acc[r] = 0.0f;

	const RsrCudaGroup g = groups[blockIdx.x];

	for (uint32_t s = g.first; s < g.first + g.count; s++)
	{
		const RsrCudaSeg d = segs[s];
		const CodeT *pos = reinterpret_cast<const CodeT *>(codes + d.off);
		const CodeT *neg = reinterpret_cast<const CodeT *>(codes + d.off + d.plane);
		const float *qc = qt + (size_t) d.col_start * batch + b;

#pragma unroll 4
		for (uint32_t j = 0; j < d.ncols; j++)
			add_code<Ternary, K>(acc, pos[j], Ternary ? neg[j] : 0, qc[(size_t) j * batch]);
	}

#pragma unroll
	for (int r = 0; r < K; r++)
		if ((uint32_t) r < g.nrows)
			Y[(size_t) (g.out + r) * batch + b] = acc[r];
}

/* Launch the single-query kernel instance */
template <bool Ternary, typename CodeT, int K>
static RsrCudaStatus
launch_gemv(const RsrCudaIndex *index, const float *d_q, float *d_y,
			cudaStream_t stream)
{
	uint32_t	blocks = (index->ngroups + GEMV_WARPS - 1) / GEMV_WARPS;

	gemv_kernel<Ternary, CodeT, K><<<blocks, GEMV_WARPS * RSR_CUDA_WARP, 0, stream>>>(
		index->d_codes, index->d_segs, index->d_groups, index->ngroups, d_q, d_y);
	RSR_CUDA_CHECK_LAUNCH();
	return RSR_CUDA_OK;
}

/* Launch the batched bucket kernel (k <= GEMM_BUCKET_MAX_K) */
template <bool Ternary>
static RsrCudaStatus
launch_gemm_bucket(const RsrCudaIndex *index, const float *d_qt,
				   uint32_t batch, float *d_Y, cudaStream_t stream)
{
	uint32_t	threads = (batch + RSR_CUDA_WARP - 1) / RSR_CUDA_WARP * RSR_CUDA_WARP;
	size_t		smem = ((size_t) 1 << index->k) * batch * sizeof(float);

	// at most 2^8 * 64 floats = 64 KiB, above the 48 KiB default
	RSR_CUDA_CHECK(cudaFuncSetAttribute(gemm_bucket_kernel<Ternary>,
										cudaFuncAttributeMaxDynamicSharedMemorySize,
										(int) smem));
	gemm_bucket_kernel<Ternary><<<index->ngroups, threads, smem, stream>>>(
		index->d_codes, index->d_segs, index->d_groups, d_qt, batch, d_Y);
	RSR_CUDA_CHECK_LAUNCH();
	return RSR_CUDA_OK;
}

/* Launch the batched direct kernel instance */
template <bool Ternary, typename CodeT, int K>
static RsrCudaStatus
launch_gemm_direct(const RsrCudaIndex *index, const float *d_qt,
				   uint32_t batch, float *d_Y, cudaStream_t stream)
{
	uint32_t	threads = (batch + RSR_CUDA_WARP - 1) / RSR_CUDA_WARP * RSR_CUDA_WARP;

	gemm_direct_kernel<Ternary, CodeT, K><<<index->ngroups, threads, 0, stream>>>(
		index->d_codes, index->d_segs, index->d_groups, d_qt, batch, d_Y);
	RSR_CUDA_CHECK_LAUNCH();
	return RSR_CUDA_OK;
}

/* Zero the outputs no block writes (only when the blocks leave gaps) */
static RsrCudaStatus
clear_gaps(const RsrCudaIndex *index, float *d_y, uint32_t batch,
		   cudaStream_t stream)
{
	if (!index->covered)
		RSR_CUDA_CHECK(cudaMemsetAsync(d_y, 0, (size_t) index->nout * batch * sizeof(float), stream));
	return RSR_CUDA_OK;
}

/* y = M q, device pointers: picks the kernel instance for the index */
RsrCudaStatus
rsr_cuda_gemv_device(RsrCudaIndex *index, const float *d_q, float *d_y,
					 void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;
	RsrCudaStatus status;

	if (index == NULL || d_q == NULL || d_y == NULL)
		return RSR_CUDA_EINVAL;
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	status = clear_gaps(index, d_y, 1, st);
	if (status != RSR_CUDA_OK)
		return status;
	switch (rsr_cuda_variant(index))
	{
		case RSR_CUDA_B4:
			return launch_gemv<false, uint8_t, 4>(index, d_q, d_y, st);
		case RSR_CUDA_B8:
			return launch_gemv<false, uint8_t, 8>(index, d_q, d_y, st);
		case RSR_CUDA_B16:
			return launch_gemv<false, uint16_t, 16>(index, d_q, d_y, st);
		case RSR_CUDA_T4:
			return launch_gemv<true, uint8_t, 4>(index, d_q, d_y, st);
		case RSR_CUDA_T8:
			return launch_gemv<true, uint8_t, 8>(index, d_q, d_y, st);
		case RSR_CUDA_T16:
			return launch_gemv<true, uint16_t, 16>(index, d_q, d_y, st);
	}
	return RSR_CUDA_EINVAL;
}

/* Y = M Q^T, device pointers, queries transposed: picks the kernel instance */
RsrCudaStatus
rsr_cuda_gemm_device(RsrCudaIndex *index, const float *d_qt, uint32_t batch,
					 float *d_Y, void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;
	RsrCudaStatus status;

	if (index == NULL || d_qt == NULL || d_Y == NULL || batch < 1 ||
		batch > RSR_MAX_BATCH)
		return RSR_CUDA_EINVAL;
	if (batch == 1)
		return rsr_cuda_gemv_device(index, d_qt, d_Y, stream);
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	status = clear_gaps(index, d_Y, batch, st);
	if (status != RSR_CUDA_OK)
		return status;
	switch (rsr_cuda_variant(index))
	{
		case RSR_CUDA_B4:
		case RSR_CUDA_B8:
			return launch_gemm_bucket<false>(index, d_qt, batch, d_Y, st);
		case RSR_CUDA_B16:
			return launch_gemm_direct<false, uint16_t, 16>(index, d_qt, batch, d_Y, st);
		case RSR_CUDA_T4:
		case RSR_CUDA_T8:
			return launch_gemm_bucket<true>(index, d_qt, batch, d_Y, st);
		case RSR_CUDA_T16:
			return launch_gemm_direct<true, uint16_t, 16>(index, d_qt, batch, d_Y, st);
	}
	return RSR_CUDA_EINVAL;
}

/* Device buffer of nout * batch floats for results (grown on demand) */
static RsrCudaStatus
result_buffer(RsrCudaIndex *index, uint32_t batch)
{
	if (index->y_batch >= batch)
		return RSR_CUDA_OK;
	RSR_CUDA_CHECK(cudaFree(index->d_y));
	index->d_y = NULL;
	index->y_batch = 0;
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_y, (size_t) index->nout * batch * sizeof(float)));
	index->y_batch = batch;
	return RSR_CUDA_OK;
}

/*
 * index->d_y = M Q^T for host queries Q[b * dims + j]: stage them on the
 * device and enqueue the product on the stream (the device already set)
 */
RsrCudaStatus
rsr_cuda_product(RsrCudaIndex *index, const float *Q, uint32_t batch,
				 cudaStream_t stream)
{
	RsrCudaStatus status = result_buffer(index, batch);

	if (status == RSR_CUDA_OK)
		status = rsr_cuda_stage_queries(index, Q, batch, stream);
	if (status == RSR_CUDA_OK)
		status = rsr_cuda_gemm_device(index, index->d_qt, batch, index->d_y, stream);
	return status;
}

/* y = M q, host pointers; returns when y is filled */
RsrCudaStatus
rsr_cuda_gemv(RsrCudaIndex *index, const float *q, float *y, void *stream)
{
	return rsr_cuda_gemm(index, q, 1, y, stream);
}

/* Y = M Q^T, host pointers; returns when Y is filled */
RsrCudaStatus
rsr_cuda_gemm(RsrCudaIndex *index, const float *Q, uint32_t batch, float *Y,
			  void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;
	RsrCudaStatus status;

	if (index == NULL || Q == NULL || Y == NULL || batch < 1 ||
		batch > RSR_MAX_BATCH)
		return RSR_CUDA_EINVAL;
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	status = rsr_cuda_product(index, Q, batch, st);
	if (status != RSR_CUDA_OK)
		return status;
	RSR_CUDA_CHECK(cudaMemcpyAsync(Y, index->d_y, (size_t) index->nout * batch * sizeof(float),
								   cudaMemcpyDeviceToHost, st));
	RSR_CUDA_CHECK(cudaStreamSynchronize(st));
	return RSR_CUDA_OK;
}
