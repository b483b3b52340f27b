/*-------------------------------------------------------------------------
 *
 * rsr_tile.c
 *	  The tile layout (c): building, checking and decoding 32-row
 *	  byte-transposed tiles, the exact score of a packed row, and the
 *	  preparation of a query for the two-phase lookup kernels (quantized
 *	  4-column tables, heavy columns, the proven interval of S - A).
 *
 * The bound (docs/tile-kernel.md has the long form).  Let u = 2^-53 and,
 * for a group g of 4 columns (heavy columns and padding set to 0),
 * T_g[p] = the double sum of the columns selected by pattern p,
 * c_g = sum of min(q_j, 0), L_g = sum of |q_j|, s the table unit and
 * t_g[p] = round((T_g[p] - c_g) / s) clamped to [0, M].  With the real
 * error E_g[p] = (V_g[p] - c*_g) - s t_g[p] (V, c* the exact real sums),
 * the exact real score of a binary row is
 *	  S*(r) = s J(r) + C* + sum_g E_g[p_g(r)] + (H*(r) - s hq(r)),
 * J = sum_g t_g[p_g(r)] + hq(r) an integer, H* the heavy columns' real sum
 * and hq = floor(H / s), so H* - s hq lies in [0, s) up to rounding.  Hence
 * S* - s J - C* lies in [sum_g min_p E_g, sum_g max_p E_g] (+ [0, s) with
 * heavy columns); a ternary row is the difference of two binary planes on
 * one table, so c cancels and the range is +-sum_g (max_p E_g - min_p E_g).
 * What is computed differs from the reals by roundings, each at most u
 * times a magnitude bounded by N = ||q||_1 + (G + 2) s (G groups):
 *	- S (the double sum in element order) vs S*: <= d u ||q||_1;
 *	- each computed e_g[p] vs E_g[p]: <= (9 L_g + 3 s) u, summed over
 *	  groups <= 9 u ||q||_1 + 3 u G s; the G-term sums of min/max e:
 *	  <= G u (G s), the C sum: <= (G + 3) u ||q||_1;
 *	- A = fl(fl(s J) + C) vs s J + C: <= 2 u (|s J| + |C|) <= 4 u N;
 *	- the heavy sums and floor(H / s): <= 9 u ||q||_1.
 * All together <= (d + 2 G + 32) u N + G^2 u s <= (2 d + 2 G + 256) 2^-50 N
 * = eta (G s <= N, and 2^-50 = 8 u leaves a factor of 4).  So
 *	  lo = sum_g min e - eta,  hi = sum_g max e + eta (+ s with heavy)
 * bound S - A for every row.  Comparisons of fl(A + hi) with an exact
 * score use hi_cmp = hi + 2^-48 N, which covers their own three roundings.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_tile.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "rsr_internal.h"

/* Build the payload of a tile: rows[0..nrows) over [col_start, +ncols) */
void
rsr_tile_build(RsrKind kind, const uint8_t *const *rows, uint32_t nrows,
			   uint32_t dims, uint32_t col_start, uint32_t ncols,
			   uint8_t *payload)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	uint32_t	nb = (ncols + 7) / 8;
	uint32_t	np = kind == RSR_KIND_TERNARY ? 2 : 1;
	uint8_t		last = ncols % 8 ? (uint8_t) (0xFF00 >> (ncols % 8)) : 0xFF;
	uint32_t	b;
	uint32_t	p;
	uint32_t	i;

	memset(payload, 0, rsr_tile_payload_bytes(kind, ncols));
	for (b = 0; b < nb; b++)
		for (p = 0; p < np; p++)
		{
			uint8_t    *dst = payload + ((size_t) b * np + p) * RSR_TILE_ROWS;
			size_t		off = p * plane + col_start / 8 + b;

			for (i = 0; i < nrows; i++)
				dst[i] = (uint8_t) (rows[i][off] & (b == nb - 1 ? last : 0xFF));
		}
}

/*
 * Parse seg as the range of a tile block that starts at column `col`: a
 * tile of `dims` columns in all, with at least *nrows rows (0: the block's
 * first range, which sets *nrows).  The block's rows are those of its first
 * range; a later one may hold a row more (an insert that has written it but
 * not yet published it in the head), which is ignored.  The caller checks
 * the kind.
 */
RsrStatus
rsr_tile_range_parse(const uint8_t *seg, size_t size, uint32_t dims,
					 uint32_t col, uint32_t *nrows, RsrSeg *s)
{
	RsrStatus	rc;

	if (seg == NULL)
		return RSR_EINVAL;
	rc = rsr_seg_parse(seg, size, s);
	if (rc != RSR_OK)
		return rc;
	if (s->layout != RSR_LAYOUT_TILE || s->dims != dims ||
		s->col_start != col || (*nrows != 0 && s->nrows < *nrows))
		return RSR_EINVAL;
	if (*nrows == 0)
		*nrows = s->nrows;
	return RSR_OK;
}

/* Payload check: padding bits and absent rows zero, planes disjoint */
RsrStatus
rsr_tile_check(const RsrSeg *s)
{
	uint32_t	nb = (s->ncols + 7) / 8;
	uint32_t	np = s->kind == RSR_KIND_TERNARY ? 2 : 1;
	uint8_t		last = s->ncols % 8 ? (uint8_t) (0xFF00 >> (s->ncols % 8)) : 0xFF;
	uint32_t	b;
	uint32_t	i;

	for (b = 0; b < nb; b++)
	{
		const uint8_t *x = s->payload + (size_t) b * np * RSR_TILE_ROWS;
		uint8_t		allow = b == nb - 1 ? last : 0xFF;

		for (i = 0; i < RSR_TILE_ROWS; i++)
		{
			uint8_t		pos = x[i];
			uint8_t		neg = np == 2 ? x[RSR_TILE_ROWS + i] : 0;

			if (((pos | neg) & ~allow) != 0 || (pos & neg) != 0 ||
				(i >= s->nrows && (pos | neg) != 0))
				return RSR_ECORRUPT;
		}
	}
	return RSR_OK;
}

/* Decode row r of a tile into row (planes of ceil(ncols / 8) bytes) */
void
rsr_tile_get_row(const RsrSeg *s, uint32_t r, uint8_t *row)
{
	uint32_t	nb = (s->ncols + 7) / 8;
	uint32_t	np = s->kind == RSR_KIND_TERNARY ? 2 : 1;
	uint32_t	b;
	uint32_t	p;

	for (b = 0; b < nb; b++)
		for (p = 0; p < np; p++)
			row[(size_t) p * nb + b] =
				s->payload[((size_t) b * np + p) * RSR_TILE_ROWS + r];
}

/*
 * Exact score of a packed row: the double sum, in element order, of
 * (double) q_j over the "+1" elements and of -(double) q_j over the "-1"
 * elements (the definition of <#>, bit for bit).
 */
double
rsr_exact_score(RsrKind kind, const uint8_t *row, uint32_t dims,
				const float *q)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	const uint8_t *neg = kind == RSR_KIND_TERNARY ? row + plane : NULL;
	double		sum = 0.0;
	size_t		b;

	for (b = 0; b < plane; b++)
	{
		uint32_t	m = neg ? neg[b] : 0;
		uint32_t	nz = row[b] | m;

		while (nz != 0)
		{
			int			bit = 31 - __builtin_clz(nz);
			double		v = (double) q[8 * b + 7 - bit];

			sum += ((m >> bit) & 1) ? -v : v;
			nz &= ~(1u << bit);
		}
	}
	return sum;
}

/* Round up to a multiple of 64 */
static inline size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t) 63;
}

/* Bytes of a prepared query */
size_t
rsr_tile_query_size(RsrKind kind, uint32_t dims)
{
	size_t		groups = ((size_t) dims + 3) / 4;

	(void) kind;
	/* tables padded to whole 64-byte loads, then 64 spare bytes */
	return align64(sizeof(RsrTileQuery)) + align64(groups * 16) + 64 +
		align64((size_t) dims * sizeof(float));
}

/* Largest-|q| columns, by |q| descending then column: up to max of them */
static uint32_t
top_columns(const float *q, uint32_t dims, uint32_t max, uint32_t *top)
{
	uint32_t	n = 0;
	uint32_t	j;

	for (j = 0; j < dims; j++)
	{
		double		a = fabs((double) q[j]);
		uint32_t	i;

		if (a == 0.0 || (n == max && a <= fabs((double) q[top[n - 1]])))
			continue;
		i = n < max ? n++ : n - 1;
		while (i > 0 && fabs((double) q[top[i - 1]]) < a)
		{
			top[i] = top[i - 1];
			i--;
		}
		top[i] = j;
	}
	return n;
}

/* Is column j heavy? */
static inline int
is_heavy(const RsrTileQuery *tq, uint32_t j)
{
	uint32_t	h;

	for (h = 0; h < tq->nheavy; h++)
		if (tq->heavy[h] == j)
			return 1;
	return 0;
}

/*
 * Choose the heavy columns: scoring the h largest-|q| columns outside the
 * table shrinks the table unit from max_g L_g to the largest group sum
 * without them; each costs a little per row, so take the h minimizing
 * unit * (1 + h / 4).  L (scratch of ngroups doubles) gets the group sums.
 */
static void
choose_heavy(RsrTileQuery *tq, const float *q, double *L)
{
	uint32_t	max = tq->kind == RSR_KIND_TERNARY ? 4 : RSR_TILE_MAX_HEAVY;
	uint32_t	top[RSR_TILE_MAX_HEAVY];
	uint32_t	ntop = top_columns(q, tq->dims, max, top);
	double		best = 0.0;
	uint32_t	h;
	uint32_t	g;
	uint32_t	j;

	for (g = 0; g < tq->ngroups; g++)
		L[g] = 0.0;
	for (j = 0; j < tq->dims; j++)
		L[j / 4] += fabs((double) q[j]);
	tq->nheavy = 0;
	for (h = 0; h <= ntop; h++)
	{
		double		unit = 0.0;

		if (h > 0)
			L[top[h - 1] / 4] -= fabs((double) q[top[h - 1]]);
		for (g = 0; g < tq->ngroups; g++)
			if (L[g] > unit)
				unit = L[g];
		if (h == 0 || unit * (1.0 + h / 4.0) < best)
		{
			best = unit * (1.0 + h / 4.0);
			tq->nheavy = h;
		}
	}
	for (h = 0; h < tq->nheavy; h++)
		tq->heavy[h] = top[h];
}

/* Prepare one query for the tile kernels */
RsrStatus
rsr_tile_prepare(RsrKind kind, const float *q, uint32_t dims, void *out,
				 size_t out_size)
{
	RsrTileQuery *tq = (RsrTileQuery *) out;
	uint8_t    *tab;
	double	   *L;
	double		norm1 = 0.0;
	double		maxabs = 0.0;
	double		maxL = 0.0;
	double		s;
	double		sum_min = 0.0;
	double		sum_max = 0.0;
	double		range = 0.0;
	double		C = 0.0;
	double		N;
	double		eta;
	uint32_t	g;
	uint32_t	j;
	uint32_t	m;

	if ((kind != RSR_KIND_BINARY && kind != RSR_KIND_TERNARY) ||
		q == NULL || out == NULL || dims < 1 || dims > RSR_MAX_DIMS)
		return RSR_EINVAL;
	if (out_size < rsr_tile_query_size(kind, dims) || ((uintptr_t) out & 7))
		return RSR_ENOMEM;
	for (j = 0; j < dims; j++)
	{
		if (!isfinite(q[j]))
			return RSR_EINVAL;
		norm1 += fabs((double) q[j]);
		if (fabs((double) q[j]) > maxabs)
			maxabs = fabs((double) q[j]);
	}
	memset(tq, 0, sizeof(RsrTileQuery));
	tq->magic = RSR_TILE_QMAGIC;
	tq->kind = kind;
	tq->dims = dims;
	tq->ngroups = (dims + 3) / 4;
	tq->tab_off = align64(sizeof(RsrTileQuery));
	tq->q_off = tq->tab_off + align64((size_t) tq->ngroups * 16) + 64;
	tq->size = rsr_tile_query_size(kind, dims);
	tab = (uint8_t *) tq + tq->tab_off;
	memcpy((uint8_t *) tq + tq->q_off, q, (size_t) dims * sizeof(float));

	/* heavy columns, with the tables' memory as scratch for group sums */
	L = (double *) tab;
	choose_heavy(tq, q, L);
	for (g = 0; g < tq->ngroups; g++)
		if (L[g] > maxL)
			maxL = L[g];

	/*
	 * The unit: the largest group sum maps to M.  With heavy columns it is
	 * kept >= 2^-40 max|q| so that heavy sums fit an int64 in units.
	 */
	s = maxL / RSR_TILE_M;
	if (tq->nheavy > 0 && s < ldexp(maxabs, -40))
		s = ldexp(maxabs, -40);
	if (s == 0.0)
		s = 1.0;				/* a zero query: all tables zero */
	tq->s = s;

	memset(tab, 0, align64((size_t) tq->ngroups * 16) + 64);
	for (g = 0; g < tq->ngroups; g++)
	{
		double		qg[4];
		double		c = 0.0;
		double		emin = 0.0;
		double		emax = 0.0;
		uint32_t	t;
		uint32_t	p;

		for (t = 0; t < 4; t++)
		{
			j = 4 * g + t;
			qg[t] = j < dims && !is_heavy(tq, j) ? (double) q[j] : 0.0;
			c += qg[t] < 0.0 ? qg[t] : 0.0;
		}
		for (p = 0; p < 16; p++)
		{
			double		T = 0.0;
			double		D;
			double		x;
			double		e;

			for (t = 0; t < 4; t++)
				if ((p >> (3 - t)) & 1)
					T += qg[t];
			D = T - c;
			x = nearbyint(D / s);
			if (x < 0.0)
				x = 0.0;
			if (x > RSR_TILE_M)
				x = RSR_TILE_M;
			tab[(size_t) g * 16 + p] = (uint8_t) x;
			e = D - s * x;
			if (p == 0 || e < emin)
				emin = e;
			if (p == 0 || e > emax)
				emax = e;
		}
		C += c;
		sum_min += emin;
		sum_max += emax;
		range += emax - emin;
	}

	N = norm1 + ((double) tq->ngroups + 2.0) * s;
	eta = (2.0 * dims + 2.0 * tq->ngroups + 256.0) * ldexp(N, -50);
	if (kind == RSR_KIND_BINARY)
	{
		tq->C = C;
		tq->lo = sum_min - eta;
		tq->hi = sum_max + eta;
	}
	else
	{
		tq->C = 0.0;
		tq->lo = -range - eta;
		tq->hi = range + eta;
	}

	/* heavy part by mask: binary bit h; ternary "+1" bits | "-1" bits << 4 */
	for (m = 0; m < 256; m++)
	{
		double		hv = 0.0;
		uint32_t	h;

		for (h = 0; h < tq->nheavy; h++)
		{
			double		v = (double) q[tq->heavy[h]];

			if ((m >> h) & 1)
				hv += v;
			if (kind == RSR_KIND_TERNARY && ((m >> (h + 4)) & 1))
				hv -= v;
		}
		tq->hq[m] = (int64_t) floor(hv / s);
	}
	if (tq->nheavy > 0)
		tq->hi += s;
	tq->hi_cmp = tq->hi + ldexp(N, -48);
	tq->W = (int64_t) ceil((tq->hi - tq->lo) / s * (1.0 + ldexp(1.0, -40))) + 1;
	return RSR_OK;
}

/* The interval of S - A of a prepared query */
void
rsr_tile_interval(const void *tqp, double *lo, double *hi)
{
	const RsrTileQuery *tq = (const RsrTileQuery *) tqp;

	*lo = tq->lo;
	*hi = tq->hi;
}
