/*-------------------------------------------------------------------------
 *
 * topn.cu
 *	  Top-n selection on the device: the scores of a product stay on the
 *	  GPU, and only the n best (index, score) pairs of each query leave it.
 *
 * Each score becomes a 64-bit key, order-preserving float bits above the
 * complement of the row index, so that one unsigned comparison ranks by
 * score and then by the lower index (rsr_topn's rule); NaN, and a row the
 * index's live mask excludes (rsr_cuda_index_set_live), become key 0, which
 * is never returned.  The mask is applied only here, so the products stay
 * the raw M q.  A thread block sorts a chunk of RSR_CUDA_TOPN_CHUNK keys in
 * shared memory (bitonic network) and keeps its n best; the candidates of
 * all chunks go through the same kernel again until one chunk remains.
 * n <= RSR_CUDA_TOPN_CHUNK / 4, so every pass shrinks the candidates
 * fourfold.
 *
 * The blocks of one chunk for all queries are adjacent in the grid (query
 * fastest), so they run together: the first pass reads scores y[e * batch
 * + b], strided for one query, and the queries that share a 32-byte sector
 * then find it in L2 instead of each fetching it from memory.
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

#define TOPN_CHUNK RSR_CUDA_TOPN_CHUNK
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
 * block blockIdx.x = chunk * batch + b (query b) writes out[(b * nchunks +
 * chunk) * n + i].  The input is scores y[e * batch + b] with the row
 * mask live[e] (FromScores; live may be NULL) or keys in[b * count + e].
 */
template <bool FromScores>
static __global__ void __launch_bounds__(TOPN_THREADS)
topn_kernel(const float *__restrict__ y, const uint8_t *__restrict__ live,
			const uint64_t *__restrict__ in, size_t count, uint32_t batch,
			uint32_t n, uint32_t nchunks, uint64_t *__restrict__ out)
{
	__shared__ uint64_t s[TOPN_CHUNK];
	uint32_t	b = blockIdx.x % batch;
	uint32_t	chunk = blockIdx.x / batch;
	size_t		base = (size_t) chunk * TOPN_CHUNK;

	for (uint32_t i = threadIdx.x; i < TOPN_CHUNK; i += blockDim.x)
	{
		size_t		e = base + i;
		uint64_t	key = 0;

		if (e < count)
		{
			if (!FromScores)
				key = in[(size_t) b * count + e];
			else if (live == NULL || live[e] != 0)
				key = make_key(y[e * batch + b], (uint32_t) e);
		}
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
		out[((size_t) b * nchunks + chunk) * n + i] = s[i];
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
 * Select the n best live rows of d_y[row * batch + b] for every query into
 * d_keys[*which][b * n + i], best first (key 0 past the live non-NaN rows).
 */
static RsrCudaStatus
select_keys(RsrCudaIndex *index, uint32_t batch, uint32_t n,
			cudaStream_t stream, int *which)
{
	size_t		count = index->nout;
	size_t		nchunks = (count + TOPN_CHUNK - 1) / TOPN_CHUNK;
	const uint8_t *live = index->use_live > 0 ? index->d_live : NULL;
	RsrCudaStatus st;
	int			cur = 0;

	// nout < 2^32 and batch <= 64: the grid stays far below 2^31 - 1 blocks
	if (nchunks * batch > INT32_MAX)
		return RSR_CUDA_EINVAL;
	st = key_buffers(index, nchunks * n * batch, (size_t) n * batch);
	if (st != RSR_CUDA_OK)
		return st;
	topn_kernel<true><<<(uint32_t) (nchunks * batch), TOPN_THREADS, 0, stream>>>(
		index->d_y, live, NULL, count, batch, n, (uint32_t) nchunks, index->d_keys[0]);
	RSR_CUDA_CHECK_LAUNCH();
	count = nchunks * n;
	while (nchunks > 1)
	{
		// n <= TOPN_CHUNK / 4: fewer chunks each pass, and the keys fit
		nchunks = (count + TOPN_CHUNK - 1) / TOPN_CHUNK;
		topn_kernel<false><<<(uint32_t) (nchunks * batch), TOPN_THREADS, 0, stream>>>(
			NULL, NULL, index->d_keys[cur], count, batch, n, (uint32_t) nchunks,
			index->d_keys[1 - cur]);
		RSR_CUDA_CHECK_LAUNCH();
		cur = 1 - cur;
		count = nchunks * n;
	}
	*which = cur;
	return RSR_CUDA_OK;
}

/* Batched top-n of M Q^T over the live rows; only n results per query come back */
RsrCudaStatus
rsr_cuda_topn_batch(RsrCudaIndex *index, const float *Q, uint32_t batch,
					uint32_t n, uint32_t *idx, float *scores,
					size_t *counts, void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;
	RsrCudaStatus status;
	int			which = 0;

	if (index == NULL || Q == NULL || idx == NULL || counts == NULL ||
		batch < 1 || batch > RSR_MAX_BATCH || n > RSR_CUDA_MAX_TOPN ||
		index->use_live < 0)
		return RSR_CUDA_EINVAL;
	if (n == 0)
	{
		memset(counts, 0, batch * sizeof(size_t));
		return RSR_CUDA_OK;
	}
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	status = rsr_cuda_product(index, Q, batch, st);
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

		// keys are sorted descending, and NaN and excluded rows (0) sort last
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
