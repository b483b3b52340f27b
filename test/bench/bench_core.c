/*-------------------------------------------------------------------------
 *
 * bench_core.c
 *	  `make bench`: the C kernel benchmark.  For embedding-table and
 *	  model-layer shapes, binary and ternary, 1 and 2 threads: a dense
 *	  float32 baseline, the bit-packed AVX2 baseline, layout (a) and layout
 *	  (b) over a sweep of k, and the batched kernel with B = 16.  Every
 *	  kernel is verified against a double reference before it is timed;
 *	  kernels are interleaved round by round and the median is reported.
 *
 * Usage: bench_core [--quick] [--rounds N] [--seed N] [--shape RxD]
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/bench/bench_core.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rsr_internal.h"
#include "test_util.h"

#define BATCH 16
#define PAGE_BYTES 8000			/* a segment must fit an 8 KB page */
#define MAX_KERNELS 16
#define MAX_ROUNDS 64

typedef struct Shape
{
	const char *name;
	uint32_t	rows;
	uint32_t	dims;
	int			embedding;		/* counts in the summary */
} Shape;

static const Shape shapes[] = {
	{"65536x1024", 65536, 1024, 1},
	{"262144x768", 262144, 768, 1},
	{"100000x384", 100000, 384, 1},
	{"2560x2560", 2560, 2560, 0},
	{"4096x14336", 4096, 14336, 0},
};

/* Value distributions of the rows */
enum
{
	DIST_BINARY, DIST_TERNARY, DIST_TERNARY40, NDIST
};
static const char *dist_names[] = {"binary", "ternary", "ternary40"};

/* One timed kernel of a configuration */
typedef struct Kernel
{
	char		name[32];
	int			kind;			/* K_DENSE, ... */
	uint32_t	k;
	RsrSegmentRef *segs;
	size_t		nsegs;
	size_t		bytes;			/* bytes of the data it reads */
	double		prep_ms;		/* preprocessing time */
	int			reps;			/* calls per timed sample */
	double		t[MAX_ROUNDS];	/* ms per matvec (per query when batched) */
} Kernel;

enum
{
	K_DENSE, K_BITPACKED, K_PERM, K_DIRECT, K_BUCKET, K_BATCHED
};

/* Median of n values (sorts them) */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

/* Median of n values */
static double
median(const double *v, int n)
{
	double		tmp[MAX_ROUNDS];

	memcpy(tmp, v, sizeof(double) * n);
	qsort(tmp, n, sizeof(double), cmp_double);
	return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* Dense float32 row . q with AVX2 FMA */
__attribute__((target("avx2,fma")))
static float
dense_dot(const float *row, const float *q, uint32_t dims)
{
	__m256		a0 = _mm256_setzero_ps();
	__m256		a1 = _mm256_setzero_ps();
	float		lanes[8];
	float		s = 0.0f;
	uint32_t	j;
	int			l;

	for (j = 0; j + 16 <= dims; j += 16)
	{
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(q + j), a0);
		a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + j + 8), _mm256_loadu_ps(q + j + 8), a1);
	}
	_mm256_storeu_ps(lanes, _mm256_add_ps(a0, a1));
	for (; j < dims; j++)
		s += row[j] * q[j];
	for (l = 0; l < 8; l++)
		s += lanes[l];
	return s;
}
#else
/* Dense float32 row . q */
static float
dense_dot(const float *row, const float *q, uint32_t dims)
{
	float		s = 0.0f;
	uint32_t	j;

	for (j = 0; j < dims; j++)
		s += row[j] * q[j];
	return s;
}
#endif

/* The benchmark state of one (shape, distribution) */
typedef struct Config
{
	RsrKind		kind;
	uint32_t	rows;
	uint32_t	dims;
	size_t		rb;				/* packed bytes per row */
	uint8_t    *packed;
	const uint8_t **rowp;
	float	   *dense;
	float	   *Q;				/* BATCH queries */
	double	   *ref;			/* reference of query 0, all rows */
	double	   *l1;				/* ||Q[b]||_1 */
	float	   *y;
	float	   *Y;
	void	   *work;
	size_t		work_size;
} Config;

/* Run one kernel once with `threads` threads */
static RsrStatus
run_kernel(Config *c, Kernel *kn, int threads)
{
	uint32_t	i;

	switch (kn->kind)
	{
		case K_DENSE:
#pragma omp parallel for num_threads(threads) schedule(static)
			for (i = 0; i < c->rows; i++)
				c->y[i] = dense_dot(c->dense + (size_t) i * c->dims, c->Q, c->dims);
			return RSR_OK;
		case K_BITPACKED:
			{
				int			status = RSR_OK;

#pragma omp parallel num_threads(threads) reduction(max:status)
				{
					int			t = 0;
					int			n = 1;
					uint32_t	lo;
					uint32_t	hi;

#ifdef _OPENMP
					t = omp_get_thread_num();
					n = omp_get_num_threads();
#endif
					lo = (uint32_t) ((uint64_t) c->rows * t / n);
					hi = (uint32_t) ((uint64_t) c->rows * (t + 1) / n);
					status = rsr_gemv_rows(c->kind, c->rowp + lo, hi - lo, c->dims,
										   c->Q, c->y + lo);
				}
				return (RsrStatus) status;
			}
		case K_PERM:
		case K_DIRECT:
			memset(c->y, 0, sizeof(float) * c->rows);
			return rsr_gemv(kn->segs, kn->nsegs, c->Q, c->dims, c->y, c->work,
							c->work_size, threads);
		case K_BUCKET:
			{
				RsrKernels kern = rsr_kernels_scalar;

				memset(c->y, 0, sizeof(float) * c->rows);
				return rsr_gemv_with(&kern, kn->segs, kn->nsegs, c->Q, c->dims,
									 c->y, c->work, c->work_size, threads);
			}
		case K_BATCHED:
			memset(c->Y, 0, sizeof(float) * c->rows * BATCH);
			return rsr_gemm(kn->segs, kn->nsegs, c->Q, BATCH, c->dims, c->Y,
							c->work, c->work_size, threads);
	}
	return RSR_EINVAL;
}

/* Check row i of a batched result for every query; 0 when it matches */
static int
verify_batched_row(Config *c, Kernel *kn, uint32_t i)
{
	const uint8_t *row = c->rowp[i];
	size_t		plane = ((size_t) c->dims + 7) / 8;
	uint32_t	b;

	for (b = 0; b < BATCH; b++)
	{
		const float *q = c->Q + (size_t) b * c->dims;
		double		s = 0.0;
		uint32_t	j;

		for (j = 0; j < c->dims; j++)
		{
			if (rsr_bit(row, j))
				s += q[j];
			if (c->kind == RSR_KIND_TERNARY && rsr_bit(row + plane, j))
				s -= q[j];
		}
		if (fabs(c->Y[(size_t) i * BATCH + b] - s) >
			rsr_error_bound(c->dims, c->l1[b]) + ldexp(c->l1[b], -50))
		{
			printf("MISMATCH %s: row %u query %u got %.9g want %.9g\n", kn->name,
				   i, b, c->Y[(size_t) i * BATCH + b], s);
			return 1;
		}
	}
	return 0;
}

/* Check a kernel's output against the reference; 0 when it matches */
static int
verify(Config *c, Kernel *kn)
{
	uint32_t	i;

	if (kn->kind != K_BATCHED)
	{
		double		tol = rsr_error_bound(c->dims, c->l1[0]) + ldexp(c->l1[0], -50);

		/* the dense kernel uses FMA: products are exact, so the bound holds */
		for (i = 0; i < c->rows; i++)
			if (fabs(c->y[i] - c->ref[i]) > tol)
			{
				printf("MISMATCH %s: row %u got %.9g want %.9g\n", kn->name, i,
					   c->y[i], c->ref[i]);
				return 1;
			}
		return 0;
	}
	/* batched: every query on a sample of rows (every 61st and the last) */
	for (i = 0; i < c->rows; i += 61)
		if (verify_batched_row(c, kn, i) ||
			verify_batched_row(c, kn, c->rows - 1))
			return 1;
	return 0;
}

/* Build the segments of layout/k for a config; returns the bytes used */
static void
build_segments(Config *c, Kernel *kn, RsrLayout layout)
{
	uint32_t	k = kn->k;
	uint32_t	range = rsr_segment_max_cols(c->kind, layout, k, PAGE_BYTES);
	uint32_t	nranges;
	uint32_t	nblocks = (c->rows + k - 1) / k;
	size_t		cap;
	uint8_t    *buf;
	size_t		used = 0;
	size_t		si = 0;
	uint32_t	b;
	double		t0;

	if (range > c->dims)
		range = c->dims;
	nranges = (c->dims + range - 1) / range;
	cap = rsr_segment_max_size(c->kind, layout, k, range) * nranges * (size_t) nblocks;
	buf = xmalloc(cap);
	kn->nsegs = (size_t) nblocks * nranges;
	kn->segs = xmalloc(sizeof(RsrSegmentRef) * kn->nsegs);
	t0 = now_ms();
	for (b = 0; b < nblocks; b++)
	{
		uint32_t	nr = c->rows - b * k < k ? c->rows - b * k : k;
		uint32_t	col;

		for (col = 0; col < c->dims; col += range)
		{
			uint32_t	n = c->dims - col < range ? c->dims - col : range;
			size_t		size;

			if (rsr_segment_build(c->kind, layout, k, c->rowp + (size_t) b * k, nr,
								  c->dims, col, n, buf + used, cap - used,
								  &size) != RSR_OK)
			{
				printf("segment build failed\n");
				exit(1);
			}
			kn->segs[si].data = buf + used;
			kn->segs[si].size = (uint32_t) size;
			kn->segs[si].out = b * k;
			si++;
			used += size;
		}
	}
	kn->prep_ms = now_ms() - t0;
	kn->bytes = used;
}

/* Fill a config's rows, queries and reference */
static void
make_config(Config *c, const Shape *sh, int dist)
{
	size_t		plane = ((size_t) sh->dims + 7) / 8;
	uint32_t	i;
	uint32_t	j;
	uint32_t	b;

	c->kind = dist == DIST_BINARY ? RSR_KIND_BINARY : RSR_KIND_TERNARY;
	c->rows = sh->rows;
	c->dims = sh->dims;
	c->rb = rsr_row_bytes(c->kind, c->dims);
	c->packed = xmalloc(c->rb * c->rows);
	c->rowp = xmalloc(sizeof(*c->rowp) * c->rows);
	c->dense = xmalloc(sizeof(float) * (size_t) c->rows * c->dims);
	memset(c->packed, 0, c->rb * c->rows);
	for (i = 0; i < c->rows; i++)
	{
		uint8_t    *row = c->packed + c->rb * i;
		float	   *d = c->dense + (size_t) i * c->dims;

		c->rowp[i] = row;
		for (j = 0; j < c->dims; j++)
		{
			uint32_t	r = (uint32_t) (rnd() >> 40) % 10;
			int			v;

			if (dist == DIST_BINARY)
				v = r < 5;
			else if (dist == DIST_TERNARY)
				v = (int) ((rnd() >> 40) % 3) - 1;
			else
				v = r < 4 ? 0 : r < 7 ? 1 : -1;
			d[j] = (float) v;
			if (v > 0)
				row[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
			else if (v < 0)
				row[plane + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
		}
	}
	c->Q = xmalloc(sizeof(float) * BATCH * c->dims);
	c->l1 = xmalloc(sizeof(double) * BATCH);
	for (b = 0; b < BATCH; b++)
	{
		c->l1[b] = 0.0;
		for (j = 0; j < c->dims; j++)
		{
			float		v = (float) ((double) (rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);

			c->Q[(size_t) b * c->dims + j] = v;
			c->l1[b] += fabs(v);
		}
	}
	c->ref = xmalloc(sizeof(double) * c->rows);
	for (i = 0; i < c->rows; i++)
	{
		double		s = 0.0;

		for (j = 0; j < c->dims; j++)
			s += (double) c->dense[(size_t) i * c->dims + j] * c->Q[j];
		c->ref[i] = s;
	}
	c->y = xmalloc(sizeof(float) * c->rows);
	c->Y = xmalloc(sizeof(float) * c->rows * BATCH);
	c->work_size = rsr_workspace_size(RSR_MAX_K, BATCH, 2);
	c->work = xmalloc(c->work_size);
}

/* Release a config */
static void
free_config(Config *c)
{
	free(c->packed);
	free(c->rowp);
	free(c->dense);
	free(c->Q);
	free(c->l1);
	free(c->ref);
	free(c->y);
	free(c->Y);
	free(c->work);
}

/* Geometric-mean accumulators of the summary */
static double sum_log_single;
static double sum_log_batched;
static int	nsummary;

/* Best (lowest median) kernel of a kind: index or -1 */
static int
best_of(Kernel *kn, int nk, int kind, double *med)
{
	int			best = -1;
	int			i;

	for (i = 0; i < nk; i++)
		if (kn[i].kind == kind && (best < 0 || med[i] < med[best]))
			best = i;
	return best;
}

/* Benchmark one (shape, distribution) at 1 and 2 threads */
static void
bench_config(const Shape *sh, int dist, int rounds)
{
	Config		c;
	Kernel		kn[MAX_KERNELS];
	int			nk = 0;
	int			threads;
	int			i;
	static const uint32_t perm_k[] = {2, 4};
	static const uint32_t direct_k[] = {8, 16};
	static const uint32_t batched_k[] = {8, 16};

	make_config(&c, sh, dist);
	memset(kn, 0, sizeof(kn));
	snprintf(kn[nk].name, 32, "dense-f32");
	kn[nk].kind = K_DENSE;
	kn[nk++].bytes = sizeof(float) * (size_t) c.rows * c.dims;
	snprintf(kn[nk].name, 32, "bitpacked");
	kn[nk].kind = K_BITPACKED;
	kn[nk++].bytes = c.rb * c.rows;
	for (i = 0; i < 2; i++)
	{
		snprintf(kn[nk].name, 32, "perm-a k=%u", perm_k[i]);
		kn[nk].kind = K_PERM;
		kn[nk].k = perm_k[i];
		build_segments(&c, &kn[nk++], RSR_LAYOUT_PERM);
	}
	for (i = 0; i < 2; i++)
	{
		snprintf(kn[nk].name, 32, "bucket-b k=%u", direct_k[i]);
		kn[nk].kind = K_DIRECT;
		kn[nk].k = direct_k[i];
		build_segments(&c, &kn[nk++], RSR_LAYOUT_BUCKET);
	}
	/* RSR single query with buckets and the fold, on the k = 8 segments */
	kn[nk] = kn[nk - 2];
	snprintf(kn[nk].name, 32, "rsr-bucket1 k=8");
	kn[nk++].kind = K_BUCKET;
	for (i = 0; i < 2; i++)
	{
		int			j;
		int			shared = -1;

		for (j = 0; j < nk; j++)
			if (kn[j].kind == K_DIRECT && kn[j].k == batched_k[i])
				shared = j;
		if (shared >= 0)
		{
			kn[nk] = kn[shared];
		}
		else
		{
			kn[nk].k = batched_k[i];
			build_segments(&c, &kn[nk], RSR_LAYOUT_BUCKET);
		}
		snprintf(kn[nk].name, 32, "batch16-b k=%u", batched_k[i]);
		kn[nk++].kind = K_BATCHED;
	}

	for (threads = 1; threads <= 2; threads++)
	{
		double		med[MAX_KERNELS];
		int			r;
		int			bp;
		int			bd;
		int			bb;

		/* verify, then calibrate the repetitions to about 10 ms a sample */
		for (i = 0; i < nk; i++)
		{
			double		t0;
			double		ms;

			if (run_kernel(&c, &kn[i], threads) != RSR_OK || verify(&c, &kn[i]))
			{
				printf("FAILED: %s %s %s\n", sh->name, dist_names[dist], kn[i].name);
				exit(1);
			}
			t0 = now_ms();
			run_kernel(&c, &kn[i], threads);
			ms = now_ms() - t0;
			kn[i].reps = ms >= 10.0 ? 1 : (int) (10.0 / (ms + 1e-3)) + 1;
		}
		for (r = 0; r < rounds; r++)
			for (i = 0; i < nk; i++)
			{
				double		t0 = now_ms();
				int			rep;

				for (rep = 0; rep < kn[i].reps; rep++)
					run_kernel(&c, &kn[i], threads);
				kn[i].t[r] = (now_ms() - t0) / kn[i].reps /
					(kn[i].kind == K_BATCHED ? BATCH : 1);
			}
		for (i = 0; i < nk; i++)
		{
			med[i] = median(kn[i].t, rounds);
			printf("%-11s %-9s %d  %-16s %9.3f %8.2f %9.1f %6.2f %9.1f %6.2fx\n",
				   sh->name, dist_names[dist], threads, kn[i].name, med[i],
				   med[i] * 1e6 / c.rows, (double) kn[i].bytes / c.rows,
				   8.0 * kn[i].bytes / ((double) c.rows * c.dims), kn[i].prep_ms,
				   med[1] / med[i]);
		}
		bp = best_of(kn, nk, K_PERM, med);
		bd = best_of(kn, nk, K_DIRECT, med);
		bb = best_of(kn, nk, K_BATCHED, med);
		printf("best: %s %s threads=%d perm k=%u (%.2fx) bucket k=%u (%.2fx) batch16 k=%u (%.2fx)\n",
			   sh->name, dist_names[dist], threads, kn[bp].k, med[1] / med[bp],
			   kn[bd].k, med[1] / med[bd], kn[bb].k, med[1] / med[bb]);
		if (sh->embedding && threads == 2)
		{
			sum_log_single += log(med[1] / med[bd]);
			sum_log_batched += log(med[1] / med[bb]);
			nsummary++;
		}
		fflush(stdout);
	}

	/* release the segment buffers (shared ones once) */
	for (i = 0; i < nk; i++)
	{
		int			j;
		int			dup = 0;

		if (kn[i].segs == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (kn[j].segs == kn[i].segs)
				dup = 1;
		if (!dup)
		{
			free((void *) kn[i].segs[0].data);
			free(kn[i].segs);
		}
	}
	free_config(&c);
}

/* Entry point */
int
main(int argc, char **argv)
{
	int			rounds = 7;
	int			quick = 0;
	const char *only = NULL;
	uint64_t	seed = 42;
	size_t		s;
	int			d;
	int			i;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
			only = argv[++i];
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 7;
	rng_state = seed * 2654435761ULL + 1;
	rsr_init();
	printf("kernels: %s, rounds: %d, seed: %llu\n", rsr_kernel_name(), rounds,
		   (unsigned long long) seed);
	printf("ms: median per matvec (batched: per query of a B=16 call); ns/row; bytes read per row;\n"
		   "bits stored per weight; preprocessing ms (1 thread); speed-up over bitpacked\n");
	printf("%-11s %-9s %s  %-16s %9s %8s %9s %6s %9s %7s\n", "shape", "type", "t",
		   "kernel", "ms", "ns/row", "bytes/row", "bits/w", "prep_ms", "vs_bp");
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (d = 0; d < NDIST; d++)
		{
			if ((quick && !shapes[s].embedding) ||
				(only != NULL && strcmp(only, shapes[s].name) != 0))
				continue;
			bench_config(&shapes[s], d, rounds);
		}
	printf("summary: single_vs_bitpacked=%.2f batched16_vs_bitpacked=%.2f\n",
		   exp(sum_log_single / nsummary), exp(sum_log_batched / nsummary));
	return 0;
}
