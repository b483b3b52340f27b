/*-------------------------------------------------------------------------
 *
 * topn.cu
 *	  Top-n selection on the device: the scores of a product stay on the
 *	  GPU, and only the n best (index, score) pairs of each query leave it.
 *
 * Each score becomes a 64-bit key, order-preserving float bits above the
 * complement of the row index, so that one unsigned comparison ranks by
 * score and then by the lower index (rsr_topn's rule); NaN becomes key 0
 * and is never returned.  A thread block sorts a chunk of TOPN_CHUNK keys
 * in shared memory (bitonic network) and keeps its n best; the candidates
 * of all chunks go through the same kernel again until one chunk remains.
 * n <= TOPN_CHUNK / 4, so every pass shrinks the candidates fourfold.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  cuda/topn.cu
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common.cuh"

#define TOPN_CHUNK 4096			/* keys one block sorts (32 KiB of shared memory) */
#define TOPN_THREADS 1024

static_assert(RSR_CUDA_MAX_TOPN * 4 <= TOPN_CHUNK, "top-n passes must shrink");

/* Ranking key of score s at row i: larger is better; 0 for NaN */
static __device__ __forceinline__ uint64_t
make_key(float s, uint32_t i)
{
	uint32_t	u;

	if (isnan(s))
		return 0;
	if (s == 0.0f)
		s = 0.0f;				/* -0 ties with +0, as in a float comparison */
	u = __float_as_uint(s);
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
	return ((uint64_t) u << 32) | (uint32_t) ~i;
}

/* Score of a key (inverse of make_key) */
static inline float
key_score(uint64_t key)
{
	uint32_t	u = (uint32_t) (key >> 32);
	float		s;

	u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
	memcpy(&s, &u, sizeof(s));
	return s;
}

/*
 * Keep the n largest keys of each chunk of TOPN_CHUNK, in descending order:
 * out[(b * gridDim.x + blockIdx.x) * n + i] for query b = blockIdx.y.  The
 * input is scores y[e * batch + b] (FromScores) or keys in[b * count + e].
 */
template <bool FromScores>
static __global__ void __launch_bounds__(TOPN_THREADS)
topn_kernel(const float *__restrict__ y, const uint64_t *__restrict__ in,
			size_t count, uint32_t batch, uint32_t n,
			uint64_t *__restrict__ out)
{
	__shared__ uint64_t s[TOPN_CHUNK];
	uint32_t	b = blockIdx.y;
	size_t		base = (size_t) blockIdx.x * TOPN_CHUNK;

	for (uint32_t i = threadIdx.x; i < TOPN_CHUNK; i += blockDim.x)
	{
		size_t		e = base + i;
		uint64_t	key = 0;

		if (e < count)
			key = FromScores ? make_key(y[e * batch + b], (uint32_t) e) : in[(size_t) b * count + e];
		s[i] = key;
	}
	__syncthreads();

	// bitonic sort, descending: stage (k, j) compares i with i + j, the pair
	// ordered descending when bit k of i is clear
	for (uint32_t k = 2; k <= TOPN_CHUNK; k <<= 1)
	{
		for (uint32_t j = k >> 1; j > 0; j >>= 1)
		{
			for (uint32_t p = threadIdx.x; p < TOPN_CHUNK / 2; p += blockDim.x)
			{
				uint32_t	i = (p / j) * 2 * j + p % j;
				uint64_t	a = s[i];
				uint64_t	c = s[i + j];
				bool		desc = (i & k) == 0;

				if (desc ? a < c : a > c)
				{
					s[i] = c;
					s[i + j] = a;
				}
			}
			__syncthreads();
		}
	}

	for (uint32_t i = threadIdx.x; i < n; i += blockDim.x)
		out[((size_t) b * gridDim.x + blockIdx.x) * n + i] = s[i];
}

/* Make the key buffers hold `keys` entries each (grown on demand) */
static RsrCudaStatus
key_buffers(RsrCudaIndex *index, size_t keys, size_t host_keys)
{
	if (index->key_cap < keys)
	{
		RSR_CUDA_CHECK(cudaFree(index->d_keys[0]));
		RSR_CUDA_CHECK(cudaFree(index->d_keys[1]));
		index->d_keys[0] = index->d_keys[1] = NULL;
		index->key_cap = 0;
		RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_keys[0], keys * sizeof(uint64_t)));
		RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_keys[1], keys * sizeof(uint64_t)));
		index->key_cap = keys;
	}
	if (index->h_key_cap < host_keys)
	{
		free(index->h_keys);
		index->h_key_cap = 0;
		index->h_keys = (uint64_t *) malloc(host_keys * sizeof(uint64_t));
		if (index->h_keys == NULL)
			return RSR_CUDA_ENOMEM;
		index->h_key_cap = host_keys;
	}
	return RSR_CUDA_OK;
}

/*
 * Select the n best of d_y[row * batch + b] for every query into
 * d_keys[*which][b * n + i], best first.
 */
static RsrCudaStatus
select_keys(RsrCudaIndex *index, uint32_t batch, uint32_t n,
			cudaStream_t stream, int *which)
{
	size_t		count = index->nout;
	size_t		nblocks = (count + TOPN_CHUNK - 1) / TOPN_CHUNK;
	RsrCudaStatus st;
	int			cur = 0;

	if (nblocks > INT32_MAX)
		return RSR_CUDA_EINVAL;
	st = key_buffers(index, nblocks * n * batch, (size_t) n * batch);
	if (st != RSR_CUDA_OK)
		return st;
	topn_kernel<true><<<dim3((uint32_t) nblocks, batch), TOPN_THREADS, 0, stream>>>(
		index->d_y, NULL, count, batch, n, index->d_keys[0]);
	RSR_CUDA_CHECK_LAUNCH();
	count = nblocks * n;
	while (nblocks > 1)
	{
		nblocks = (count + TOPN_CHUNK - 1) / TOPN_CHUNK;
		topn_kernel<false><<<dim3((uint32_t) nblocks, batch), TOPN_THREADS, 0, stream>>>(
			NULL, index->d_keys[cur], count, batch, n, index->d_keys[1 - cur]);
		RSR_CUDA_CHECK_LAUNCH();
		cur = 1 - cur;
		count = nblocks * n;
	}
	*which = cur;
	return RSR_CUDA_OK;
}

/* Batched top-n of M Q^T; only n results per query come back */
RsrCudaStatus
rsr_cuda_topn_batch(RsrCudaIndex *index, const float *Q, uint32_t batch,
					uint32_t n, uint32_t *idx, float *scores,
					size_t *counts, void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;
	RsrCudaStatus status;
	int			which = 0;

	if (index == NULL || Q == NULL || idx == NULL || counts == NULL ||
		batch < 1 || batch > RSR_MAX_BATCH || n > RSR_CUDA_MAX_TOPN)
		return RSR_CUDA_EINVAL;
	if (n == 0)
	{
		memset(counts, 0, batch * sizeof(size_t));
		return RSR_CUDA_OK;
	}
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	status = rsr_cuda_result_buffer(index, batch);
	if (status == RSR_CUDA_OK)
		status = rsr_cuda_stage_queries(index, Q, batch, st);
	if (status == RSR_CUDA_OK)
		status = rsr_cuda_gemm_device(index, index->d_qt, batch, index->d_y, stream);
	if (status == RSR_CUDA_OK)
		status = select_keys(index, batch, n, st, &which);
	if (status != RSR_CUDA_OK)
		return status;
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->h_keys, index->d_keys[which],
								   (size_t) n * batch * sizeof(uint64_t),
								   cudaMemcpyDeviceToHost, st));
	RSR_CUDA_CHECK(cudaStreamSynchronize(st));

	for (uint32_t b = 0; b < batch; b++)
	{
		const uint64_t *keys = index->h_keys + (size_t) b * n;
		uint32_t	i;

		// keys are sorted descending and NaN (0) sorts last
		for (i = 0; i < n && keys[i] != 0; i++)
		{
			idx[(size_t) b * n + i] = ~(uint32_t) keys[i];
			if (scores != NULL)
				scores[(size_t) b * n + i] = key_score(keys[i]);
		}
		counts[b] = i;
	}
	return RSR_CUDA_OK;
}

/* Top-n of M q for one query */
RsrCudaStatus
rsr_cuda_topn(RsrCudaIndex *index, const float *q, uint32_t n,
			  uint32_t *idx, float *scores, size_t *count, void *stream)
{
	return rsr_cuda_topn_batch(index, q, 1, n, idx, scores, count, stream);
}
