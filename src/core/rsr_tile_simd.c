/*-------------------------------------------------------------------------
 *
 * rsr_tile_simd.c
 *	  The lookup kernels of phase 1 over a tile: the scalar reference, AVX2
 *	  (vpshufb), AVX-512BW (vpshufb on 4 lanes) and AVX-512VBMI (vpermb on
 *	  the whole register), compiled per function with target attributes
 *	  and chosen at run time by CPUID; and the exact-sum kernels of
 *	  rsr_tile_exact.c (scalar; AVX-512F vpermt2pd on 16-double tables).
 *
 * Every kernel computes the same integers: row i's sum over the tile's
 * column bytes of t[2b][hi nibble] + t[2b + 1][lo nibble] ("+1" plane
 * minus "-1" plane for ternary).  Two lookups (<= 2 M = 254) are added in
 * bytes, then into 16-bit even/odd accumulators, which are emptied into
 * 32-bit sums every 256 column steps (254 * 256 < 65536), so nothing
 * overflows and the result is exact.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_tile_simd.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

#define FLUSH_STEPS 256

/* Scalar reference lookup kernel */
static void
lookup_scalar(const RsrTilePart *parts, uint32_t nparts, int ternary,
			  const uint8_t *const *tabs, uint32_t nq,
			  int32_t (*I)[RSR_TILE_ROWS])
{
	uint32_t	q;
	uint32_t	k;
	uint32_t	b;
	uint32_t	i;

	for (q = 0; q < nq; q++)
	{
		for (k = 0; k < nparts; k++)
			for (b = 0; b < parts[k].nb; b++)
			{
				const uint8_t *th = tabs[q] + parts[k].tab + 32 * (size_t) b;
				const uint8_t *tl = th + 16;

				if (ternary)
				{
					const uint8_t *xp = parts[k].tile + 64 * (size_t) b;
					const uint8_t *xm = xp + 32;

					for (i = 0; i < RSR_TILE_ROWS; i++)
						I[q][i] += th[xp[i] >> 4] + tl[xp[i] & 15] -
							th[xm[i] >> 4] - tl[xm[i] & 15];
				}
				else
				{
					const uint8_t *x = parts[k].tile + 32 * (size_t) b;

					for (i = 0; i < RSR_TILE_ROWS; i++)
						I[q][i] += th[x[i] >> 4] + tl[x[i] & 15];
				}
			}
	}
}

/* Scalar exact-sum kernel */
static void
exact_scalar(const RsrTilePart *parts, uint32_t nparts, int ternary,
			 const double *tab, double *acc)
{
	uint32_t	k;
	uint32_t	b;
	uint32_t	i;

	for (k = 0; k < nparts; k++)
		for (b = 0; b < parts[k].nb; b++)
		{
			const double *th = tab + parts[k].tab + 32 * (size_t) b;
			const double *tl = th + 16;

			if (ternary)
			{
				const uint8_t *xp = parts[k].tile + 64 * (size_t) b;
				const uint8_t *xm = xp + 32;

				for (i = 0; i < RSR_TILE_ROWS; i++)
					acc[i] += (th[xp[i] >> 4] + tl[xp[i] & 15]) -
						(th[xm[i] >> 4] + tl[xm[i] & 15]);
			}
			else
			{
				const uint8_t *x = parts[k].tile + 32 * (size_t) b;

				for (i = 0; i < RSR_TILE_ROWS; i++)
					acc[i] += th[x[i] >> 4] + tl[x[i] & 15];
			}
		}
}

static const RsrTileKernels tile_scalar = {"scalar", lookup_scalar, exact_scalar};

/* The kernels rsr_init() chose; scalar until then */
const RsrTileKernels *rsr_tile_active = &tile_scalar;

/* Choose the best level this CPU has (called by rsr_init) */
void
rsr_tile_dispatch(void)
{
	int			level;

	for (level = RSR_TILE_NLEVELS - 1; level > RSR_TILE_SCALAR; level--)
		if (rsr_tile_kernels(level) != NULL)
		{
			rsr_tile_active = rsr_tile_kernels(level);
			return;
		}
	rsr_tile_active = &tile_scalar;
}

/* Name of the chosen tile kernels */
const char *
rsr_tile_kernel_name(void)
{
	return rsr_tile_active->name;
}

#if defined(__x86_64__)

#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx2")))
#define T_BW __attribute__((target("avx512f,avx512bw")))
#define T_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))
#define INLINE __attribute__((always_inline)) static inline

/* ---- AVX2: one ymm = one column byte (one plane) of 32 rows ---- */

/* Add 16-bit even/odd accumulators (u16 lane m = rows 2m, 2m + 1) to I */
T_AVX2 INLINE void
flush_avx2(__m256i e, __m256i o, int sign, int32_t *I)
{
	uint16_t	ev[16];
	uint16_t	ov[16];
	int			m;

	_mm256_storeu_si256((__m256i *) ev, e);
	_mm256_storeu_si256((__m256i *) ov, o);
	for (m = 0; m < 16; m++)
	{
		I[2 * m] += sign * (int32_t) ev[m];
		I[2 * m + 1] += sign * (int32_t) ov[m];
	}
}

/* NQ queries (1..4), TERN ternary: constants after inlining */
T_AVX2 INLINE void
lookup_avx2_n(const RsrTilePart *parts, uint32_t nparts, const int TERN,
			  const uint8_t *const *tabs, const uint32_t NQ,
			  int32_t (*I)[RSR_TILE_ROWS])
{
	const __m256i m0f = _mm256_set1_epi8(0x0F);
	const __m256i m00ff = _mm256_set1_epi16(0x00FF);
	__m256i		pe[4],
				po[4],
				me[4],
				mo[4];
	uint32_t	steps = 0;
	uint32_t	q;
	uint32_t	k;

	for (q = 0; q < NQ; q++)
	{
		pe[q] = po[q] = me[q] = mo[q] = _mm256_setzero_si256();
	}
	for (k = 0; k < nparts; k++)
	{
		const uint8_t *tile = parts[k].tile;
		uint32_t	nb = parts[k].nb;
		const uint8_t *tp[4];
		uint32_t	b = 0;

		for (q = 0; q < NQ; q++)
			tp[q] = tabs[q] + parts[k].tab;
		while (b < nb)
		{
			/* steps up to the next flush, without a check per step */
			uint32_t	end = nb - b > FLUSH_STEPS - steps ? b + FLUSH_STEPS - steps : nb;

			steps += end - b;
			for (; b < end; b++)
			{
			const uint8_t *xb = tile + (size_t) b * (TERN ? 64 : 32);
			__m256i		x = _mm256_loadu_si256((const __m256i *) xb);
			__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m0f);
			__m256i		lo = _mm256_and_si256(x, m0f);
			__m256i		xm,
						him = hi,
						lom = lo;

			if (TERN)
			{
				xm = _mm256_loadu_si256((const __m256i *) (xb + 32));
				him = _mm256_and_si256(_mm256_srli_epi16(xm, 4), m0f);
				lom = _mm256_and_si256(xm, m0f);
			}
			for (q = 0; q < NQ; q++)
			{
				const uint8_t *t = tp[q] + 32 * (size_t) b;
				__m256i		th = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) t));
				__m256i		tl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *) (t + 16)));
				__m256i		v = _mm256_add_epi8(_mm256_shuffle_epi8(th, hi),
												_mm256_shuffle_epi8(tl, lo));

				pe[q] = _mm256_add_epi16(pe[q], _mm256_and_si256(v, m00ff));
				po[q] = _mm256_add_epi16(po[q], _mm256_srli_epi16(v, 8));
				if (TERN)
				{
					v = _mm256_add_epi8(_mm256_shuffle_epi8(th, him),
										_mm256_shuffle_epi8(tl, lom));
					me[q] = _mm256_add_epi16(me[q], _mm256_and_si256(v, m00ff));
					mo[q] = _mm256_add_epi16(mo[q], _mm256_srli_epi16(v, 8));
				}
			}
			}
			if (steps == FLUSH_STEPS)
			{
				for (q = 0; q < NQ; q++)
				{
					flush_avx2(pe[q], po[q], 1, I[q]);
					if (TERN)
						flush_avx2(me[q], mo[q], -1, I[q]);
					pe[q] = po[q] = me[q] = mo[q] = _mm256_setzero_si256();
				}
				steps = 0;
			}
		}
	}
	for (q = 0; q < NQ; q++)
	{
		flush_avx2(pe[q], po[q], 1, I[q]);
		if (TERN)
			flush_avx2(me[q], mo[q], -1, I[q]);
	}
}

/*
 * ---- AVX-512: one zmm = two column bytes of 32 rows (binary), or the
 * two planes of one column byte (ternary) ----
 *
 * u16 lane m of an accumulator holds rows 2 (m % 16) (even) and
 * 2 (m % 16) + 1 (odd) of the register's half m / 16: the halves add
 * (binary) or subtract (ternary).
 */
T_BW INLINE void
flush_512(__m512i e, __m512i o, int TERN, int32_t *I)
{
	uint16_t	ev[32];
	uint16_t	ov[32];
	int			sign = TERN ? -1 : 1;
	int			m;

	_mm512_storeu_si512((void *) ev, e);
	_mm512_storeu_si512((void *) ov, o);
	for (m = 0; m < 16; m++)
	{
		I[2 * m] += (int32_t) ev[m] + sign * (int32_t) ev[m + 16];
		I[2 * m + 1] += (int32_t) ov[m] + sign * (int32_t) ov[m + 16];
	}
}

/*
 * One step of the tile: binary steps cover column bytes b and b + 1 (the
 * last step of an odd count only b, the rest zero), ternary steps the two
 * planes of column byte b.  load_tab() loads the table bytes of the step
 * (ternary: 32, the rest zero).
 */
T_BW INLINE __m512i
load_tile(const uint8_t *tile, uint32_t b, uint32_t nb, int TERN)
{
	if (TERN)
		return _mm512_loadu_si512((const void *) (tile + 64 * (size_t) b));
	if (b + 1 < nb)
		return _mm512_loadu_si512((const void *) (tile + 32 * (size_t) b));
	return _mm512_maskz_loadu_epi8(0xFFFFFFFFULL, tile + 32 * (size_t) b);
}

T_BW INLINE __m512i
load_tab(const uint8_t *tab, uint32_t b, uint32_t nb, int TERN)
{
	if (!TERN && b + 1 < nb)
		return _mm512_loadu_si512((const void *) (tab + 32 * (size_t) b));
	return _mm512_maskz_loadu_epi8(0xFFFFFFFFULL, tab + 32 * (size_t) b);
}

/* AVX-512BW: vpshufb looks up per 128-bit lane, so the tables are spread */
T_BW INLINE void
lookup_bw_n(const RsrTilePart *parts, uint32_t nparts, const int TERN,
			const uint8_t *const *tabs, const uint32_t NQ,
			int32_t (*I)[RSR_TILE_ROWS])
{
	const __m512i m0f = _mm512_set1_epi8(0x0F);
	const __m512i m00ff = _mm512_set1_epi16(0x00FF);
	const uint32_t step = TERN ? 1 : 2;
	__m512i		ae[4],
				ao[4];
	uint32_t	steps = 0;
	uint32_t	q;
	uint32_t	k;

	for (q = 0; q < NQ; q++)
	{
		ae[q] = ao[q] = _mm512_setzero_si512();
	}
	for (k = 0; k < nparts; k++)
	{
		const uint8_t *tile = parts[k].tile;
		uint32_t	nb = parts[k].nb;
		const uint8_t *tp[4];
		uint32_t	b = 0;

		for (q = 0; q < NQ; q++)
			tp[q] = tabs[q] + parts[k].tab;
		while (b < nb)
		{
			/* steps up to the next flush, without a check per step */
			uint32_t	end = nb - b > (FLUSH_STEPS - steps) * step ?
				b + (FLUSH_STEPS - steps) * step : nb;

			steps += (end - b + step - 1) / step;
			for (; b < end; b += step)
			{
			__m512i		x = load_tile(tile, b, nb, TERN);
			__m512i		hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m0f);
			__m512i		lo = _mm512_and_si512(x, m0f);

			for (q = 0; q < NQ; q++)
			{
				__m512i		t = load_tab(tp[q], b, nb, TERN);
				__m512i		th,
							tl,
							v;

				if (TERN)
				{
					/* lanes: [T2b x4] and [T2b+1 x4] */
					th = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(0, 0, 0, 0));
					tl = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(1, 1, 1, 1));
				}
				else
				{
					/* lanes: [T4s T4s T4s+2 T4s+2], [T4s+1 T4s+1 T4s+3 T4s+3] */
					th = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(2, 2, 0, 0));
					tl = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(3, 3, 1, 1));
				}
				v = _mm512_add_epi8(_mm512_shuffle_epi8(th, hi),
									_mm512_shuffle_epi8(tl, lo));
				ae[q] = _mm512_add_epi16(ae[q], _mm512_and_si512(v, m00ff));
				ao[q] = _mm512_add_epi16(ao[q], _mm512_srli_epi16(v, 8));
			}
			}
			if (steps == FLUSH_STEPS)
			{
				for (q = 0; q < NQ; q++)
				{
					flush_512(ae[q], ao[q], TERN, I[q]);
					ae[q] = ao[q] = _mm512_setzero_si512();
				}
				steps = 0;
			}
		}
	}
	for (q = 0; q < NQ; q++)
		flush_512(ae[q], ao[q], TERN, I[q]);
}

/*
 * AVX-512VBMI: vpermb indexes the whole 64-byte table load (4 groups), so
 * the index is the nibble plus the group's offset within it.
 */
T_VBMI INLINE void
lookup_vbmi_n(const RsrTilePart *parts, uint32_t nparts, const int TERN,
			  const uint8_t *const *tabs, const uint32_t NQ,
			  int32_t (*I)[RSR_TILE_ROWS])
{
	const __m512i m0f = _mm512_set1_epi8(0x0F);
	const __m512i m00ff = _mm512_set1_epi16(0x00FF);
	/* binary: byte b -> groups at 0 (hi) and 16 (lo), byte b + 1 at 32, 48 */
	const __m512i offhi = TERN ? _mm512_setzero_si512() :
		_mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi8(32), 1);
	const __m512i offlo = TERN ? _mm512_set1_epi8(16) :
		_mm512_inserti64x4(_mm512_set1_epi8(16), _mm256_set1_epi8(48), 1);
	const uint32_t step = TERN ? 1 : 2;
	__m512i		ae[4],
				ao[4];
	uint32_t	steps = 0;
	uint32_t	q;
	uint32_t	k;

	for (q = 0; q < NQ; q++)
	{
		ae[q] = ao[q] = _mm512_setzero_si512();
	}
	for (k = 0; k < nparts; k++)
	{
		const uint8_t *tile = parts[k].tile;
		uint32_t	nb = parts[k].nb;
		const uint8_t *tp[4];
		uint32_t	b = 0;

		for (q = 0; q < NQ; q++)
			tp[q] = tabs[q] + parts[k].tab;
		while (b < nb)
		{
			/* steps up to the next flush, without a check per step */
			uint32_t	end = nb - b > (FLUSH_STEPS - steps) * step ?
				b + (FLUSH_STEPS - steps) * step : nb;

			steps += (end - b + step - 1) / step;
			for (; b < end; b += step)
			{
			__m512i		x = load_tile(tile, b, nb, TERN);

			/* (a & b) | c */
			__m512i		hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(x, 4), m0f, offhi, 0xEA);
			__m512i		lo = _mm512_ternarylogic_epi32(x, m0f, offlo, 0xEA);

			for (q = 0; q < NQ; q++)
			{
				__m512i		t = load_tab(tp[q], b, nb, TERN);
				__m512i		v;

				v = _mm512_add_epi8(_mm512_permutexvar_epi8(hi, t),
									_mm512_permutexvar_epi8(lo, t));
				ae[q] = _mm512_add_epi16(ae[q], _mm512_and_si512(v, m00ff));
				ao[q] = _mm512_add_epi16(ao[q], _mm512_srli_epi16(v, 8));
			}
			}
			if (steps == FLUSH_STEPS)
			{
				for (q = 0; q < NQ; q++)
				{
					flush_512(ae[q], ao[q], TERN, I[q]);
					ae[q] = ao[q] = _mm512_setzero_si512();
				}
				steps = 0;
			}
		}
	}
	for (q = 0; q < NQ; q++)
		flush_512(ae[q], ao[q], TERN, I[q]);
}

/* Instantiate the drivers: groups of 4, 2 and 1 queries */
#define DRIVER(name, inner, attr) \
attr static void \
name(const RsrTilePart *parts, uint32_t nparts, int ternary, \
	 const uint8_t *const *tabs, uint32_t nq, int32_t (*I)[RSR_TILE_ROWS]) \
{ \
	while (nq > 0) \
	{ \
		uint32_t	m = nq >= 4 ? 4 : nq >= 2 ? 2 : 1; \
		if (ternary) \
		{ \
			if (m == 4) inner(parts, nparts, 1, tabs, 4, I); \
			else if (m == 2) inner(parts, nparts, 1, tabs, 2, I); \
			else inner(parts, nparts, 1, tabs, 1, I); \
		} \
		else \
		{ \
			if (m == 4) inner(parts, nparts, 0, tabs, 4, I); \
			else if (m == 2) inner(parts, nparts, 0, tabs, 2, I); \
			else inner(parts, nparts, 0, tabs, 1, I); \
		} \
		tabs += m; \
		I += m; \
		nq -= m; \
	} \
}

/*
 * AVX-512 exact-sum kernel: a 16-entry double table is two registers, and
 * vpermt2pd looks up 8 rows at once by the low 4 bits of each 64-bit index
 * (the higher bits are ignored, so the low nibble needs no mask).
 */
T_BW INLINE __m512d
exact_lookup8(const uint8_t *x, __m512d h0, __m512d h1, __m512d l0, __m512d l1)
{
	__m512i		v = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *) x));

	return _mm512_add_pd(_mm512_permutex2var_pd(h0, _mm512_srli_epi64(v, 4), h1),
						 _mm512_permutex2var_pd(l0, v, l1));
}

T_BW static void
exact_512(const RsrTilePart *parts, uint32_t nparts, int ternary,
		  const double *tab, double *acc)
{
	__m512d		a[4];
	uint32_t	k;
	uint32_t	b;
	int			g;

	for (g = 0; g < 4; g++)
		a[g] = _mm512_loadu_pd(acc + 8 * g);
	for (k = 0; k < nparts; k++)
		for (b = 0; b < parts[k].nb; b++)
		{
			const double *t = tab + parts[k].tab + 32 * (size_t) b;
			__m512d		h0 = _mm512_loadu_pd(t);
			__m512d		h1 = _mm512_loadu_pd(t + 8);
			__m512d		l0 = _mm512_loadu_pd(t + 16);
			__m512d		l1 = _mm512_loadu_pd(t + 24);

			if (ternary)
			{
				const uint8_t *xp = parts[k].tile + 64 * (size_t) b;

				for (g = 0; g < 4; g++)
					a[g] = _mm512_add_pd(a[g],
										 _mm512_sub_pd(exact_lookup8(xp + 8 * g, h0, h1, l0, l1),
													   exact_lookup8(xp + 32 + 8 * g, h0, h1, l0, l1)));
			}
			else
			{
				const uint8_t *x = parts[k].tile + 32 * (size_t) b;

				for (g = 0; g < 4; g++)
					a[g] = _mm512_add_pd(a[g], exact_lookup8(x + 8 * g, h0, h1, l0, l1));
			}
		}
	for (g = 0; g < 4; g++)
		_mm512_storeu_pd(acc + 8 * g, a[g]);
}

DRIVER(lookup_avx2, lookup_avx2_n, T_AVX2)
DRIVER(lookup_bw, lookup_bw_n, T_BW)
DRIVER(lookup_vbmi, lookup_vbmi_n, T_VBMI)

static const RsrTileKernels tile_avx2 = {"avx2", lookup_avx2, exact_scalar};
static const RsrTileKernels tile_bw = {"avx512bw", lookup_bw, exact_512};
static const RsrTileKernels tile_vbmi = {"avx512vbmi", lookup_vbmi, exact_512};

/* The kernels of a dispatch level, NULL when this CPU lacks it */
const RsrTileKernels *
rsr_tile_kernels(int level)
{
	__builtin_cpu_init();
	switch (level)
	{
		case RSR_TILE_SCALAR:
			return &tile_scalar;
		case RSR_TILE_AVX2:
			return __builtin_cpu_supports("avx2") ? &tile_avx2 : NULL;
		case RSR_TILE_AVX512BW:
			return __builtin_cpu_supports("avx512f") &&
				__builtin_cpu_supports("avx512bw") ? &tile_bw : NULL;
		case RSR_TILE_AVX512VBMI:
			return __builtin_cpu_supports("avx512f") &&
				__builtin_cpu_supports("avx512bw") &&
				__builtin_cpu_supports("avx512vbmi") ? &tile_vbmi : NULL;
	}
	return NULL;
}

#else							/* !__x86_64__ */

/* Only the scalar kernels on this architecture */
const RsrTileKernels *
rsr_tile_kernels(int level)
{
	return level == RSR_TILE_SCALAR ? &tile_scalar : NULL;
}

#endif							/* __x86_64__ */
