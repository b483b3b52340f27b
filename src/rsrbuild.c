/*-------------------------------------------------------------------------
 *
 * rsrbuild.c
 *	  Build of an rsr index: heap scan, blocks of k rows, one RSR segment
 *	  per block and column range, pages written in order and WAL-logged.
 *
 * Memory is bounded by one block of rows, one entry and one page: the rows
 * are streamed into segments and the segments into pages as the heap scan
 * goes.  The pages are written without WAL and logged at the end with
 * log_newpage_range(), as the index is not visible to anyone until the
 * build commits.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrbuild.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_index.h"

typedef struct RsrBuildState
{
	Relation	index;
	RsrKind		kind;
	RsrShape	shape;			/* valid once dims > 0 */
	double		heapRows;		/* planner's estimate of the heap's rows */
	uint8	   *rows;			/* k packed rows of the block being filled */
	const uint8 *rowPtrs[RSR_INDEX_MAX_K];
	ItemPointerData tids[RSR_INDEX_MAX_K];
	uint32		nrows;			/* rows in the block being filled */
	double		indtuples;		/* rows indexed */
	uint64		nblocks;		/* blocks of rows written */
	Page		page;			/* data page being filled */
	BlockNumber pageBlkno;		/* block number that page will get */
	BlockNumber firstBlkno;		/* first data page written, or invalid */
	BlockNumber lastBlkno;		/* last data page written, or invalid */
	uint8	   *entry;			/* one entry being formed */
	ItemPointerData tail[RSR_MAX_RANGES];	/* entries of the last block */
	MemoryContext tmpCtx;		/* reset after every row */
} RsrBuildState;

/* Fill a metapage for an index of this kind and shape (dims 0: unknown) */
static void
FillMetaPage(Page page, RsrKind kind, const RsrShape *shape)
{
	RsrMetaPage meta;

	RsrInitPage(page, RSR_META);
	meta = RsrPageGetMeta(page);
	memset(meta, 0, sizeof(RsrMetaPageData));
	meta->magic = RSR_MAGIC_NUMBER;
	meta->version = RSR_FORMAT_VERSION;
	meta->kind = kind;
	if (shape && shape->dims > 0)
	{
		meta->layout = shape->layout;
		meta->dims = shape->dims;
		meta->k = shape->k;
		meta->nranges = shape->nranges;
		meta->rangeCols = shape->rangeCols;
	}
	meta->firstBlkno = InvalidBlockNumber;
	meta->lastBlkno = InvalidBlockNumber;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(RsrMetaPageData)) - (char *) page;
}

/* Write the page being filled as the next block of the index */
static void
FlushPage(RsrBuildState *state, bool last)
{
	Buffer		buf;

	if (!last)
		RsrPageGetOpaque(state->page)->nextblkno = state->pageBlkno + 1;
	buf = ReadBufferExtended(state->index, MAIN_FORKNUM, P_NEW, RBM_NORMAL,
							 NULL);
	if (BufferGetBlockNumber(buf) != state->pageBlkno)
		elog(ERROR, "unexpected block %u while building rsr index, expected %u",
			 BufferGetBlockNumber(buf), state->pageBlkno);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	memcpy(BufferGetPage(buf), state->page, BLCKSZ);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);

	if (state->firstBlkno == InvalidBlockNumber)
		state->firstBlkno = state->pageBlkno;
	state->lastBlkno = state->pageBlkno;
	state->pageBlkno++;
	RsrInitPage(state->page, 0);
}

/* Add one entry to the page being filled, starting a new page if full */
static ItemPointerData
AddEntry(RsrBuildState *state, size_t size)
{
	OffsetNumber off;
	ItemPointerData loc;

	if (PageGetFreeSpace(state->page) < MAXALIGN(size))
		FlushPage(state, false);
	off = PageAddItem(state->page, (Item) state->entry, size,
					  InvalidOffsetNumber, false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "could not add entry of %zu bytes to rsr index \"%s\"",
			 size, RelationGetRelationName(state->index));
	ItemPointerSet(&loc, state->pageBlkno, off);
	return loc;
}

/*
 * Turn the block of rows being filled into one entry per column range.  A
 * full block gets entries of its segments' exact size; a partial one (the
 * last) gets the largest size, so inserts can rebuild it in place.
 */
static void
FlushBlock(RsrBuildState *state)
{
	RsrShape   *shape = &state->shape;
	uint32		range;

	for (range = 0; range < shape->nranges; range++)
	{
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
		size_t		size;

		size = RsrBuildEntry(shape, range, state->rowPtrs, state->nrows,
							 state->tids, state->nrows,
							 RSR_MAX_ITEM_SIZE - hdr, state->entry);
		if (state->nrows < shape->k)
		{
			uint32		maxsize = RsrEntryMaxSize(shape, range);

			memset(state->entry + size, 0, maxsize - size);
			size = maxsize;
		}
		state->tail[range] = AddEntry(state, size);
	}
	state->nblocks++;
	state->nrows = 0;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 (int64) state->indtuples);
}

/* Allocate the block buffers once the shape is known */
static void
StartShape(RsrBuildState *state, uint32 dims)
{
	uint32		i;

	RsrChooseShape(state->index, state->kind, dims, state->heapRows,
				   &state->shape);
	state->rows = palloc0((Size) state->shape.k * state->shape.rowBytes);
	for (i = 0; i < state->shape.k; i++)
		state->rowPtrs[i] = state->rows + (Size) i * state->shape.rowBytes;
}

/* Heap scan callback: add one row to the block being filled */
static void
BuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *arg)
{
	RsrBuildState *state = (RsrBuildState *) arg;
	MemoryContext oldCtx;
	const uint8 *row;
	uint32		dims;
	Pointer		detoasted;

	/* NULLs are not indexed: the operator never orders them first */
	if (isnull[0])
		return;

	oldCtx = MemoryContextSwitchTo(state->tmpCtx);
	row = RsrDatumRow(values[0], state->kind, &dims, &detoasted);
	if (state->shape.dims == 0)
	{
		RsrCheckRowDims(index, dims, dims);
		MemoryContextSwitchTo(oldCtx);
		StartShape(state, dims);
		MemoryContextSwitchTo(state->tmpCtx);
	}
	RsrCheckRowDims(index, dims, state->shape.dims);

	memcpy(state->rows + (Size) state->nrows * state->shape.rowBytes, row,
		   state->shape.rowBytes);
	state->tids[state->nrows] = *tid;
	state->nrows++;
	state->indtuples++;
	MemoryContextSwitchTo(oldCtx);
	MemoryContextReset(state->tmpCtx);

	if (state->nrows == state->shape.k)
		FlushBlock(state);
	CHECK_FOR_INTERRUPTS();
}

/* Build a new rsr index over the existing rows of its heap */
IndexBuildResult *
rsrbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	RsrBuildState state;
	Buffer		metabuf;
	Page		metapage;
	RsrMetaPage meta;
	double		reltuples;
	int			typmodDims;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	memset(&state, 0, sizeof(state));
	state.index = index;
	state.kind = RsrIndexKind(index);
	state.heapRows = heap->rd_rel->reltuples > 0 ? heap->rd_rel->reltuples : 0;
	state.page = palloc(BLCKSZ);
	state.entry = palloc(RSR_MAX_ITEM_SIZE);
	state.pageBlkno = RSR_METAPAGE_BLKNO + 1;
	state.firstBlkno = InvalidBlockNumber;
	state.lastBlkno = InvalidBlockNumber;
	state.tmpCtx = AllocSetContextCreate(CurrentMemoryContext,
										 "rsr build row context",
										 ALLOCSET_DEFAULT_SIZES);
	RsrInitPage(state.page, 0);

	typmodDims = RsrIndexTypmodDims(index);
	if (typmodDims > 0)
		StartShape(&state, typmodDims);

	/* Reserve block 0 for the metapage; it is filled at the end */
	metabuf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	Assert(BufferGetBlockNumber(metabuf) == RSR_METAPAGE_BLKNO);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) state.heapRows);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   BuildCallback, &state, NULL);

	if (state.nrows > 0)
		FlushBlock(&state);
	if (!PageIsEmpty(state.page))
		FlushPage(&state, true);

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	metapage = BufferGetPage(metabuf);
	FillMetaPage(metapage, state.kind, &state.shape);
	meta = RsrPageGetMeta(metapage);
	meta->ntuples = (uint64) state.indtuples;
	meta->nblocks = state.nblocks;
	meta->firstBlkno = state.firstBlkno;
	meta->lastBlkno = state.lastBlkno;
	if (state.nblocks > 0)
		memcpy(meta->open[0], state.tail, sizeof(state.tail));
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	/* The index is not visible yet: log all its pages at once */
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);

	MemoryContextDelete(state.tmpCtx);

	result = (IndexBuildResult *) palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = state.indtuples;
	return result;
}

/* Build an empty rsr index in the initialization fork (unlogged tables) */
void
rsrbuildempty(Relation index)
{
	Page		metapage;

	metapage = (Page) palloc(BLCKSZ);
	FillMetaPage(metapage, RsrIndexKind(index), NULL);

	/*
	 * Write the page and log it.  It might seem that an immediate sync would
	 * be sufficient to guarantee that the file exists on disk, but recovery
	 * itself might remove it while replaying, for example, an
	 * XLOG_DBASE_CREATE* or XLOG_TBLSPC_CREATE record; so the page is WAL
	 * logged as well.
	 */
	PageSetChecksumInplace(metapage, RSR_METAPAGE_BLKNO);
	smgrwrite(RelationGetSmgr(index), INIT_FORKNUM, RSR_METAPAGE_BLKNO,
			  (char *) metapage, true);
	log_newpage(RsrRelationSmgrLocator(index), INIT_FORKNUM,
				RSR_METAPAGE_BLKNO, metapage, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}
