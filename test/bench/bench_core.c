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
	K_DENSE, K_BITPACKED, K_PERM, K_DIRECT, K_BUCKET, K_BATCHED, K_TILE,
	K_TILE16
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

#define TOPN 10

/* Tile segments of a config, one block of 32 rows per column range */
typedef struct TileSet
{
	RsrTileRef *refs;
	size_t		nrefs;
	uint8_t    *buf;
	size_t		bytes;
	double		prep_ms;
} TileSet;

/* Memory of a tile search: prepared queries and a state, grown on demand */
typedef struct Search
{
	uint8_t    *tq;
	size_t		tq_size;
	void	   *state;
	size_t		state_size;
	size_t		cand_cap;
	size_t		max_cands;		/* most candidates seen */
} Search;

/* Build the tiles of rows[0..rows) */
static void
build_tiles(RsrKind kind, const uint8_t *const *rowp, uint32_t rows,
			uint32_t dims, TileSet *t)
{
	uint32_t	range = rsr_segment_max_cols(kind, RSR_LAYOUT_TILE, 32, PAGE_BYTES);
	uint32_t	nblocks = (rows + 31) / 32;
	uint32_t	nranges;
	size_t		cap;
	size_t		used = 0;
	uint32_t	b;
	double		t0;

	if (range > dims)
		range = dims;
	nranges = (dims + range - 1) / range;
	cap = rsr_segment_max_size(kind, RSR_LAYOUT_TILE, 32, range) * nranges * (size_t) nblocks;
	t->buf = xmalloc(cap);
	t->refs = xmalloc(sizeof(RsrTileRef) * (size_t) nblocks * nranges);
	t->nrefs = 0;
	t0 = now_ms();
	for (b = 0; b < nblocks; b++)
	{
		uint32_t	nr = rows - b * 32 < 32 ? rows - b * 32 : 32;
		uint32_t	col;

		for (col = 0; col < dims; col += range)
		{
			uint32_t	n = dims - col < range ? dims - col : range;
			size_t		size;
			RsrTileRef *ref = &t->refs[t->nrefs++];

			if (rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rowp + (size_t) b * 32,
								  nr, dims, col, n, t->buf + used, cap - used,
								  &size) != RSR_OK)
			{
				printf("tile build failed\n");
				exit(1);
			}
			ref->data = t->buf + used;
			ref->size = (uint32_t) size;
			ref->dead = 0;
			ref->id = (uint64_t) b * 32;
			used += size;
		}
	}
	t->prep_ms = now_ms() - t0;
	t->bytes = used;
}

/*
 * Exact top-n of nq queries over the tiles (query preparation included):
 * ids[b * n + i], scores[b * n + i].  The state grows on RSR_ENOMEM.
 */
static void
tile_search(RsrKind kind, uint32_t dims, const TileSet *t, Search *se,
			const float *Q, uint32_t nq, size_t n, int threads,
			uint64_t *ids, double *scores)
{
	const void *tqs[RSR_MAX_BATCH];
	size_t		counts[RSR_MAX_BATCH];
	size_t		done = 0;
	uint32_t	b;

	if (se->tq == NULL)
	{
		se->tq_size = (rsr_tile_query_size(kind, dims) + 63) & ~(size_t) 63;
		se->tq = xmalloc(se->tq_size * BATCH);
		se->cand_cap = 4096;
		se->state_size = rsr_tile_state_size(kind, dims, BATCH, n, se->cand_cap);
		se->state = xmalloc(se->state_size);
	}
	for (b = 0; b < nq; b++)
	{
		tqs[b] = se->tq + se->tq_size * b;
		if (rsr_tile_prepare(kind, Q + (size_t) b * dims, dims,
							 se->tq + se->tq_size * b, se->tq_size) != RSR_OK)
		{
			printf("tile prepare failed\n");
			exit(1);
		}
	}
	if (rsr_tile_init(se->state, se->state_size, tqs, nq, n, se->cand_cap) != RSR_OK)
	{
		printf("tile init failed\n");
		exit(1);
	}
	while (done < t->nrefs)
	{
		size_t		consumed = 0;
		RsrStatus	st = rsr_tile_feed(se->state, t->refs + done, t->nrefs - done,
									   threads, &consumed);

		done += consumed;
		if (st == RSR_ENOMEM)
		{
			size_t		cap = se->cand_cap * 4;
			size_t		size = rsr_tile_state_size(kind, dims, BATCH, n, cap);
			void	   *state = xmalloc(size);

			if (rsr_tile_resize(se->state, state, size, cap) != RSR_OK)
				exit(1);
			free(se->state);
			se->state = state;
			se->state_size = size;
			se->cand_cap = cap;
		}
		else if (st != RSR_OK)
		{
			printf("tile feed failed: %s\n", rsr_status_string(st));
			exit(1);
		}
	}
	if (rsr_tile_candidates(se->state) > se->max_cands)
		se->max_cands = rsr_tile_candidates(se->state);
	rsr_tile_finish(se->state, ids, scores, counts);
}

/* Reference exact top n of query q over packed rows (a full scan) */
static void
ref_topn(RsrKind kind, const uint8_t *const *rowp, uint32_t rows,
		 uint32_t dims, const float *q, size_t n, uint64_t *ids,
		 double *scores)
{
	size_t		have = 0;
	uint32_t	i;

	for (i = 0; i < rows; i++)
	{
		double		s = rsr_exact_score(kind, rowp[i], dims, q);
		size_t		k;

		if (have == n && !(s > scores[n - 1]))
			continue;			/* ties keep the lower id, seen first */
		k = have < n ? have++ : n - 1;
		while (k > 0 && scores[k - 1] < s)
		{
			scores[k] = scores[k - 1];
			ids[k] = ids[k - 1];
			k--;
		}
		scores[k] = s;
		ids[k] = i;
	}
}

/* The tile result of query b equals the expected ids and scores? */
static int
same_top(const uint64_t *ids, const double *scores, const uint64_t *want_ids,
		 const double *want_scores, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (ids[i] != want_ids[i] || scores[i] != want_scores[i])
			return 0;
	return 1;
}

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
	TileSet		tiles;
	Search		search;
	uint64_t	ids[BATCH * TOPN];	/* tile kernels' top 10 */
	double		scores[BATCH * TOPN];
	uint64_t	ref_ids[TOPN];	/* reference top 10 of query 0 */
	double		ref_scores[TOPN];
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
		case K_TILE:
			tile_search(c->kind, c->dims, &c->tiles, &c->search, c->Q, 1, TOPN,
						threads, c->ids, c->scores);
			return RSR_OK;
		case K_TILE16:
			tile_search(c->kind, c->dims, &c->tiles, &c->search, c->Q, BATCH,
						TOPN, threads, c->ids, c->scores);
			return RSR_OK;
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

	if (kn->kind == K_TILE || kn->kind == K_TILE16)
	{
		uint32_t	b;

		if (!same_top(c->ids, c->scores, c->ref_ids, c->ref_scores, TOPN))
		{
			printf("MISMATCH %s: top %d of query 0\n", kn->name, TOPN);
			return 1;
		}
		if (kn->kind == K_TILE)
			return 0;
		/* every query of the batch equals its single-query search */
		for (b = 1; b < BATCH; b++)
		{
			uint64_t	ids[TOPN];
			double		scores[TOPN];

			tile_search(c->kind, c->dims, &c->tiles, &c->search,
						c->Q + (size_t) b * c->dims, 1, TOPN, 1, ids, scores);
			if (!same_top(c->ids + b * TOPN, c->scores + b * TOPN, ids, scores, TOPN))
			{
				printf("MISMATCH %s: top %d of query %u\n", kn->name, TOPN, b);
				return 1;
			}
		}
		return 0;
	}
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
	ref_topn(c->kind, c->rowp, c->rows, c->dims, c->Q, TOPN, c->ref_ids,
			 c->ref_scores);
	build_tiles(c->kind, c->rowp, c->rows, c->dims, &c->tiles);
	memset(&c->search, 0, sizeof(c->search));
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
	free(c->tiles.refs);
	free(c->tiles.buf);
	free(c->search.tq);
	free(c->search.state);
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
	snprintf(kn[nk].name, 32, "tile-top10");
	kn[nk].kind = K_TILE;
	kn[nk].k = 32;
	kn[nk].bytes = c.tiles.bytes;
	kn[nk++].prep_ms = c.tiles.prep_ms;
	snprintf(kn[nk].name, 32, "tile16-top10");
	kn[nk].kind = K_TILE16;
	kn[nk].k = 32;
	kn[nk].bytes = c.tiles.bytes;
	kn[nk++].prep_ms = c.tiles.prep_ms;

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
					(kn[i].kind == K_BATCHED || kn[i].kind == K_TILE16 ? BATCH : 1);
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

		if (kn[i].segs == NULL || kn[i].kind == K_TILE || kn[i].kind == K_TILE16)
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

/* The machine's load average (the benchmark shares it), one line */
static const char *
load_average(void)
{
	static char line[128] = "unknown\n";
	FILE	   *f = fopen("/proc/loadavg", "r");

	if (f != NULL)
	{
		if (fgets(line, sizeof(line), f) == NULL)
			strcpy(line, "unknown\n");
		fclose(f);
	}
	return line;
}

/* Summary figures of the 1M x 1024 runs, 1 thread */
static double million_vs_rsr[2];	/* binary, ternary */
static double million_bw;
static double million_batched;

/* Read one byte of every page of buf, so that none is cold when timed */
static void
touch(const uint8_t *buf, size_t bytes)
{
	volatile uint8_t sink = 0;
	size_t		i;

	for (i = 0; i < bytes; i += 4096)
		sink ^= buf[i];
	(void) sink;
}

/* Streaming read of buf with `threads` threads: the machine's bandwidth */
static uint64_t
stream_read(const uint8_t *buf, size_t bytes, int threads)
{
	const uint64_t *w = (const uint64_t *) buf;
	size_t		n = bytes / 8;
	uint64_t	sum = 0;
	size_t		i;

#pragma omp parallel for num_threads(threads) reduction(+:sum) schedule(static)
	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/*
 * 1M x 1024 binary and ternary: the layout (b) single-query kernel plus
 * its top-10 selection against the two-phase exact top-10, single and
 * batched 16, and a streaming read of the tiles, 1 and 2 threads,
 * interleaved round by round, each verified first.
 */
static void
bench_million(int rounds, uint32_t rows)
{
	const uint32_t dims = 1024;
	int			kindi;

	for (kindi = 0; kindi < 2; kindi++)
	{
		RsrKind		kind = kindi == 0 ? RSR_KIND_BINARY : RSR_KIND_TERNARY;
		Config		c;
		Kernel		kb;
		size_t		plane = dims / 8;
		double	   *S;
		uint32_t   *top_idx;
		void	   *top_work;
		uint32_t	i;
		uint32_t	b;
		int			threads;
		double		t0;

		memset(&c, 0, sizeof(c));
		memset(&kb, 0, sizeof(kb));
		c.kind = kind;
		c.rows = rows;
		c.dims = dims;
		c.rb = rsr_row_bytes(kind, dims);
		c.packed = xmalloc(c.rb * rows);
		c.rowp = xmalloc(sizeof(*c.rowp) * rows);
		for (i = 0; i < rows; i++)
		{
			uint8_t    *row = c.packed + c.rb * i;
			size_t		j;

			c.rowp[i] = row;
			for (j = 0; j < plane; j += 8)
			{
				uint64_t	a = rnd();

				if (kind == RSR_KIND_BINARY)
					memcpy(row + j, &a, 8);
				else
				{
					uint64_t	x = rnd();
					uint64_t	pos = a & x;
					uint64_t	neg = a & ~x;

					memcpy(row + j, &pos, 8);
					memcpy(row + plane + j, &neg, 8);
				}
			}
		}
		c.Q = xmalloc(sizeof(float) * BATCH * dims);
		for (i = 0; i < BATCH * dims; i++)
			c.Q[i] = (float) ((double) (rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
		c.y = xmalloc(sizeof(float) * (rows + RSR_MAX_K));
		c.work_size = rsr_workspace_size(RSR_MAX_K, 1, 2);
		c.work = xmalloc(c.work_size);

		/* exact scores of query 0: the reference of every kernel */
		S = xmalloc(sizeof(double) * rows);
		for (i = 0; i < rows; i++)
			S[i] = rsr_exact_score(kind, c.rowp[i], dims, c.Q);
		{
			double		l1 = 0.0;

			for (i = 0; i < dims; i++)
				l1 += fabs(c.Q[i]);
			c.l1 = xmalloc(sizeof(double));
			c.l1[0] = l1;
		}
		ref_topn(kind, c.rowp, rows, dims, c.Q, TOPN, c.ref_ids, c.ref_scores);
		build_tiles(kind, c.rowp, rows, dims, &c.tiles);
		kb.k = 16;
		build_segments(&c, &kb, RSR_LAYOUT_BUCKET);
		top_idx = xmalloc(sizeof(uint32_t) * TOPN);
		top_work = xmalloc(rsr_topn_work_size(TOPN));

		for (threads = 1; threads <= 2; threads++)
		{
			double		tr[MAX_ROUNDS],
						tt[MAX_ROUNDS],
						t16[MAX_ROUNDS],
						ts[MAX_ROUNDS];
			double		mr,
						mt,
						m16,
						ms,
						bw;
			int			r;
			Kernel		kt;

			/* verify: layout (b) within its bound, the tile searches exact */
			memset(c.y, 0, sizeof(float) * rows);
			if (rsr_gemv(kb.segs, kb.nsegs, c.Q, dims, c.y, c.work, c.work_size,
						 threads) != RSR_OK)
				exit(1);
			for (i = 0; i < rows; i++)
				if (fabs(c.y[i] - S[i]) > rsr_error_bound(dims, c.l1[0]) + ldexp(c.l1[0], -50))
				{
					printf("FAILED: 1M bucket-b row %u\n", i);
					exit(1);
				}
			memset(&kt, 0, sizeof(kt));
			snprintf(kt.name, 32, "tile-top10");
			kt.kind = K_TILE;
			if (run_kernel(&c, &kt, threads) != RSR_OK || verify(&c, &kt))
				exit(1);
			snprintf(kt.name, 32, "tile16-top10");
			kt.kind = K_TILE16;
			if (run_kernel(&c, &kt, threads) != RSR_OK || verify(&c, &kt))
				exit(1);

			for (r = 0; r < rounds; r++)
			{
				touch(kb.segs[0].data, kb.bytes);
				t0 = now_ms();
				memset(c.y, 0, sizeof(float) * rows);
				rsr_gemv(kb.segs, kb.nsegs, c.Q, dims, c.y, c.work, c.work_size,
						 threads);
				rsr_topn(c.y, rows, TOPN, top_idx, top_work);
				tr[r] = now_ms() - t0;

				touch(c.tiles.buf, c.tiles.bytes);
				t0 = now_ms();
				tile_search(kind, dims, &c.tiles, &c.search, c.Q, 1, TOPN, threads,
							c.ids, c.scores);
				tt[r] = now_ms() - t0;

				touch(c.tiles.buf, c.tiles.bytes);
				t0 = now_ms();
				tile_search(kind, dims, &c.tiles, &c.search, c.Q, BATCH, TOPN,
							threads, c.ids, c.scores);
				t16[r] = (now_ms() - t0) / BATCH;

				touch(c.tiles.buf, c.tiles.bytes);
				t0 = now_ms();
				if (stream_read(c.tiles.buf, c.tiles.bytes, threads) == 42)
					printf(" ");
				ts[r] = now_ms() - t0;
			}
			mr = median(tr, rounds);
			mt = median(tt, rounds);
			m16 = median(t16, rounds);
			ms = median(ts, rounds);
			bw = c.tiles.bytes / (ms * 1e-3);
			printf("%-11s %-9s %d  %-16s %9.3f %8.2f %9.1f %6.2f %9.1f %6.2fx\n",
				   "1Mx1024", kind == RSR_KIND_BINARY ? "binary" : "ternary",
				   threads, "rsr-b+top10", mr, mr * 1e6 / rows,
				   (double) kb.bytes / rows, 8.0 * kb.bytes / ((double) rows * dims),
				   kb.prep_ms, 1.0);
			printf("%-11s %-9s %d  %-16s %9.3f %8.2f %9.1f %6.2f %9.1f %6.2fx\n",
				   "1Mx1024", kind == RSR_KIND_BINARY ? "binary" : "ternary",
				   threads, "tile-top10", mt, mt * 1e6 / rows,
				   (double) c.tiles.bytes / rows,
				   8.0 * c.tiles.bytes / ((double) rows * dims), c.tiles.prep_ms, mr / mt);
			printf("%-11s %-9s %d  %-16s %9.3f %8.2f %9.1f %6.2f %9.1f %6.2fx\n",
				   "1Mx1024", kind == RSR_KIND_BINARY ? "binary" : "ternary",
				   threads, "tile16-top10", m16, m16 * 1e6 / rows,
				   (double) c.tiles.bytes / rows,
				   8.0 * c.tiles.bytes / ((double) rows * dims), c.tiles.prep_ms, mr / m16);
			printf("1Mx1024 %s threads=%d: stream read %.1f GB/s, tile-top10 at %.0f%% of it, "
				   "%zu candidates at most, kernels %s\n",
				   kind == RSR_KIND_BINARY ? "binary" : "ternary", threads, bw / 1e9,
				   100.0 * c.tiles.bytes / (mt * 1e-3) / bw, c.search.max_cands,
				   rsr_tile_kernel_name());
			if (threads == 1)
			{
				million_vs_rsr[kindi] = mr / mt;
				if (kind == RSR_KIND_BINARY)
				{
					million_bw = c.tiles.bytes / (mt * 1e-3) / bw;
					million_batched = mt / m16;
				}
			}
			fflush(stdout);
		}
		free(S);
		free(top_idx);
		free(top_work);
		free((void *) kb.segs[0].data);
		free(kb.segs);
		free(c.packed);
		free(c.rowp);
		free(c.Q);
		free(c.l1);
		free(c.y);
		free(c.work);
		free(c.tiles.refs);
		free(c.tiles.buf);
		free(c.search.tq);
		free(c.search.state);
		(void) b;
	}
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
	printf("kernels: %s, tile kernels: %s, rounds: %d, seed: %llu\n",
		   rsr_kernel_name(), rsr_tile_kernel_name(), rounds,
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
	if (only == NULL || strcmp(only, "1Mx1024") == 0)
		bench_million(rounds, quick ? 262144 : 1000000);
	printf("load average: %s", load_average());
	printf("summary: single_vs_bitpacked=%.2f batched16_vs_bitpacked=%.2f "
		   "exact_top10_vs_rsr=%.2f exact_top10_bw=%.2f batched16_vs_single=%.2f\n",
		   nsummary ? exp(sum_log_single / nsummary) : 0.0,
		   nsummary ? exp(sum_log_batched / nsummary) : 0.0,
		   sqrt(million_vs_rsr[0] * million_vs_rsr[1]), million_bw,
		   million_batched);
	return 0;
}
