/*-------------------------------------------------------------------------
 *
 * test_cuda.cu
 *	  Tests of the CUDA kernels against the CPU engine: rsr_cuda_gemv and
 *	  rsr_cuda_gemm against a double-precision reference and against
 *	  rsr_gemv/rsr_gemm, top-n against rsr_topn, on the engine's test
 *	  shapes plus 1M x 1024, top-n under a live mask (rsr_cuda_index_set_live)
 *	  on blocks with gaps, and the argument and segment checks of the
 *	  upload.
 *
 * Usage: test_cuda [--seed N].  Prints the seed, stops at the first
 * mismatch with a non-zero exit, ends with "N passed, 0 failed".  Without
 * a CUDA device it runs the host-side checks of the upload (which touch no
 * device), prints "skipped: no CUDA device" and exits 0.
 *
 * Tolerance: |gpu - exact| <= rsr_error_bound(dims, ||q||_1) + 2^-50 *
 * ||q||_1 (the second term covers the double reference's own rounding),
 * and |gpu - cpu| <= twice that, since both are within it of the exact
 * value.  With integer-valued queries every partial sum is exact in
 * float32, so GPU and CPU must then agree bit for bit.  Top-n: the GPU's
 * top-n must equal rsr_topn applied to the GPU's own scores exactly, and
 * match the CPU's top-n except where two scores are within the tolerance
 * (exact ties and near ties).  Masked top-n: with integer queries the
 * device's scores are exact, so its top-n must equal rsr_topn over the
 * exact scores with excluded rows as NaN, slot for slot; with float
 * queries, over the device's own product.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/unit/test_cuda.cu
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utility>
#include <vector>

#include "common.cuh"				/* RSR_CUDA_TOPN_CHUNK */
#include "rsr_core.h"
#include "rsr_cuda.h"
#include "test_util.h"

#define CPU_THREADS 8
#define PAGE_BYTES 8000			/* column ranges sized like index pages */

/* Uniform double in [-1, 1) */
static double
rndu(void)
{
	return ((double) (rnd() >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

/* Check a CUDA API status, with the library's detail on failure */
static void
check_status(RsrCudaStatus got, RsrCudaStatus want, const char *what)
{
	char		detail[700];

	snprintf(detail, sizeof(detail), "status %s, expected %s (%s)",
			 rsr_cuda_status_string(got), rsr_cuda_status_string(want),
			 rsr_cuda_last_error());
	check(got == want, what, detail);
}

enum
{
	FILL_RANDOM, FILL_ZERO, FILL_ONE, FILL_MINUS, FILL_SPARSE, NFILL
};

/* A matrix of packed rows and its segments */
typedef struct Matrix
{
	RsrKind		kind;
	uint32_t	k;
	uint32_t	dims;
	uint32_t	nrows;
	size_t		row_bytes;
	std::vector<uint8_t> rows;	/* nrows * row_bytes */
	std::vector<uint8_t> store; /* segment bytes */
	std::vector<RsrSegmentRef> segs;
} Matrix;

/* Element j of a packed plane (PostgreSQL bit order) */
static inline int
bit(const uint8_t *plane, uint32_t j)
{
	return (plane[j >> 3] >> (7 - (j & 7))) & 1;
}

/* Fill the rows of m by mode */
static void
fill_rows(Matrix *m, int fill)
{
	size_t		plane = ((size_t) m->dims + 7) / 8;

	m->row_bytes = rsr_row_bytes(m->kind, m->dims);
	m->rows.assign((size_t) m->nrows * m->row_bytes, 0);
	for (uint32_t i = 0; i < m->nrows; i++)
	{
		uint8_t    *row = m->rows.data() + (size_t) i * m->row_bytes;

		for (uint32_t j = 0; j < m->dims; j++)
		{
			int			v = 0;

			switch (fill)
			{
				case FILL_RANDOM:
					v = m->kind == RSR_KIND_BINARY ? (int) rndn(2) : (int) rndn(3) - 1;
					break;
				case FILL_ONE:
					v = 1;
					break;
				case FILL_MINUS:
					v = m->kind == RSR_KIND_BINARY ? 1 : -1;
					break;
				case FILL_SPARSE:
					v = rndn(10) != 0 ? 0 : (m->kind == RSR_KIND_BINARY || rndn(2) ? 1 : -1);
					break;
			}
			if (v > 0)
				row[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
			else if (v < 0)
				row[plane + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
		}
	}
}

/*
 * Build layout (b) segments of m over column ranges of `range`: block i
 * takes the next nr[i] (1..k) rows of m and writes slots i * k .., so the
 * slots past its rows are gaps that no segment writes.
 */
static void
build_blocks(Matrix *m, uint32_t range, const std::vector<uint32_t> &nr)
{
	size_t		max_seg = rsr_segment_max_size(m->kind, RSR_LAYOUT_BUCKET, m->k, range);
	uint32_t	nranges = (m->dims + range - 1) / range;
	uint32_t	r0 = 0;
	size_t		used = 0;
	std::vector<size_t> offs;

	m->store.resize(nr.size() * nranges * max_seg);
	m->segs.clear();
	for (size_t blk = 0; blk < nr.size(); blk++)
	{
		uint32_t	nrows = nr[blk];
		const uint8_t *ptrs[RSR_MAX_K];

		for (uint32_t r = 0; r < nrows; r++)
			ptrs[r] = m->rows.data() + (size_t) (r0 + r) * m->row_bytes;
		for (uint32_t c0 = 0; c0 < m->dims; c0 += range)
		{
			uint32_t	nc = m->dims - c0 < range ? m->dims - c0 : range;
			size_t		size;
			RsrStatus	st = rsr_segment_build(m->kind, RSR_LAYOUT_BUCKET, m->k, ptrs, nrows,
											   m->dims, c0, nc, m->store.data() + used,
											   max_seg, &size);
			RsrSegmentRef ref;

			if (st != RSR_OK)
				fail("rsr_segment_build", rsr_status_string(st));
			ref.data = NULL;
			ref.size = (uint32_t) size;
			ref.out = (uint32_t) blk * m->k;
			offs.push_back(used);
			m->segs.push_back(ref);
			used += size;
		}
		r0 += nrows;
	}
	for (size_t i = 0; i < m->segs.size(); i++)
		m->segs[i].data = m->store.data() + offs[i];
}

/* Build layout (b) segments of m: blocks of k rows, column ranges of `range` */
static void
build_segments(Matrix *m, uint32_t range)
{
	std::vector<uint32_t> nr;

	for (uint32_t r0 = 0; r0 < m->nrows; r0 += m->k)
		nr.push_back(m->nrows - r0 < m->k ? m->nrows - r0 : m->k);
	build_blocks(m, range, nr);
}

/* Exact row i . q (double) */
static double
exact_dot(const Matrix *m, uint32_t i, const float *q)
{
	size_t		plane = ((size_t) m->dims + 7) / 8;
	const uint8_t *row = m->rows.data() + (size_t) i * m->row_bytes;
	double		s = 0.0;

	for (uint32_t j = 0; j < m->dims; j++)
	{
		if (bit(row, j))
			s += q[j];
		if (m->kind == RSR_KIND_TERNARY && bit(row + plane, j))
			s -= q[j];
	}
	return s;
}

/* Exact row . q for every row */
static void
reference(const Matrix *m, const float *q, std::vector<double> *ref)
{
	ref->assign(m->nrows, 0.0);
#pragma omp parallel for num_threads(CPU_THREADS)
	for (long i = 0; i < (long) m->nrows; i++)
		(*ref)[i] = exact_dot(m, (uint32_t) i, q);
}

/* Random query by style; returns ||q||_1 */
static double
fill_query(float *q, uint32_t dims, int style)
{
	double		l1 = 0.0;

	for (uint32_t j = 0; j < dims; j++)
	{
		switch (style)
		{
			case 0:
				q[j] = (float) rndu();
				break;
			case 1:
				q[j] = (float) ((int) rndn(7) - 3);	/* integers: exact sums */
				break;
			default:
				q[j] = (float) (rndu() * ldexp(1.0, (int) rndn(40) - 20));
				break;
		}
		l1 += fabs(q[j]);
	}
	return l1;
}

/* Tolerance of a kernel result against the exact value */
static double
tolerance(uint32_t dims, double l1)
{
	return rsr_error_bound(dims, l1) + ldexp(l1, -50);
}

/* CPU rsr_gemm (or rsr_gemv for batch 1) into Y, zeroed first */
static void
cpu_product(const Matrix *m, const float *Q, uint32_t batch, float *Y)
{
	size_t		wsize = rsr_workspace_size(m->k, batch, CPU_THREADS);
	std::vector<uint8_t> work(wsize);
	RsrStatus	st;

	memset(Y, 0, (size_t) m->nrows * batch * sizeof(float));
	st = batch == 1 ?
		rsr_gemv(m->segs.data(), m->segs.size(), Q, m->dims, Y, work.data(), wsize, CPU_THREADS) :
		rsr_gemm(m->segs.data(), m->segs.size(), Q, batch, m->dims, Y, work.data(), wsize,
				 CPU_THREADS);
	if (st != RSR_OK)
		fail("cpu product", rsr_status_string(st));
}

/*
 * Check the GPU top-n of one query q: equal to rsr_topn over the GPU
 * scores, scores equal to the GPU product, and equal to the CPU's top-n
 * except where the exact scores of the two rows are within twice the
 * tolerance (ties; m == NULL allows none).
 */
static void
check_topn(const char *name, const float *y_gpu, const float *y_cpu, size_t stride,
		   const Matrix *m, const float *q, double tol, size_t count, uint32_t n,
		   const uint32_t *idx, const float *scores, size_t got)
{
	std::vector<float> g(count);
	std::vector<float> c(count);
	std::vector<uint32_t> want(n > 0 ? n : 1);
	std::vector<uint32_t> heap(n > 0 ? n : 1);
	char		detail[300];
	size_t		w;

	for (size_t i = 0; i < count; i++)
	{
		g[i] = y_gpu[i * stride];
		c[i] = y_cpu[i * stride];
	}
	w = rsr_topn(g.data(), count, n, want.data(), heap.data());
	snprintf(detail, sizeof(detail), "%s: count %zu, rsr_topn on the GPU scores %zu", name, got, w);
	check(got == w, "top-n count", detail);
	for (size_t i = 0; i < w; i++)
	{
		snprintf(detail, sizeof(detail), "%s: rank %zu: row %u, rsr_topn on the GPU scores %u",
				 name, i, idx[i], want[i]);
		check(idx[i] == want[i], "top-n against rsr_topn", detail);
		check(scores[i] == g[idx[i]], "top-n score", detail);
	}
	w = rsr_topn(c.data(), count, n, want.data(), heap.data());
	check(got == w, "top-n count against the cpu", name);
	for (size_t i = 0; i < w; i++)
	{
		bool		ok = idx[i] == want[i];

		// a different row is fine only if its exact score ties with the CPU's
		if (!ok && m != NULL)
			ok = fabs(exact_dot(m, idx[i], q) - exact_dot(m, want[i], q)) <= 2.0 * tol;
		snprintf(detail, sizeof(detail), "%s: rank %zu: gpu row %u, cpu row %u", name, i,
				 idx[i], want[i]);
		check(ok, "top-n against the cpu", detail);
	}
}

/* One matrix: products, single and batched, and top-n, against the CPU */
static void
run_matrix(const Matrix *m, const char *name, uint32_t batch, uint32_t n, int style)
{
	RsrCudaIndex *index = NULL;
	uint32_t	nout = 0;
	uint32_t	nrows = m->nrows;
	std::vector<float> q(m->dims);
	std::vector<float> Q((size_t) m->dims * batch);
	std::vector<double> l1(batch);
	std::vector<double> ref;
	std::vector<float> y_gpu(nrows), y_cpu(nrows);
	std::vector<float> Y_gpu((size_t) nrows * batch), Y_cpu((size_t) nrows * batch);
	std::vector<uint32_t> idx((size_t) n * batch + 1);
	std::vector<float> scores((size_t) n * batch + 1);
	std::vector<size_t> counts(batch);
	double		q_l1;
	double		tol;
	uint32_t	bad;
	char		detail[300];

	check_status(rsr_cuda_index_upload(0, m->segs.data(), m->segs.size(), NULL, &index, &nout),
				 RSR_CUDA_OK, "upload");
	snprintf(detail, sizeof(detail), "%s: nout %u", name, nout);
	check(nout == nrows, "upload output rows", detail);

	// single query: exact reference, CPU engine, bit-equal for integer queries
	q_l1 = fill_query(q.data(), m->dims, style);
	tol = tolerance(m->dims, q_l1);
	reference(m, q.data(), &ref);
	cpu_product(m, q.data(), 1, y_cpu.data());
	check_status(rsr_cuda_gemv(index, q.data(), y_gpu.data(), NULL), RSR_CUDA_OK, "gemv");
	bad = nrows;
	for (uint32_t i = nrows; i-- > 0;)
		if (!(fabs(y_gpu[i] - ref[i]) <= tol && fabs((double) y_gpu[i] - y_cpu[i]) <= 2.0 * tol &&
			  (style != 1 || y_gpu[i] == y_cpu[i])))
			bad = i;
	snprintf(detail, sizeof(detail), "%s: row %u: gpu %.9g cpu %.9g exact %.9g tol %.3g", name,
			 bad, bad < nrows ? y_gpu[bad] : 0.0f, bad < nrows ? y_cpu[bad] : 0.0f,
			 bad < nrows ? ref[bad] : 0.0, tol);
	check(bad == nrows, "gemv", detail);

	// single top-n
	{
		size_t		got = 0;

		check_status(rsr_cuda_topn(index, q.data(), n, idx.data(), scores.data(), &got, NULL),
					 RSR_CUDA_OK, "topn");
		check_topn(name, y_gpu.data(), y_cpu.data(), 1, m, q.data(), tol, nrows, n, idx.data(),
				   scores.data(), got);
	}

	// batched: against rsr_gemm, and query b against a single-query call
	for (uint32_t b = 0; b < batch; b++)
		l1[b] = fill_query(Q.data() + (size_t) b * m->dims, m->dims, style);
	cpu_product(m, Q.data(), batch, Y_cpu.data());
	check_status(rsr_cuda_gemm(index, Q.data(), batch, Y_gpu.data(), NULL), RSR_CUDA_OK, "gemm");
	bad = nrows;
	for (uint32_t i = 0; i < nrows && bad == nrows; i++)
		for (uint32_t b = 0; b < batch; b++)
		{
			float		g = Y_gpu[(size_t) i * batch + b];
			float		c = Y_cpu[(size_t) i * batch + b];

			if (!(fabs((double) g - c) <= 2.0 * tolerance(m->dims, l1[b])) ||
				(style == 1 && g != c))
			{
				snprintf(detail, sizeof(detail), "%s: batch %u: row %u query %u: gpu %.9g cpu %.9g",
						 name, batch, i, b, g, c);
				bad = i;
				break;
			}
		}
	if (bad == nrows)
		snprintf(detail, sizeof(detail), "%s: batch %u", name, batch);
	check(bad == nrows, "gemm", detail);

	// batched top-n: against rsr_topn over the GPU's and the CPU's scores
	check_status(rsr_cuda_topn_batch(index, Q.data(), batch, n, idx.data(), scores.data(),
									 counts.data(), NULL),
				 RSR_CUDA_OK, "topn_batch");
	for (uint32_t b = 0; b < batch; b++)
		check_topn(name, Y_gpu.data() + b, Y_cpu.data() + b, batch, m,
				   Q.data() + (size_t) b * m->dims, tolerance(m->dims, l1[b]), nrows, n,
				   idx.data() + (size_t) b * n, scores.data() + (size_t) b * n, counts[b]);
	rsr_cuda_index_free(index);
}

/* The engine's test shapes, several k, both kinds, three column splits */
static void
test_shapes(void)
{
	static const uint32_t dims_list[] = {1, 7, 63, 64, 65, 384, 1000, 1024, 4099, 65535};
	static const uint32_t ks[] = {1, 3, 8, 9, 16};
	static const uint32_t batches[] = {2, 3, 16, 5, 64, 7};
	static const uint32_t ns[] = {1, 10, 100, 1024, 7};
	int			ncase = 0;

	for (int kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		for (uint32_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
			for (uint32_t di = 0; di < sizeof(dims_list) / sizeof(dims_list[0]); di++)
			{
				uint32_t	k = ks[ki];
				uint32_t	rows_list[] = {1, k - 1, k, k + 1, 1000};

				for (uint32_t ri = 0; ri < 5; ri++, ncase++)
				{
					Matrix		m;
					uint32_t	dims = dims_list[di];
					uint32_t	range;
					char		name[200];

					if (rows_list[ri] == 0)
						continue;	/* k - 1 when k = 1 */
					m.kind = (RsrKind) kind;
					m.k = k;
					m.dims = dims;
					m.nrows = rows_list[ri];
					// whole rows, index-page ranges, or odd ranges (unaligned col_start)
					switch (ncase % 3)
					{
						case 0:
							range = dims;
							break;
						case 1:
							range = rsr_segment_max_cols(m.kind, RSR_LAYOUT_BUCKET, k, PAGE_BYTES);
							break;
						default:
							range = dims <= 4099 ? 37 : 1001;
							break;
					}
					if (range > dims)
						range = dims;
					fill_rows(&m, ncase % NFILL);
					build_segments(&m, range);
					snprintf(name, sizeof(name), "%s k=%u dims=%u rows=%u range=%u fill=%d",
							 kind == RSR_KIND_BINARY ? "binary" : "ternary", k, dims,
							 m.nrows, range, ncase % NFILL);
					run_matrix(&m, name, batches[ncase % 6], ns[ncase % 5], ncase % 3);
				}
			}
}

/* 1M x 1024, binary and ternary, k = 8, index-page column ranges */
static void
test_large(void)
{
	for (int kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
	{
		Matrix		m;

		m.kind = (RsrKind) kind;
		m.k = 8;
		m.dims = 1024;
		m.nrows = 1000000;
		fill_rows(&m, FILL_RANDOM);
		build_segments(&m, 1024);
		run_matrix(&m, kind == RSR_KIND_BINARY ? "1M x 1024 binary" : "1M x 1024 ternary",
				   64, 10, 0);
	}
}

/* NaN and ties: NaN rows are never selected, equal scores go to the lower row */
static void
test_topn_rules(void)
{
	Matrix		m;
	RsrCudaIndex *index = NULL;
	std::vector<float> q(100, 1.0f);
	std::vector<float> y(300);
	uint32_t	idx[20];
	float		scores[20];
	size_t		got = 0;

	m.kind = RSR_KIND_BINARY;
	m.k = 8;
	m.dims = 100;
	m.nrows = 300;
	fill_rows(&m, FILL_SPARSE);
	build_segments(&m, 100);
	q[5] = NAN;					/* every row with element 5 scores NaN */
	check_status(rsr_cuda_index_upload(0, m.segs.data(), m.segs.size(), NULL, &index, NULL),
				 RSR_CUDA_OK, "upload");
	check_status(rsr_cuda_gemv(index, q.data(), y.data(), NULL), RSR_CUDA_OK, "gemv");
	check_status(rsr_cuda_topn(index, q.data(), 20, idx, scores, &got, NULL), RSR_CUDA_OK,
				 "topn");
	check_topn("nan and ties", y.data(), y.data(), 1, NULL, NULL, 0.0, 300, 20, idx, scores,
			   got);
	for (size_t i = 0; i < got; i++)
		check(!isnan(scores[i]), "top-n never returns NaN", "nan and ties");

	// all of q NaN: only rows without a set element (score 0) can be returned
	for (uint32_t j = 0; j < 100; j++)
		q[j] = NAN;
	check_status(rsr_cuda_gemv(index, q.data(), y.data(), NULL), RSR_CUDA_OK, "gemv");
	check_status(rsr_cuda_topn(index, q.data(), 20, idx, scores, &got, NULL), RSR_CUDA_OK,
				 "topn");
	check_topn("all NaN", y.data(), y.data(), 1, NULL, NULL, 0.0, 300, 20, idx, scores, got);
	for (size_t i = 0; i < got; i++)
		check(scores[i] == 0.0f, "top-n of NaN scores", "all NaN");
	rsr_cuda_index_free(index);
}

/*
 * Live-mask tests.  A matrix laid out as the GPU worker sees an index:
 * blocks of k slots at out = i * k, some holding fewer than k rows, so the
 * slots after their rows are gaps that no segment writes and the device
 * scores 0.  Rows at the slots around each top-n chunk border (and the
 * last slot) are all +1: with a positive query they score highest, ties
 * going to the lower slot.
 */
#define NO_ROW UINT32_MAX

typedef struct Slotted
{
	Matrix		m;
	uint32_t	nout;			/* slots: last block's out + its rows */
	std::vector<uint32_t> row;	/* matrix row of each slot, NO_ROW: gap */
	std::vector<uint32_t> hot;	/* slots whose rows are all +1 */
} Slotted;

enum
{
	Q_INT, Q_POSITIVE, Q_NAN, Q_FLOAT, NQUERY
};

enum
{
	MASK_ALL, MASK_NONE, MASK_HALF, MASK_SPARSE, MASK_HOT_ONLY, MASK_HOT_HOLES,
	MASK_HOT_ALTERNATE, NMASK
};

static const char *const query_names[] = {"integer", "positive", "nan", "float"};
static const char *const mask_names[] = {"all live", "none live", "half", "sparse",
	"only chunk borders", "chunk borders excluded", "chunk borders alternate"};

/* Build a matrix of at least min_slots slots with gaps and hot rows */
static void
build_slotted(Slotted *sl, RsrKind kind, uint32_t k, uint32_t dims, uint32_t range,
			  uint32_t min_slots)
{
	Matrix	   *m = &sl->m;
	uint32_t	nblocks = (min_slots + k - 1) / k;
	std::vector<uint32_t> nr(nblocks);
	uint32_t	row = 0;

	m->kind = kind;
	m->k = k;
	m->dims = dims;
	m->nrows = 0;
	sl->hot.clear();
	for (uint32_t border = 0; border <= nblocks * k; border += RSR_CUDA_TOPN_CHUNK)
		for (uint32_t d = 0; d < 4; d++)
			if (border + d >= 2 && border + d - 2 < nblocks * k)
				sl->hot.push_back(border + d - 2);
	for (uint32_t b = 0; b < nblocks; b++)
	{
		bool		full = b % 5 != 3 || k == 1;

		for (uint32_t h : sl->hot)
			full = full || h / k == b;
		nr[b] = full ? k : 1 + rndn(k - 1);
		m->nrows += nr[b];
	}
	sl->nout = (nblocks - 1) * k + nr[nblocks - 1];
	if (sl->hot.back() != sl->nout - 1)
		sl->hot.push_back(sl->nout - 1);

	fill_rows(m, FILL_RANDOM);
	sl->row.assign(sl->nout, NO_ROW);
	for (uint32_t b = 0; b < nblocks; b++)
		for (uint32_t r = 0; r < nr[b]; r++)
			sl->row[b * k + r] = row++;
	for (uint32_t h : sl->hot)
	{
		uint8_t    *p;

		if (sl->row[h] == NO_ROW)
			fail("build_slotted", "hot slot in a gap");
		p = m->rows.data() + (size_t) sl->row[h] * m->row_bytes;
		memset(p, 0, m->row_bytes);
		for (uint32_t j = 0; j < dims; j++)
			p[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
	}
	build_blocks(m, range, nr);
}

/* Query of a type; returns ||q||_1 (NaN for Q_NAN) */
static double
fill_typed_query(float *q, uint32_t dims, int type)
{
	double		l1 = 0.0;

	for (uint32_t j = 0; j < dims; j++)
	{
		switch (type)
		{
			case Q_POSITIVE:
				q[j] = (float) (1 + rndn(3));
				break;
			case Q_FLOAT:
				q[j] = (float) rndu();
				break;
			default:
				q[j] = (float) ((int) rndn(7) - 3);
				break;
		}
		l1 += fabs(q[j]);
	}
	if (type == Q_NAN)
		q[rndn(dims)] = NAN;	/* every row with that element set scores NaN */
	return l1;
}

/* A live mask of a kind over the slots (any non-zero byte is live) */
static void
make_mask(const Slotted *sl, int kind, std::vector<uint8_t> *live)
{
	static const uint8_t live_bytes[] = {1, 2, 255};

	live->assign(sl->nout, 0);
	for (uint32_t i = 0; i < sl->nout; i++)
	{
		bool		gap = sl->row[i] == NO_ROW;
		uint8_t		v = live_bytes[rndn(3)];

		switch (kind)
		{
			case MASK_ALL:
				(*live)[i] = v;	/* gaps too: they are then rows scoring 0 */
				break;
			case MASK_HALF:
			case MASK_HOT_ALTERNATE:
				(*live)[i] = !gap && rndn(2) ? v : 0;
				break;
			case MASK_SPARSE:
				(*live)[i] = !gap && rndn(1000) == 0 ? v : 0;
				break;
			case MASK_HOT_HOLES:
				(*live)[i] = gap ? 0 : v;
				break;
		}
	}
	for (size_t h = 0; h < sl->hot.size(); h++)
	{
		uint32_t	i = sl->hot[h];

		if (kind == MASK_HOT_ONLY)
			(*live)[i] = 1;
		else if (kind == MASK_HOT_HOLES)
			(*live)[i] = 0;
		else if (kind == MASK_HOT_ALTERNATE)
			(*live)[i] = h % 2;
	}
}

/*
 * Top-n of `batch` queries under the index's mask against rsr_topn over
 * the reference scores S[b * nout + slot] with excluded slots NaN: the
 * same slots in the same order with the same scores, and as many as there
 * are live non-NaN slots when n exceeds them.
 */
static void
check_masked_topn(RsrCudaIndex *index, const Slotted *sl, const float *Q, uint32_t batch,
				  uint32_t n, const std::vector<float> &S, const std::vector<uint8_t> &live,
				  const char *name)
{
	std::vector<uint32_t> idx((size_t) n * batch);
	std::vector<float> scores((size_t) n * batch);
	std::vector<size_t> counts(batch);
	std::vector<float> ms(sl->nout);
	std::vector<uint32_t> want(n);
	std::vector<uint32_t> heap(n);
	char		detail[700];

	if (batch == 1)
		check_status(rsr_cuda_topn(index, Q, n, idx.data(), scores.data(), &counts[0], NULL),
					 RSR_CUDA_OK, "masked topn");
	else
		check_status(rsr_cuda_topn_batch(index, Q, batch, n, idx.data(), scores.data(),
										 counts.data(), NULL),
					 RSR_CUDA_OK, "masked topn_batch");
	for (uint32_t b = 0; b < batch; b++)
	{
		const uint32_t *gi = idx.data() + (size_t) b * n;
		const float *gs = scores.data() + (size_t) b * n;
		size_t		eligible = 0;
		size_t		w;

		for (uint32_t i = 0; i < sl->nout; i++)
		{
			ms[i] = live[i] ? S[(size_t) b * sl->nout + i] : NAN;
			eligible += !isnan(ms[i]);
		}
		w = rsr_topn(ms.data(), sl->nout, n, want.data(), heap.data());
		snprintf(detail, sizeof(detail), "%s n=%u query %u: count %zu, rsr_topn %zu, live non-NaN %zu",
				 name, n, b, counts[b], w, eligible);
		check(counts[b] == w && w == (eligible < n ? eligible : n), "masked top-n count", detail);
		for (size_t i = 0; i < w; i++)
		{
			snprintf(detail, sizeof(detail),
					 "%s n=%u query %u rank %zu: gpu slot %u score %.9g, want slot %u score %.9g (live %d)",
					 name, n, b, i, gi[i], gs[i], want[i], ms[want[i]],
					 gi[i] < sl->nout ? live[gi[i]] : -1);
			check(gi[i] == want[i] && gs[i] == ms[want[i]], "masked top-n", detail);
		}
	}
}

/*
 * rsr_cuda_index_set_live: top-n over random masks, none and all live,
 * rows excluded or alone at chunk borders, n above the live rows, NaN,
 * ties (integer scores), batches 1, 5 and 64, binary and ternary, k <= 4,
 * <= 8 and > 8 kernels, through 1 to 3 selection passes; the products
 * stay unmasked and gaps score 0.
 */
static void
test_topn_mask(void)
{
	static const uint32_t ns[] = {1, 7, 100, RSR_CUDA_MAX_TOPN};
	static const uint32_t batches[] = {1, 64, 5};
	static const struct
	{
		RsrKind		kind;
		uint32_t	k;
		uint32_t	range;
	}			cfgs[] = {
		{RSR_KIND_BINARY, 8, 40},
		{RSR_KIND_TERNARY, 11, 70},
		{RSR_KIND_BINARY, 3, 70},
	};
	const uint32_t dims = 70;

	for (size_t ci = 0; ci < sizeof(cfgs) / sizeof(cfgs[0]); ci++)
	{
		Slotted		sl;
		RsrCudaIndex *index = NULL;
		uint32_t	nout = 0;
		std::vector<uint8_t> live;
		char		name[300];

		build_slotted(&sl, cfgs[ci].kind, cfgs[ci].k, dims, cfgs[ci].range,
					  5 * RSR_CUDA_TOPN_CHUNK + 100);
		check_status(rsr_cuda_index_upload(0, sl.m.segs.data(), sl.m.segs.size(), NULL, &index,
										   &nout),
					 RSR_CUDA_OK, "upload with gaps");
		check(nout == sl.nout, "upload with gaps: nout", "");

		live.assign(nout + 1, 1);
		check_status(rsr_cuda_index_set_live(index, live.data(), nout - 1, NULL),
					 RSR_CUDA_EINVAL, "mask shorter than nout");
		check_status(rsr_cuda_index_set_live(index, live.data(), nout + 1, NULL),
					 RSR_CUDA_EINVAL, "mask longer than nout");

		for (int qt = 0; qt < NQUERY; qt++)
			for (uint32_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++)
			{
				uint32_t	batch = batches[bi];
				std::vector<float> Q((size_t) batch * dims);
				std::vector<double> l1(batch);
				std::vector<float> Y((size_t) nout * batch);
				std::vector<float> S((size_t) batch * nout);
				uint32_t	bad = nout;

				snprintf(name, sizeof(name), "%s k=%u range=%u, %s queries, batch %u",
						 cfgs[ci].kind == RSR_KIND_BINARY ? "binary" : "ternary", cfgs[ci].k,
						 cfgs[ci].range, query_names[qt], batch);
				for (uint32_t b = 0; b < batch; b++)
					l1[b] = fill_typed_query(Q.data() + (size_t) b * dims, dims, qt);

				// the product under a mask excluding every row is still the raw product
				live.assign(nout, 0);
				check_status(rsr_cuda_index_set_live(index, live.data(), nout, NULL),
							 RSR_CUDA_OK, "set_live");
				check_status(rsr_cuda_gemm(index, Q.data(), batch, Y.data(), NULL),
							 RSR_CUDA_OK, "gemm under a mask");
#pragma omp parallel for num_threads(CPU_THREADS)
				for (long i = 0; i < (long) nout; i++)
					for (uint32_t b = 0; b < batch; b++)
						S[(size_t) b * nout + i] = sl.row[i] == NO_ROW ? 0.0f :
							(float) exact_dot(&sl.m, sl.row[i], Q.data() + (size_t) b * dims);
				for (uint32_t i = nout; i-- > 0;)
					for (uint32_t b = 0; b < batch; b++)
					{
						float		g = Y[(size_t) i * batch + b];
						float		e = S[(size_t) b * nout + i];
						bool		ok;

						if (sl.row[i] == NO_ROW)
							ok = g == 0.0f;
						else if (qt == Q_FLOAT)
							ok = fabs((double) g - exact_dot(&sl.m, sl.row[i],
															 Q.data() + (size_t) b * dims)) <=
								tolerance(dims, l1[b]);
						else
							ok = isnan(e) ? isnan(g) : g == e;
						if (!ok)
							bad = i;
					}
				check(bad == nout, "gemm under a mask: raw scores, gaps 0", name);
				// float queries: the top-n ranks the device's own scores
				if (qt == Q_FLOAT)
					for (uint32_t i = 0; i < nout; i++)
						for (uint32_t b = 0; b < batch; b++)
							S[(size_t) b * nout + i] = Y[(size_t) i * batch + b];

				for (int mk = 0; mk < NMASK; mk++)
				{
					char		mname[400];

					make_mask(&sl, mk, &live);
					check_status(rsr_cuda_index_set_live(index, live.data(), nout, NULL),
								 RSR_CUDA_OK, "set_live");
					snprintf(mname, sizeof(mname), "%s, mask %s", name, mask_names[mk]);
					for (uint32_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
						check_masked_topn(index, &sl, Q.data(), batch, ns[ni], S, live, mname);
				}

				// NULL clears the mask: every slot, gaps included, is a row again
				check_status(rsr_cuda_index_set_live(index, NULL, 0, NULL), RSR_CUDA_OK,
							 "clear the mask");
				live.assign(nout, 1);
				check_masked_topn(index, &sl, Q.data(), batch, 100, S, live, name);
			}
		rsr_cuda_index_free(index);
	}
}

/* Argument checks of the product and top-n functions (device present) */
static void
test_args(void)
{
	Matrix		m;
	RsrCudaIndex *index = NULL;
	std::vector<float> q(64 * 65, 1.0f);
	std::vector<float> y(64 * 65);
	uint32_t	idx[64];
	size_t		counts[64];
	RsrCudaDeviceInfo info;

	check_status(rsr_cuda_probe(0, &info), RSR_CUDA_OK, "probe");
	check(info.mem_bandwidth > 0 && info.sm_count > 0, "probe fields", info.name);
	check_status(rsr_cuda_probe(1 << 20, &info), RSR_CUDA_ENODEV, "probe of a missing device");
	m.kind = RSR_KIND_TERNARY;
	m.k = 4;
	m.dims = 64;
	m.nrows = 9;
	fill_rows(&m, FILL_RANDOM);
	build_segments(&m, 64);
	check_status(rsr_cuda_index_upload(0, m.segs.data(), m.segs.size(), NULL, &index, NULL),
				 RSR_CUDA_OK, "upload");
	check_status(rsr_cuda_gemm(index, q.data(), 0, y.data(), NULL), RSR_CUDA_EINVAL, "batch 0");
	check_status(rsr_cuda_gemm(index, q.data(), RSR_MAX_BATCH + 1, y.data(), NULL),
				 RSR_CUDA_EINVAL, "batch past the limit");
	check_status(rsr_cuda_gemv(index, NULL, y.data(), NULL), RSR_CUDA_EINVAL, "NULL query");
	check_status(rsr_cuda_topn_batch(index, q.data(), 2, RSR_CUDA_MAX_TOPN + 1, idx, NULL,
									 counts, NULL),
				 RSR_CUDA_EINVAL, "n past the limit");
	counts[0] = counts[1] = 99;
	check_status(rsr_cuda_topn_batch(index, q.data(), 2, 0, idx, NULL, counts, NULL),
				 RSR_CUDA_OK, "n = 0");
	check(counts[0] == 0 && counts[1] == 0, "n = 0 returns nothing", "counts");
	rsr_cuda_index_free(index);
}

/*
 * Upload checks that run before any device is touched: with a device a
 * valid upload succeeds, without one it fails with ENODEV.
 */
static void
test_upload_checks(int ndev)
{
	Matrix		a;
	Matrix		b;
	std::vector<RsrSegmentRef> segs;
	std::vector<uint8_t> bad;
	RsrCudaIndex *index = NULL;
	uint8_t		perm[4096];
	size_t		size;
	const uint8_t *ptrs[4];

	a.kind = RSR_KIND_BINARY;
	a.k = 4;
	a.dims = 100;
	a.nrows = 10;
	fill_rows(&a, FILL_RANDOM);
	build_segments(&a, 40);
	b.kind = RSR_KIND_BINARY;
	b.k = 8;
	b.dims = 100;
	b.nrows = 10;
	fill_rows(&b, FILL_RANDOM);
	build_segments(&b, 100);

	for (int s = RSR_CUDA_OK; s <= RSR_CUDA_ECUDA; s++)
		check(strlen(rsr_cuda_status_string((RsrCudaStatus) s)) > 0, "status string", "");
	check_status(rsr_cuda_index_set_live(NULL, perm, 1, NULL), RSR_CUDA_EINVAL,
				 "mask of no index");
	check_status(rsr_cuda_index_upload(0, NULL, 1, NULL, &index, NULL), RSR_CUDA_EINVAL,
				 "NULL segments");
	check_status(rsr_cuda_index_upload(0, a.segs.data(), 0, NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "no segments");
	check_status(rsr_cuda_index_upload(-1, a.segs.data(), a.segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "negative device");

	// a flipped payload byte fails the checksum
	bad.assign(a.segs[1].data, a.segs[1].data + a.segs[1].size);
	bad[bad.size() - 1] ^= 1;
	segs = a.segs;
	segs[1].data = bad.data();
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_ECORRUPT, "corrupt segment");
	segs[1].data = a.segs[1].data;
	segs[1].size = a.segs[1].size - 1;
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_ECORRUPT, "truncated segment");

	// a layout (a) segment
	for (int r = 0; r < 4; r++)
		ptrs[r] = a.rows.data() + r * a.row_bytes;
	if (rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_PERM, 4, ptrs, 4, 100, 0, 100, perm,
						  sizeof(perm), &size) != RSR_OK)
		fail("rsr_segment_build", "layout (a)");
	segs = a.segs;
	segs[0].data = perm;
	segs[0].size = (uint32_t) size;
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "layout (a) segment");

	// mixed k
	segs = a.segs;
	segs.push_back(b.segs[0]);
	segs.back().out = 1000;
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "mixed k");

	// two blocks sharing output rows (not adjacent, or overlapping)
	segs = a.segs;
	segs.back().out = 0;
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "blocks sharing output rows");
	segs = a.segs;
	for (size_t i = 3; i < segs.size(); i++)
		segs[i].out -= 1;
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "overlapping blocks");

	// column ranges of one block must have the same rows
	segs = a.segs;
	segs[segs.size() - 4].out = segs.back().out;	/* a 4-row range into the 2-row block */
	std::swap(segs[segs.size() - 4], segs[segs.size() - 3]);
	std::swap(segs[segs.size() - 3], segs[segs.size() - 2]);
	std::swap(segs[segs.size() - 2], segs[segs.size() - 1]);
	check_status(rsr_cuda_index_upload(0, segs.data(), segs.size(), NULL, &index, NULL),
				 RSR_CUDA_EINVAL, "ranges of one block with different rows");

	// a valid index: uploads on a device, ENODEV without one
	check_status(rsr_cuda_index_upload(0, a.segs.data(), a.segs.size(), NULL, &index, NULL),
				 ndev > 0 ? RSR_CUDA_OK : RSR_CUDA_ENODEV, "valid upload");
	check((index != NULL) == (ndev > 0), "index only on success", "");
	rsr_cuda_index_free(index);
}

int
main(int argc, char **argv)
{
	uint64_t	seed = (uint64_t) time(NULL);
	int			ndev = 0;
	RsrCudaDeviceInfo info;
	RsrCudaStatus st;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
	printf("seed %llu\n", (unsigned long long) seed);
	rng_state = seed * 2654435761ULL + 1;
	rsr_init();

	st = rsr_cuda_device_count(&ndev);
	check_status(st, RSR_CUDA_OK, "device count");
	test_upload_checks(ndev);
	if (ndev == 0)
	{
		printf("%ld host checks passed\n", npassed);
		printf("skipped: no CUDA device\n");
		return 0;
	}
	check_status(rsr_cuda_probe(0, &info), RSR_CUDA_OK, "probe");
	printf("device: %s, sm_%d%d, %.0f GB/s\n", info.name, info.major, info.minor,
		   info.mem_bandwidth / 1e9);

	test_args();
	test_topn_rules();
	test_topn_mask();
	test_shapes();
	test_large();
	printf("%ld passed, 0 failed\n", npassed);
	return 0;
}
