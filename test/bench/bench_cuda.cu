/*-------------------------------------------------------------------------
 *
 * bench_cuda.cu
 *	  GPU benchmark: the RSR kernels of rsr_vector_cuda.so against cuBLAS
 *	  on the same matrices stored dense in fp16 and fp32 (GEMV, and GEMM
 *	  for batches), on the `make bench` shapes plus 1M x 1024.
 *
 * Usage: bench_cuda [--k K] [--reps N] [--quick].  Prints one line per
 * shape, kind and operation: milliseconds (median of N runs, each timed
 * with CUDA events after the L2 cache is flushed), GB/s of the bytes the
 * operation must move (matrix or codes read, queries read, results
 * written), that as a fraction of the device's peak memory bandwidth
 * (cudaGetDeviceProperties: 2 * memory clock * bus width), and the speedup
 * of RSR over cuBLAS; then a GPU worker's request (64 queries, top-100 of
 * the live rows) fused against per-query products ranked on the host.
 * Every result is verified before it is timed: with integer-valued queries
 * all partial sums are exact in float32, so RSR and cuBLAS fp32 must agree
 * bit for bit (fp16 holds the small integers and the 0/+-1 elements
 * exactly, and accumulates in fp32).  Without a device it prints "skipped:
 * no CUDA device" and exits 0.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/bench/bench_cuda.cu
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <functional>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "rsr_core.h"
#include "rsr_cuda.h"
#include "test_util.h"

/* Exit with a message when a CUDA runtime call fails */
#define CK(expr) \
	do { \
		cudaError_t err_ = (expr); \
		if (err_ != cudaSuccess) \
		{ \
			printf("%s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__, cudaGetErrorString(err_)); \
			exit(1); \
		} \
	} while (0)

/* Exit with a message when a cuBLAS call fails */
#define CKB(expr) \
	do { \
		cublasStatus_t st_ = (expr); \
		if (st_ != CUBLAS_STATUS_SUCCESS) \
		{ \
			printf("%s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__, cublasGetStatusString(st_)); \
			exit(1); \
		} \
	} while (0)

/* Exit with a message when an rsr_cuda call fails */
#define CKR(expr) \
	do { \
		RsrCudaStatus st_ = (expr); \
		if (st_ != RSR_CUDA_OK) \
		{ \
			printf("%s failed at %s:%d: %s (%s)\n", #expr, __FILE__, __LINE__, \
				   rsr_cuda_status_string(st_), rsr_cuda_last_error()); \
			exit(1); \
		} \
	} while (0)

#define BATCH 64

static int	reps = 20;

/* Shared state of the run */
typedef struct Bench
{
	cudaStream_t stream;
	cublasHandle_t blas;
	cudaEvent_t start;
	cudaEvent_t stop;
	void	   *flush;			/* scratch written before each run */
	size_t		flush_bytes;	/* twice the L2 size */
	double		peak;			/* bytes/s */
} Bench;

/* Median milliseconds of `reps` runs of op, each after an L2 flush */
static double
time_op(Bench *b, const std::function<void()> &op)
{
	std::vector<float> ms;

	op();						/* warm-up: module load, workspace */
	CK(cudaStreamSynchronize(b->stream));
	for (int r = 0; r < reps; r++)
	{
		float		t;

		CK(cudaMemsetAsync(b->flush, r & 0xff, b->flush_bytes, b->stream));
		CK(cudaEventRecord(b->start, b->stream));
		op();
		CK(cudaEventRecord(b->stop, b->stream));
		CK(cudaEventSynchronize(b->stop));
		CK(cudaEventElapsedTime(&t, b->start, b->stop));
		ms.push_back(t);
	}
	std::sort(ms.begin(), ms.end());
	return ms[ms.size() / 2];
}

/* Print one result line */
static void
report(const Bench *b, const char *shape, const char *kind, const char *op, double ms,
	   double bytes, double base_ms)
{
	double		gbs = bytes / (ms * 1e-3) / 1e9;

	printf("%-12s %-8s %-26s %9.4f ms %8.1f GB/s %5.1f%%", shape, kind, op, ms, gbs,
		   100.0 * gbs * 1e9 / b->peak);
	if (base_ms > 0)
		printf("   x%.2f vs cuBLAS fp16", base_ms / ms);
	printf("\n");
}

/* A[i * dims + j] = element j of packed row i, in fp32 and fp16 */
static __global__ void
expand_kernel(const uint8_t *__restrict__ rows, size_t row_bytes, uint32_t dims, bool ternary,
			  size_t n, float *__restrict__ a32, __half *__restrict__ a16)
{
	size_t		plane = ((size_t) dims + 7) / 8;

	for (size_t e = blockIdx.x * (size_t) blockDim.x + threadIdx.x; e < n;
		 e += (size_t) gridDim.x * blockDim.x)
	{
		size_t		i = e / dims;
		uint32_t	j = (uint32_t) (e % dims);
		const uint8_t *row = rows + i * row_bytes;
		int			v = (row[j >> 3] >> (7 - (j & 7))) & 1;

		if (ternary)
			v -= (row[plane + (j >> 3)] >> (7 - (j & 7))) & 1;
		a32[e] = (float) v;
		a16[e] = __int2half_rn(v);
	}
}

/* fp32 to fp16 on the device */
static __global__ void
to_half_kernel(const float *__restrict__ x, size_t n, __half *__restrict__ h)
{
	for (size_t e = blockIdx.x * (size_t) blockDim.x + threadIdx.x; e < n;
		 e += (size_t) gridDim.x * blockDim.x)
		h[e] = __float2half_rn(x[e]);
}

/* cuBLAS y = A Q^T for a row-major A[rows][dims], fp32 or fp16 storage */
static void
blas_product(Bench *b, const void *A, cudaDataType type, const void *Q, uint32_t rows,
			 uint32_t dims, uint32_t batch, float *Y)
{
	float		one = 1.0f;
	float		zero = 0.0f;

	// row-major A is column-major A^T (dims x rows): Y = (A^T)^T Q
	if (type == CUDA_R_32F && batch == 1)
		CKB(cublasSgemv(b->blas, CUBLAS_OP_T, (int) dims, (int) rows, &one, (const float *) A,
						(int) dims, (const float *) Q, 1, &zero, Y, 1));
	else
		CKB(cublasGemmEx(b->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int) rows, (int) batch, (int) dims,
						 &one, A, type, (int) dims, Q, type, (int) dims, &zero, Y, CUDA_R_32F,
						 (int) rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/*
 * A GPU worker's request: top-100 of 64 queries over the live half of the
 * rows, host to host.  The fused top-n (one call, only candidates come
 * back) against what the worker did before: per query, the product copied
 * back and ranked on the host with dead rows NaN.  Both are checked to
 * agree first (integer queries: exact scores).
 */
static void
bench_worker_topn(Bench *b, RsrCudaIndex *index, const std::vector<float> &q, uint32_t rows,
				  uint32_t dims, const char *shape, const char *kname)
{
	const uint32_t n = 100;
	std::vector<uint8_t> live(rows);
	std::vector<uint32_t> idx((size_t) n * BATCH);
	std::vector<float> sc((size_t) n * BATCH);
	std::vector<size_t> counts(BATCH);
	std::vector<uint32_t> want(n);
	std::vector<uint32_t> heap(n);
	std::vector<float> y(rows);
	double		tfused;
	double		thost;

	for (uint32_t i = 0; i < rows; i++)
		live[i] = (uint8_t) (rnd() & 1);
	CKR(rsr_cuda_index_set_live(index, live.data(), rows, b->stream));
	CKR(rsr_cuda_topn_batch(index, q.data(), BATCH, n, idx.data(), sc.data(), counts.data(),
							b->stream));
	for (uint32_t j = 0; j < BATCH; j++)
	{
		size_t		got;

		CKR(rsr_cuda_gemv(index, q.data() + (size_t) j * dims, y.data(), b->stream));
		for (uint32_t i = 0; i < rows; i++)
			if (!live[i])
				y[i] = NAN;
		got = rsr_topn(y.data(), rows, n, want.data(), heap.data());
		if (got != counts[j] ||
			memcmp(want.data(), idx.data() + (size_t) j * n, got * sizeof(uint32_t)) != 0)
		{
			printf("%s %s: masked top-n verification failed for query %u\n", shape, kname, j);
			exit(1);
		}
	}

	tfused = time_op(b, [&] {
		CKR(rsr_cuda_topn_batch(index, q.data(), BATCH, n, idx.data(), sc.data(), counts.data(),
								b->stream));
	});
	thost = time_op(b, [&] {
		for (uint32_t j = 0; j < BATCH; j++)
		{
			CKR(rsr_cuda_gemv(index, q.data() + (size_t) j * dims, y.data(), b->stream));
			for (uint32_t i = 0; i < rows; i++)
				if (!live[i])
					y[i] = NAN;
			(void) rsr_topn(y.data(), rows, n, want.data(), heap.data());
		}
	});
	printf("%-12s %-8s worker request, 64 x top-100 of the live half: fused %.4f ms, "
		   "per query gemv + host top-n %.4f ms (x%.2f)\n", shape, kname, tfused, thost,
		   thost / tfused);
	CKR(rsr_cuda_index_set_live(index, NULL, 0, b->stream));
}

/* One shape and kind: verify, then time RSR and cuBLAS */
static void
bench_shape(Bench *b, RsrKind kind, uint32_t k, uint32_t rows, uint32_t dims)
{
	const char *kname = kind == RSR_KIND_BINARY ? "binary" : "ternary";
	size_t		row_bytes = rsr_row_bytes(kind, dims);
	size_t		plane = ((size_t) dims + 7) / 8;
	size_t		nel = (size_t) rows * dims;
	std::vector<uint8_t> hrows((size_t) rows * row_bytes, 0);
	std::vector<uint8_t> store;
	std::vector<RsrSegmentRef> segs;
	std::vector<float> q((size_t) dims * BATCH);
	std::vector<float> y_rsr((size_t) rows * BATCH);
	std::vector<float> y_blas((size_t) rows * BATCH);
	RsrCudaIndex *index = NULL;
	uint8_t    *d_rows;
	float	   *d_a32;
	__half	   *d_a16;
	float	   *d_q;
	float	   *d_qt;
	__half	   *d_q16;
	float	   *d_y;
	size_t		max_seg = rsr_segment_max_size(kind, RSR_LAYOUT_BUCKET, k, dims);
	size_t		used = 0;
	char		shape[32];
	double		codes;
	double		t16, t16b, t32, tr, trb, tsingle, ttop;

	snprintf(shape, sizeof(shape), "%ux%u", rows, dims);

	// random rows: binary 1/2 ones; ternary 1/4 +1, 1/4 -1, 1/2 zero
	for (uint32_t i = 0; i < rows; i++)
	{
		uint8_t    *row = hrows.data() + (size_t) i * row_bytes;

		for (size_t byte = 0; byte < plane; byte++)
		{
			uint64_t	r = rnd();
			uint8_t		keep = byte + 1 < plane || dims % 8 == 0 ? 0xff :
				(uint8_t) (0xff << (8 - dims % 8));
			uint8_t		p = (uint8_t) r & keep;

			row[byte] = p;
			if (kind == RSR_KIND_TERNARY)
			{
				uint8_t		sign = (uint8_t) (r >> 8);

				row[byte] = p & ~sign;
				row[plane + byte] = p & sign;
			}
		}
	}

	// segments: whole rows, blocks of k
	store.resize((size_t) ((rows + k - 1) / k) * max_seg);
	for (uint32_t r0 = 0; r0 < rows; r0 += k)
	{
		const uint8_t *ptrs[RSR_MAX_K];
		uint32_t	nr = rows - r0 < k ? rows - r0 : k;
		size_t		size;
		RsrSegmentRef ref;

		for (uint32_t r = 0; r < nr; r++)
			ptrs[r] = hrows.data() + (size_t) (r0 + r) * row_bytes;
		if (rsr_segment_build(kind, RSR_LAYOUT_BUCKET, k, ptrs, nr, dims, 0, dims,
							  store.data() + used, max_seg, &size) != RSR_OK)
		{
			printf("rsr_segment_build failed\n");
			exit(1);
		}
		ref.data = store.data() + used;
		ref.size = (uint32_t) size;
		ref.out = r0;
		segs.push_back(ref);
		used += size;
	}
	CKR(rsr_cuda_index_upload(0, segs.data(), segs.size(), b->stream, &index, NULL));
	codes = (double) rsr_cuda_index_code_bytes(index);

	// dense copies for cuBLAS
	CK(cudaMalloc((void **) &d_rows, hrows.size()));
	CK(cudaMalloc((void **) &d_a32, nel * sizeof(float)));
	CK(cudaMalloc((void **) &d_a16, nel * sizeof(__half)));
	CK(cudaMalloc((void **) &d_q, (size_t) dims * BATCH * sizeof(float)));
	CK(cudaMalloc((void **) &d_qt, (size_t) dims * BATCH * sizeof(float)));
	CK(cudaMalloc((void **) &d_q16, (size_t) dims * BATCH * sizeof(__half)));
	CK(cudaMalloc((void **) &d_y, (size_t) rows * BATCH * sizeof(float)));
	CK(cudaMemcpy(d_rows, hrows.data(), hrows.size(), cudaMemcpyHostToDevice));
	expand_kernel<<<4096, 256, 0, b->stream>>>(d_rows, row_bytes, dims,
											   kind == RSR_KIND_TERNARY, nel, d_a32, d_a16);
	CK(cudaGetLastError());
	CK(cudaFree(d_rows));

	// verify with integer queries: every result exact, so all must agree
	for (size_t i = 0; i < q.size(); i++)
		q[i] = (float) ((int) (rnd() % 7) - 3);
	CK(cudaMemcpyAsync(d_q, q.data(), q.size() * sizeof(float), cudaMemcpyHostToDevice, b->stream));
	to_half_kernel<<<256, 256, 0, b->stream>>>(d_q, q.size(), d_q16);
	CK(cudaGetLastError());
	CKR(rsr_cuda_gemm(index, q.data(), BATCH, y_rsr.data(), b->stream));
	for (int type = 0; type < 2; type++)
	{
		blas_product(b, type == 0 ? (const void *) d_a32 : (const void *) d_a16,
					 type == 0 ? CUDA_R_32F : CUDA_R_16F,
					 type == 0 ? (const void *) d_q : (const void *) d_q16, rows, dims, BATCH, d_y);
		CK(cudaMemcpyAsync(y_blas.data(), d_y, y_blas.size() * sizeof(float),
						   cudaMemcpyDeviceToHost, b->stream));
		CK(cudaStreamSynchronize(b->stream));
		for (uint32_t i = 0; i < rows; i++)
			for (uint32_t j = 0; j < BATCH; j++)
				if (y_rsr[(size_t) i * BATCH + j] != y_blas[(size_t) j * rows + i])
				{
					printf("%s %s: verification failed at row %u query %u: rsr %g cublas %s %g\n",
						   shape, kname, i, j, y_rsr[(size_t) i * BATCH + j],
						   type == 0 ? "fp32" : "fp16", y_blas[(size_t) j * rows + i]);
					exit(1);
				}
	}
	CKR(rsr_cuda_gemv(index, q.data(), y_rsr.data(), b->stream));
	for (uint32_t i = 0; i < rows; i++)
		if (y_rsr[i] != y_blas[i])
		{
			printf("%s %s: single-query verification failed at row %u\n", shape, kname, i);
			exit(1);
		}

	// time: one query
	t16 = time_op(b, [&] { blas_product(b, d_a16, CUDA_R_16F, d_q16, rows, dims, 1, d_y); });
	t32 = time_op(b, [&] { blas_product(b, d_a32, CUDA_R_32F, d_q, rows, dims, 1, d_y); });
	tr = time_op(b, [&] { CKR(rsr_cuda_gemv_device(index, d_q, d_y, b->stream)); });
	report(b, shape, kname, "cuBLAS fp16 gemv", t16, nel * 2.0 + dims * 2.0 + rows * 4.0, 0);
	report(b, shape, kname, "cuBLAS fp32 gemv", t32, nel * 4.0 + dims * 4.0 + rows * 4.0, 0);
	report(b, shape, kname, "rsr gemv", tr, codes + dims * 4.0 + rows * 4.0, t16);

	// time: 64 queries, batched against 64 single calls
	{
		std::vector<float> qt(q.size());

		for (uint32_t j = 0; j < dims; j++)
			for (uint32_t i = 0; i < BATCH; i++)
				qt[(size_t) j * BATCH + i] = q[(size_t) i * dims + j];
		CK(cudaMemcpy(d_qt, qt.data(), qt.size() * sizeof(float), cudaMemcpyHostToDevice));
	}
	t16b = time_op(b, [&] { blas_product(b, d_a16, CUDA_R_16F, d_q16, rows, dims, BATCH, d_y); });
	trb = time_op(b, [&] { CKR(rsr_cuda_gemm_device(index, d_qt, BATCH, d_y, b->stream)); });
	tsingle = time_op(b, [&] {
		for (int j = 0; j < BATCH; j++)
			CKR(rsr_cuda_gemv_device(index, d_q + (size_t) j * dims, d_y + (size_t) j * rows,
									 b->stream));
	});
	report(b, shape, kname, "cuBLAS fp16 gemm (64)", t16b,
		   nel * 2.0 + dims * 2.0 * BATCH + rows * 4.0 * BATCH, 0);
	report(b, shape, kname, "rsr gemm (64)", trb, codes + dims * 4.0 * BATCH + rows * 4.0 * BATCH,
		   t16b);
	report(b, shape, kname, "rsr 64 x gemv", tsingle,
		   (codes + dims * 4.0 + rows * 4.0) * BATCH, 0);
	printf("%-12s %-8s batched 64 queries: x%.2f vs 64 single calls\n", shape, kname,
		   tsingle / trb);

	// time: top-10 of one query, host to host (query in, 10 results out)
	{
		uint32_t	idx[10];
		float		sc[10];
		size_t		got;

		ttop = time_op(b, [&] {
			CKR(rsr_cuda_topn(index, q.data(), 10, idx, sc, &got, b->stream));
		});
		printf("%-12s %-8s rsr top-10 (host to host)   %9.4f ms\n", shape, kname, ttop);
	}
	bench_worker_topn(b, index, q, rows, dims, shape, kname);

	rsr_cuda_index_free(index);
	CK(cudaFree(d_a32));
	CK(cudaFree(d_a16));
	CK(cudaFree(d_q));
	CK(cudaFree(d_qt));
	CK(cudaFree(d_q16));
	CK(cudaFree(d_y));
}

int
main(int argc, char **argv)
{
	static const uint32_t shapes[][2] = {
		{65536, 1024}, {262144, 768}, {100000, 384}, {2560, 2560}, {4096, 14336}, {1000000, 1024}
	};
	Bench		b;
	RsrCudaDeviceInfo info;
	cudaDeviceProp prop;
	int			ndev = 0;
	uint32_t	k = 8;
	int			quick = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--k") == 0 && i + 1 < argc)
			k = (uint32_t) atoi(argv[++i]);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
	}
	if (k < 1 || k > RSR_MAX_K || reps < 1)
	{
		printf("usage: bench_cuda [--k 1..16] [--reps N] [--quick]\n");
		return 2;
	}
	CKR(rsr_cuda_device_count(&ndev));
	if (ndev == 0)
	{
		printf("skipped: no CUDA device\n");
		return 0;
	}
	rsr_init();
	CKR(rsr_cuda_probe(0, &info));
	CK(cudaSetDevice(0));
	CK(cudaGetDeviceProperties(&prop, 0));
	b.peak = info.mem_bandwidth;
	b.flush_bytes = 2 * (size_t) prop.l2CacheSize;
	CK(cudaStreamCreate(&b.stream));
	CK(cudaEventCreate(&b.start));
	CK(cudaEventCreate(&b.stop));
	CK(cudaMalloc(&b.flush, b.flush_bytes));
	CKB(cublasCreate(&b.blas));
	CKB(cublasSetStream(b.blas, b.stream));
	printf("device: %s, sm_%d%d, %d SMs, peak %.0f GB/s, L2 %d MiB; k = %u, median of %d\n",
		   info.name, info.major, info.minor, info.sm_count, info.mem_bandwidth / 1e9,
		   prop.l2CacheSize >> 20, k, reps);
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (int kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		{
			if (quick && s > 0 && s + 1 < sizeof(shapes) / sizeof(shapes[0]))
				continue;
			bench_shape(&b, (RsrKind) kind, k, shapes[s][0], shapes[s][1]);
		}
	CKB(cublasDestroy(b.blas));
	CK(cudaFree(b.flush));
	return 0;
}
