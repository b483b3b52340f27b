/*-------------------------------------------------------------------------
 *
 * rsr_gemv.c
 *	  Matrix-vector drivers (single query and batched) over sets of
 *	  segments, the scalar reference kernels, the bit-packed row kernels,
 *	  the run-time CPU dispatch and the error bound.
 *
 * The drivers split the segment list into one contiguous chunk per OpenMP
 * thread, never splitting a run of segments that share an output, so no
 * two threads write the same result.  Each thread takes its scratch space
 * from the caller's workspace.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_gemv.c
 *
 *-------------------------------------------------------------------------
 */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "rsr_internal.h"

#define MAX_THREADS 256
#define WORK_ALIGN 64

const RsrKernels rsr_kernels_scalar = {
	"scalar",
	1,
	rsr_seg_gemv_perm_scalar,
	rsr_seg_gemv_bucket_scalar,
	rsr_scatter_scalar,
	rsr_fold_scalar,
	rsr_row_scalar
};

/* The kernels chosen by rsr_init(); the scalar set until then */
static const RsrKernels *kernels = &rsr_kernels_scalar;

/* CPU dispatch: pick the AVX2 kernels when the CPU has them */
void
rsr_init(void)
{
	const RsrKernels *k = rsr_kernels_avx2();

	kernels = k != NULL ? k : &rsr_kernels_scalar;
	rsr_tile_dispatch();
}

/* Name of the kernel set in use */
const char *
rsr_kernel_name(void)
{
	return kernels->name;
}

/* Text of a status code */
const char *
rsr_status_string(RsrStatus status)
{
	switch (status)
	{
		case RSR_OK:
			return "success";
		case RSR_EINVAL:
			return "invalid argument";
		case RSR_ENOMEM:
			return "buffer or workspace too small";
		case RSR_ECORRUPT:
			return "corrupt segment";
	}
	return "unknown status";
}

/*
 * Absolute error bound of a float32 kernel result.  Every kernel computes a
 * sum of the terms +-q_j (exact products with 0/+-1) by float32 additions;
 * whatever the order, each term passes through at most m additions with m =
 * ncols + k (bucket chain, then the fold) + one per column range and a few
 * for lane reductions, so m <= 2 * dims + 64, and the error is at most
 * gamma_m * sum |q_j| with gamma_m = m u / (1 - m u), u = 2^-24 (Higham,
 * Accuracy and Stability of Numerical Algorithms, 2nd ed., (4.4)).  Float
 * underflow in additions is exact; overflow (inf) is outside the bound.
 */
double
rsr_error_bound(uint32_t dims, double q_abs_sum)
{
	double		u = 1.0 / 16777216.0;
	double		m = 2.0 * (double) dims + 64.0;

	return m * u / (1.0 - m * u) * q_abs_sum;
}

/* Workspace bytes of one thread for this k and batch */
static size_t
thread_work(uint32_t max_k, uint32_t batch)
{
	size_t		nb = rsr_bucket_count(max_k);
	size_t		n;

	/* k = 8 has the largest arrays of all k below 13 */
	if (max_k > 8 && nb < 256)
		nb = 256;
	n = nb * (batch < RSR_PASS_LANES ? batch : RSR_PASS_LANES) +
		(size_t) RSR_MAX_K * batch;
	if (batch > 1)
		n += (size_t) RSR_TILE_COLS * batch;
	n *= sizeof(float);
	return (n + WORK_ALIGN - 1) / WORK_ALIGN * WORK_ALIGN;
}

/* Bytes of caller workspace the kernels need */
size_t
rsr_workspace_size(uint32_t max_k, uint32_t batch, int threads)
{
	if (max_k < 1)
		max_k = 1;
	if (max_k > RSR_MAX_K)
		max_k = RSR_MAX_K;
	if (batch < 1)
		batch = 1;
	if (batch > 1)
		batch = (batch + 7) & ~7u;	/* SIMD kernels pad to 8 lanes */
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	return thread_work(max_k, batch) * threads + WORK_ALIGN;
}

/* First segment of thread t's chunk: never splits a run sharing an output */
static size_t
chunk_start(const RsrSegmentRef *segs, size_t nsegs, int nthreads, int t)
{
	size_t		i = nsegs * (size_t) t / (size_t) nthreads;

	while (i > 0 && i < nsegs && segs[i].out == segs[i - 1].out)
		i++;
	return i;
}

/* Per-thread scratch: the aligned start and bytes of each thread's slice */
static float *
thread_slice(void *work, size_t work_size, int nthreads, int t,
			 size_t *slice)
{
	uintptr_t	base = ((uintptr_t) work + WORK_ALIGN - 1) & ~(uintptr_t) (WORK_ALIGN - 1);
	size_t		usable = work_size - (base - (uintptr_t) work);

	*slice = usable / (size_t) nthreads / WORK_ALIGN * WORK_ALIGN;
	return (float *) (base + *slice * (size_t) t);
}

/* Layout (a), single query: gather by permutation, scatter to the rows */
RsrStatus
rsr_seg_gemv_perm_scalar(const RsrSeg *s, const float *q, float *acc,
						 float *buckets)
{
	uint32_t	gb = rsr_group_bytes(s->kind);
	const uint8_t *rec = s->payload;
	const uint8_t *perm = s->payload + (size_t) s->ngroups * gb;
	const float *qc = q + s->col_start;
	uint32_t	rowmask = (1u << s->nrows) - 1;
	uint32_t	off = 0;
	uint32_t	g;
	uint32_t	r;

	(void) buckets;
	for (r = 0; r < s->nrows; r++)
		acc[r] = 0.0f;
	for (g = 0; g < s->ngroups; g++, rec += gb)
	{
		uint32_t	len = rsr_rd16(rec);
		uint32_t	pos = rsr_rd16(rec + 2) & rowmask;
		uint32_t	neg = s->kind == RSR_KIND_TERNARY ? rsr_rd16(rec + 4) & rowmask : 0;
		float		sum = 0.0f;
		uint32_t	i;

		if (len > s->nperm - off)
			return RSR_ECORRUPT;
		for (i = off; i < off + len; i++)
		{
			uint32_t	c = rsr_rd16(perm + 2 * i);

			if (c >= s->ncols)
				return RSR_ECORRUPT;
			sum += qc[c];
		}
		off += len;
		for (; pos; pos &= pos - 1)
			acc[__builtin_ctz(pos)] += sum;
		for (; neg; neg &= neg - 1)
			acc[__builtin_ctz(neg)] -= sum;
	}
	return RSR_OK;
}

/* Layout (b), aggregate: buckets[code][b] += qt[col][b] over [c0, c1) */
void
rsr_scatter_scalar(const RsrSeg *s, uint32_t c0, uint32_t c1,
				   const float *qt, size_t qt_stride, uint32_t lanes,
				   float *buckets)
{
	uint32_t	cb = rsr_code_bytes(s->k);
	uint32_t	h = rsr_split_bits(s->k);
	uint32_t	mlo = s->nrows < h ? (1u << s->nrows) - 1 : (1u << h) - 1;
	uint32_t	mhi = s->nrows > h ? (1u << (s->nrows - h)) - 1 : 0;
	float	   *hi = buckets + ((size_t) lanes << h);
	const uint8_t *pos = s->payload;
	const uint8_t *neg = s->payload + (size_t) s->ncols * cb;
	uint32_t	p;
	uint32_t	j;
	uint32_t	b;

	for (p = 0; p < (s->kind == RSR_KIND_TERNARY ? 2u : 1u); p++)
	{
		const uint8_t *codes = p == 0 ? pos : neg;
		float		sign = p == 0 ? 1.0f : -1.0f;

		for (j = c0; j < c1; j++)
		{
			const float *v = qt + (size_t) (j - c0) * qt_stride;
			uint32_t	code = cb == 1 ? codes[j] : rsr_rd16(codes + 2 * j);
			float	   *ul = buckets + (size_t) (code & mlo) * lanes;
			float	   *uh = hi + (size_t) ((code >> h) & mhi) * lanes;

			/* sign * v is exact, so this adds the same values as u -= v */
			for (b = 0; b < lanes; b++)
				ul[b] += sign * v[b];
			if (mhi != 0)
				for (b = 0; b < lanes; b++)
					uh[b] += sign * v[b];
		}
	}
}

/* Zero the buckets of a segment, then fold them into acc after the scatter */
static void
buckets_zero(const RsrSeg *s, uint32_t batch, float *buckets)
{
	uint32_t	h = rsr_split_bits(s->k);
	size_t		n = s->nrows <= h ? (size_t) 1 << s->nrows :
		((size_t) 1 << h) + ((size_t) 1 << (s->nrows - h));

	memset(buckets, 0, sizeof(float) * n * batch);
}

/* Fold both bucket arrays of a segment into acc[r * batch + b] */
static void
buckets_fold(const RsrKernels *kern, const RsrSeg *s, uint32_t lanes,
			 float *buckets, float *acc, size_t acc_stride)
{
	uint32_t	h = rsr_split_bits(s->k);

	kern->fold(buckets, s->nrows < h ? s->nrows : h, lanes, acc, acc_stride);
	if (s->nrows > h)
		kern->fold(buckets + ((size_t) lanes << h), s->nrows - h, lanes,
				   acc + (size_t) h * acc_stride, acc_stride);
}

/*
 * RSR++ fold: acc[r][b] = sum of buckets[c][b] over the codes c with bit r
 * set, for r < nbits, by repeated halving of the pattern space (the rows
 * of the top bit take the sum of the upper half; the upper half then folds
 * onto the lower one).  Destroys the buckets.
 */
void
rsr_fold_scalar(float *buckets, uint32_t nbits, uint32_t lanes, float *acc,
				size_t acc_stride)
{
	int			r;
	size_t		c;
	uint32_t	b;

	for (r = (int) nbits - 1; r >= 0; r--)
	{
		size_t		half = (size_t) 1 << r;
		float	   *a = acc + (size_t) r * acc_stride;

		for (b = 0; b < lanes; b++)
			a[b] = 0.0f;
		for (c = half; c < 2 * half; c++)
		{
			float	   *u = buckets + c * lanes;
			float	   *l = buckets + (c - half) * lanes;

			for (b = 0; b < lanes; b++)
			{
				a[b] += u[b];
				l[b] += u[b];
			}
		}
	}
}

/* Layout (b), single query, RSR with buckets and the fold */
RsrStatus
rsr_seg_gemv_bucket_scalar(const RsrSeg *s, const float *q, float *acc,
						   float *buckets)
{
	buckets_zero(s, 1, buckets);
	rsr_scatter_scalar(s, 0, s->ncols, q + s->col_start, 1, 1, buckets);
	buckets_fold(&rsr_kernels_scalar, s, 1, buckets, acc, 1);
	return RSR_OK;
}

/* Bit-packed row . q (scalar) */
void
rsr_row_scalar(RsrKind kind, const uint8_t *row, uint32_t dims,
			   const float *q, float *out)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	float		sum = 0.0f;
	size_t		i;

	for (i = 0; i < plane; i++)
	{
		/* padding bits past dims are ignored: q has only dims entries */
		uint32_t	keep = i + 1 < plane || dims % 8 == 0 ? 0xFF : 0xFF00 >> (dims % 8);
		uint32_t	p = row[i] & keep;
		uint32_t	n = kind == RSR_KIND_TERNARY ? row[plane + i] & keep : 0;

		for (; p; p &= p - 1)
			sum += q[8 * i + 7 - __builtin_ctz(p)];
		for (; n; n &= n - 1)
			sum -= q[8 * i + 7 - __builtin_ctz(n)];
	}
	*out = sum;
}

/* Check the common arguments of the drivers */
static RsrStatus
check_args(const RsrSegmentRef *segs, size_t nsegs, const void *q,
		   uint32_t batch, uint32_t dims, const void *y, const void *work,
		   int threads)
{
	if ((segs == NULL && nsegs > 0) || q == NULL || y == NULL ||
		work == NULL || dims < 1 || dims > RSR_MAX_DIMS || batch < 1 ||
		batch > RSR_MAX_BATCH || threads < 1 || threads > MAX_THREADS)
		return RSR_EINVAL;
	return RSR_OK;
}

/* Threads worth starting for nsegs segments: never more than segments */
static int
team_size(int threads, size_t nsegs)
{
	if ((size_t) threads > nsegs)
		return (int) (nsegs > 0 ? nsegs : 1);
	return threads;
}

/*
 * True when every query value is finite.  The kernels multiply q by 0 or
 * 1 (FMA) or select it, which agree only for finite values; a non-finite
 * query has no meaningful score anyway.
 */
static int
all_finite(const float *q, size_t n)
{
	uint32_t	bad = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &q[i], 4);
		bad |= ((bits >> 23) & 0xFF) == 0xFF;
	}
	return !bad;
}

/* Parse a segment referenced by the caller and match it to the query */
static RsrStatus
parse_ref(const RsrSegmentRef *ref, uint32_t dims, RsrSeg *s)
{
	RsrStatus	st = rsr_seg_parse(ref->data, ref->size, s);

	if (st == RSR_OK && (s->dims != dims || s->layout == RSR_LAYOUT_TILE))
		st = RSR_EINVAL;			/* tiles: the rsr_tile_* kernels */
	return st;
}

/* y += M q with an explicit kernel set */
RsrStatus
rsr_gemv_with(const RsrKernels *kern, const RsrSegmentRef *segs,
			  size_t nsegs, const float *q, uint32_t dims, float *y,
			  void *work, size_t work_size, int threads)
{
	int			status = RSR_OK;
	int			nthreads;

	if (check_args(segs, nsegs, q, 1, dims, y, work, threads) != RSR_OK ||
		!all_finite(q, dims))
		return RSR_EINVAL;
	nthreads = team_size(threads, nsegs);
	if (work_size < WORK_ALIGN * (size_t) (nthreads + 1))
		return RSR_ENOMEM;

#pragma omp parallel num_threads(nthreads) if (nthreads > 1) reduction(max:status)
	{
		int			t = 0;
		int			n = 1;
		size_t		slice;
		float	   *acc;
		float	   *buckets;
		size_t		i;
		size_t		end;

#ifdef _OPENMP
		t = omp_get_thread_num();
		n = omp_get_num_threads();
#endif
		acc = thread_slice(work, work_size, n, t, &slice);
		buckets = acc + RSR_MAX_K;
		end = chunk_start(segs, nsegs, n, t + 1);
		for (i = chunk_start(segs, nsegs, n, t); i < end; i++)
		{
			RsrSeg		s;
			RsrStatus	st = parse_ref(&segs[i], dims, &s);
			uint32_t	r;

			if (st == RSR_OK && s.layout == RSR_LAYOUT_BUCKET &&
				(RSR_MAX_K + rsr_bucket_count(s.k)) * sizeof(float) > slice)
				st = RSR_ENOMEM;
			if (st == RSR_OK)
				st = s.layout == RSR_LAYOUT_PERM ?
					kern->gemv_perm(&s, q, acc, buckets) :
					kern->gemv_bucket(&s, q, acc, buckets);
			if (st != RSR_OK)
			{
				if ((int) st > status)
					status = (int) st;
				break;
			}
			for (r = 0; r < s.nrows; r++)
				y[segs[i].out + r] += acc[r];
		}
	}
	return (RsrStatus) status;
}

/*
 * Transpose Q[b][c0..c1) into the query tile, pass by pass: lanes [l0, l0 +
 * nl) of column c go to qt[l0 * tile_cols + (c - c0) * nl + (b - l0)], so
 * each pass of the bucket kernel streams contiguous memory.  Lanes from
 * batch up to lanes (SIMD padding) are zero.
 */
static void
transpose_tile(const float *Q, uint32_t batch, uint32_t lanes, uint32_t dims,
			   uint32_t c0, uint32_t c1, uint32_t tile_cols, float *qt)
{
	uint32_t	l0;
	uint32_t	b;
	uint32_t	c;

	for (l0 = 0; l0 < lanes; l0 += RSR_PASS_LANES)
	{
		uint32_t	nl = lanes - l0 < RSR_PASS_LANES ? lanes - l0 : RSR_PASS_LANES;
		float	   *dst = qt + (size_t) l0 * tile_cols;

		for (b = l0; b < l0 + nl; b++)
		{
			const float *src = Q + (size_t) b * dims;

			if (b >= batch)
				for (c = c0; c < c1; c++)
					dst[(size_t) (c - c0) * nl + (b - l0)] = 0.0f;
			else
				for (c = c0; c < c1; c++)
					dst[(size_t) (c - c0) * nl + (b - l0)] = src[c];
		}
	}
}

/* Layout (a), batched: per group, the sums of all queries, then the scatter */
static RsrStatus
gemm_perm(const RsrSeg *s, const float *Q, uint32_t batch, uint32_t lanes,
		  uint32_t dims, float *acc, float *sum)
{
	uint32_t	gb = rsr_group_bytes(s->kind);
	const uint8_t *rec = s->payload;
	const uint8_t *perm = s->payload + (size_t) s->ngroups * gb;
	uint32_t	rowmask = (1u << s->nrows) - 1;
	uint32_t	off = 0;
	uint32_t	g;
	uint32_t	b;

	memset(acc, 0, sizeof(float) * s->nrows * lanes);
	for (g = 0; g < s->ngroups; g++, rec += gb)
	{
		uint32_t	len = rsr_rd16(rec);
		uint32_t	pos = rsr_rd16(rec + 2) & rowmask;
		uint32_t	neg = s->kind == RSR_KIND_TERNARY ? rsr_rd16(rec + 4) & rowmask : 0;
		uint32_t	i;

		if (len > s->nperm - off)
			return RSR_ECORRUPT;
		for (b = 0; b < batch; b++)
			sum[b] = 0.0f;
		for (i = off; i < off + len; i++)
		{
			uint32_t	c = rsr_rd16(perm + 2 * i);
			const float *qc = Q + s->col_start + c;

			if (c >= s->ncols)
				return RSR_ECORRUPT;
			for (b = 0; b < batch; b++)
				sum[b] += qc[(size_t) b * dims];
		}
		off += len;
		for (; pos; pos &= pos - 1)
		{
			float	   *a = acc + (size_t) __builtin_ctz(pos) * lanes;

			for (b = 0; b < batch; b++)
				a[b] += sum[b];
		}
		for (; neg; neg &= neg - 1)
		{
			float	   *a = acc + (size_t) __builtin_ctz(neg) * lanes;

			for (b = 0; b < batch; b++)
				a[b] -= sum[b];
		}
	}
	return RSR_OK;
}

/*
 * Layout (b), batched: aggregate every column's query values into the
 * buckets of its code (B lanes at once), then fold.  Lanes go in passes of
 * RSR_PASS_LANES so the buckets stay in L1.  The transposed query tile is
 * kept across segments that fall inside it.
 */
static RsrStatus
gemm_bucket(const RsrKernels *kern, const RsrSeg *s, const float *Q,
			uint32_t batch, uint32_t lanes, uint32_t dims, float *acc,
			float *buckets, float *tile, uint32_t tile_cols, uint32_t *tile_lo,
			uint32_t *tile_hi)
{
	uint32_t	c0;
	uint32_t	l0;

	for (l0 = 0; l0 < lanes; l0 += RSR_PASS_LANES)
	{
		uint32_t	nl = lanes - l0 < RSR_PASS_LANES ? lanes - l0 : RSR_PASS_LANES;

		buckets_zero(s, nl, buckets);
		for (c0 = 0; c0 < s->ncols; c0 += tile_cols)
		{
			uint32_t	lo = s->col_start + c0;
			uint32_t	n = s->ncols - c0 < tile_cols ? s->ncols - c0 : tile_cols;

			if (lo < *tile_lo || lo + n > *tile_hi)
			{
				*tile_lo = lo;
				*tile_hi = dims - lo < tile_cols ? dims : lo + tile_cols;
				transpose_tile(Q, batch, lanes, dims, *tile_lo, *tile_hi,
							   tile_cols, tile);
			}
			kern->scatter(s, c0, c0 + n,
						  tile + (size_t) l0 * tile_cols + (size_t) (lo - *tile_lo) * nl,
						  nl, nl, buckets);
		}
		buckets_fold(kern, s, nl, buckets, acc + l0, lanes);
	}
	return RSR_OK;
}

/* Y += M Q^T with an explicit kernel set */
RsrStatus
rsr_gemm_with(const RsrKernels *kern, const RsrSegmentRef *segs,
			  size_t nsegs, const float *Q, uint32_t batch, uint32_t dims,
			  float *Y, void *work, size_t work_size, int threads)
{
	int			status = RSR_OK;
	int			nthreads;
	uint32_t	lanes;

	if (check_args(segs, nsegs, Q, batch, dims, Y, work, threads) != RSR_OK ||
		!all_finite(Q, (size_t) batch * dims))
		return RSR_EINVAL;
	lanes = (batch + kern->lanes - 1) / kern->lanes * kern->lanes;
	if (batch == 1)
		return rsr_gemv_with(kern, segs, nsegs, Q, dims, Y, work, work_size,
							 threads);
	nthreads = team_size(threads, nsegs);
	if (work_size < WORK_ALIGN * (size_t) (nthreads + 1))
		return RSR_ENOMEM;

#pragma omp parallel num_threads(nthreads) if (nthreads > 1) reduction(max:status)
	{
		int			t = 0;
		int			n = 1;
		size_t		slice;
		float	   *acc;
		float	   *tile;
		float	   *buckets;
		uint32_t	tile_cols;
		uint32_t	tile_lo = 1;
		uint32_t	tile_hi = 0;
		size_t		i;
		size_t		end;

#ifdef _OPENMP
		t = omp_get_thread_num();
		n = omp_get_num_threads();
#endif
		acc = thread_slice(work, work_size, n, t, &slice);
		tile = acc + (size_t) RSR_MAX_K * lanes;
		tile_cols = dims < RSR_TILE_COLS ? dims : RSR_TILE_COLS;
		buckets = tile + (size_t) tile_cols * lanes;
		end = chunk_start(segs, nsegs, n, t + 1);
		for (i = chunk_start(segs, nsegs, n, t); i < end; i++)
		{
			RsrSeg		s;
			RsrStatus	st = parse_ref(&segs[i], dims, &s);
			uint32_t	r;
			uint32_t	b;

			if (st == RSR_OK &&
				(((size_t) RSR_MAX_K + tile_cols) * lanes +
				 (s.layout == RSR_LAYOUT_BUCKET ?
				  rsr_bucket_count(s.k) * (lanes < RSR_PASS_LANES ? lanes : RSR_PASS_LANES) :
				  lanes)) * sizeof(float) > slice)
				st = RSR_ENOMEM;
			if (st == RSR_OK)
				st = s.layout == RSR_LAYOUT_PERM ?
					gemm_perm(&s, Q, batch, lanes, dims, acc, buckets) :
					gemm_bucket(kern, &s, Q, batch, lanes, dims, acc, buckets,
								tile, tile_cols, &tile_lo, &tile_hi);
			if (st != RSR_OK)
			{
				if ((int) st > status)
					status = (int) st;
				break;
			}
			for (r = 0; r < s.nrows; r++)
			{
				float	   *yr = Y + (size_t) (segs[i].out + r) * batch;
				const float *ar = acc + (size_t) r * lanes;

				for (b = 0; b < batch; b++)
					yr[b] += ar[b];
			}
		}
	}
	return (RsrStatus) status;
}

/* y += M q for the rows held in segs */
RsrStatus
rsr_gemv(const RsrSegmentRef *segs, size_t nsegs, const float *q,
		 uint32_t dims, float *y, void *work, size_t work_size, int threads)
{
	return rsr_gemv_with(kernels, segs, nsegs, q, dims, y, work, work_size,
						 threads);
}

/* Y += M Q^T for a batch of queries */
RsrStatus
rsr_gemm(const RsrSegmentRef *segs, size_t nsegs, const float *Q,
		 uint32_t batch, uint32_t dims, float *Y, void *work,
		 size_t work_size, int threads)
{
	return rsr_gemm_with(kernels, segs, nsegs, Q, batch, dims, Y, work,
						 work_size, threads);
}

/* Check the arguments of the row kernels */
static RsrStatus
check_rows(RsrKind kind, const uint8_t *const *rows, uint32_t nrows,
		   uint32_t dims, const float *q, const float *y)
{
	uint32_t	i;

	if ((kind != RSR_KIND_BINARY && kind != RSR_KIND_TERNARY) ||
		dims < 1 || dims > RSR_MAX_DIMS || q == NULL || y == NULL ||
		(rows == NULL && nrows > 0))
		return RSR_EINVAL;
	for (i = 0; i < nrows; i++)
		if (rows[i] == NULL)
			return RSR_EINVAL;
	return RSR_OK;
}

/* y[i] = row_i . q with an explicit kernel set */
RsrStatus
rsr_gemv_rows_with(const RsrKernels *kern, RsrKind kind,
				   const uint8_t *const *rows, uint32_t nrows, uint32_t dims,
				   const float *q, float *y)
{
	uint32_t	i;

	if (check_rows(kind, rows, nrows, dims, q, y) != RSR_OK)
		return RSR_EINVAL;
	for (i = 0; i < nrows; i++)
		kern->row(kind, rows[i], dims, q, &y[i]);
	return RSR_OK;
}

/* Exact bit-packed baseline on raw packed rows */
RsrStatus
rsr_gemv_rows(RsrKind kind, const uint8_t *const *rows, uint32_t nrows,
			  uint32_t dims, const float *q, float *y)
{
	return rsr_gemv_rows_with(kernels, kind, rows, nrows, dims, q, y);
}

/* Batched bit-packed baseline: Y[i * batch + b] = row_i . Q[b] */
RsrStatus
rsr_gemm_rows(RsrKind kind, const uint8_t *const *rows, uint32_t nrows,
			  uint32_t dims, const float *Q, uint32_t batch, float *Y)
{
	uint32_t	i;
	uint32_t	b;

	if (check_rows(kind, rows, nrows, dims, Q, Y) != RSR_OK ||
		batch < 1 || batch > RSR_MAX_BATCH)
		return RSR_EINVAL;
	for (i = 0; i < nrows; i++)
		for (b = 0; b < batch; b++)
			kernels->row(kind, rows[i], dims, Q + (size_t) b * dims,
						 &Y[(size_t) i * batch + b]);
	return RSR_OK;
}
