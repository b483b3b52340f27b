/*-------------------------------------------------------------------------
 *
 * rsr_simd.c
 *	  AVX2 kernels, compiled per function with target attributes and
 *	  chosen at run time by CPUID; absent on other architectures.
 *
 * Every kernel adds exactly the float values the scalar reference adds,
 * only in another order: the row kernel selects q[j] by shifting the
 * wanted bit into the sign of each lane (vpsllvd) for vblendvps; the
 * single-query kernel on layout (b) multiplies q[j] by 0 or 1 from a table
 * (an FMA by 1 rounds like the addition); the batched kernel adds and
 * subtracts query values in buckets.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_simd.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* Sum of the 8 lanes */
AVX2 static inline float
hsum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* q & mask where the lane's shifted bit is set, else 0 */
#define SELECT(q, word, shift) \
	_mm256_blendv_ps(_mm256_setzero_ps(), (q), \
					 _mm256_castsi256_ps(_mm256_sllv_epi32((word), (shift))))

/*
 * Bit-packed row . q, 32 columns per step: the 4 row bytes are broadcast
 * and lane l of byte b gets its bit (7 - l of byte b) shifted to the sign.
 */
AVX2 static float
plane_dot(const uint8_t *plane, uint32_t dims, const float *q)
{
	const __m256i s0 = _mm256_setr_epi32(24, 25, 26, 27, 28, 29, 30, 31);
	const __m256i s1 = _mm256_setr_epi32(16, 17, 18, 19, 20, 21, 22, 23);
	const __m256i s2 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
	const __m256i s3 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256		a0 = _mm256_setzero_ps();
	__m256		a1 = _mm256_setzero_ps();
	__m256		a2 = _mm256_setzero_ps();
	__m256		a3 = _mm256_setzero_ps();
	uint32_t	full = dims / 32;
	uint32_t	i;

	for (i = 0; i < full; i++)
	{
		uint32_t	w;
		__m256i		v;
		const float *qi = q + 32 * i;

		memcpy(&w, plane + 4 * i, 4);
		v = _mm256_set1_epi32((int) w);
		a0 = _mm256_add_ps(a0, SELECT(_mm256_loadu_ps(qi), v, s0));
		a1 = _mm256_add_ps(a1, SELECT(_mm256_loadu_ps(qi + 8), v, s1));
		a2 = _mm256_add_ps(a2, SELECT(_mm256_loadu_ps(qi + 16), v, s2));
		a3 = _mm256_add_ps(a3, SELECT(_mm256_loadu_ps(qi + 24), v, s3));
	}
	if (dims % 32)
	{
		/* tail: zero-padded copies, padding bits masked off */
		float		qt[32] = {0};
		uint8_t		bt[4] = {0};
		uint32_t	rest = dims - 32 * full;
		uint32_t	w;
		__m256i		v;

		memcpy(qt, q + 32 * full, sizeof(float) * rest);
		memcpy(bt, plane + 4 * full, (rest + 7) / 8);
		if (rest % 8)
			bt[rest / 8] &= (uint8_t) (0xFF00 >> (rest % 8));
		memcpy(&w, bt, 4);
		v = _mm256_set1_epi32((int) w);
		a0 = _mm256_add_ps(a0, SELECT(_mm256_loadu_ps(qt), v, s0));
		a1 = _mm256_add_ps(a1, SELECT(_mm256_loadu_ps(qt + 8), v, s1));
		a2 = _mm256_add_ps(a2, SELECT(_mm256_loadu_ps(qt + 16), v, s2));
		a3 = _mm256_add_ps(a3, SELECT(_mm256_loadu_ps(qt + 24), v, s3));
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* Bit-packed row . q (AVX2) */
AVX2 static void
row_avx2(RsrKind kind, const uint8_t *row, uint32_t dims, const float *q,
		 float *out)
{
	float		s = plane_dot(row, dims, q);

	if (kind == RSR_KIND_TERNARY)
		s -= plane_dot(row + ((size_t) dims + 7) / 8, dims, q);
	*out = s;
}

/*
 * bit_table[c][r] = bit r of c as 0.0f or 1.0f: the fused multiply-add
 * q * 1 + acc rounds exactly like q + acc, and q * 0 + acc is acc, so a
 * table row turns one FMA into "add q to the lanes whose bit is set".
 */
#define BT1(c) {(float) ((c) & 1), (float) (((c) >> 1) & 1), \
		(float) (((c) >> 2) & 1), (float) (((c) >> 3) & 1), \
		(float) (((c) >> 4) & 1), (float) (((c) >> 5) & 1), \
		(float) (((c) >> 6) & 1), (float) (((c) >> 7) & 1)}
#define BT4(c) BT1(c), BT1((c) + 1), BT1((c) + 2), BT1((c) + 3)
#define BT16(c) BT4(c), BT4((c) + 4), BT4((c) + 8), BT4((c) + 12)
#define BT64(c) BT16(c), BT16((c) + 16), BT16((c) + 32), BT16((c) + 48)
static const float bit_table[256][8] __attribute__((aligned(32))) = {
	BT64(0), BT64(64), BT64(128), BT64(192)
};

/* Lanes of 8-bit codes . q by table and FMA, "-1" codes subtracted */
AVX2 static __m256
codes8_fma(const uint8_t *pos, const uint8_t *neg, uint32_t ncols,
		   const float *q)
{
	__m256		a0 = _mm256_setzero_ps();
	__m256		a1 = _mm256_setzero_ps();
	__m256		a2 = _mm256_setzero_ps();
	__m256		a3 = _mm256_setzero_ps();
	uint32_t	j;

	for (j = 0; j + 4 <= ncols; j += 4)
	{
		__m256		q0 = _mm256_broadcast_ss(q + j);
		__m256		q1 = _mm256_broadcast_ss(q + j + 1);
		__m256		q2 = _mm256_broadcast_ss(q + j + 2);
		__m256		q3 = _mm256_broadcast_ss(q + j + 3);

		a0 = _mm256_fmadd_ps(q0, _mm256_load_ps(bit_table[pos[j]]), a0);
		a1 = _mm256_fmadd_ps(q1, _mm256_load_ps(bit_table[pos[j + 1]]), a1);
		a2 = _mm256_fmadd_ps(q2, _mm256_load_ps(bit_table[pos[j + 2]]), a2);
		a3 = _mm256_fmadd_ps(q3, _mm256_load_ps(bit_table[pos[j + 3]]), a3);
		if (neg != NULL)
		{
			a0 = _mm256_fnmadd_ps(q0, _mm256_load_ps(bit_table[neg[j]]), a0);
			a1 = _mm256_fnmadd_ps(q1, _mm256_load_ps(bit_table[neg[j + 1]]), a1);
			a2 = _mm256_fnmadd_ps(q2, _mm256_load_ps(bit_table[neg[j + 2]]), a2);
			a3 = _mm256_fnmadd_ps(q3, _mm256_load_ps(bit_table[neg[j + 3]]), a3);
		}
	}
	for (; j < ncols; j++)
	{
		__m256		q0 = _mm256_broadcast_ss(q + j);

		a0 = _mm256_fmadd_ps(q0, _mm256_load_ps(bit_table[pos[j]]), a0);
		if (neg != NULL)
			a0 = _mm256_fnmadd_ps(q0, _mm256_load_ps(bit_table[neg[j]]), a0);
	}
	return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}

/* acc_lo/acc_hi += q * table rows of the two bytes of a 16-bit code */
#define FMA16(w, sh, qv, l, h, op) \
	do { \
		l = op((qv), _mm256_load_ps(bit_table[((w) >> (sh)) & 0xFF]), l); \
		h = op((qv), _mm256_load_ps(bit_table[((w) >> ((sh) + 8)) & 0xFF]), h); \
	} while (0)

/*
 * Lanes of 16-bit codes . q by table and FMA: rows 0-7 in lo, 8-15 in hi.
 * Four columns per step: one 8-byte load of their codes, one broadcast of
 * each q[j] shared by both halves, eight independent accumulators.
 */
AVX2 static void
codes16_fma(const uint8_t *pos, const uint8_t *neg, uint32_t ncols,
			const float *q, __m256 *lo, __m256 *hi)
{
	__m256		l0 = _mm256_setzero_ps();
	__m256		l1 = _mm256_setzero_ps();
	__m256		l2 = _mm256_setzero_ps();
	__m256		l3 = _mm256_setzero_ps();
	__m256		h0 = _mm256_setzero_ps();
	__m256		h1 = _mm256_setzero_ps();
	__m256		h2 = _mm256_setzero_ps();
	__m256		h3 = _mm256_setzero_ps();
	uint32_t	j;

	for (j = 0; j + 4 <= ncols; j += 4)
	{
		__m256		q0 = _mm256_broadcast_ss(q + j);
		__m256		q1 = _mm256_broadcast_ss(q + j + 1);
		__m256		q2 = _mm256_broadcast_ss(q + j + 2);
		__m256		q3 = _mm256_broadcast_ss(q + j + 3);
		uint64_t	w;

		memcpy(&w, pos + 2 * j, 8);
		FMA16(w, 0, q0, l0, h0, _mm256_fmadd_ps);
		FMA16(w, 16, q1, l1, h1, _mm256_fmadd_ps);
		FMA16(w, 32, q2, l2, h2, _mm256_fmadd_ps);
		FMA16(w, 48, q3, l3, h3, _mm256_fmadd_ps);
		if (neg != NULL)
		{
			memcpy(&w, neg + 2 * j, 8);
			FMA16(w, 0, q0, l0, h0, _mm256_fnmadd_ps);
			FMA16(w, 16, q1, l1, h1, _mm256_fnmadd_ps);
			FMA16(w, 32, q2, l2, h2, _mm256_fnmadd_ps);
			FMA16(w, 48, q3, l3, h3, _mm256_fnmadd_ps);
		}
	}
	for (; j < ncols; j++)
	{
		__m256		q0 = _mm256_broadcast_ss(q + j);
		uint32_t	w = rsr_rd16(pos + 2 * j);

		FMA16(w, 0, q0, l0, h0, _mm256_fmadd_ps);
		if (neg != NULL)
		{
			w = rsr_rd16(neg + 2 * j);
			FMA16(w, 0, q0, l0, h0, _mm256_fnmadd_ps);
		}
	}
	*lo = _mm256_add_ps(_mm256_add_ps(l0, l1), _mm256_add_ps(l2, l3));
	*hi = _mm256_add_ps(_mm256_add_ps(h0, h1), _mm256_add_ps(h2, h3));
}

/* Layout (b), single query, directly on the codes (table and FMA) */
AVX2 static RsrStatus
gemv_codes_fma(const RsrSeg *s, const float *q, float *acc, float *buckets)
{
	const float *qc = q + s->col_start;
	uint32_t	cb = rsr_code_bytes(s->k);
	const uint8_t *neg = s->kind == RSR_KIND_TERNARY ?
		s->payload + (size_t) s->ncols * cb : NULL;
	float		lanes[16];
	uint32_t	r;

	(void) buckets;
	if (cb == 1)
		_mm256_storeu_ps(lanes, codes8_fma(s->payload, neg, s->ncols, qc));
	else
	{
		__m256		lo;
		__m256		hi;

		codes16_fma(s->payload, neg, s->ncols, qc, &lo, &hi);
		_mm256_storeu_ps(lanes, lo);
		_mm256_storeu_ps(lanes + 8, hi);
	}
	for (r = 0; r < s->nrows; r++)
		acc[r] = lanes[r];
	return RSR_OK;
}

/* u[0..8 nv) += v[0..nv) (registers), or -= with op = _mm256_sub_ps */
#define RMW(u, v, nv, op) \
	do { \
		int			l_; \
		for (l_ = 0; l_ < (nv); l_++) \
			_mm256_storeu_ps((u) + 8 * l_, op(_mm256_loadu_ps((u) + 8 * l_), (v)[l_])); \
	} while (0)

/*
 * Layout (b), batched aggregate over 8 nv lanes (nv a constant after
 * inlining): buckets[lo(code)] += qt[j], hi[hi(code)] += qt[j], "-1"
 * codes subtract; one load of the query values feeds every bucket array
 * of the column.
 */
__attribute__((always_inline)) AVX2 static inline void
scatter_lanes(const RsrSeg *s, uint32_t c0, uint32_t c1, const float *qt,
			  size_t qt_stride, float *buckets, const int nv)
{
	uint32_t	cb = rsr_code_bytes(s->k);
	uint32_t	h = rsr_split_bits(s->k);
	uint32_t	mlo = s->nrows < h ? (1u << s->nrows) - 1 : (1u << h) - 1;
	uint32_t	mhi = s->nrows > h ? (1u << (s->nrows - h)) - 1 : 0;
	size_t		stride = (size_t) 8 * nv;
	float	   *hi = buckets + (stride << h);
	const uint8_t *pos = s->payload;
	const uint8_t *neg = s->payload + (size_t) s->ncols * cb;
	int			ternary = s->kind == RSR_KIND_TERNARY;
	__m256		v[8];
	uint32_t	j;
	int			l;

	if (cb == 1)
	{
		for (j = c0; j < c1; j++)
		{
			uint32_t	p = pos[j] & mlo;
			uint32_t	n = ternary ? neg[j] & mlo : 0;

			for (l = 0; l < nv; l++)
				v[l] = _mm256_loadu_ps(qt + (size_t) (j - c0) * qt_stride + 8 * l);
			RMW(buckets + p * stride, v, nv, _mm256_add_ps);
			if (ternary)
				RMW(buckets + n * stride, v, nv, _mm256_sub_ps);
		}
		return;
	}
	for (j = c0; j < c1; j++)
	{
		uint32_t	p = rsr_rd16(pos + 2 * j);
		uint32_t	n = ternary ? rsr_rd16(neg + 2 * j) : 0;

		for (l = 0; l < nv; l++)
			v[l] = _mm256_loadu_ps(qt + (size_t) (j - c0) * qt_stride + 8 * l);
		RMW(buckets + (p & mlo) * stride, v, nv, _mm256_add_ps);
		RMW(hi + ((p >> h) & mhi) * stride, v, nv, _mm256_add_ps);
		if (ternary)
		{
			RMW(buckets + (n & mlo) * stride, v, nv, _mm256_sub_ps);
			RMW(hi + ((n >> h) & mhi) * stride, v, nv, _mm256_sub_ps);
		}
	}
}

/* Layout (b), batched aggregate; the driver pads lanes to a multiple of 8 */
AVX2 static void
scatter_avx2(const RsrSeg *s, uint32_t c0, uint32_t c1, const float *qt,
			 size_t qt_stride, uint32_t lanes, float *buckets)
{
	if (lanes == 16)
		scatter_lanes(s, c0, c1, qt, qt_stride, buckets, 2);
	else if (lanes == 8)
		scatter_lanes(s, c0, c1, qt, qt_stride, buckets, 1);
	else
		rsr_scatter_scalar(s, c0, c1, qt, qt_stride, lanes, buckets);
}

/* RSR++ fold over 8 n lanes (see rsr_fold_scalar) */
AVX2 static void
fold_avx2(float *buckets, uint32_t nbits, uint32_t lanes, float *acc,
		  size_t acc_stride)
{
	int			r;
	size_t		c;
	uint32_t	b;

	if (lanes % 8 != 0)
	{
		rsr_fold_scalar(buckets, nbits, lanes, acc, acc_stride);
		return;
	}
	for (r = (int) nbits - 1; r >= 0; r--)
	{
		size_t		half = (size_t) 1 << r;

		for (b = 0; b < lanes; b += 8)
		{
			__m256		a = _mm256_setzero_ps();

			for (c = half; c < 2 * half; c++)
			{
				__m256		u = _mm256_loadu_ps(buckets + c * lanes + b);
				float	   *l = buckets + (c - half) * lanes + b;

				a = _mm256_add_ps(a, u);
				_mm256_storeu_ps(l, _mm256_add_ps(_mm256_loadu_ps(l), u));
			}
			_mm256_storeu_ps(acc + (size_t) r * acc_stride + b, a);
		}
	}
}

static const RsrKernels kernels_avx2 = {
	"avx2",
	8,
	rsr_seg_gemv_perm_scalar,
	gemv_codes_fma,
	scatter_avx2,
	fold_avx2,
	row_avx2
};

/* The AVX2 kernel set, or NULL when this CPU has no AVX2 */
const RsrKernels *
rsr_kernels_avx2(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return &kernels_avx2;
	return NULL;
}

#else							/* !__x86_64__ */

/* No AVX2 on this architecture */
const RsrKernels *
rsr_kernels_avx2(void)
{
	return NULL;
}

#endif							/* __x86_64__ */
