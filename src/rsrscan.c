/*-------------------------------------------------------------------------
 *
 * rsrscan.c
 *	  Ordered scan of an rsr index: ORDER BY col <#> query.
 *
 * The first call scores every row of the index with the engine: the
 * backend pins and share-locks a batch of data pages, lists their segments
 * as RsrSegmentRef pointing into the pages, runs the kernel (threads only
 * compute; no PostgreSQL call happens while they run), then releases the
 * pages.  Scores live in one float array, one slot per row position (k per
 * block of rows); empty and dead slots get NaN, which top-n never selects.
 *
 * TIDs are then returned lazily, best first: top-n selects a batch, the
 * batch is returned in order, and the next, larger batch is selected only
 * when asked for.
 *
 * Exact order: the kernels accumulate in float32 while the <#> operator
 * computes in double.  For each TID the scan reports a lower bound of the
 * operator's value, -(score * scale) - bound with the scale and bound of
 * RsrQueryPrepare() (rsrquery.c), and sets xs_recheckorderby; the executor
 * recomputes <#> and reorders exactly.
 * Lower bounds are returned in ascending order.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrscan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_gpu.h"
#include "rsr_index.h"
#include "rsr_query.h"

/*
 * Pages a tile search pins at once (its batches).  A backend keeps
 * its pins in small arrays and beyond them in hash tables: the resource
 * owner's (64 entries on PostgreSQL 15 and 16, 32 from 17) and the private
 * reference counts (8), and every pin and release of a larger batch pays
 * lookups there.  Measured on the 1M x 1024 indexes (huge pages, buffers
 * contiguous, median warm top-10 on one thread, binary / ternary): batches
 * of RSR_SCAN_PAGES (128) pages 14.7-14.9 / 30.6-31.3 ms, 8 to 48 pages
 * 12.1-13.3 / 26.8-28.1 ms, 24 pages 12.6-12.9 / 26.8-27.4 ms.  Scoring
 * every row (RsrScoreIndex) keeps RSR_SCAN_PAGES: there 24 pages measured
 * slower (rsr_scores 192-195 -> 197-201 ms binary, 226-227 -> 235-246 ms
 * ternary), its per-batch work being larger.
 */
#define RSR_SEARCH_PAGES 24

#define RSR_SCAN_FIRST_BATCH	64		/* TIDs selected by the first top-n */
#define RSR_SCAN_MAX_BATCH	65536	/* largest later batch */

/* The rows of one block no search may return, to mask its slots after scoring */
typedef struct RsrBlockMask
{
	uint64		base;			/* slot of the block's row 0 */
	uint32		skip;			/* bit r set = row r dead or unpublished */
} RsrBlockMask;

typedef struct RsrScanOpaqueData
{
	MemoryContext scanCtx;		/* reset at every rescan */
	bool		scored;			/* scores computed for this query */
	bool		queryIsNull;	/* ORDER BY value is NULL */
	double		bound;			/* subtracted from -score: a lower bound */
	double		scale;			/* score * scale = score of the query */

	/* One slot per row position, one score per slot */
	RsrScores	sc;				/* score NaN = empty, dead or returned */

	/* The batch being returned */
	uint32	   *batchIdx;		/* slots, best first */
	float	   *batchScores;	/* their scores */
	size_t		batchCount;		/* slots in the batch */
	size_t		batchPos;		/* next one to return */
	size_t		batchSize;		/* size of the next top-n */
	void	   *topnWork;
	size_t		topnWorkSize;

	/* Tile indexes on the CPU: the engine's streaming exact top-n */
	bool		tile;			/* this scan runs TileNextPass() */
	void	   *tq;				/* the prepared query */
	size_t		tileN;			/* rows asked of the next pass */
	uint64	   *tileIds;		/* the pass's rows, best first */
	double	   *tileScores;		/* their exact scores */
	ItemPointerData *tileTids;	/* their heap TIDs */
	size_t		tileCount;		/* rows of the pass */
	size_t		tilePos;		/* next one to return */
	bool		tileDone;		/* the pass found every row left */
	bool		tileReturned;	/* a row was returned: last score below */
	double		tileLastScore;	/* score of the last row returned */
	ItemPointerData *tileTied;	/* TIDs returned with that score */
	size_t		tileNtied;
	size_t		tileTiedCap;

	/* Scoring by the GPU worker (rsr_vector.device) */
	RsrGpuScan *gpu;			/* rows come from the worker, or NULL */
	float	   *query;			/* the query, for a CPU fallback */
	uint32		queryDims;
	double		lastValue;		/* last lower bound returned */
} RsrScanOpaqueData;

typedef RsrScanOpaqueData *RsrScanOpaque;

/* Prepare an index scan */
IndexScanDesc
rsrbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan;
	RsrScanOpaque so;

	scan = RelationGetIndexScan(index, nkeys, norderbys);
	if (norderbys > 0)
	{
		/* The executor reads the lower bounds of <#> from here */
		scan->xs_orderbyvals = palloc0(sizeof(Datum) * norderbys);
		scan->xs_orderbynulls = palloc(sizeof(bool) * norderbys);
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
	so = (RsrScanOpaque) palloc0(sizeof(RsrScanOpaqueData));
	so->scanCtx = AllocSetContextCreate(CurrentMemoryContext,
										"rsr scan context",
										ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

/* Start the scan again, maybe with a new query */
void
rsrrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		  int norderbys)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;
	MemoryContext ctx = so->scanCtx;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys,
				scan->numberOfOrderBys * sizeof(ScanKeyData));

	MemoryContextReset(ctx);
	memset(so, 0, sizeof(RsrScanOpaqueData));
	so->scanCtx = ctx;
}

/* Dimension of the rows of the index, 0 while it has none */
static uint32
IndexDims(Relation index)
{
	Buffer		metabuf;
	uint32		dims;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	dims = RsrCheckMeta(index, BufferGetPage(metabuf))->dims;
	UnlockReleaseBuffer(metabuf);
	return dims;
}

/* Layout of the segments of the index (0 while it has no row) */
static RsrLayout
IndexLayout(Relation index)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	RsrLayout	layout;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	layout = meta->dims > 0 ? (RsrLayout) meta->layout : (RsrLayout) 0;
	UnlockReleaseBuffer(metabuf);
	return layout;
}

/* Make room for `more` slots; new slots start at zero */
static void
GrowSlots(RsrScores *sc, uint64 more)
{
	uint64		need = sc->nslots + more + RSR_INDEX_MAX_K;
	uint64		newcap;

	if (need <= sc->capacity)
		return;
	newcap = Max(need, sc->capacity * 2);
	if (sc->scores == NULL)
	{
		sc->scores = MemoryContextAllocHuge(sc->cxt,
											newcap * sc->batch * sizeof(float));
		sc->tids = MemoryContextAllocHuge(sc->cxt,
										  newcap * sizeof(ItemPointerData));
		if (sc->wantExact)
			sc->exact = MemoryContextAllocHuge(sc->cxt,
											   newcap * sc->batch * sizeof(double));
	}
	else
	{
		sc->scores = repalloc_huge(sc->scores,
								   newcap * sc->batch * sizeof(float));
		sc->tids = repalloc_huge(sc->tids, newcap * sizeof(ItemPointerData));
		if (sc->wantExact)
			sc->exact = repalloc_huge(sc->exact,
									  newcap * sc->batch * sizeof(double));
	}
	memset(sc->scores + sc->capacity * sc->batch, 0,
		   (newcap - sc->capacity) * sc->batch * sizeof(float));
	sc->capacity = newcap;
}

/*
 * Hand the first `count` slots to the flush callback, then move the slots
 * after them to the front; freed slots start at zero again.
 */
static void
FlushSlots(RsrScores *sc, uint64 count)
{
	uint64		keep = sc->nslots - count;

	if (count == 0)
		return;
	sc->flush(sc, count, sc->flushArg);
	memmove(sc->scores, sc->scores + count * sc->batch,
			keep * sc->batch * sizeof(float));
	memmove(sc->tids, sc->tids + count, keep * sizeof(ItemPointerData));
	if (sc->exact != NULL)
		memmove(sc->exact, sc->exact + count * sc->batch,
				keep * sc->batch * sizeof(double));
	memset(sc->scores + keep * sc->batch, 0,
		   count * sc->batch * sizeof(float));
	sc->nslots = keep;
}

/*
 * Score every row of the index for `batch` queries Q[b * dims + j] (Q NULL:
 * only list the rows).  Pages are read in chain order in batches of
 * RSR_SCAN_PAGES, share-locked while the kernel reads them; the metapage is
 * only read at the start, never held with them.
 *
 * Slot s holds the TID and the scores scores[s * batch + b] of one row
 * position; empty and dead slots get NaN.  Without a flush callback every
 * slot stays in sc (O(rows) memory).  With one, the slots of finished
 * blocks of rows are handed to it after each batch of pages and dropped:
 * only the last block, whose column ranges may continue on the next pages,
 * is kept.  sc->cxt and sc->batch must be set, the rest zero.  Tile
 * indexes get exact scores (rsr_tile_exact): rounded to float in scores,
 * or, with sc->wantExact, the operator's double in exact (scores unused).
 */
void
RsrScoreIndex(Relation index, const float *Q, uint32 batch, uint32 dims,
			  RsrScores *sc)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	RsrShape	shape;
	BlockNumber blkno;
	RsrPageReader reader;
	RsrSegmentRef *refs;
	size_t		refcap = 1024;
	RsrBlockMask *masks;
	size_t		maskcap = 1024;
	void	   *work = NULL;
	size_t		worksize = 0;
	int			threads = rsr_threads;
	RsrSegmentRef *carry = NULL;	/* tiles: a block cut by the batch end */
	size_t		ncarry = 0;
	RsrBlockMask carryMask = {0};
	const uint8 **consumed = NULL;	/* copies scored by this batch */

	Assert(batch >= 1 && batch <= RSR_MAX_BATCH);

	/* Read the shape and the first data page, then let go of the metapage */
	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrShapeFromMeta(meta, &shape);
	if (shape.layout != RSR_LAYOUT_TILE || Q == NULL)
		sc->wantExact = false;	/* exact stays NULL: scores are the kernel's */
	blkno = meta->firstBlkno;
	if (meta->dims > 0 && sc->flush == NULL)
		GrowSlots(sc, Min(meta->nblocks, (uint64) 1 << 28) * meta->k);
	UnlockReleaseBuffer(metabuf);

	if (shape.dims == 0)
		return;					/* no row yet */
	if (Q != NULL && dims != shape.dims)
		RsrQueryDimsError((int) shape.dims, (int) dims);

	refs = palloc(refcap * sizeof(RsrSegmentRef));
	masks = palloc(maskcap * sizeof(RsrBlockMask));
	if (Q != NULL)
	{
		worksize = shape.layout == RSR_LAYOUT_TILE ?
			rsr_tile_exact_work_size(shape.dims) :
			rsr_workspace_size(shape.k, batch, threads);
		work = palloc(Max(worksize, 1));
	}

	RsrPagesBegin(&reader, index, &shape, blkno, NULL, BUFFER_LOCK_SHARE);
	while (RsrPagesReadBatch(&reader, RSR_SCAN_PAGES) > 0)
	{
		RsrEntryItem e;
		size_t		nrefs = 0;
		size_t		nmasks = 0;
		size_t		i;
		size_t		lastHead = 0;
		size_t		nconsumed = ncarry;
		RsrBlockMask consumedMask = carryMask;
		RsrStatus	status = RSR_OK;

		/* tiles score whole blocks: the part of one cut by the last batch */
		for (i = 0; i < ncarry; i++)
		{
			if (nrefs == refcap)
			{
				refcap *= 2;
				refs = repalloc(refs, refcap * sizeof(RsrSegmentRef));
			}
			refs[nrefs++] = carry[i];
			consumed[i] = carry[i].data;
		}
		ncarry = 0;

		/* List the segments of up to RSR_SCAN_PAGES locked pages */
		RsrPagesWarmBatch(&reader);
		while (RsrPagesNextEntry(&reader, &e))
		{
			if (e.range == 0)
			{
				GrowSlots(sc, shape.k);
				if (nmasks == maskcap)
				{
					maskcap *= 2;
					masks = repalloc(masks, maskcap * sizeof(RsrBlockMask));
				}
				masks[nmasks].base = sc->nslots;
				masks[nmasks].skip = e.skip;
				nmasks++;
				memcpy(sc->tids + sc->nslots, e.entry->tids,
					   e.nrows * sizeof(ItemPointerData));
				sc->nslots += shape.k;
			}

			sc->nentries++;
			sc->segbytes += e.segsize;
			if (Q == NULL || e.nrows == 0)
				continue;		/* a block no insert published may lack ranges */
			if (nrefs == refcap)
			{
				refcap *= 2;
				refs = repalloc(refs, refcap * sizeof(RsrSegmentRef));
			}
			if (e.range == 0)
				lastHead = nrefs;
			refs[nrefs].data = e.segment;
			refs[nrefs].size = e.segsize;
			refs[nrefs].out = sc->nslots - shape.k;
			nrefs++;
		}

		/* tiles: keep a copy of the last block if its ranges go on */
		if (shape.layout == RSR_LAYOUT_TILE && Q != NULL)
		{
			size_t		nlast = nrefs - lastHead;

			if (nrefs > 0 && nlast < shape.nranges)
			{
				if (carry == NULL)
				{
					carry = palloc(shape.nranges * sizeof(RsrSegmentRef));
					consumed = palloc(shape.nranges * sizeof(uint8 *));
				}
				for (i = 0; i < nlast; i++)
				{
					uint8	   *copy = palloc(refs[lastHead + i].size);

					memcpy(copy, refs[lastHead + i].data, refs[lastHead + i].size);
					carry[i] = refs[lastHead + i];
					carry[i].data = copy;
				}
				ncarry = nlast;
				nrefs = lastHead;
				if (lastHead >= nconsumed)
					carryMask = masks[nmasks - 1];	/* else: the same block */
				else
					nconsumed = 0;	/* the carried block goes on: not scored */
			}
		}

		/*
		 * Threads only compute on the pinned pages: no ereport in between,
		 * and signals blocked while a team runs
		 */
		if (nrefs > 0)
		{
			sigset_t	mask;

			if (threads > 1)
				RsrThreadsBegin(&mask);
			if (shape.layout == RSR_LAYOUT_TILE)
				status = rsr_tile_exact(refs, nrefs, Q, batch, shape.dims,
										sc->wantExact ? NULL : sc->scores,
										sc->wantExact ? sc->exact : NULL,
										work, worksize, threads);
			else if (batch == 1)
				status = rsr_gemv(refs, nrefs, Q, shape.dims, sc->scores,
								  work, worksize, threads);
			else
				status = rsr_gemm(refs, nrefs, Q, batch, shape.dims,
								  sc->scores, work, worksize, threads);
			if (threads > 1)
				RsrThreadsEnd(&mask);
		}

		RsrPagesReleaseBatch(&reader);
		if (nconsumed > 0 && (ncarry == 0 || lastHead >= nconsumed))
		{
			/* the copies of the carried block were scored: mask it too */
			for (i = 0; i < nconsumed; i++)
				pfree((void *) consumed[i]);
			if (nmasks == maskcap)
			{
				maskcap *= 2;
				masks = repalloc(masks, maskcap * sizeof(RsrBlockMask));
			}
			memmove(masks + 1, masks, nmasks * sizeof(RsrBlockMask));
			masks[0] = consumedMask;
			nmasks++;
		}
		RsrCheckStatus(status, "rsr index scan");

		/* Empty and dead slots never come out of top-n */
		for (i = 0; i < nmasks; i++)
		{
			uint32		r;
			uint32		b;

			for (r = 0; r < shape.k; r++)
				if (masks[i].skip & ((uint32) 1 << r))
					for (b = 0; b < batch; b++)
					{
						sc->scores[(masks[i].base + r) * batch + b] = NAN;
						if (sc->exact != NULL)
							sc->exact[(masks[i].base + r) * batch + b] = NAN;
					}
		}
		if (sc->flush != NULL && nmasks > 0)
		{
			uint64		shift = masks[nmasks - 1].base;

			FlushSlots(sc, shift);
			for (i = 0; i < ncarry; i++)
				carry[i].out -= (uint32) shift;
			carryMask.base -= shift;
		}
		CHECK_FOR_INTERRUPTS();
	}
	RsrPagesEnd(&reader);
	if (sc->flush != NULL)
		FlushSlots(sc, sc->nslots);

	pfree(refs);
	pfree(masks);
	if (work)
		pfree(work);
}

/*
 * Tiles.  A row's id in the engine is its place in the index: (block of
 * the head entry << 21) | (item << 5) | row, so ids ascend in chain order
 * (ties of exact scores are returned in that order) and lead back to the
 * head entry that holds the row's TID.
 */
/*
 * The TID of the row with engine id `id`, read from its head entry; false
 * when the entry is no longer there (a VACUUM reclaimed it since the
 * search, which RsrTileSearch() then detects by the reclaim counter).
 */
static bool
TileRowTid(Relation index, uint64 id, ItemPointer tid)
{
	BlockNumber blkno = (BlockNumber) (id >> 21);
	OffsetNumber off = (OffsetNumber) ((id >> 5) & 0xFFFF);
	uint32		r = (uint32) (id & 31);
	Buffer		buf = ReadBuffer(index, blkno);
	Page		page;
	ItemId		iid;
	RsrEntry	e;
	bool		found = false;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page))
	{
		iid = PageGetItemId(page, off);
		e = (RsrEntry) PageGetItem(page, iid);
		if (ItemIdIsNormal(iid) &&
			ItemIdGetLength(iid) >= RsrEntryHeaderSize(0, RSR_TILE_ROWS) &&
			e->range == 0 && r < e->nrows)
		{
			*tid = e->tids[r];
			found = true;
		}
	}
	UnlockReleaseBuffer(buf);
	return found;
}

/* The metapage's reclaim counter */
static uint64
ReclaimCount(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	uint64		count;

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	count = RsrCheckMeta(index, BufferGetPage(metabuf))->reclaimCount;
	UnlockReleaseBuffer(metabuf);
	return count;
}

/*
 * Memory the searches of this backend reuse: the search state, the list of
 * segments of a page batch and the copies of a block cut by a batch end.
 * Fresh memory of a few hundred KiB per query comes from the kernel as
 * fresh pages, each a page fault on first touch (expensive under a
 * hypervisor); memory kept from one query to the next is already mapped.
 * TileSearchOnce() never nests, so one set serves every search; an error
 * leaves it allocated and consistent.  A state above RSR_KEEP_STATE (passes
 * for many rows) is freed after its search.
 */
#define RSR_KEEP_STATE	((Size) 16 << 20)

static void *tileState = NULL;
static Size tileStateCap = 0;
static RsrTileRef *tileRefs = NULL;
static size_t tileRefCap = 0;
static uint8 *tileCarry = NULL;
static Size tileCarryCap = 0;

/*
 * Kernel threads that cost more than they saved in a search (they started
 * late: the machine is busy) are left out of the next RSR_THREADS_BACKOFF
 * searches of the backend, then tried again.  rsr_vector.threads is the
 * most a search uses.
 */
#define RSR_THREADS_BACKOFF 15

static int	threadsSkip = 0;	/* searches left that run on one thread */

/* A block of backend memory of at least size bytes, kept in *mem */
static void *
KeptMemory(void **mem, Size *cap, Size size, bool keep)
{
	if (size <= *cap)
		return *mem;
	if (*mem != NULL)
		pfree(*mem);
	*mem = NULL;
	*cap = 0;
	if (keep)
		size = Max(size, (Size) 1 << 16);
	*mem = MemoryContextAllocExtended(TopMemoryContext, size, MCXT_ALLOC_HUGE);
	*cap = size;
	return *mem;
}

/*
 * Phase 1 over refs[0..nrefs) into the search state tileState: until all
 * are fed, a block goes on in the next batch (*done < nrefs), or the
 * engine fails.  When the candidates outgrow the state it moves into one
 * twice as large (tileState changes).  Threads only compute on memory the
 * backend prepared and holds: no ereport while they run.
 */
static RsrStatus
FeedRefs(const RsrTileRef *refs, size_t nrefs, const RsrShape *shape,
		 uint32 nq, size_t n, int threads, size_t *cands, size_t *done)
{
	RsrStatus	status = RSR_OK;

	*done = 0;
	while (status == RSR_OK && *done < nrefs)
	{
		sigset_t	mask;
		size_t		consumed = 0;

		/*
		 * Only a team of threads needs the signals blocked: not one thread,
		 * nor a search whose threads did not help (two system calls per
		 * group of pages: the first top-10 of a connection on 2 threads, 1M
		 * x 1024 binary, huge pages, median of 5: 40.1 -> 31.7 ms)
		 */
		bool		team = rsr_tile_threads(tileState, threads) > 1;

		if (team)
			RsrThreadsBegin(&mask);
		status = rsr_tile_feed(tileState, refs + *done, nrefs - *done,
							   threads, &consumed);
		if (team)
			RsrThreadsEnd(&mask);
		*done += consumed;
		if (status == RSR_ENOMEM)
		{
			/* more candidates than room: move to a state twice as large */
			size_t		size2;
			void	   *state2;

			*cands *= 2;
			size2 = rsr_tile_state_size(shape->kind, shape->dims, nq, n, *cands);
			state2 = MemoryContextAllocExtended(TopMemoryContext, size2,
												MCXT_ALLOC_HUGE);
			status = rsr_tile_resize(tileState, state2, size2, *cands);
			pfree(tileState);
			tileState = state2;
			tileStateCap = size2;
		}
		else if (status == RSR_OK && consumed == 0)
			break;				/* a block goes on in the next batch */
	}
	return status;
}

/*
 * A new search state for nq prepared queries and n rows each, in the kept
 * memory; the threads the search may use (rsr_vector.threads, or one
 * after threads did not help)
 */
static int
StartSearch(const RsrShape *shape, const void *const *tqs, uint32 nq,
			size_t n, size_t cands)
{
	int			threads = rsr_threads;
	size_t		size;
	RsrStatus	status;

	if (threads > 1 && threadsSkip > 0)
	{
		threads = 1;
		threadsSkip--;
	}
	size = rsr_tile_state_size(shape->kind, shape->dims, nq, n, cands);
	KeptMemory(&tileState, &tileStateCap, size, size <= RSR_KEEP_STATE);
	status = rsr_tile_init(tileState, size, tqs, nq, n, cands);
	RsrCheckStatus(status, "rsr index scan");
	return threads;
}

/* Phase 2 of the search in tileState: the results; the state kept or freed */
static void
FinishSearch(int threads, uint64 *ids, double *scores, size_t *counts)
{
	RsrStatus	status;

	if (threads > 1 && rsr_tile_threads(tileState, threads) == 1)
		threadsSkip = RSR_THREADS_BACKOFF;
	status = rsr_tile_finish(tileState, ids, scores, counts);
	if (tileStateCap > RSR_KEEP_STATE)
	{
		pfree(tileState);
		tileState = NULL;
		tileStateCap = 0;
	}
	RsrCheckStatus(status, "rsr index scan");
}

/*
 * The search of TileSearchOnce() over the backend's copy of the index
 * (rsrcache.c): every block in one call, no pages read
 */
static void
CachedSearch(const RsrTileRef *refs, size_t nrefs, const RsrShape *shape,
			 const void *const *tqs, uint32 nq, size_t n, uint64 *ids,
			 double *scores, size_t *counts)
{
	size_t		cands = Max(4 * n, 1024);
	size_t		done;
	int			threads = StartSearch(shape, tqs, nq, n, cands);
	RsrStatus	status = FeedRefs(refs, nrefs, shape, nq, n, threads, &cands, &done);

	RsrCheckStatus(status, "rsr index scan");
	if (done < nrefs)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index copy is inconsistent: %s", "the last block misses column ranges")));
	FinishSearch(threads, ids, scores, counts);
}

/*
 * Append to the kept list of segments (tileRefs, *nrefs used) those of the
 * batch's entries on pages before `end`, each with the id of its block's
 * row 0 and the rows no search may return
 */
static void
ListRefs(RsrPageReader *reader, int end, size_t *nrefs)
{
	RsrEntryItem e;

	while (RsrPagesNextEntryBefore(reader, end, &e))
	{
		RsrTileRef *ref;

		if (e.nrows == 0)
			continue;			/* a block no insert published may lack ranges */
		if (*nrefs == tileRefCap / sizeof(RsrTileRef))
		{
			/* the carried copies stay where they are */
			tileRefs = repalloc_huge(tileRefs, 2 * tileRefCap);
			tileRefCap *= 2;
		}
		ref = &tileRefs[*nrefs];
		ref->data = e.segment;
		ref->size = (uint32) e.segsize;
		ref->dead = e.skip;
		ref->id = e.range == 0 ? RSR_TILE_ID(e.blkno, e.off) :
			*nrefs > 0 ? ref[-1].id : 0;
		(*nrefs)++;
	}
}

/*
 * Pages a search reads ahead of the lookups: it warms the next
 * RSR_WARM_GROUP pages of the batch (RsrPagesWarm), then lists and feeds
 * the entries of the ones warmed before, so the lookups run on pages just
 * read, still in the core's own cache.  Measured on the 1M x 1024 binary
 * index with its buffers scattered over shared_buffers, median warm top-10
 * on one thread: the whole batch of 128 pages warmed first 21.8 ms, groups
 * of 2 pages 22.0, 4 pages 20.9-21.4, 8 pages 19.8-20.0, 16 pages
 * 21.2-21.3.  On 2 threads the same groups take 17.8-18.0 ms (as one
 * thread), whole batches 22-26 ms, no warming 30-41 ms: the second thread
 * reads what the first one warmed from the other core's cache.
 */
#define RSR_WARM_GROUP 8

/*
 * One pass of the engine over a tile index for the exact n best rows of
 * each of the nq prepared queries: phase 1 page batch by page batch (the
 * pages pinned and share-locked while the threads compute, released before
 * the next batch), phase 2 at the end.
 */
static void
TileSearchOnce(Relation index, const void *const *tqs, uint32 nq, size_t n,
			   uint64 *ids, double *scores, size_t *counts)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	RsrShape	shape;
	BlockNumber first;
	RsrPageReader reader;
	RsrTileRef *refs;
	RsrTileRef	carry[RSR_MAX_RANGES];
	size_t		ncarry = 0;
	size_t		i;
	size_t		cands = Max(4 * n, 1024);
	RsrStatus	status = RSR_OK;
	int			threads;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrShapeFromMeta(meta, &shape);
	first = meta->firstBlkno;
	UnlockReleaseBuffer(metabuf);
	if (shape.dims == 0)
	{
		for (i = 0; i < nq; i++)
			counts[i] = 0;
		return;
	}

	threads = StartSearch(&shape, tqs, nq, n, cands);

	KeptMemory((void **) &tileRefs, &tileRefCap, 4096 * sizeof(RsrTileRef),
			   true);
	RsrPagesBegin(&reader, index, &shape, first, NULL, BUFFER_LOCK_SHARE);
	while (RsrPagesReadBatch(&reader, RSR_SEARCH_PAGES) > 0)
	{
		size_t		nrefs = 0;
		size_t		done = 0;
		int			g;

		for (i = 0; i < ncarry; i++)
			tileRefs[nrefs++] = carry[i];
		RsrPagesWarm(&reader, 0, RSR_WARM_GROUP);
		for (g = 0; g < reader.npages && status == RSR_OK; g += RSR_WARM_GROUP)
		{
			size_t		fed = 0;

			RsrPagesWarm(&reader, g + RSR_WARM_GROUP, g + 2 * RSR_WARM_GROUP);
			ListRefs(&reader, g + RSR_WARM_GROUP, &nrefs);
			status = FeedRefs(tileRefs + done, nrefs - done, &shape, nq, n,
							  threads, &cands, &fed);
			done += fed;
		}
		refs = tileRefs;

		/*
		 * The segments of a block cut by the end of the batch: copies, in
		 * the kept carry memory (the copies fed by this batch are done).
		 */
		ncarry = 0;
		if (status == RSR_OK && done < nrefs)
		{
			Size		total = 0;
			uint8	   *old = NULL;
			uint8	   *copy;

			/*
			 * A batch whose pages hold no entry (VACUUM emptied them) leaves
			 * the carried copies themselves to carry: move them within the
			 * carry memory, or into a larger one allocated before the old
			 * one is freed.
			 */
			for (i = done; i < nrefs && i - done < RSR_MAX_RANGES; i++)
				total += MAXALIGN(refs[i].size);
			if (total > tileCarryCap)
			{
				old = tileCarry;
				tileCarry = MemoryContextAlloc(TopMemoryContext,
											   Max(total, (Size) 1 << 16));
				tileCarryCap = Max(total, (Size) 1 << 16);
			}
			copy = tileCarry;
			for (i = done; i < nrefs && ncarry < RSR_MAX_RANGES; i++)
			{
				memmove(copy, refs[i].data, refs[i].size);
				carry[ncarry] = refs[i];
				carry[ncarry].data = copy;
				copy += MAXALIGN(refs[i].size);
				ncarry++;
			}
			if (old != NULL)
				pfree(old);
		}
		RsrPagesReleaseBatch(&reader);
		RsrCheckStatus(status, "rsr index scan");
		CHECK_FOR_INTERRUPTS();
	}
	RsrPagesEnd(&reader);
	if (ncarry > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" is inconsistent: %s",
						RelationGetRelationName(index), "the last block misses column ranges")));
	FinishSearch(threads, ids, scores, counts);
}

/* A row a search returned has no entry in the index */
pg_noreturn static void
MissingRow(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("rsr index \"%s\" is inconsistent: %s",
					RelationGetRelationName(index),
					"a row the search found has no entry")));
}

/*
 * The exact n best rows of each of the nq prepared queries over a tile
 * index: ids[b * n + i] (engine ids), scores[b * n + i] (exact, best first,
 * ties by id), tids[b * n + i] and counts[b].  Memory O(nq * (n +
 * candidates)).
 *
 * Ids are places in the index, read back to TIDs after the pass.  Inserts
 * only add rows at new places, but a concurrent VACUUM may remove a block
 * or compact one in place, and a row's place then names another row.  Such
 * a VACUUM bumps the metapage's reclaim counter in the same record as the
 * pages it changes, so a search that reads the counter before the pass and
 * again after the last TID, and finds it unchanged, saw every place as it
 * was; otherwise it searches again.
 */
void
RsrTileSearch(Relation index, const void *const *tqs, uint32 nq, size_t n,
			  uint64 *ids, double *scores, ItemPointerData *tids,
			  size_t *counts)
{
	const RsrTileRef *crefs;
	size_t		ncrefs;
	RsrShape	cshape;

	if (RsrCacheGet(index, &crefs, &ncrefs, &cshape))
	{
		uint32		b;
		size_t		i;

		CachedSearch(crefs, ncrefs, &cshape, tqs, nq, n, ids, scores, counts);
		for (b = 0; b < nq; b++)
			for (i = 0; i < counts[b]; i++)
				if (!RsrCacheTid(ids[b * n + i], &tids[b * n + i]))
					MissingRow(index);
		return;
	}
	for (;;)
	{
		uint64		before = ReclaimCount(index);
		bool		found = true;
		uint32		b;
		size_t		i;

		TileSearchOnce(index, tqs, nq, n, ids, scores, counts);
		for (b = 0; b < nq && found; b++)
			for (i = 0; i < counts[b] && found; i++)
				found = TileRowTid(index, ids[b * n + i], &tids[b * n + i]);
		if (ReclaimCount(index) == before)
		{
			if (!found)
				MissingRow(index);
			return;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* Was the row `tid`, tied with the last score, returned already? */
static bool
TiedReturned(RsrScanOpaque so, ItemPointer tid)
{
	size_t		i;

	for (i = 0; i < so->tileNtied; i++)
		if (ItemPointerEquals(&so->tileTied[i], tid))
			return true;
	return false;
}

/*
 * One pass of the scan's query for the n best rows; the rows already
 * returned are skipped: those that score above the last score returned,
 * and those tied with it that were returned (by TID: a VACUUM between two
 * passes may have moved rows, so their ids may differ from one pass to
 * the next).
 */
static void
TileNextPass(IndexScanDesc scan)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;
	size_t		n = so->tileN;
	size_t		counts[1];
	const void *tqs[1] = {so->tq};
	size_t		i;

	if (so->tileIds)
	{
		pfree(so->tileIds);
		pfree(so->tileScores);
		pfree(so->tileTids);
	}
	so->tileIds = palloc_extended(n * sizeof(uint64), MCXT_ALLOC_HUGE);
	so->tileScores = palloc_extended(n * sizeof(double), MCXT_ALLOC_HUGE);
	so->tileTids = palloc_extended(n * sizeof(ItemPointerData), MCXT_ALLOC_HUGE);
	RsrTileSearch(scan->indexRelation, tqs, 1, n, so->tileIds, so->tileScores,
				  so->tileTids, counts);
	so->tileCount = counts[0];
	so->tileDone = counts[0] < n;

	/* skip what earlier passes returned */
	so->tilePos = 0;
	if (so->tileReturned)
	{
		size_t		keep = 0;

		for (i = 0; i < so->tileCount; i++)
		{
			if (so->tileScores[i] > so->tileLastScore ||
				(so->tileScores[i] == so->tileLastScore &&
				 TiedReturned(so, &so->tileTids[i])))
				continue;
			so->tileIds[keep] = so->tileIds[i];
			so->tileScores[keep] = so->tileScores[i];
			so->tileTids[keep] = so->tileTids[i];
			keep++;
		}
		so->tileCount = keep;
	}
	so->tileN = Min(n * 4, RSR_SCAN_MAX_BATCH * (Size) 16);
}

/* Select the next batch of slots, best first */
static void
NextBatch(RsrScanOpaque so)
{
	size_t		n = so->batchSize;
	size_t		need = rsr_topn_work_size(n);
	size_t		i;

	if (so->sc.nslots == 0)
	{
		so->batchCount = 0;
		return;
	}
	if (need > so->topnWorkSize)
	{
		if (so->topnWork)
			pfree(so->topnWork);
		so->topnWork = MemoryContextAlloc(so->scanCtx, Max(need, 1));
		so->topnWorkSize = need;
		if (so->batchIdx)
		{
			pfree(so->batchIdx);
			pfree(so->batchScores);
		}
		so->batchIdx = MemoryContextAlloc(so->scanCtx, n * sizeof(uint32));
		so->batchScores = MemoryContextAlloc(so->scanCtx, n * sizeof(float));
	}
	so->batchCount = rsr_topn(so->sc.scores, so->sc.nslots, n, so->batchIdx,
							  so->topnWork);

	/* Returned slots never come back */
	for (i = 0; i < so->batchCount; i++)
	{
		so->batchScores[i] = so->sc.scores[so->batchIdx[i]];
		so->sc.scores[so->batchIdx[i]] = NAN;
	}
	so->batchPos = 0;
	so->batchSize = Min(n * 4, RSR_SCAN_MAX_BATCH);
}

/* Score the rows for the query of the scan's ORDER BY */
static void
StartScan(IndexScanDesc scan)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;
	MemoryContext oldCtx;
	ScanKey		key;

	if (scan->numberOfOrderBys == 0 || scan->orderByData == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot scan rsr index without order")));
	key = &scan->orderByData[0];
	pgstat_count_index_scan(scan->indexRelation);

	oldCtx = MemoryContextSwitchTo(so->scanCtx);
	so->sc.cxt = so->scanCtx;
	so->sc.batch = 1;
	if (key->sk_flags & SK_ISNULL)
	{
		/* <#> is strict: every row's value is NULL, in no particular order */
		so->queryIsNull = true;
		RsrScoreIndex(scan->indexRelation, NULL, 1, 0, &so->sc);
	}
	else
	{
		ArrayType  *arr = DatumGetArrayTypePCopy(key->sk_argument);
		uint32		dims = IndexDims(scan->indexRelation);
		RsrQuery	pq;
		float	   *q;
		float	   *arrq;
		int			n;

		/* Checked as the operator checks it against the rows */
		q = RsrQueryFromArray(arr, dims > 0 ? (int) dims : -1, &n);
		arrq = palloc(sizeof(float4) * Max(n, 1));
		memcpy(arrq, q, sizeof(float4) * n);
		RsrQueryPrepare(q, n, q, &pq);
		so->scale = pq.scale;
		so->bound = pq.bound;
		so->query = q;
		so->queryDims = n;
		so->gpu = RsrGpuScanBegin(scan->indexRelation, q, n);
		if (so->gpu == NULL && IndexLayout(scan->indexRelation) == RSR_LAYOUT_TILE)
		{
			RsrKind		kind = RsrIndexKind(scan->indexRelation);
			size_t		size = rsr_tile_query_size(kind, n);

			/* the original values: the engine's exact scores are <#>'s */
			so->tile = true;
			so->tq = palloc(size);
			RsrCheckStatus(rsr_tile_prepare(kind, arrq, n, so->tq, size),
						   "rsr index scan");
			so->tileN = RSR_SCAN_FIRST_BATCH;
		}
		else if (so->gpu == NULL)
			RsrScoreIndex(scan->indexRelation, q, 1, n, &so->sc);
	}
	MemoryContextSwitchTo(oldCtx);
	so->lastValue = -get_float8_infinity();

	so->batchSize = RSR_SCAN_FIRST_BATCH;
	so->scored = true;
}

/*
 * The GPU worker failed in the middle of a scan: score on the CPU and skip
 * the rows already returned.  Lower bounds stay ascending: every row left
 * scored below the last one returned, so the last bound still holds.
 */
static void
GpuFallback(IndexScanDesc scan)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;
	MemoryContext oldCtx = MemoryContextSwitchTo(so->scanCtx);
	const uint32 *slots;
	size_t		nslots;
	size_t		i;

	RsrScoreIndex(scan->indexRelation, so->query, 1, so->queryDims, &so->sc);
	slots = RsrGpuScanReturned(so->gpu, &nslots);
	for (i = 0; i < nslots; i++)
		if (slots[i] < so->sc.nslots)
			so->sc.scores[slots[i]] = NAN;
	so->gpu = NULL;
	MemoryContextSwitchTo(oldCtx);
}

/* Return the next TID in ascending order of <#> lower bounds */
bool
rsrgettuple(IndexScanDesc scan, ScanDirection dir)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;
	float		score = 0;

	if (!ScanDirectionIsForward(dir))
		elog(ERROR, "rsr index scans only go forward");
	if (!so->scored)
		StartScan(scan);

	if (so->gpu != NULL)
	{
		RsrGpuNext next = RsrGpuScanNext(so->gpu, &scan->xs_heaptid, &score);

		if (next == RSR_GPU_NEXT_END)
			return false;
		if (next == RSR_GPU_NEXT_FALLBACK)
			GpuFallback(scan);
	}
	if (so->tile)
	{
		double		value;

		while (so->tilePos >= so->tileCount)
		{
			MemoryContext oldCtx;

			/* a pass that found fewer rows than asked found them all */
			if (so->tileDone)
				return false;
			oldCtx = MemoryContextSwitchTo(so->scanCtx);
			TileNextPass(scan);
			MemoryContextSwitchTo(oldCtx);
		}
		scan->xs_heaptid = so->tileTids[so->tilePos];
		if (!so->tileReturned || so->tileScores[so->tilePos] != so->tileLastScore)
			so->tileNtied = 0;
		if (so->tileNtied == so->tileTiedCap)
		{
			so->tileTiedCap = Max(16, 2 * so->tileTiedCap);
			so->tileTied = so->tileTied == NULL ?
				MemoryContextAlloc(so->scanCtx, so->tileTiedCap * sizeof(ItemPointerData)) :
				repalloc_huge(so->tileTied, so->tileTiedCap * sizeof(ItemPointerData));
		}
		so->tileTied[so->tileNtied++] = scan->xs_heaptid;
		so->tileReturned = true;
		so->tileLastScore = so->tileScores[so->tilePos];
		so->tilePos++;
		/* the exact value of <#>: no recheck of the order */
		value = 0.0 - so->tileLastScore;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbyvals[0] = Float8GetDatum(value);
		scan->xs_orderbynulls[0] = false;
		return true;
	}
	if (so->gpu == NULL)
	{
		size_t		i;

		if (so->batchPos >= so->batchCount)
		{
			MemoryContext oldCtx = MemoryContextSwitchTo(so->scanCtx);

			NextBatch(so);
			MemoryContextSwitchTo(oldCtx);
			if (so->batchCount == 0)
				return false;
		}
		i = so->batchPos++;
		scan->xs_heaptid = so->sc.tids[so->batchIdx[i]];
		score = so->batchScores[i];
	}

	scan->xs_recheck = false;
	scan->xs_recheckorderby = true;
	if (so->queryIsNull)
	{
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
	}
	else
	{
		so->lastValue = Max(so->lastValue,
							-(double) score * so->scale - so->bound);
		scan->xs_orderbyvals[0] = Float8GetDatum(so->lastValue);
		scan->xs_orderbynulls[0] = false;
	}
	return true;
}

/* End a scan and free its memory */
void
rsrendscan(IndexScanDesc scan)
{
	RsrScanOpaque so = (RsrScanOpaque) scan->opaque;

	MemoryContextDelete(so->scanCtx);
	pfree(so);
	scan->opaque = NULL;
}
