/*-------------------------------------------------------------------------
 *
 * rsr_tile_search.c
 *	  The two-phase exact top-n over tile segments, as a stream: phase 1
 *	  (integer lookups, the running n-th best bound, candidates copied out
 *	  of the segments) per fed batch, phase 2 (exact rescoring of the
 *	  candidates, best bound first) at the end; and the phase-1 scores of
 *	  every row.
 *
 * Phase 1 works in integer table units: row r's phase-1 score is
 * A(r) = s J(r) + C with S(r) - A(r) in [lo, hi] (rsr_tile.c).  With J_n
 * the n-th largest J among the rows fed so far, a row with
 * J(r) < J_n - W, W >= (hi - lo) / s, has s J(r) + C + hi < s J_n + C + lo:
 * its exact score is below the lower bounds of n other rows, so it is
 * never in the top n (strictly: ties are kept).  Every other row becomes a
 * candidate, with a copy of its bits; candidates that fall behind a rising
 * J_n are dropped when the buffer fills.  Phase 2 takes the candidates in
 * decreasing J and stops at the first whose upper bound fl(A + hi_cmp) is
 * below the exact n-th score found so far.
 *
 * Threads compute the lookups of a chunk of blocks into a scratch array;
 * one thread then applies them in block order, so the result does not
 * depend on the thread count.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_tile_search.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdbool.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rsr_internal.h"

#define STATE_MAGIC 0x54535441u
#define CHUNK_ROWS 65536
#define MAX_PARTS 64			/* column ranges per kernel call */		/* rows x queries per parallel chunk */

/* A candidate: its J and id; its bits sit at the same index */
typedef struct TileCand
{
	int64_t		J;
	uint64_t	id;
} TileCand;

/* An exactly scored row */
typedef struct TileExact
{
	double		score;
	uint64_t	id;
} TileExact;

/* The search of one query */
typedef struct TileQState
{
	const RsrTileQuery *tq;
	size_t		nheap;			/* J values in heap (<= n) */
	size_t		ncand;			/* candidates */
	int64_t    *heap;			/* min-heap of the n largest J */
	int64_t    *ahead;			/* n: the same with a whole chunk offered */
	int64_t		chunk_floor;	/* candidate floor from ahead */
	TileCand   *cand;			/* cand_cap */
	uint8_t    *bits;			/* cand_cap * rowbytes */
	TileExact  *top;			/* n: phase 2's exact heap */
	uint32_t   *order;			/* cand_cap: phase 2's candidate heap */
} TileQState;

typedef struct TileState
{
	uint32_t	magic;
	RsrKind		kind;
	uint32_t	dims;
	uint32_t	nq;
	size_t		n;
	size_t		cand_cap;
	size_t		rowbytes;
	size_t		size;
	uint32_t	chunk;			/* blocks per parallel chunk */
	int			solo;			/* threads did not help: one from now on */
	double		busy;			/* seconds the caller's thread computed in
								 * parallel chunks */
	double		waited;			/* seconds it then waited for the others */
	const RsrTileKernels *kern;
	int64_t    *J;				/* chunk * 32 * nq lookups */
	int64_t    *Jmax;			/* chunk * nq: their maximum per block */
	size_t	   *bstart;			/* chunk + 1 block starts */
	TileQState	q[];			/* nq */
} TileState;

static inline size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t) 63;
}

static uint32_t
chunk_blocks(uint32_t nq)
{
	uint32_t	c = CHUNK_ROWS / (RSR_TILE_ROWS * nq);

	return c < 16 ? 16 : c;
}

/* Bytes of the state of a search */
size_t
rsr_tile_state_size(RsrKind kind, uint32_t dims, uint32_t nq, size_t n,
					size_t cand_cap)
{
	size_t		rb = rsr_row_bytes(kind, dims);
	size_t		chunk = chunk_blocks(nq < 1 ? 1 : nq);
	size_t		perq;

	perq = 2 * align64(n * sizeof(int64_t)) + align64(cand_cap * sizeof(TileCand)) +
		align64(cand_cap * rb) + align64(n * sizeof(TileExact)) +
		align64(cand_cap * sizeof(uint32_t));
	return align64(sizeof(TileState) + (size_t) nq * sizeof(TileQState)) +
		align64(chunk * (RSR_TILE_ROWS + 1) * nq * sizeof(int64_t)) +
		align64((chunk + 1) * sizeof(size_t)) + (size_t) nq * perq + 64;
}

/* Start a search */
RsrStatus
rsr_tile_init(void *state, size_t state_size, const void *const *tqs,
			  uint32_t nq, size_t n, size_t cand_cap)
{
	TileState  *st;
	uint8_t    *p;
	uint32_t	b;
	const RsrTileQuery *t0;

	if (state == NULL || tqs == NULL || nq < 1 || nq > RSR_MAX_BATCH ||
		n < 1 || cand_cap < RSR_TILE_ROWS || n > ((size_t) 1 << 40) ||
		cand_cap > ((size_t) 1 << 32) - 1)
		return RSR_EINVAL;
	t0 = (const RsrTileQuery *) tqs[0];
	for (b = 0; b < nq; b++)
	{
		const RsrTileQuery *t = (const RsrTileQuery *) tqs[b];

		if (t == NULL || t->magic != RSR_TILE_QMAGIC ||
			t->kind != t0->kind || t->dims != t0->dims)
			return RSR_EINVAL;
	}
	if (state_size < rsr_tile_state_size(t0->kind, t0->dims, nq, n, cand_cap))
		return RSR_ENOMEM;
	if (((uintptr_t) state & 7) != 0)
		return RSR_EINVAL;		/* int64 and double fields */
	st = (TileState *) state;
	memset(st, 0, sizeof(TileState));
	st->magic = STATE_MAGIC;
	st->kind = t0->kind;
	st->dims = t0->dims;
	st->nq = nq;
	st->n = n;
	st->cand_cap = cand_cap;
	st->rowbytes = rsr_row_bytes(t0->kind, t0->dims);
	st->size = state_size;
	st->chunk = chunk_blocks(nq);
	st->kern = rsr_tile_active;
	p = (uint8_t *) st + align64(sizeof(TileState) + (size_t) nq * sizeof(TileQState));
	st->J = (int64_t *) p;
	p += (size_t) st->chunk * RSR_TILE_ROWS * nq * sizeof(int64_t);
	st->Jmax = (int64_t *) p;
	p = (uint8_t *) st + align64((size_t) (p + (size_t) st->chunk * nq * sizeof(int64_t) -
										   (uint8_t *) st));
	st->bstart = (size_t *) p;
	p += align64(((size_t) st->chunk + 1) * sizeof(size_t));
	for (b = 0; b < nq; b++)
	{
		TileQState *qs = &st->q[b];

		qs->tq = (const RsrTileQuery *) tqs[b];
		qs->nheap = 0;
		qs->ncand = 0;
		qs->heap = (int64_t *) p;
		p += align64(n * sizeof(int64_t));
		qs->ahead = (int64_t *) p;
		p += align64(n * sizeof(int64_t));
		qs->cand = (TileCand *) p;
		p += align64(cand_cap * sizeof(TileCand));
		qs->bits = p;
		p += align64(cand_cap * st->rowbytes);
		qs->top = (TileExact *) p;
		p += align64(n * sizeof(TileExact));
		qs->order = (uint32_t *) p;
		p += align64(cand_cap * sizeof(uint32_t));
	}
	return RSR_OK;
}

/* Move a search to new memory with room for cand_cap candidates */
RsrStatus
rsr_tile_resize(const void *old_state, void *state, size_t state_size,
				size_t cand_cap)
{
	const TileState *old = (const TileState *) old_state;
	TileState  *st;
	const void *tqs[RSR_MAX_BATCH];
	RsrStatus	rc;
	uint32_t	b;

	if (old == NULL || old->magic != STATE_MAGIC)
		return RSR_EINVAL;
	for (b = 0; b < old->nq; b++)
		if (old->q[b].ncand > cand_cap)
			return RSR_EINVAL;
	for (b = 0; b < old->nq; b++)
		tqs[b] = old->q[b].tq;
	rc = rsr_tile_init(state, state_size, tqs, old->nq, old->n, cand_cap);
	if (rc != RSR_OK)
		return rc;
	st = (TileState *) state;
	st->kern = old->kern;
	st->solo = old->solo;
	st->busy = old->busy;
	st->waited = old->waited;
	for (b = 0; b < old->nq; b++)
	{
		const TileQState *o = &old->q[b];
		TileQState *qs = &st->q[b];

		qs->nheap = o->nheap;
		qs->ncand = o->ncand;
		memcpy(qs->heap, o->heap, o->nheap * sizeof(int64_t));
		memcpy(qs->cand, o->cand, o->ncand * sizeof(TileCand));
		memcpy(qs->bits, o->bits, o->ncand * old->rowbytes);
	}
	return RSR_OK;
}

/* Use another kernel set (tests, benchmark) */
void
rsr_tile_set_kernels(void *state, const RsrTileKernels *kern)
{
	((TileState *) state)->kern = kern;
}

/* Largest candidate count over the queries */
size_t
rsr_tile_candidates(const void *state)
{
	const TileState *st = (const TileState *) state;
	size_t		m = 0;
	uint32_t	b;

	for (b = 0; b < st->nq; b++)
		if (st->q[b].ncand > m)
			m = st->q[b].ncand;
	return m;
}

/*
 * Check one segment of a block: a range of the block at column `col`
 * (rsr_tile_range_parse()) of the search's kind
 */
static RsrStatus
parse_tile(const RsrTileRef *ref, RsrKind kind, uint32_t dims, uint32_t col,
		   uint32_t *nrows, RsrSeg *s)
{
	RsrStatus	rc = rsr_tile_range_parse(ref->data, ref->size, dims, col,
										  nrows, s);

	if (rc == RSR_OK && s->kind != kind)
		rc = RSR_EINVAL;
	return rc;
}

/*
 * The fields the search reads of a segment parse_tile() checked already
 * (rsr_seg_parse() checks everything again: a call per segment and use)
 */
static inline void
seg_fields(const uint8_t *seg, RsrSeg *s)
{
	s->kind = (RsrKind) seg[2];
	s->nrows = seg[5];
	s->dims = rsr_rd16(seg + 6);
	s->col_start = rsr_rd16(seg + 8);
	s->ncols = rsr_rd16(seg + 10);
	s->payload = seg + RSR_SEG_HEADER;
}

/*
 * The block starting at refs[i]: its segments cover [0, dims) in order.
 * *end = one past its last segment; *end = 0 when refs end before the
 * block does (the caller passes it again with the rest).
 */
static RsrStatus
parse_block(const RsrTileRef *refs, size_t nrefs, size_t i, RsrKind kind,
			uint32_t dims, size_t *end)
{
	uint32_t	col = 0;
	uint32_t	nrows = 0;
	size_t		j = i;

	while (j < nrefs && (j == i || refs[j].id == refs[i].id))
	{
		RsrSeg		s;
		RsrStatus	rc = parse_tile(&refs[j], kind, dims, col, &nrows, &s);

		if (rc != RSR_OK)
			return rc;
		col += s.ncols;
		j++;
		if (col == dims)
			break;
	}
	if (col != dims && j == nrefs && j > i && refs[j - 1].id == refs[i].id)
	{
		*end = 0;
		return RSR_OK;
	}
	if (col != dims)
		return RSR_EINVAL;
	*end = j;
	return RSR_OK;
}

/*
 * Phase-1 J of the rows of the block refs[i..end) for queries
 * tqs[0..nq): J[b * 32 + r].  The block was checked by parse_block().
 */
static void
block_lookups(const RsrTileKernels *kern, const RsrTileQuery *const *tqs,
			  uint32_t nq, const RsrTileRef *refs, size_t i, size_t end,
			  int64_t *J, int64_t *Jmax)
{
	int32_t		I[4][RSR_TILE_ROWS];
	RsrTilePart parts[MAX_PARTS];
	int			ternary = tqs[0]->kind == RSR_KIND_TERNARY;
	uint32_t	b0;
	size_t		k;

	for (b0 = 0; b0 < nq; b0 += 4)
	{
		uint32_t	m = nq - b0 < 4 ? nq - b0 : 4;
		uint32_t	b;
		uint32_t	r;
		const uint8_t *tabs[4];

		for (b = 0; b < m; b++)
			tabs[b] = rsr_tile_tab(tqs[b0 + b]);
		memset(I, 0, sizeof(I));
		/* the column ranges, MAX_PARTS at a time */
		for (k = i; k < end;)
		{
			uint32_t	nparts = 0;

			for (; k < end && nparts < MAX_PARTS; k++)
			{
				RsrSeg		s;

				seg_fields(refs[k].data, &s);
				parts[nparts].tile = s.payload;
				parts[nparts].nb = (s.ncols + 7) / 8;
				parts[nparts].tab = s.col_start / 4 * 16;
				nparts++;
			}
			kern->lookup(parts, nparts, ternary, tabs, m, I);
		}
		for (b = 0; b < m; b++)
		{
			const RsrTileQuery *tq = tqs[b0 + b];
			int64_t    *Jb = J + (size_t) (b0 + b) * RSR_TILE_ROWS;
			uint32_t	mask[RSR_TILE_ROWS];
			uint32_t	h;

			if (tq->nheavy == 0)
			{
				int32_t		mx = I[b][0];

				for (r = 0; r < RSR_TILE_ROWS; r++)
				{
					Jb[r] = I[b][r];
					mx = I[b][r] > mx ? I[b][r] : mx;
				}
				if (Jmax != NULL)
					Jmax[b0 + b] = mx;
				continue;
			}
			/* heavy columns: their bits, looked up in hq */
			memset(mask, 0, sizeof(mask));
			for (k = i; k < end; k++)
			{
				RsrSeg		s;
				uint32_t	np;

				seg_fields(refs[k].data, &s);
				np = s.kind == RSR_KIND_TERNARY ? 2 : 1;
				for (h = 0; h < tq->nheavy; h++)
				{
					uint32_t	c = tq->heavy[h];
					const uint8_t *x;
					uint32_t	sh;

					if (c < s.col_start || c >= s.col_start + s.ncols)
						continue;
					x = s.payload + (size_t) (c - s.col_start) / 8 * np * RSR_TILE_ROWS;
					sh = 7 - c % 8;
					for (r = 0; r < RSR_TILE_ROWS; r++)
					{
						mask[r] |= ((uint32_t) (x[r] >> sh) & 1) << h;
						if (np == 2)
							mask[r] |= ((uint32_t) (x[RSR_TILE_ROWS + r] >> sh) & 1) << (h + 4);
					}
				}
			}
			for (r = 0; r < RSR_TILE_ROWS; r++)
				Jb[r] = (int64_t) I[b][r] + tq->hq[mask[r]];
			if (Jmax != NULL)
			{
				Jmax[b0 + b] = Jb[0];
				for (r = 1; r < RSR_TILE_ROWS; r++)
					Jmax[b0 + b] = Jb[r] > Jmax[b0 + b] ? Jb[r] : Jmax[b0 + b];
			}
		}
	}
}

/* Min-heap of int64: push or replace the minimum */
static void
heap_offer(int64_t *h, size_t *nh, size_t n, int64_t v)
{
	size_t		i;

	if (*nh < n)
	{
		i = (*nh)++;
		while (i > 0 && h[(i - 1) / 2] > v)
		{
			h[i] = h[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h[i] = v;
		return;
	}
	if (v <= h[0])
		return;
	i = 0;
	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/* Lowest J a candidate may have now */
static inline int64_t
cand_floor(const TileState *st, const TileQState *qs)
{
	if (qs->nheap < st->n)
		return INT64_MIN;
	return qs->heap[0] - qs->tq->W;
}

/* Drop the candidates that fell behind the running n-th best */
static void
compact(const TileState *st, TileQState *qs)
{
	int64_t		floor = cand_floor(st, qs);
	size_t		w = 0;
	size_t		k;

	for (k = 0; k < qs->ncand; k++)
		if (qs->cand[k].J >= floor)
		{
			if (w != k)
			{
				qs->cand[w] = qs->cand[k];
				memcpy(qs->bits + w * st->rowbytes, qs->bits + k * st->rowbytes,
					   st->rowbytes);
			}
			w++;
		}
	qs->ncand = w;
}

/* Copy row r of the block refs[i..end) into row (a full packed row) */
static void
copy_row(const TileState *st, const RsrTileRef *refs, size_t i, size_t end,
		 uint32_t r, uint8_t *row)
{
	size_t		plane = ((size_t) st->dims + 7) / 8;
	size_t		k;

	for (k = i; k < end; k++)
	{
		RsrSeg		s;
		uint32_t	nb;
		uint32_t	b;
		uint32_t	c0;

		seg_fields(refs[k].data, &s);
		nb = (s.ncols + 7) / 8;
		c0 = s.col_start / 8;
		if (s.kind == RSR_KIND_TERNARY)
			for (b = 0; b < nb; b++)
			{
				row[c0 + b] = s.payload[(size_t) 64 * b + r];
				row[plane + c0 + b] = s.payload[(size_t) 64 * b + 32 + r];
			}
		else
			for (b = 0; b < nb; b++)
				row[c0 + b] = s.payload[(size_t) 32 * b + r];
	}
}

/* Phase 1 of the rows of one block for one query */
static void
select_block(const TileState *st, TileQState *qs, const RsrTileRef *refs,
			 size_t i, size_t end, const int64_t *J)
{
	RsrSeg		s;
	int64_t		floor = cand_floor(st, qs);
	uint32_t	r;

	seg_fields(refs[i].data, &s);
	for (r = 0; r < s.nrows; r++)
	{
		TileCand   *c;

		if ((refs[i].dead >> r) & 1)
			continue;
		/* every live row enters the heap of the rows seen */
		if (qs->nheap < st->n || J[r] > qs->heap[0])
		{
			heap_offer(qs->heap, &qs->nheap, st->n, J[r]);
			floor = cand_floor(st, qs);
		}
		if (J[r] < floor || J[r] < qs->chunk_floor)
			continue;
		c = &qs->cand[qs->ncand];
		c->J = J[r];
		c->id = refs[i].id + r;
		copy_row(st, refs, i, end, r, qs->bits + qs->ncand * st->rowbytes);
		qs->ncand++;
	}
}

/*
 * The candidate floor of a chunk: the n-th largest J among the rows seen
 * and every live row of the chunk, minus W.  Pruning a row of the chunk
 * against rows fed later in the same call is sound: they are real rows of
 * the data (after RSR_ENOMEM the caller feeds them again, and the heap of
 * the rows seen only ever holds rows once).
 */
static void
chunk_floor(const TileState *st, TileQState *qs, const RsrTileRef *refs,
			uint32_t nb, uint32_t b)
{
	size_t		na = qs->nheap;
	uint32_t	blk;

	memcpy(qs->ahead, qs->heap, na * sizeof(int64_t));
	for (blk = 0; blk < nb; blk++)
	{
		const RsrTileRef *ref = &refs[st->bstart[blk]];
		const int64_t *J = st->J + ((size_t) blk * st->nq + b) * RSR_TILE_ROWS;
		RsrSeg		s;
		uint32_t	r;

		if (na == st->n && st->Jmax[(size_t) blk * st->nq + b] <= qs->ahead[0])
			continue;
		seg_fields(ref->data, &s);
		for (r = 0; r < s.nrows; r++)
			if (!((ref->dead >> r) & 1))
				heap_offer(qs->ahead, &na, st->n, J[r]);
	}
	qs->chunk_floor = na < st->n ? INT64_MIN : qs->ahead[0] - qs->tq->W;
}

/* Lookups of the blocks [b0, b1) of the chunk */
static void
lookup_range(TileState *st, const RsrTileQuery *const *tqs,
			 const RsrTileRef *refs, uint32_t b0, uint32_t b1)
{
	uint32_t	blk;

	for (blk = b0; blk < b1; blk++)
		block_lookups(st->kern, tqs, st->nq, refs, st->bstart[blk],
					  st->bstart[blk + 1],
					  st->J + (size_t) blk * RSR_TILE_ROWS * st->nq,
					  st->Jmax + (size_t) blk * st->nq);
}

/*
 * Lookups of the nb blocks of a chunk by a team of threads.  The threads
 * claim runs of CLAIM_BLOCKS blocks from a shared counter, so a thread that
 * starts late (the machine is busy, or it slept) finds less or nothing
 * left: the caller's thread does the rest instead of waiting for it.  What
 * remains is the wait at the end of the region for threads still running
 * or not started yet.  When that wait exceeds half of the time the caller's
 * thread computed (plus THREAD_SLACK seconds for one late wake-up), the
 * threads cost more than they save and the search goes on with one thread
 * (rsr_tile_threads() tells the caller).  Each block's lookups go to its
 * own slot: the result never depends on who computed them.
 */
#define CLAIM_BLOCKS 8
#define THREAD_SLACK 0.0005

static void
parallel_lookups(TileState *st, const RsrTileQuery *const *tqs,
				 const RsrTileRef *refs, uint32_t nb, int team)
{
#ifdef _OPENMP
	uint32_t	next = 0;
	double		start = omp_get_wtime();
	double		mine = start;
	double		end;

#pragma omp parallel num_threads(team)
	{
		for (;;)
		{
			uint32_t	b0;

#pragma omp atomic capture
			{
				b0 = next;
				next += CLAIM_BLOCKS;
			}
			if (b0 >= nb)
				break;
			lookup_range(st, tqs, refs, b0,
						 nb - b0 < CLAIM_BLOCKS ? nb : b0 + CLAIM_BLOCKS);
		}
		if (omp_get_thread_num() == 0)
			mine = omp_get_wtime();
	}
	end = omp_get_wtime();
	st->busy += mine - start;
	st->waited += end - mine;
	if (st->waited > 0.5 * st->busy + THREAD_SLACK)
		st->solo = 1;
#else
	(void) team;
	lookup_range(st, tqs, refs, 0, nb);
#endif
}

/* Threads the search uses now: 1 once they did not help, else `threads` */
int
rsr_tile_threads(const void *state, int threads)
{
	const TileState *st = (const TileState *) state;

	return st != NULL && st->magic == STATE_MAGIC && st->solo ? 1 : threads;
}

/* Phase 1 over a batch of tile segments */
RsrStatus
rsr_tile_feed(void *state, const RsrTileRef *refs, size_t nrefs,
			  int threads, size_t *consumed)
{
	TileState  *st = (TileState *) state;
	const RsrTileQuery *tqs[RSR_MAX_BATCH];
	size_t		i = 0;
	uint32_t	b;

	if (consumed != NULL)
		*consumed = 0;
	if (st == NULL || st->magic != STATE_MAGIC || consumed == NULL ||
		(refs == NULL && nrefs > 0) || threads < 1)
		return RSR_EINVAL;
	for (b = 0; b < st->nq; b++)
		tqs[b] = st->q[b].tq;

	while (i < nrefs)
	{
		RsrStatus	rc = RSR_OK;
		bool		incomplete = false;
		uint32_t	nb = 0;
		uint32_t	blk;
		size_t		j = i;
		int			team;

		/* the chunk's blocks, up to the first bad one */
		while (j < nrefs && nb < st->chunk)
		{
			size_t		end;

			rc = parse_block(refs, nrefs, j, st->kind, st->dims, &end);
			if (rc != RSR_OK)
				break;
			if (end == 0)
			{
				incomplete = true;
				break;
			}
			st->bstart[nb++] = j;
			j = end;
		}
		st->bstart[nb] = j;

		team = threads < (int) nb ? threads : (int) nb;
		if (team < 1)
			team = 1;
		if (st->solo)
			team = 1;
		if (team == 1)
			lookup_range(st, tqs, refs, 0, nb);
		else
			parallel_lookups(st, tqs, refs, nb, team);

		for (b = 0; b < st->nq; b++)
			chunk_floor(st, &st->q[b], refs, nb, b);
		for (blk = 0; blk < nb; blk++)
		{
			/* room for a whole block in every query, or stop before it */
			for (b = 0; b < st->nq; b++)
			{
				TileQState *qs = &st->q[b];

				if (st->cand_cap - qs->ncand < RSR_TILE_ROWS)
					compact(st, qs);
				if (st->cand_cap - qs->ncand < RSR_TILE_ROWS)
				{
					*consumed = st->bstart[blk];
					return RSR_ENOMEM;
				}
			}
			for (b = 0; b < st->nq; b++)
				if (st->q[b].nheap < st->n ||
					st->Jmax[(size_t) blk * st->nq + b] > st->q[b].heap[0] ||
					(st->Jmax[(size_t) blk * st->nq + b] >= cand_floor(st, &st->q[b]) &&
					 st->Jmax[(size_t) blk * st->nq + b] >= st->q[b].chunk_floor))
					select_block(st, &st->q[b], refs, st->bstart[blk],
								 st->bstart[blk + 1],
								 st->J + ((size_t) blk * st->nq + b) * RSR_TILE_ROWS);
			*consumed = st->bstart[blk + 1];
		}
		if (rc != RSR_OK || incomplete)
			return rc;
		i = j;
	}
	return RSR_OK;
}

/* Is a worse than b (lower score, or equal score and higher id)? */
static inline int
worse(const TileExact *a, const TileExact *b)
{
	return a->score < b->score || (a->score == b->score && a->id > b->id);
}

/* Sift down in the exact heap (worst at the root) */
static void
top_sift(TileExact *h, size_t n, size_t i)
{
	TileExact	v = h[i];

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && worse(&h[c + 1], &h[c]))
			c++;
		if (!worse(&h[c], &v))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/* Sift down in the candidate heap (largest J at the root) */
static void
order_sift(const TileCand *cand, uint32_t *h, size_t n, size_t i)
{
	uint32_t	v = h[i];

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && cand[h[c + 1]].J > cand[h[c]].J)
			c++;
		if (cand[h[c]].J <= cand[v].J)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/* Phase 2 of one query: the exact top n into ids, scores; returns count */
static size_t
finish_query(const TileState *st, TileQState *qs, uint64_t *ids,
			 double *scores)
{
	const RsrTileQuery *tq = qs->tq;
	const float *q = rsr_tile_q(tq);
	double		bound = tq->C + tq->hi_cmp;
	size_t		nc;
	size_t		ntop = 0;
	size_t		k;

	compact(st, qs);
	nc = qs->ncand;
	for (k = 0; k < nc; k++)
		qs->order[k] = (uint32_t) k;
	for (k = nc / 2; k-- > 0;)
		order_sift(qs->cand, qs->order, nc, k);
	while (nc > 0)
	{
		const TileCand *c = &qs->cand[qs->order[0]];
		TileExact	e;

		if (ntop == st->n && tq->s * (double) c->J + bound < qs->top[0].score)
			break;				/* no candidate left can reach the top n */
		e.score = rsr_exact_score(st->kind, qs->bits + qs->order[0] * st->rowbytes,
								  st->dims, q);
		e.id = c->id;
		if (ntop < st->n)
		{
			/* push: sift up */
			size_t		i = ntop++;

			while (i > 0 && worse(&e, &qs->top[(i - 1) / 2]))
			{
				qs->top[i] = qs->top[(i - 1) / 2];
				i = (i - 1) / 2;
			}
			qs->top[i] = e;
		}
		else if (worse(&qs->top[0], &e))
		{
			qs->top[0] = e;
			top_sift(qs->top, ntop, 0);
		}
		qs->order[0] = qs->order[--nc];
		order_sift(qs->cand, qs->order, nc, 0);
	}
	/* heap sort: the worst goes last */
	for (k = ntop; k > 0; k--)
	{
		ids[k - 1] = qs->top[0].id;
		scores[k - 1] = qs->top[0].score;
		qs->top[0] = qs->top[k - 1];
		top_sift(qs->top, k - 1, 0);
	}
	return ntop;
}

/* Phase 2 of every query */
RsrStatus
rsr_tile_finish(void *state, uint64_t *ids, double *scores, size_t *counts)
{
	TileState  *st = (TileState *) state;
	uint32_t	b;

	if (st == NULL || st->magic != STATE_MAGIC || ids == NULL ||
		scores == NULL || counts == NULL)
		return RSR_EINVAL;
	for (b = 0; b < st->nq; b++)
		counts[b] = finish_query(st, &st->q[b], ids + b * st->n,
								 scores + b * st->n);
	return RSR_OK;
}

/* Phase-1 scores of every live row, with an explicit kernel set */
RsrStatus
rsr_tile_scores_with(const RsrTileKernels *kern, const void *const *tqv,
					 uint32_t nq, const RsrTileRef *refs, size_t nrefs,
					 double *A, int threads)
{
	const RsrTileQuery *const *tqs = (const RsrTileQuery *const *) tqv;
	const RsrTileQuery *t0;
	int			status = RSR_OK;
	uint32_t	b;
	int			team;

	if (tqs == NULL || nq < 1 || nq > RSR_MAX_BATCH || A == NULL ||
		(refs == NULL && nrefs > 0) || threads < 1)
		return RSR_EINVAL;
	t0 = tqs[0];
	for (b = 0; b < nq; b++)
		if (tqs[b] == NULL || tqs[b]->magic != RSR_TILE_QMAGIC ||
			tqs[b]->kind != t0->kind || tqs[b]->dims != t0->dims)
			return RSR_EINVAL;
	team = threads;
	if ((size_t) team > nrefs)
		team = nrefs > 0 ? (int) nrefs : 1;

#pragma omp parallel num_threads(team) if (team > 1) reduction(max:status)
	{
		int			t = 0;
		int			n = 1;
		int64_t		J[RSR_MAX_BATCH * RSR_TILE_ROWS];
		size_t		i;
		size_t		stop;
		uint32_t	qb;				/* private: b is shared */

#ifdef _OPENMP
		t = omp_get_thread_num();
		n = omp_get_num_threads();
#endif
		/* thread t takes the blocks that start in its share of refs */
		i = nrefs * (size_t) t / (size_t) n;
		stop = nrefs * (size_t) (t + 1) / (size_t) n;
		while (i > 0 && i < nrefs && refs[i].id == refs[i - 1].id)
			i++;
		while (i < stop)
		{
			size_t		end;
			RsrSeg		s;
			uint32_t	r;
			RsrStatus	rc = parse_block(refs, nrefs, i, t0->kind, t0->dims, &end);

			if (rc == RSR_OK && end == 0)
				rc = RSR_EINVAL;	/* refs end inside a block */
			if (rc != RSR_OK)
			{
				if ((int) rc > status)
					status = (int) rc;
				break;
			}
			block_lookups(kern, tqs, nq, refs, i, end, J, NULL);
			seg_fields(refs[i].data, &s);
			for (r = 0; r < s.nrows; r++)
				if (!((refs[i].dead >> r) & 1))
					for (qb = 0; qb < nq; qb++)
						A[(refs[i].id + r) * nq + qb] =
							tqs[qb]->s * (double) J[qb * RSR_TILE_ROWS + r] + tqs[qb]->C;
			i = end;
		}
	}
	return (RsrStatus) status;
}

/* Phase-1 scores of every live row */
RsrStatus
rsr_tile_scores(const void *const *tq, uint32_t nq, const RsrTileRef *refs,
				size_t nrefs, double *A, int threads)
{
	return rsr_tile_scores_with(rsr_tile_active, tq, nq, refs, nrefs, A,
								threads);
}
