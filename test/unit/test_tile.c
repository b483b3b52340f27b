/*-------------------------------------------------------------------------
 *
 * test_tile.c
 *	  Unit tests of the tile layout and the two-phase exact top-n (no
 *	  server): every dispatch level the CPU has against a float64
 *	  reference and against each other, one query and batches, 1 and 2
 *	  threads, streaming in chunks, dead rows, the RSR_ENOMEM resume path,
 *	  and the interval of S - A for every row.
 *
 * Usage: test_tile [--quick] [--seed N].  Prints the seed and the kernels
 * that ran, stops at the first mismatch with a non-zero exit, ends with
 * "N passed, 0 failed".
 *
 * The reference is exact: the score of a row is the double sum in element
 * order (the definition of <#>), the top n are sorted by score, then id.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/unit/test_tile.c
 *
 *-------------------------------------------------------------------------
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsr_internal.h"
#include "test_util.h"

static int	quick;
static int	levels_run[RSR_TILE_NLEVELS];
static long exact_fast;		/* queries rsr_tile_exact summed by tables */
static long exact_slow;		/* and element by element */

enum
{
	DATA_UNIFORM, DATA_CLUSTERED, DATA_DUPLICATE, DATA_SPARSE, NDATA
};

enum
{
	Q_UNIFORM, Q_EQUAL, Q_NEGATIVE, Q_INTEGER, Q_HEAVY1, Q_HEAVY3, Q_ZERO,
	Q_DENORMAL, Q_HUGE, Q_NEAR, Q_WIDE, NQSTYLE
};

/* Uniform double in [-1, 1) */
static double
unif(void)
{
	return ((double) (rnd() >> 11) / 9007199254740992.0) * 2.0 - 1.0;
}

/* Set element j of a packed row to v (-1, 0, 1); plane 0: binary */
static void
set_elem(uint8_t *row, size_t plane, uint32_t j, int v)
{
	row[j >> 3] &= (uint8_t) ~(0x80 >> (j & 7));
	if (plane > 0)
		row[plane + (j >> 3)] &= (uint8_t) ~(0x80 >> (j & 7));
	if (v > 0)
		row[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
	else if (v < 0)
		row[plane + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
}

/* Element j of a packed row */
static int
get_elem(RsrKind kind, const uint8_t *row, size_t plane, uint32_t j)
{
	if (rsr_bit(row, j))
		return 1;
	if (kind == RSR_KIND_TERNARY && rsr_bit(row + plane, j))
		return -1;
	return 0;
}

/* A random element of the kind */
static int
rnd_elem(RsrKind kind)
{
	return kind == RSR_KIND_BINARY ? (int) rndn(2) : (int) rndn(3) - 1;
}

/* Rows of a data style; rowbuf has room for 2 planes of each row */
static void
fill_rows(RsrKind kind, uint8_t *rowbuf, size_t rb, uint32_t nrows,
		  uint32_t dims, int data)
{
	size_t		plane = kind == RSR_KIND_TERNARY ? ((size_t) dims + 7) / 8 : 0;
	uint32_t	ncent = nrows / 4 + 1 < 1000 ? nrows / 4 + 1 : 1000;
	uint32_t	i;
	uint32_t	j;

	memset(rowbuf, 0, rb * nrows);
	for (i = 0; i < nrows; i++)
	{
		uint8_t    *row = rowbuf + rb * i;

		if (data == DATA_CLUSTERED && i >= ncent)
		{
			/* near a centroid (one of the first rows): 5% of elements redrawn */
			memcpy(row, rowbuf + rb * rndn(ncent), rb);
			for (j = 0; j < dims; j++)
				if (rndn(20) == 0)
					set_elem(row, plane, j, rnd_elem(kind));
		}
		else if (data == DATA_DUPLICATE && i > 0 && rndn(2))
			memcpy(row, rowbuf + rb * rndn(i), rb);	/* exact ties */
		else
			for (j = 0; j < dims; j++)
				set_elem(row, plane, j,
						 data == DATA_SPARSE && rndn(10) ? 0 : rnd_elem(kind));
	}
}

/* A query of a style; near: the first row plus noise */
static void
fill_query(RsrKind kind, float *q, uint32_t dims, int style,
		   const uint8_t *row0)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	uint32_t	j;

	for (j = 0; j < dims; j++)
	{
		switch (style)
		{
			case Q_UNIFORM:
				q[j] = (float) unif();
				break;
			case Q_EQUAL:
				q[j] = 0.375f;
				break;
			case Q_NEGATIVE:
				q[j] = (float) (-fabs(unif()) - 1e-3);
				break;
			case Q_INTEGER:
				q[j] = (float) ((int) rndn(3) - 1);
				break;
			case Q_HEAVY1:
			case Q_HEAVY3:
				q[j] = (float) (unif() * 1e-3);
				break;
			case Q_ZERO:
				q[j] = 0.0f;
				break;
			case Q_DENORMAL:
				q[j] = (float) (unif() * ldexp(1.0, -130));
				break;
			case Q_HUGE:
				q[j] = (float) (unif() * (FLT_MAX / 4));
				break;
			case Q_WIDE:
				/* 2^-40..2^40 and some denormals: the operator's sums round */
				q[j] = rndn(50) == 0 ? (float) (unif() * ldexp(1.0, -135)) :
					(float) (unif() * ldexp(1.0, (int) rndn(81) - 40));
				break;
			default:
				q[j] = (float) (get_elem(kind, row0, plane, j) + 0.3 * unif());
				break;
		}
	}
	if (style == Q_HEAVY1 || style == Q_HEAVY3)
	{
		int			n = style == Q_HEAVY1 ? 1 : 3;
		int			i;

		for (i = 0; i < n; i++)
			q[rndn(dims)] = rndn(2) ? 1e6f : -1e6f;
	}
}

/* Reference: score then id */
typedef struct RefRow
{
	double		score;
	uint64_t	id;
} RefRow;

static int
cmp_ref(const void *a, const void *b)
{
	const RefRow *x = a;
	const RefRow *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Independent reference score: element by element, in order */
static double
ref_score(RsrKind kind, const uint8_t *row, uint32_t dims, const float *q)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	double		s = 0.0;
	uint32_t	j;

	for (j = 0; j < dims; j++)
	{
		int			e = get_elem(kind, row, plane, j);

		if (e > 0)
			s += (double) q[j];
		else if (e < 0)
			s += (double) -q[j];
	}
	return s;
}

/* A built set of tile segments */
typedef struct Tiles
{
	RsrTileRef *refs;
	size_t		nrefs;
	uint8_t    *buf;
} Tiles;

/* Build tiles of rows with column ranges of `range` columns (multiple of 8) */
static void
build_tiles(RsrKind kind, const uint8_t *rowbuf, size_t rb, uint32_t nrows,
			uint32_t dims, uint32_t range, uint64_t id0, Tiles *t)
{
	uint32_t	nblocks = (nrows + 31) / 32;
	uint32_t	nranges = (dims + range - 1) / range;
	size_t		cap = 0;
	size_t		used = 0;
	uint32_t	i;
	uint32_t	c;
	uint8_t    *dec = xmalloc(rb);

	for (c = 0; c < dims; c += range)
		cap += rsr_segment_max_size(kind, RSR_LAYOUT_TILE, 32,
									dims - c < range ? dims - c : range);
	t->buf = xmalloc(cap * nblocks);
	t->refs = xmalloc(sizeof(RsrTileRef) * nblocks * nranges);
	t->nrefs = 0;
	for (i = 0; i < nblocks; i++)
	{
		const uint8_t *rows[32];
		uint32_t	nr = nrows - 32 * i < 32 ? nrows - 32 * i : 32;
		uint32_t	r;

		for (r = 0; r < nr; r++)
			rows[r] = rowbuf + rb * (32 * i + r);
		for (c = 0; c < dims; c += range)
		{
			uint32_t	nc = dims - c < range ? dims - c : range;
			size_t		size = 0;
			RsrSegmentInfo info;
			RsrStatus	st;
			RsrTileRef *ref = &t->refs[t->nrefs++];

			st = rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rows, nr, dims,
								   c, nc, t->buf + used, cap * nblocks - used,
								   &size);
			check(st == RSR_OK && size == rsr_segment_max_size(kind, RSR_LAYOUT_TILE, 32, nc),
				  "tile build", rsr_status_string(st));
			st = rsr_segment_validate(t->buf + used, size, &info);
			check(st == RSR_OK && info.layout == RSR_LAYOUT_TILE && info.k == 32 &&
				  info.nrows == nr && info.col_start == c && info.ncols == nc,
				  "tile validate", rsr_status_string(st));
			/* appending rows one by one in place gives the same bytes */
			{
				uint8_t    *inc = xmalloc(size);
				size_t		isize = 0;
				int			same;

				st = rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rows, 1, dims,
									   c, nc, inc, size, &isize);
				check(st == RSR_OK && isize == size, "tile put_row", "first row");
				/* a row left by an interrupted insert is overwritten */
				if (nr > 1)
					st = rsr_segment_put_row(inc, isize, 1, rows[nr - 1]);
				for (r = 1; r < nr && st == RSR_OK; r++)
					st = rsr_segment_put_row(inc, isize, r, rows[r]);
				same = st == RSR_OK && memcmp(inc, t->buf + used, size) == 0;
				check(same, "tile put_row", same ? "" : "differs from a build");
				/* rows past the count, other layouts, bad rows: refused */
				check(rsr_segment_put_row(inc, isize, nr + 1, rows[0]) == RSR_EINVAL,
					  "tile put_row", "row past the count accepted");
				/* replacing a row keeps the others: the build of the new rows */
				{
					const uint8_t **rows2 = xmalloc(nr * sizeof(*rows2));
					uint8_t    *want = xmalloc(size);
					size_t		wsize = 0;
					uint32_t	target = (uint32_t) ((c + nr * 7) % nr);

					memcpy(rows2, rows, nr * sizeof(*rows2));
					rows2[target] = rows[(target + 1) % nr];
					st = rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rows2, nr, dims,
										   c, nc, want, size, &wsize);
					check(st == RSR_OK, "tile set_row", "build");
					st = rsr_segment_set_row(inc, isize, target, rows2[target]);
					same = st == RSR_OK && wsize == size && memcmp(inc, want, size) == 0 &&
						rsr_segment_validate(inc, isize, &info) == RSR_OK && info.nrows == nr;
					check(same, "tile set_row", same ? "" : "differs from a build");
					check(rsr_segment_set_row(inc, isize, nr, rows[0]) == RSR_EINVAL,
						  "tile set_row", "row at the count accepted");
					/* back to the rows of the build */
					st = rsr_segment_set_row(inc, isize, target, rows[target]);
					check(st == RSR_OK && memcmp(inc, t->buf + used, size) == 0,
						  "tile set_row", "restoring the row");
					free(want);
					free(rows2);
				}
				if (nr > 1)
				{
					/* overwrite an earlier row: later ones are cleared */
					st = rsr_segment_put_row(inc, isize, nr - 2, rows[nr - 2]);
					check(st == RSR_OK && rsr_segment_validate(inc, isize, &info) == RSR_OK &&
						  info.nrows == nr - 1, "tile put_row", "truncating put");
				}
				if (kind == RSR_KIND_TERNARY)
				{
					uint8_t    *bad = xmalloc(rb);
					size_t		plane = ((size_t) dims + 7) / 8;

					memcpy(bad, rows[0], rb);
					bad[c / 8] |= 0x80;
					bad[plane + c / 8] |= 0x80;
					check(rsr_segment_put_row(inc, isize, 0, bad) == RSR_EINVAL,
						  "tile put_row", "invalid ternary element accepted");
					free(bad);
				}
				free(inc);
			}
			/* a flipped payload byte fails the checksum */
			t->buf[used + size - 1] ^= 0x01;
			check(rsr_segment_validate(t->buf + used, size, NULL) == RSR_ECORRUPT,
				  "tile checksum", "flipped byte accepted");
			t->buf[used + size - 1] ^= 0x01;
			for (r = 0; r < nr; r++)
			{
				size_t		pb = ((size_t) nc + 7) / 8;
				size_t		plane = ((size_t) dims + 7) / 8;
				uint32_t	j;
				int			ok = 1;

				st = rsr_segment_get_row(t->buf + used, size, r, dec, rb);
				for (j = 0; j < nc && st == RSR_OK; j++)
				{
					int			e = rsr_bit(dec, j) ? 1 :
						(kind == RSR_KIND_TERNARY && rsr_bit(dec + pb, j)) ? -1 : 0;

					ok &= e == get_elem(kind, rows[r], plane, c + j);
				}
				check(st == RSR_OK && ok, "tile get_row", "decoded row differs");
			}
			ref->data = t->buf + used;
			ref->size = (uint32_t) size;
			ref->dead = 0;
			ref->id = id0 + 32 * (uint64_t) i;
			used += size;
		}
	}
	free(dec);
}

/* Run a search: feed in `chunks` pieces, growing the state on RSR_ENOMEM */
static void
run_search(const RsrTileKernels *kern, const void *const *tqs, uint32_t nq,
		   size_t n, const Tiles *t, int threads, uint32_t chunks,
		   size_t cand_cap, uint64_t *ids, double *scores, size_t *counts,
		   const char *what)
{
	const RsrTileQuery *t0 = tqs[0];
	size_t		size = rsr_tile_state_size(t0->kind, t0->dims, nq, n, cand_cap);
	void	   *state = xmalloc(size);
	size_t		done = 0;
	uint32_t	c;
	int			grown = 0;
	RsrStatus	st;

	st = rsr_tile_init(state, size, tqs, nq, n, cand_cap);
	check(st == RSR_OK, what, "init");
	rsr_tile_set_kernels(state, kern);
	for (c = 1; c <= chunks; c++)
	{
		size_t		stop = t->nrefs * c / chunks;

		while (done < stop)
		{
			size_t		consumed = 0;

			st = rsr_tile_feed(state, t->refs + done, stop - done, threads,
							   &consumed);
			check(st == RSR_OK || st == RSR_ENOMEM, what, rsr_status_string(st));
			done += consumed;
			if (st == RSR_OK)
				break;			/* an incomplete block waits for the next chunk */
			if (st == RSR_ENOMEM)
			{
				size_t		cap2 = cand_cap * 2;
				size_t		size2 = rsr_tile_state_size(t0->kind, t0->dims, nq, n, cap2);
				void	   *state2 = xmalloc(size2);

				check(rsr_tile_resize(state, state2, size2, cap2) == RSR_OK,
					  what, "resize");
				free(state);
				state = state2;
				cand_cap = cap2;
				grown++;
			}
		}
	}
	st = rsr_tile_finish(state, ids, scores, counts);
	check(st == RSR_OK, what, "finish");
	free(state);
	(void) grown;
}

/*
 * One case: rows of a data style, nq queries of a style, top n; checks the
 * result of every level, 1 and 2 threads, chunked feeding and a small
 * candidate buffer against the reference, and the interval.
 */
static void
run_case(RsrKind kind, uint32_t dims, uint32_t nrows, int data, int qstyle,
		 uint32_t nq, size_t n, uint32_t range, int with_dead)
{
	size_t		rb = rsr_row_bytes(kind, dims);
	uint8_t    *rowbuf = xmalloc(rb * nrows);
	float	   *Q = xmalloc(sizeof(float) * dims * nq);
	size_t		tqsize = rsr_tile_query_size(kind, dims);
	uint8_t    *tqbuf = xmalloc(tqsize * nq);
	const void *tqs[RSR_MAX_BATCH];
	RefRow	   *ref = xmalloc(sizeof(RefRow) * nrows * nq);
	size_t	   *nlive = xmalloc(sizeof(size_t) * nq);
	uint64_t   *ids = xmalloc(sizeof(uint64_t) * n * nq);
	double	   *scores = xmalloc(sizeof(double) * n * nq);
	size_t	   *counts = xmalloc(sizeof(size_t) * nq);
	double	   *A = xmalloc(sizeof(double) * (nrows + 100) * nq);
	double	   *A0 = xmalloc(sizeof(double) * (nrows + 100) * nq);
	uint64_t	id0 = rndn(2) ? 0 : 1000000007ULL;
	uint32_t   *deadmask = xmalloc(sizeof(uint32_t) * (nrows / 32 + 1));
	RsrTileRef *zrefs;
	Tiles		t;
	char		what[300];
	char		detail[300];
	uint32_t	b;
	uint32_t	i;
	int			level;

	snprintf(what, sizeof(what), "%s dims=%u rows=%u data=%d query=%d nq=%u n=%zu range=%u dead=%d",
			 kind == RSR_KIND_BINARY ? "binary" : "ternary", dims, nrows,
			 data, qstyle, nq, n, range, with_dead);
	fill_rows(kind, rowbuf, rb, nrows, dims, data);
	build_tiles(kind, rowbuf, rb, nrows, dims, range, id0, &t);
	zrefs = xmalloc(sizeof(RsrTileRef) * t.nrefs);
	if (with_dead)
		for (i = 0; i < t.nrefs; i++)
			if (i == 0 || t.refs[i].id != t.refs[i - 1].id)
				t.refs[i].dead = (uint32_t) rnd() & (uint32_t) rnd();

	for (b = 0; b < nq; b++)
	{
		RsrStatus	st;

		fill_query(kind, Q + (size_t) b * dims, dims,
				   b == 0 ? qstyle : (int) rndn(NQSTYLE),
				   rowbuf + rb * rndn(nrows));
		st = rsr_tile_prepare(kind, Q + (size_t) b * dims, dims,
							  tqbuf + tqsize * b, tqsize);
		check(st == RSR_OK, what, "prepare");
		tqs[b] = tqbuf + tqsize * b;
	}

	/* dead masks by block; refs with ids from 0 for rsr_tile_scores */
	for (i = 0; i < t.nrefs; i++)
	{
		zrefs[i] = t.refs[i];
		zrefs[i].id -= id0;
		if (i == 0 || t.refs[i].id != t.refs[i - 1].id)
			deadmask[(t.refs[i].id - id0) / 32] = t.refs[i].dead;
	}

	/* the reference top n */
	for (b = 0; b < nq; b++)
	{
		nlive[b] = 0;
		for (i = 0; i < nrows; i++)
		{
			double		s = ref_score(kind, rowbuf + rb * i, dims, Q + (size_t) b * dims);

			check(s == rsr_exact_score(kind, rowbuf + rb * i, dims, Q + (size_t) b * dims),
				  what, "rsr_exact_score differs from the reference");
			if ((deadmask[i / 32] >> (i % 32)) & 1)
				continue;
			ref[(size_t) b * nrows + nlive[b]].score = s;
			ref[(size_t) b * nrows + nlive[b]].id = id0 + i;
			nlive[b]++;
		}
		qsort(ref + (size_t) b * nrows, nlive[b], sizeof(RefRow), cmp_ref);
	}

	for (level = 0; level < RSR_TILE_NLEVELS; level++)
	{
		const RsrTileKernels *kern = rsr_tile_kernels(level);
		int			variant;

		if (kern == NULL)
			continue;
		levels_run[level] = 1;

		/* phase-1 scores: equal across levels, S - A inside the interval */
		for (i = 0; i < (nrows + 100) * nq; i++)
			A[i] = NAN;
		check(rsr_tile_scores_with(kern, tqs, nq, zrefs, t.nrefs, A,
								   1 + (int) rndn(2)) == RSR_OK, what, "scores");
		for (b = 0; b < nq; b++)
		{
			double		lo,
						hi;

			rsr_tile_interval(tqs[b], &lo, &hi);
			for (i = 0; i < nrows; i++)
			{
				double		a = A[(size_t) i * nq + b];
				double		s;

				if (isnan(a))
					continue;	/* dead */
				s = ref_score(kind, rowbuf + rb * i, dims, Q + (size_t) b * dims);
				if (!(s - a >= lo && s - a <= hi))
				{
					snprintf(detail, sizeof(detail), "row %u query %u: S - A = %.17g outside [%.17g, %.17g]",
						 i, b, s - a, lo, hi);
					fail(what, detail);
				}
				npassed++;
				if (level > 0)
					check(a == A0[(size_t) i * nq + b], what, "phase-1 score differs between levels");
			}
		}
		if (level == 0)
			memcpy(A0, A, sizeof(double) * (nrows + 100) * nq);

		/*
		 * Exact scores: the operator's double bit for bit, and rounded to
		 * float; 1 or 2 threads
		 */
		{
			RsrSegmentRef *srefs = xmalloc(sizeof(RsrSegmentRef) * t.nrefs);
			float	   *Y = xmalloc(sizeof(float) * ((size_t) nrows + 32) * nq);
			double	   *Yd = xmalloc(sizeof(double) * ((size_t) nrows + 32) * nq);
			size_t		wsize = rsr_tile_exact_work_size(dims);
			void	   *work = xmalloc(wsize);
			size_t		k;

			for (k = 0; k < t.nrefs; k++)
			{
				srefs[k].data = zrefs[k].data;
				srefs[k].size = zrefs[k].size;
				srefs[k].out = (uint32_t) zrefs[k].id;
			}
			check(rsr_tile_exact_with(kern, srefs, t.nrefs, Q, nq, dims, Y, NULL, work, wsize,
								 1 + (int) rndn(2)) == RSR_OK, what, "rsr_tile_exact");
			check(rsr_tile_exact_with(kern, srefs, t.nrefs, Q, nq, dims, NULL, Yd, work, wsize,
								 1 + (int) rndn(2)) == RSR_OK, what, "rsr_tile_exact");
			check(rsr_tile_exact_with(kern, srefs, t.nrefs, Q, nq, dims, NULL, Yd, work, wsize - 65,
								 1) == RSR_ENOMEM, what, "rsr_tile_exact: small work");
			check(rsr_tile_exact_with(kern, srefs, t.nrefs, Q, nq, dims, Y, Yd, work, wsize,
								 1) == RSR_EINVAL, what, "rsr_tile_exact: two outputs");
			for (b = 0; b < nq; b++)
			{
				if (level > 0)
					;
				else if (rsr_tile_exact_tables(Q + (size_t) b * dims, dims, work))
					exact_fast++;
				else
					exact_slow++;
				for (i = 0; i < nrows; i++)
				{
					double		s = ref_score(kind, rowbuf + rb * i, dims, Q + (size_t) b * dims);
					double		y = Yd[(size_t) i * nq + b];

					if (memcmp(&y, &s, sizeof(double)) != 0)
					{
						snprintf(detail, sizeof(detail), "row %u query %u: %.17g, reference %.17g",
								 i, b, y, s);
						fail(what, detail);
					}
					if (Y[(size_t) i * nq + b] != (float) s)
						fail(what, "rsr_tile_exact (float) differs from the reference");
				}
			}
			npassed++;
			free(srefs);
			free(Y);
			free(Yd);
			free(work);
		}

		/* the searches: plain, 2 threads, chunked, small candidate buffer */
		for (variant = 0; variant < 4; variant++)
		{
			int			threads = variant == 1 || variant == 3 ? 2 : 1;
			uint32_t	chunks = variant >= 2 ? 1 + rndn(5) : 1;
			size_t		cap = variant == 3 ? 32 : 4 * n + 1024;

			if (quick && variant == 1 && level > 0)
				continue;
			run_search(kern, tqs, nq, n, &t, threads, chunks, cap, ids, scores,
					   counts, what);
			for (b = 0; b < nq; b++)
			{
				size_t		want = nlive[b] < n ? nlive[b] : n;
				size_t		k;

				if (!(counts[b] == want))
				{
					snprintf(detail, sizeof(detail), "level %s variant %d query %u: count %zu, want %zu",
						 kern->name, variant, b, counts[b], want);
					fail(what, detail);
				}
				npassed++;
				for (k = 0; k < want; k++)
				{
					const RefRow *r = &ref[(size_t) b * nrows + k];

					snprintf(detail, sizeof(detail), "level %s variant %d query %u rank %zu: id %llu score %.17g, want id %llu score %.17g",
							 kern->name, variant, b, k,
							 (unsigned long long) ids[b * n + k], scores[b * n + k],
							 (unsigned long long) r->id, r->score);
					check(ids[b * n + k] == r->id && scores[b * n + k] == r->score,
						  what, detail);
				}
			}
		}
	}
	free(rowbuf);
	free(Q);
	free(tqbuf);
	free(ref);
	free(nlive);
	free(ids);
	free(scores);
	free(counts);
	free(A);
	free(A0);
	free(t.refs);
	free(t.buf);
	free(zrefs);
	free(deadmask);
}

/* Argument checks and the lookup kernels against each other directly */
static void
test_args(void)
{
	uint8_t		row[8] = {0xFF};
	const uint8_t *rows[1] = {row};
	uint8_t		seg[512];
	size_t		size;
	float		q[4] = {1, 2, NAN, 4};
	uint8_t		tq[8192];

	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_TILE, 16, rows, 1, 64,
							0, 64, seg, sizeof(seg), &size) == RSR_EINVAL,
		  "tile args", "k != 32 accepted");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_TILE, 32, rows, 1, 64,
							4, 60, seg, sizeof(seg), &size) == RSR_EINVAL,
		  "tile args", "col_start not a multiple of 8 accepted");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_TILE, 32, rows, 1, 64,
							0, 64, seg, 100, &size) == RSR_ENOMEM,
		  "tile args", "small buffer accepted");
	check(rsr_segment_build(RSR_KIND_BINARY, RSR_LAYOUT_TILE, 32, rows, 1, 64,
							0, 64, seg, sizeof(seg), &size) == RSR_OK,
		  "tile args", "build");
	check(rsr_segment_max_cols(RSR_KIND_BINARY, RSR_LAYOUT_TILE, 32, size) == 64,
		  "tile args", "max_cols");
	{
		/* the old kernels refuse tiles */
		RsrSegmentRef ref = {seg, (uint32_t) size, 0};
		float		y[64];
		char		work[4096];
		float		qq[64] = {0};

		check(rsr_gemv(&ref, 1, qq, 64, y, work, sizeof(work), 1) == RSR_EINVAL,
			  "tile args", "rsr_gemv accepted a tile");
	}
	check(rsr_tile_prepare(RSR_KIND_BINARY, q, 4, tq, sizeof(tq)) == RSR_EINVAL,
		  "tile args", "NaN query accepted");
	q[2] = 3;
	check(rsr_tile_prepare(RSR_KIND_BINARY, q, 4, tq, 16) == RSR_ENOMEM,
		  "tile args", "small query buffer accepted");
	check(rsr_tile_prepare(RSR_KIND_BINARY, q, 4, tq, sizeof(tq)) == RSR_OK,
		  "tile args", "prepare");
	{
		const void *tqs[1] = {tq};
		RsrTileRef ref = {seg, (uint32_t) size, 0, 0};
		size_t		ssize = rsr_tile_state_size(RSR_KIND_BINARY, 4, 1, 1, 32);
		void	   *state = xmalloc(ssize);
		size_t		consumed;

		check(rsr_tile_init(state, ssize, tqs, 1, 1, 32) == RSR_OK, "tile args", "init");
		/* a tile of 64 columns does not match a query of 4 */
		check(rsr_tile_feed(state, &ref, 1, 1, &consumed) == RSR_EINVAL && consumed == 0,
			  "tile args", "dims mismatch accepted");
		check(rsr_tile_init(state, ssize - 64, tqs, 1, 1, 32) == RSR_ENOMEM,
			  "tile args", "small state accepted");
		free(state);
	}
}

/*
 * A block whose later column range holds a row more than its first (an
 * insert under way): scored as the first segment's rows, on every level,
 * by rsr_tile_scores and rsr_tile_exact; the reverse is refused.
 */
static void
test_pending_row(RsrKind kind)
{
	const uint32_t dims = 96;
	const uint32_t nr = 9;
	size_t		rb = rsr_row_bytes(kind, dims);
	size_t		plane = (dims + 7) / 8;
	uint8_t    *rowbuf = xmalloc(rb * (nr + 1));
	const uint8_t *rows[32];
	size_t		cap0 = rsr_segment_max_size(kind, RSR_LAYOUT_TILE, 32, 64);
	size_t		cap1 = rsr_segment_max_size(kind, RSR_LAYOUT_TILE, 32, 32);
	uint8_t    *s0 = xmalloc(cap0);
	uint8_t    *s1 = xmalloc(cap1);
	uint8_t    *s1x = xmalloc(cap1);
	uint8_t    *s0x = xmalloc(cap0);
	size_t		z0, z1;
	float		q[96];
	size_t		qsize = rsr_tile_query_size(kind, dims);
	void	   *tq = xmalloc(qsize + 64);
	const void *tqs[1];
	double		A[32], Ax[32];
	double		Y[32], Yx[32];
	size_t		wsize = rsr_tile_exact_work_size(dims);
	void	   *work = xmalloc(wsize);
	RsrTileRef	refs[2];
	RsrSegmentRef segs[2];
	uint32_t	r, j;
	int			level;

	for (r = 0; r <= nr; r++)
	{
		memset(rowbuf + rb * r, 0, rb);
		for (j = 0; j < dims; j++)
			set_elem(rowbuf + rb * r, kind == RSR_KIND_TERNARY ? plane : 0, j,
					 rnd_elem(kind));
		rows[r] = rowbuf + rb * r;
	}
	for (j = 0; j < dims; j++)
		q[j] = (float) (unif() * 2 - 1);
	check(rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rows, nr, dims, 0, 64,
							s0, cap0, &z0) == RSR_OK &&
		  rsr_segment_build(kind, RSR_LAYOUT_TILE, 32, rows, nr, dims, 64, 32,
							s1, cap1, &z1) == RSR_OK, "pending row", "build");
	memcpy(s1x, s1, z1);
	check(rsr_segment_put_row(s1x, z1, nr, rows[nr]) == RSR_OK, "pending row", "put_row");
	memcpy(s0x, s0, z0);
	check(rsr_segment_put_row(s0x, z0, nr, rows[nr]) == RSR_OK, "pending row", "put_row");
	check(rsr_tile_prepare(kind, q, dims, tq, qsize + 64) == RSR_OK, "pending row", "prepare");
	tqs[0] = tq;

	for (level = 0; level < RSR_TILE_NLEVELS; level++)
	{
		const RsrTileKernels *kern = rsr_tile_kernels(level);

		if (kern == NULL)
			continue;
		refs[0].data = s0;
		refs[0].size = (uint32_t) z0;
		refs[0].dead = 0;
		refs[0].id = 0;
		refs[1] = refs[0];
		refs[1].data = s1;
		refs[1].size = (uint32_t) z1;
		check(rsr_tile_scores_with(kern, tqs, 1, refs, 2, A, 1) == RSR_OK,
			  "pending row", "scores");
		refs[1].data = s1x;
		for (r = 0; r < 32; r++)
			Ax[r] = -1.0;
		check(rsr_tile_scores_with(kern, tqs, 1, refs, 2, Ax, 1) == RSR_OK,
			  "pending row", "scores with a pending row");
		for (r = 0; r < nr; r++)
			check(A[r] == Ax[r], "pending row", "phase-1 score differs");
		check(Ax[nr] == -1.0, "pending row", "pending row scored");
		/* the first segment with more rows than a later one: refused */
		refs[0].data = s0x;
		refs[1].data = s1;
		check(rsr_tile_scores_with(kern, tqs, 1, refs, 2, Ax, 1) == RSR_EINVAL,
			  "pending row", "ranges out of order accepted");
	}

	segs[0].data = s0;
	segs[0].size = (uint32_t) z0;
	segs[0].out = 0;
	segs[1] = segs[0];
	segs[1].data = s1;
	segs[1].size = (uint32_t) z1;
	check(rsr_tile_exact(segs, 2, q, 1, dims, NULL, Y, work, wsize, 1) == RSR_OK,
		  "pending row", "exact");
	segs[1].data = s1x;
	for (r = 0; r < 32; r++)
		Yx[r] = -1.0;
	check(rsr_tile_exact(segs, 2, q, 1, dims, NULL, Yx, work, wsize, 1) == RSR_OK,
		  "pending row", "exact with a pending row");
	for (r = 0; r < nr; r++)
		check(Y[r] == Yx[r], "pending row", "exact score differs");
	check(Yx[nr] == -1.0, "pending row", "pending row scored exactly");
	free(work);
	free(rowbuf);
	free(s0);
	free(s1);
	free(s1x);
	free(s0x);
	free(tq);
}

/* Entry point */
int
main(int argc, char **argv)
{
	uint64_t	seed = (uint64_t) time(NULL);
	static const uint32_t dims_list[] = {1, 3, 4, 5, 31, 32, 33, 1023, 1024, 65535};
	int			i;
	int			kind;
	size_t		d;
	int			level;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
	}
	printf("seed %llu%s\n", (unsigned long long) seed, quick ? " (quick)" : "");
	rng_state = seed * 2654435761ULL + 1;
	rsr_init();

	test_args();
	test_pending_row(RSR_KIND_BINARY);
	test_pending_row(RSR_KIND_TERNARY);
	for (kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		for (d = 0; d < sizeof(dims_list) / sizeof(dims_list[0]); d++)
		{
			uint32_t	dims = dims_list[d];
			int			reps = quick ? 2 : 6;
			int			r;

			if (dims == 65535)
				reps = quick ? 1 : 2;
			for (r = 0; r < reps; r++)
			{
				uint32_t	nrows = dims >= 65535 ? 1 + rndn(70) :
					dims >= 1023 ? 1 + rndn(quick ? 200 : 700) : 1 + rndn(quick ? 300 : 1500);
				int			data = (int) rndn(NDATA);
				int			qstyle = (int) rndn(NQSTYLE);
				uint32_t	nq = rndn(3) ? 1 : 1 + rndn(quick ? 6 : 20);
				static const size_t ns[] = {1, 10, 100};
				size_t		n;
				uint32_t	range = dims;

				switch (rndn(5))
				{
					case 0:
						n = nrows;
						break;
					case 1:
						n = nrows + 7;
						break;
					default:
						n = ns[rndn(3)];
						break;
				}
				if (dims > 8 && rndn(2))
					range = 8 * (1 + rndn((dims + 7) / 8));
				run_case((RsrKind) kind, dims, nrows, data, qstyle, nq, n,
						 range, (int) rndn(3) == 0);
			}
		}
	/* every query style and data style at least once, on a mid-size shape */
	for (i = 0; i < NQSTYLE * NDATA; i++)
		run_case(i % 2 ? RSR_KIND_TERNARY : RSR_KIND_BINARY, 200 + rndn(100),
				 quick ? 100 + rndn(100) : 500 + rndn(600), i % NDATA, i / NDATA % NQSTYLE,
				 i % 5 == 0 ? 16 : 1, 10, 1024, i % 3 == 0);
	if (!quick)
	{
		/* a large n, and a batch of the largest size */
		run_case(RSR_KIND_BINARY, 64, 20000, DATA_DUPLICATE, Q_INTEGER, 2, 10000, 64, 0);
		run_case(RSR_KIND_TERNARY, 128, 3000, DATA_CLUSTERED, Q_NEAR, RSR_MAX_BATCH, 10, 64, 1);
	}

	printf("tile kernels:");
	for (level = 0; level < RSR_TILE_NLEVELS; level++)
		if (levels_run[level])
			printf(" %s", rsr_tile_kernels(level)->name);
	printf(" (default %s)\n", rsr_tile_kernel_name());
	printf("exact scores: %ld queries by tables, %ld element by element\n",
		   exact_fast, exact_slow);
	check(exact_fast > 0 && exact_slow > 0, "exact scores", "a path never ran");
	printf("%ld passed, 0 failed\n", npassed);
	return 0;
}
