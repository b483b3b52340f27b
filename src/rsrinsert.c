/*-------------------------------------------------------------------------
 *
 * rsrinsert.c
 *	  Insertion of one row into an rsr index.
 *
 * A new row goes into the tail, the last block of rows.  While the tail
 * holds fewer than k rows its segments are rebuilt in place with the new
 * row (their entries were allocated with the largest segment size); a full
 * tail is left as it is and a new block is started.
 *
 * Locking: the metapage is locked exclusively for the whole insert, which
 * serializes inserts into one index; data pages are locked after it, one at
 * a time, except when a new page is linked: then the old last page, then
 * the new page (the highest block, which no scan can reach yet).  Scans and
 * VACUUM never lock the metapage while they hold a data page, and scans
 * lock their batch of pages in chain order, so there is no deadlock.
 *
 * WAL and crash safety: every page change is a GenericXLog record.  A block
 * of several column ranges needs several records; the head entry (range 0)
 * carries the row count that scans trust, and it is always written last,
 * together with the metapage.  After a crash between two records, the
 * other ranges may hold one row more than the head publishes; that row is
 * never scored and the next insert overwrites it.  A new block's entries
 * start unpublished (row count 0) and become visible in the final record.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrinsert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_index.h"

typedef struct RsrInsertState
{
	Relation	index;
	Buffer		metabuf;		/* pinned and exclusively locked */
	RsrShape	shape;
	uint8	   *rows;			/* k full packed rows */
	const uint8 *rowPtrs[RSR_INDEX_MAX_K];
	uint8	   *slice;			/* one decoded row of one column range */
	uint8	   *entry;			/* one entry being formed */
} RsrInsertState;

/*
 * Append an entry after the last one of the index, extending it by a page
 * when the last page is full.  The metapage (locked by the caller) is
 * updated in the same WAL record as the page chain.
 */
static ItemPointerData
AppendEntry(RsrInsertState *st, size_t size)
{
	GenericXLogState *xlog;
	RsrMetaPage meta;
	Buffer		buf = InvalidBuffer;
	Buffer		newbuf;
	Page		page;
	OffsetNumber off;
	ItemPointerData loc;

	meta = RsrPageGetMeta(BufferGetPage(st->metabuf));
	if (meta->lastBlkno != InvalidBlockNumber)
	{
		/* Lock the last data page (after the metapage, as everywhere) */
		buf = ReadBuffer(st->index, meta->lastBlkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageGetFreeSpace(BufferGetPage(buf)) >= MAXALIGN(size))
		{
			xlog = GenericXLogStart(st->index);
			page = GenericXLogRegisterBuffer(xlog, buf, 0);
			off = PageAddItem(page, (Item) st->entry, size,
							  InvalidOffsetNumber, false, false);
			if (off == InvalidOffsetNumber)
				elog(ERROR, "could not add entry to rsr index page");
			GenericXLogFinish(xlog);
			ItemPointerSet(&loc, BufferGetBlockNumber(buf), off);
			UnlockReleaseBuffer(buf);
			return loc;
		}
	}

	/*
	 * A new page, linked from the last one: new page, old last page and
	 * metapage change in one record, so the chain is never broken.
	 */
	newbuf = RsrNewBuffer(st->index);
	xlog = GenericXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, newbuf, GENERIC_XLOG_FULL_IMAGE);
	RsrInitPage(page, 0);
	off = PageAddItem(page, (Item) st->entry, size, InvalidOffsetNumber,
					  false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "could not add entry to empty rsr index page");
	if (BufferIsValid(buf))
	{
		Page		lastpage = GenericXLogRegisterBuffer(xlog, buf, 0);

		RsrPageGetOpaque(lastpage)->nextblkno = BufferGetBlockNumber(newbuf);
	}
	meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, st->metabuf, 0));
	if (meta->firstBlkno == InvalidBlockNumber)
		meta->firstBlkno = BufferGetBlockNumber(newbuf);
	meta->lastBlkno = BufferGetBlockNumber(newbuf);
	GenericXLogFinish(xlog);

	ItemPointerSet(&loc, BufferGetBlockNumber(newbuf), off);
	UnlockReleaseBuffer(newbuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	return loc;
}

/*
 * Start a new block holding only the new row: append its entries
 * unpublished, then publish the head and the new tail in the metapage.
 */
static void
NewBlock(RsrInsertState *st, const uint8 *row, ItemPointer tid, bool setShape)
{
	RsrShape   *shape = &st->shape;
	ItemPointerData locs[RSR_MAX_RANGES];
	GenericXLogState *xlog;
	RsrMetaPage meta;
	Buffer		headbuf;
	Page		page;
	RsrEntry	head;
	uint32		range;

	st->rowPtrs[0] = row;
	for (range = 0; range < shape->nranges; range++)
	{
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
		uint32		maxsize = RsrEntryMaxSize(shape, range);
		size_t		size;

		size = RsrBuildEntry(shape, range, st->rowPtrs, 1, tid, 0,
							 RSR_MAX_ITEM_SIZE - hdr, st->entry);
		memset(st->entry + size, 0, maxsize - size);
		locs[range] = AppendEntry(st, maxsize);
	}

	/* Publish: head page after the metapage, both in one record */
	headbuf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&locs[0]));
	LockBuffer(headbuf, BUFFER_LOCK_EXCLUSIVE);
	xlog = GenericXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, headbuf, 0);
	head = (RsrEntry) PageGetItem(page,
								  PageGetItemId(page, ItemPointerGetOffsetNumber(&locs[0])));
	head->nrows = 1;
	meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, st->metabuf, 0));
	if (setShape)
	{
		meta->layout = shape->layout;
		meta->dims = shape->dims;
		meta->k = shape->k;
		meta->nranges = shape->nranges;
		meta->rangeCols = shape->rangeCols;
	}
	memcpy(meta->tail, locs, shape->nranges * sizeof(ItemPointerData));
	meta->nblocks++;
	meta->ntuples++;
	meta->changeCount++;
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(headbuf);
}

/* The item of a tail entry at loc on its (locked) page, checked to exist */
static ItemId
TailItemId(RsrInsertState *st, Page page, ItemPointerData loc)
{
	if (ItemPointerGetOffsetNumber(&loc) > PageGetMaxOffsetNumber(page))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has a tail entry out of its page",
						RelationGetRelationName(st->index))));
	return PageGetItemId(page, ItemPointerGetOffsetNumber(&loc));
}

/*
 * Rebuild one column range of the tail with the new row as row `nrows`.
 * For the head this publishes the row (and updates the metapage in the
 * same record); it returns false, changing nothing, when the head turns
 * out to be full.
 */
static bool
RebuildRange(RsrInsertState *st, uint32 range, ItemPointerData loc,
			 uint32 nrows, const uint8 *row, ItemPointer tid)
{
	RsrShape   *shape = &st->shape;
	GenericXLogState *xlog;
	Buffer		buf;
	Page		page;
	ItemId		itemid;
	RsrEntry	entry;
	size_t		hdr = RsrEntryHeaderSize(range, shape->k);
	size_t		itemlen;
	size_t		segcap;
	size_t		sliceBytes;
	uint32		r;
	ItemPointerData tids[RSR_INDEX_MAX_K];
	uint32		deadmask = 0;
	size_t		size;

	buf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&loc));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	itemid = TailItemId(st, page, loc);
	entry = (RsrEntry) PageGetItem(page, itemid);
	itemlen = ItemIdGetLength(itemid);
	if (itemlen < hdr || entry->range != range)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has a corrupted tail entry",
						RelationGetRelationName(st->index))));
	segcap = itemlen - hdr;
	if (range == 0)
	{
		if (entry->nrows != nrows)
		{
			UnlockReleaseBuffer(buf);
			return false;
		}
		memcpy(tids, entry->tids, nrows * sizeof(ItemPointerData));
		deadmask = entry->deadmask;
	}

	/* Decode the rows already there, over this range's columns */
	sliceBytes = rsr_row_bytes(shape->kind, RsrRangeCols(shape, range));
	for (r = 0; r < nrows; r++)
	{
		RsrCheckStatus(rsr_segment_get_row(RsrEntrySegment(entry, shape->k),
										   segcap, r, st->slice, sliceBytes),
					   "rsr segment decode");
		RsrRangeToRow(shape, range, st->slice, st->rows + (Size) r * shape->rowBytes);
	}
	memcpy(st->rows + (Size) nrows * shape->rowBytes, row, shape->rowBytes);
	tids[nrows] = *tid;

	size = RsrBuildEntry(shape, range, st->rowPtrs, nrows + 1, tids,
						 nrows + 1, segcap, st->entry);
	((RsrEntry) st->entry)->deadmask = deadmask;
	memset(st->entry + size, 0, itemlen - size);

	xlog = GenericXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, buf, 0);
	memcpy(PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(&loc))),
		   st->entry, itemlen);
	if (range == 0)
	{
		RsrMetaPage meta;

		meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, st->metabuf, 0));
		meta->ntuples++;
		meta->changeCount++;
	}
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(buf);
	return true;
}

/* Row count of the tail's head entry */
static uint32
TailRows(RsrInsertState *st, ItemPointerData loc)
{
	Buffer		buf;
	Page		page;
	uint32		nrows;

	buf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&loc));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	nrows = ((RsrEntry) PageGetItem(page, TailItemId(st, page, loc)))->nrows;
	UnlockReleaseBuffer(buf);
	return nrows;
}

/*
 * Add the row to the tail when it has room: other column ranges first, the
 * head last, as it publishes the row.  False when the tail is full.
 */
static bool
AddToTail(RsrInsertState *st, const ItemPointerData *metatail,
		  const uint8 *row, ItemPointer tid)
{
	ItemPointerData tail[RSR_MAX_RANGES];
	uint32		nrows;
	int			range;

	memcpy(tail, metatail, st->shape.nranges * sizeof(ItemPointerData));
	nrows = TailRows(st, tail[0]);
	if (nrows >= st->shape.k)
		return false;
	for (range = st->shape.nranges - 1; range > 0; range--)
		RebuildRange(st, range, tail[range], nrows, row, tid);
	if (!RebuildRange(st, 0, tail[0], nrows, row, tid))
		elog(ERROR, "rsr index tail changed during insert");
	return true;
}

/* Insert a row into the index */
bool
rsrinsert(Relation index, Datum *values, bool *isnull, ItemPointer ht_ctid,
		  Relation heapRel, IndexUniqueCheck checkUnique, bool indexUnchanged,
		  IndexInfo *indexInfo)
{
	MemoryContext insertCtx;
	MemoryContext oldCtx;
	RsrInsertState st;
	RsrMetaPage meta;
	RsrKind		kind;
	const uint8 *row;
	uint32		dims;
	Pointer		detoasted;
	bool		setShape = false;
	uint32		i;

	if (isnull[0])
		return false;

	insertCtx = AllocSetContextCreate(CurrentMemoryContext,
									  "rsr insert context",
									  ALLOCSET_DEFAULT_SIZES);
	oldCtx = MemoryContextSwitchTo(insertCtx);

	kind = RsrIndexKind(index);
	row = RsrDatumRow(values[0], kind, &dims, &detoasted);

	memset(&st, 0, sizeof(st));
	st.index = index;

	/* The metapage lock is held to the end: it serializes inserts */
	st.metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(st.metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RsrCheckMeta(index, BufferGetPage(st.metabuf));
	if (meta->dims == 0)
	{
		/* First row of an index built empty: it decides the shape */
		RsrCheckRowDims(index, dims, dims);
		RsrChooseShape(index, kind, dims, 0, &st.shape);
		setShape = true;
	}
	else
	{
		RsrShapeFromMeta(meta, &st.shape);
		RsrCheckRowDims(index, dims, st.shape.dims);
	}

	st.rows = palloc0((Size) st.shape.k * st.shape.rowBytes);
	for (i = 0; i < st.shape.k; i++)
		st.rowPtrs[i] = st.rows + (Size) i * st.shape.rowBytes;
	st.slice = palloc(st.shape.rowBytes);
	st.entry = palloc(RSR_MAX_ITEM_SIZE);

	if (setShape || meta->nblocks == 0 ||
		!AddToTail(&st, meta->tail, row, ht_ctid))
		NewBlock(&st, row, ht_ctid, setShape);

	UnlockReleaseBuffer(st.metabuf);
	MemoryContextSwitchTo(oldCtx);
	MemoryContextDelete(insertCtx);
	return false;
}
