/*-------------------------------------------------------------------------
 *
 * rsrinsert.c
 *	  Insertion of one row into an rsr index.
 *
 * A new row goes into one of the RSR_OPEN_BLOCKS open blocks of rows the
 * metapage points at; an inserter picks its slot by process id, so that a
 * few sessions inserting at once work on different blocks.  While the
 * slot's block holds fewer than k rows it takes the new row; a full block
 * is left as it is and the slot gets another block: first one VACUUM
 * compacted, or a block with dead rows (their pages are in the free space
 * map), else a new one, placed in a free page of the chain, over the
 * entries of a block VACUUM retired (TakeRetired), or appended at the
 * chain's end.  A block takes a new row in the slot of a dead one before
 * it appends one (FillHole for tiles, RebuildOpen for the others).
 *
 * Tiles (the default layout) take the row in place: a tile keeps row r's
 * bytes at fixed offsets, so each column range gets a scatter of the row's
 * bytes and a new checksum (rsr_segment_put_row), with no decoding or
 * rebuilding.  For a block on at most RSR_SPAN_PAGES pages that is one
 * generic WAL record of the block's entries (rsrwal.c: copies of the items
 * only, not GenericXLog's whole pages), the pages locked in chain order,
 * under a share lock of the metapage (FastInsert, PutToOpen); no
 * heavyweight lock is taken and the metapage does not change.  Other
 * layouts decode the block's rows, rebuild each segment with no buffer
 * lock held and write it back (RebuildOpen).
 *
 * Counting.  An insert in place changes no counter of the metapage, so
 * that inserters into different blocks share it: the head's row count is
 * the count.  The metapage's ntuples and changeCount count the rows of an
 * open block only up to its slot's openCounted (minus one; 0 = all of
 * them), and readers that want the totals (rsr_index_info, rsr_index_check,
 * the GPU worker's version) add the rows each open head holds past it
 * (RsrMetaCopy, under the metapage's share lock, during which the sum only
 * grows).  Whatever changes a slot under the metapage's exclusive lock
 * counts its block's rows then (CountSlot): a new or adopted block, a
 * rebuilt row; an index built, or made before openCounted, counts its open
 * blocks in full until the slot's holder starts counting (StartCounting).
 *
 * Locking.  The inserters that need more than the tile fast path queue on
 * a heavyweight page lock on the slot's tag (RSR_SLOT_LOCK); appending the
 * entries of a new block takes RSR_NEWBLOCK_LOCK.  Scans never take these,
 * and no buffer lock is held while they are awaited.  Every change of a
 * slot's pointers or counts happens under the metapage's exclusive lock;
 * every change of an open tile block's rows under at least its share lock,
 * with the block's pages locked exclusively in chain order, so two
 * inserters into one block queue on its first page, and the fast path
 * needs no slot lock; it leaves blocks on more pages, full blocks and
 * slots not counted yet to the slot's holder.  The
 * rebuilding path copies the open block's entries under short share locks
 * and writes each back under a short exclusive lock: the other column
 * ranges first, the head last, together with the metapage's counters.
 * Buffer lock order, everywhere in the AM: the metapage before any data
 * page, data pages in chain order, and never a wait for the metapage while
 * a data page is held.  Scans hold the metapage only to read the shape;
 * VACUUM changes pages together with the metapage only when it retires or
 * compacts blocks, and it never touches a block an open slot points at
 * except to set its dead-row bits, which inserts keep (the fast path
 * writes around them; the rebuilding path rereads them under its final
 * lock of the head).
 *
 * Why scans stay exact.  A row this insert adds becomes visible to a scan
 * only when the head entry publishes it (its row count); the inserting
 * transaction commits after that, so no snapshot taken before can see the
 * row and a scan may or may not score it.  The rows already in the block
 * stay in place: a scan sees each page before or after a record, never a
 * row twice or not at all; it reads a block of at most RSR_SPAN_PAGES
 * pages in one batch (rsrpages.c).
 *
 * WAL and crash safety: every page change is a record of the generic
 * resource manager (GenericXLog, or rsrwal.c for the common insert).  A block
 * on more pages than one record can hold needs several records; the head
 * entry (range 0) carries the row count that scans trust, and it is always
 * written last.  After a crash between two
 * records, the other ranges may hold one row more than the head publishes;
 * that row is never scored (the tile kernels take a block's rows from its
 * first segment) and the next insert overwrites it.  A new block's entries
 * start unpublished (row count 0) and become visible in the final record,
 * which also points the slot at it.  New blocks are packed entry after
 * entry as the build packs them, so a block of at most a page's bytes lies
 * on at most two pages.
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
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "port/pg_bitutils.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_index.h"

typedef struct RsrInsertState
{
	Relation	index;
	RsrShape	shape;
	int			slot;			/* open block slot, locked */
	BlockNumber retired;		/* a page with a retired block AdoptBlock()
								 * found, or InvalidBlockNumber */
	uint32		counted;		/* the slot's openCounted when read */
	ItemPointerData open[RSR_MAX_RANGES];	/* the slot's entries, or invalid */
	uint8	   *rows;			/* k full packed rows */
	const uint8 *rowPtrs[RSR_INDEX_MAX_K];
	uint8	   *slice;			/* one decoded row of one column range */
	uint8	   *copy;			/* one entry copied from its page */
	uint8	   *entry;			/* one entry being formed */
} RsrInsertState;

/* Lock an open block slot: ours by process id, or any free one first */
static int
AcquireSlot(Relation index)
{
	int			first = MyProcPid % RSR_OPEN_BLOCKS;
	int			i;

	for (i = 0; i < RSR_OPEN_BLOCKS; i++)
	{
		int			slot = (first + i) % RSR_OPEN_BLOCKS;

		if (ConditionalLockPage(index, RSR_SLOT_LOCK(slot), ExclusiveLock))
			return slot;
	}
	LockPage(index, RSR_SLOT_LOCK(first), ExclusiveLock);
	return first;
}

/*
 * Read the shape and the slot's entries under a share lock of the
 * metapage; false when the index has no row yet (shape unknown).
 */
static bool
ReadMeta(RsrInsertState *st)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	bool		known;

	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(st->index, BufferGetPage(metabuf));
	known = meta->dims > 0;
	if (known)
	{
		RsrShapeFromMeta(meta, &st->shape);
		memcpy(st->open, meta->open[st->slot],
			   st->shape.nranges * sizeof(ItemPointerData));
		st->counted = meta->openCounted[st->slot];
	}
	UnlockReleaseBuffer(metabuf);
	return known;
}

/*
 * Count rows on the exclusively locked metapage (in a record) when a slot
 * changes under it: the slot's block held oldRows rows (the rows inserts
 * added in place since the last count are counted now), `added` rows are
 * new, and the slot's block, the same or another, now holds newRows, all
 * counted.  changeCount grows by at least one.
 */
static void
CountSlot(Page metapage, int slot, uint32 oldRows, uint32 added,
		  uint32 newRows)
{
	RsrMetaPage meta = RsrPageGetMeta(metapage);
	uint32		pending = 0;

	if (meta->openCounted[slot] != 0 && oldRows + 1 > meta->openCounted[slot])
		pending = oldRows + 1 - meta->openCounted[slot];
	meta->ntuples += pending + added;
	meta->changeCount += pending + Max(added, 1);
	meta->openCounted[slot] = newRows + 1;
	RsrMetaCover(metapage);
}

/*
 * Before the slot's holder adds rows in place: an index whose slot has an
 * open block that ntuples counts in full (openCounted 0: built, or made
 * before openCounted existed) starts counting it, under the metapage's
 * exclusive lock.
 */
static void
StartCounting(RsrInsertState *st)
{
	Buffer		metabuf;
	RsrMetaPage meta;

	if (st->counted != 0 || !ItemPointerIsValid(&st->open[0]))
		return;
	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RsrPageGetMeta(BufferGetPage(metabuf));
	if (meta->openCounted[st->slot] == 0)
	{
		uint32		rows = RsrOpenHeadRows(st->index, meta, st->slot);
		GenericXLogState *xlog = RsrXLogStart(st->index);
		Page		page = GenericXLogRegisterBuffer(xlog, metabuf, 0);

		RsrPageGetMeta(page)->openCounted[st->slot] = rows + 1;
		RsrMetaCover(page);
		GenericXLogFinish(xlog);
	}
	st->counted = 1;
	UnlockReleaseBuffer(metabuf);
}

/* The item of an open block's entry at loc on its (locked) page, checked */
static ItemId
OpenItemId(RsrInsertState *st, Page page, ItemPointerData loc, uint32 range)
{
	ItemId		itemid;
	RsrEntry	entry;

	if (ItemPointerGetOffsetNumber(&loc) > PageGetMaxOffsetNumber(page))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has an open block entry out of its page",
						RelationGetRelationName(st->index))));
	itemid = PageGetItemId(page, ItemPointerGetOffsetNumber(&loc));
	entry = (RsrEntry) PageGetItem(page, itemid);
	if (!ItemIdIsNormal(itemid) ||
		ItemIdGetLength(itemid) < RsrEntryHeaderSize(range, st->shape.k) ||
		entry->range != range)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has a corrupted open block entry",
						RelationGetRelationName(st->index))));
	return itemid;
}

/* Copy the entry at loc into st->copy under a share lock; its length */
static size_t
CopyEntry(RsrInsertState *st, ItemPointerData loc, uint32 range)
{
	Buffer		buf;
	Page		page;
	ItemId		itemid;
	size_t		len;

	buf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&loc));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	itemid = OpenItemId(st, page, loc, range);
	len = ItemIdGetLength(itemid);
	memcpy(st->copy, PageGetItem(page, itemid), len);
	UnlockReleaseBuffer(buf);
	return len;
}

/* The work buffers of the rebuilding paths, allocated on first use */
static void
EnsureBuffers(RsrInsertState *st)
{
	uint32		i;

	if (st->rows != NULL)
		return;
	st->rows = palloc0((Size) st->shape.k * st->shape.rowBytes);
	for (i = 0; i < st->shape.k; i++)
		st->rowPtrs[i] = st->rows + (Size) i * st->shape.rowBytes;
	st->slice = palloc(st->shape.rowBytes);
	st->copy = palloc(BLCKSZ);
	st->entry = palloc(RSR_MAX_ITEM_SIZE);
}

/*
 * Put the entry formed in st->entry (size bytes) in place of the item at
 * off: in its bytes, zero-padded, when it fits, else grown on its page when
 * the page has room (a block VACUUM compacted).  False when it cannot.
 */
static bool
WriteEntry(Page page, OffsetNumber off, const uint8 *entry, size_t size)
{
	ItemId		itemid = PageGetItemId(page, off);
	size_t		len = ItemIdGetLength(itemid);

	if (size <= len)
	{
		memcpy(PageGetItem(page, itemid), entry, size);
		memset((char *) PageGetItem(page, itemid) + size, 0, len - size);
		return true;
	}
	if (PageGetExactFreeSpace(page) < MAXALIGN(size) - MAXALIGN(len))
		return false;
	return PageIndexTupleOverwrite(page, off, (Item) entry, size);
}

/*
 * Perm and bucket layouts: put the row in the slot's open block by
 * rebuilding it.  Each column range is copied, decoded with no buffer lock
 * held, rebuilt with the row and written back, the other ranges first and
 * the head last, together with the metapage's counters: the head
 * publishes the row.  With fill, the row takes the slot of the block's
 * lowest dead row and the head clears its dead bit (rsrvacuum.c says why
 * that keeps scans exact; until the head is written, readers skip the
 * slot by its dead bit, and a crash leaves it dead); else it is appended
 * as row nrows.  The other rows keep their places.  False, publishing
 * nothing, when the slot has no block, the block has no dead row (fill) or
 * is full (append), or an entry grew past the room of its page.
 */
static bool
RebuildOpen(RsrInsertState *st, const uint8 *row, ItemPointer tid, bool fill)
{
	RsrShape   *shape = &st->shape;
	ItemPointerData tids[RSR_INDEX_MAX_K];
	RsrEntry	head;
	uint32		nrows;
	uint32		count;			/* rows of the rebuilt block */
	uint32		slot;			/* the row's place in it */
	int			range;

	if (!ItemPointerIsValid(&st->open[0]))
		return false;
	EnsureBuffers(st);
	CopyEntry(st, st->open[0], 0);
	head = (RsrEntry) st->copy;
	nrows = head->nrows;
	if (nrows == 0 || nrows > shape->k)
		return false;
	if (fill)
	{
		uint32		dead = head->deadmask & RsrRowsMask(nrows);

		if (dead == 0)
			return false;
		slot = pg_rightmost_one_pos32(dead);
		count = nrows;
	}
	else
	{
		if (nrows == shape->k)
			return false;
		slot = nrows;
		count = nrows + 1;
	}
	memcpy(tids, head->tids, nrows * sizeof(ItemPointerData));
	tids[slot] = *tid;

	for (range = shape->nranges - 1; range >= 0; range--)
	{
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
		size_t		sliceBytes = rsr_row_bytes(shape->kind, RsrRangeCols(shape, range));
		size_t		len;
		size_t		size;
		uint32		r;
		GenericXLogState *xlog;
		Buffer		metabuf = InvalidBuffer;
		Buffer		buf;
		Page		page;
		RsrEntry	cur;
		OffsetNumber off = ItemPointerGetOffsetNumber(&st->open[range]);

		/* Decode and rebuild with no buffer lock held */
		len = CopyEntry(st, st->open[range], range);
		for (r = 0; r < nrows; r++)
		{
			if (r == slot)
				continue;
			RsrCheckStatus(rsr_segment_get_row(st->copy + hdr, len - hdr, r,
											   st->slice, sliceBytes),
						   "rsr segment decode");
			RsrRangeToRow(shape, range, st->slice,
						  st->rows + (Size) r * shape->rowBytes);
		}
		memcpy(st->rows + (Size) slot * shape->rowBytes, row, shape->rowBytes);
		size = RsrBuildEntry(shape, range, st->rowPtrs, count, tids,
							 count, RSR_MAX_ITEM_SIZE - hdr, st->entry);

		/* Write back: the head with the metapage, metapage first */
		if (range == 0)
		{
			metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
			LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		}
		buf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&st->open[range]));
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		xlog = RsrXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		cur = (RsrEntry) PageGetItem(page, OpenItemId(st, page, st->open[range], range));
		if (range == 0)
		{
			/* only the slot's holder adds rows; VACUUM only marks them */
			if (cur->nrows != nrows ||
				(fill && !(cur->deadmask & ((uint32) 1 << slot))))
				elog(ERROR, "rsr index open block changed during insert");
			/* VACUUM may have marked rows dead meanwhile: keep its marks */
			((RsrEntry) st->entry)->deadmask = cur->deadmask & ~((uint32) 1 << slot);
		}
		if (!WriteEntry(page, off, st->entry, size))
		{
			GenericXLogAbort(xlog);
			UnlockReleaseBuffer(buf);
			if (BufferIsValid(metabuf))
				UnlockReleaseBuffer(metabuf);
			return false;
		}
		if (range == 0)
			CountSlot(GenericXLogRegisterBuffer(xlog, metabuf, 0), st->slot,
					  nrows, count - nrows, count);
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(buf);
		if (BufferIsValid(metabuf))
			UnlockReleaseBuffer(metabuf);
	}
	return true;
}

/*
 * The pages of the slot's open block, in chain order (blknos holds up to
 * RSR_MAX_RANGES); their count, 0 when the slot has none
 */
static int
OpenPages(RsrInsertState *st, BlockNumber *blknos)
{
	int			npages = 0;
	uint32		range;

	if (!ItemPointerIsValid(&st->open[0]))
		return 0;
	for (range = 0; range < st->shape.nranges; range++)
	{
		BlockNumber blkno = ItemPointerGetBlockNumber(&st->open[range]);

		if (npages > 0 && blknos[npages - 1] == blkno)
			continue;
		if (npages > 0 && blkno < blknos[npages - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("rsr index \"%s\" has an open block out of chain order",
							RelationGetRelationName(st->index))));
		blknos[npages++] = blkno;
	}
	return npages;
}

/*
 * Write the row as row r of each column range of the open block that lies
 * on `page` (block blkno), in a GenericXLog copy of it: appended (r is the
 * row count) or, with replace, in place of the dead row r
 */
static RsrStatus
PutRowOnPage(RsrInsertState *st, Page page, BlockNumber blkno, uint32 r,
			 const uint8 *row, bool replace)
{
	uint32		range;
	RsrStatus	status = RSR_OK;

	for (range = 0; range < st->shape.nranges && status == RSR_OK; range++)
	{
		size_t		hdr = RsrEntryHeaderSize(range, st->shape.k);
		ItemId		itemid;

		if (ItemPointerGetBlockNumber(&st->open[range]) != blkno)
			continue;
		itemid = OpenItemId(st, page, st->open[range], range);
		status = (replace ? rsr_segment_set_row : rsr_segment_put_row)
			((uint8 *) PageGetItem(page, itemid) + hdr,
			 ItemIdGetLength(itemid) - hdr, r, row);
	}
	return status;
}

/*
 * A block on more than RSR_SPAN_PAGES pages: write the row as row r
 * (PutRowOnPage) on the block's pages after the head's (blknos[1..]), one
 * record each, the last page first; the caller writes the head's page
 * last, which publishes the row.  Each page is locked exclusively on its
 * own.
 */
static void
PutRowOnLaterPages(RsrInsertState *st, const BlockNumber *blknos, int npages,
				   uint32 r, const uint8 *row, bool replace)
{
	RsrStatus	status = RSR_OK;
	int			i;

	for (i = npages - 1; i >= 1 && status == RSR_OK; i--)
	{
		Buffer		buf = ReadBuffer(st->index, blknos[i]);
		GenericXLogState *xlog;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		xlog = RsrXLogStart(st->index);
		status = PutRowOnPage(st, GenericXLogRegisterBuffer(xlog, buf, 0),
							  blknos[i], r, row, replace);
		if (status == RSR_OK)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		UnlockReleaseBuffer(buf);
	}
	RsrCheckStatus(status, replace ? "rsr segment set row" : "rsr segment append");
}

/*
 * Tiles: add the row to the slot's open block in place.  A tile keeps row
 * r's bytes at fixed offsets, so each column range takes the row with a
 * scatter of its bytes and a new checksum (rsr_segment_put_row), a few
 * bytes of WAL; nothing is decoded or rebuilt, and every buffer lock is
 * held only for that.  The metapage is share-locked first (it keeps the
 * slot's pointers; the counters do not change, see Counting above), then
 * the block's pages in chain order.  A block on at most RSR_SPAN_PAGES
 * pages takes the row in one record of its entries (RsrItemLog): a crash
 * leaves it before or after.
 * A block on more pages takes one record per page, the later pages first
 * and the head's page last: the head publishes the row
 * (its row count) only once every range holds it, and until then the
 * other ranges may hold one row more than the head, which readers and the
 * kernels ignore (the next insert overwrites it after a crash).  False,
 * changing nothing, when the slot has no block or the block is full.
 */
static bool
PutToOpen(RsrInsertState *st, const uint8 *row, ItemPointer tid,
		  Buffer metabuf)
{
	RsrShape   *shape = &st->shape;
	BlockNumber blknos[RSR_MAX_RANGES];
	Buffer		bufs[RSR_SPAN_PAGES];
	int			npages;
	int			nlocked;
	int			i;
	uint32		range;
	RsrEntry	head;
	uint32		nrows = 0;
	RsrStatus	status = RSR_OK;
	RsrItemLog	log;

	npages = OpenPages(st, blknos);
	if (npages == 0)
	{
		if (BufferIsValid(metabuf))
			UnlockReleaseBuffer(metabuf);
		return false;
	}

	/* A block on many pages: the pages after the head's, one by one, last first */
	if (npages > RSR_SPAN_PAGES && BufferIsValid(metabuf))
	{
		UnlockReleaseBuffer(metabuf);
		return false;			/* FastInsert(): leave it to the slot's holder */
	}
	if (npages > RSR_SPAN_PAGES)
	{
		EnsureBuffers(st);
		CopyEntry(st, st->open[0], 0);
		nrows = ((RsrEntry) st->copy)->nrows;
		if (nrows == 0 || nrows >= shape->k)
			return false;
		PutRowOnLaterPages(st, blknos, npages, nrows, row, false);
	}
	nlocked = Min(npages, RSR_SPAN_PAGES);
	if (npages > RSR_SPAN_PAGES)
		nlocked = 1;

	/*
	 * Metapage first (shared: it keeps the slot's pointers), then the
	 * (remaining) pages in chain order
	 */
	if (!BufferIsValid(metabuf))
	{
		metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	}
	for (i = 0; i < nlocked; i++)
	{
		bufs[i] = ReadBuffer(st->index, blknos[i]);
		LockBuffer(bufs[i], BUFFER_LOCK_EXCLUSIVE);
	}

	head = (RsrEntry) PageGetItem(BufferGetPage(bufs[0]),
								  OpenItemId(st, BufferGetPage(bufs[0]),
											 st->open[0], 0));
	if (npages > RSR_SPAN_PAGES && head->nrows != nrows)
		elog(ERROR, "rsr index open block changed during insert");
	nrows = head->nrows;
	if (nrows > 0 && nrows < shape->k)
	{
		/* the row into copies of the locked pages' entries, then one record */
		RsrItemLogBegin(&log, st->index);
		for (range = 0, i = 0; range < shape->nranges && status == RSR_OK; range++)
		{
			size_t		hdr = RsrEntryHeaderSize(range, shape->k);
			Page		page;
			ItemId		itemid;
			char	   *copy;

			while (i < nlocked &&
				   blknos[i] != ItemPointerGetBlockNumber(&st->open[range]))
				i++;
			if (i == nlocked)
				break;			/* the later pages', written above */
			page = BufferGetPage(bufs[i]);
			itemid = OpenItemId(st, page, st->open[range], range);
			copy = RsrItemLogItem(&log, i, bufs[i], itemid);
			if (range == 0)
				head = (RsrEntry) copy;
			status = rsr_segment_put_row((uint8 *) copy + hdr,
										 ItemIdGetLength(itemid) - hdr,
										 nrows, row);
		}
		if (status == RSR_OK)
		{
			/* the head's row count is the count (RsrMetaCopy) */
			head->tids[nrows] = *tid;
			head->nrows = nrows + 1;
			RsrItemLogFinish(&log);
		}
	}
	for (i = nlocked - 1; i >= 0; i--)
		UnlockReleaseBuffer(bufs[i]);
	UnlockReleaseBuffer(metabuf);
	RsrCheckStatus(status, "rsr segment append");
	return nrows > 0 && nrows < shape->k;
}

/*
 * Tiles: put the row in the slot of a dead row of the slot's open block
 * (the lowest one; rsrvacuum.c says why that keeps scans exact).  A block
 * on more than RSR_SPAN_PAGES pages takes the row on the pages after the
 * head's first, a record each; then one record, under the metapage's
 * exclusive lock taken first, writes it on the head's page (or on all the
 * block's pages), sets its TID and clears its dead bit.  Readers skip the
 * slot until then, by the dead bit they read, and a crash leaves it dead.
 * changeCount grows; ntuples does not (it counted the dead row).  False,
 * changing nothing, when the block has no dead row.
 */
static bool
FillHole(RsrInsertState *st, const uint8 *row, ItemPointer tid)
{
	BlockNumber blknos[RSR_MAX_RANGES];
	Buffer		bufs[RSR_SPAN_PAGES];
	Page		pages[RSR_SPAN_PAGES];
	GenericXLogState *xlog;
	Buffer		metabuf;
	Buffer		buf;
	Page		metapage;
	RsrEntry	head;
	uint32		dead = 0;
	uint32		r;
	int			npages = OpenPages(st, blknos);
	int			nlocked;
	int			i;
	RsrStatus	status = RSR_OK;

	if (npages == 0 || st->shape.layout != RSR_LAYOUT_TILE)
		return false;

	/* A dead row (only the slot's holder writes over dead rows) */
	buf = ReadBuffer(st->index, blknos[0]);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	head = (RsrEntry) PageGetItem(BufferGetPage(buf),
								  OpenItemId(st, BufferGetPage(buf), st->open[0], 0));
	if (head->nrows <= st->shape.k)
		dead = head->deadmask & RsrRowsMask(head->nrows);
	UnlockReleaseBuffer(buf);
	if (dead == 0)
		return false;
	r = pg_rightmost_one_pos32(dead);

	nlocked = npages;
	if (npages > RSR_SPAN_PAGES)
	{
		PutRowOnLaterPages(st, blknos, npages, r, row, true);
		nlocked = 1;
	}

	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	for (i = 0; i < nlocked; i++)
	{
		bufs[i] = ReadBuffer(st->index, blknos[i]);
		LockBuffer(bufs[i], BUFFER_LOCK_EXCLUSIVE);
	}
	xlog = RsrXLogStart(st->index);
	for (i = 0; i < nlocked; i++)
		pages[i] = GenericXLogRegisterBuffer(xlog, bufs[i], 0);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	head = (RsrEntry) PageGetItem(pages[0], OpenItemId(st, pages[0], st->open[0], 0));
	if (r >= head->nrows || !(head->deadmask & ((uint32) 1 << r)))
		elog(ERROR, "rsr index open block changed during insert");
	for (i = 0; i < nlocked && status == RSR_OK; i++)
		status = PutRowOnPage(st, pages[i], blknos[i], r, row, true);
	if (status == RSR_OK)
	{
		head->tids[r] = *tid;
		head->deadmask &= ~((uint32) 1 << r);
		RsrPageGetMeta(metapage)->changeCount++;
		RsrMetaCover(metapage);
		GenericXLogFinish(xlog);
	}
	else
		GenericXLogAbort(xlog);
	for (i = nlocked - 1; i >= 0; i--)
		UnlockReleaseBuffer(bufs[i]);
	UnlockReleaseBuffer(metabuf);
	RsrCheckStatus(status, "rsr segment set row");
	return true;
}

/*
 * Record a page with room in the free space map, and make it findable
 * before the next VACUUM brings the map's upper levels up to date.
 */
static void
OfferPage(Relation index, BlockNumber blkno)
{
	RecordFreeIndexPage(index, blkno);
	FreeSpaceMapVacuumRange(index, blkno, blkno + 1);
}

/*
 * Where the entries of the block whose head is at (blkno, off) on the
 * locked page are: the items that follow it, then the first items of the
 * next pages of the chain, share-locked one at a time after it (chain
 * order).  False when they do not follow in order or lie on more than
 * maxpages pages (RSR_SPAN_PAGES: the only blocks VACUUM compacts and
 * inserts adopt).
 */
static bool
FindBlock(RsrInsertState *st, Page page, BlockNumber blkno, OffsetNumber off,
		  int maxpages, ItemPointerData *locs)
{
	Buffer		buf = InvalidBuffer;
	Page		cur = page;
	BlockNumber curblk = blkno;
	int			npages = 1;
	uint32		r = 0;
	bool		ok = true;

	while (r < st->shape.nranges)
	{
		ItemId		itemid;

		if (off > PageGetMaxOffsetNumber(cur))
		{
			BlockNumber next = RsrPageGetOpaque(cur)->nextblkno;

			if (BufferIsValid(buf))
				UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
			if (!BlockNumberIsValid(next) || next <= curblk ||
				npages == maxpages ||
				next >= RelationGetNumberOfBlocks(st->index))
			{
				ok = false;
				break;
			}
			buf = ReadBuffer(st->index, next);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			cur = BufferGetPage(buf);
			if (PageIsNew(cur) || RsrPageIsMeta(cur) ||
				RsrPageGetOpaque(cur)->page_id != RSR_PAGE_ID)
			{
				ok = false;
				break;
			}
			curblk = next;
			off = FirstOffsetNumber;
			npages++;
			continue;
		}
		itemid = PageGetItemId(cur, off);
		if (ItemIdIsUsed(itemid))
		{
			if (!ItemIdIsNormal(itemid) ||
				ItemIdGetLength(itemid) < RsrEntryHeaderSize(r, st->shape.k) ||
				((RsrEntry) PageGetItem(cur, itemid))->range != r)
			{
				ok = false;
				break;
			}
			ItemPointerSet(&locs[r], curblk, off);
			r++;
		}
		off++;
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	return ok;
}

/* Bytes a new block's entries take on a page, line pointers included */
static size_t
BlockSpace(const RsrShape *shape)
{
	size_t		total = 0;
	uint32		r;

	for (r = 0; r < shape->nranges; r++)
		total += MAXALIGN(RsrEntryMaxSize(shape, r)) + sizeof(ItemIdData);
	return total;
}

/*
 * Whether a new block of `space` bytes can go at the end of this data page
 * of the chain: the page has room, and its last entry ends a block (the
 * ranges of a block that goes on to the next page must stay adjacent).
 */
static bool
CanPlaceBlock(const RsrShape *shape, Page page, size_t space)
{
	OffsetNumber off;

	if (PageIsNew(page) || RsrPageIsMeta(page) ||
		RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID ||
		PageGetExactFreeSpace(page) < space ||
		PageGetMaxOffsetNumber(page) + shape->nranges > MaxOffsetNumber)
		return false;
	for (off = PageGetMaxOffsetNumber(page); off >= FirstOffsetNumber; off--)
	{
		ItemId		itemid = PageGetItemId(page, off);

		if (!ItemIdIsUsed(itemid))
			continue;
		return ItemIdIsNormal(itemid) &&
			ItemIdGetLength(itemid) >= offsetof(RsrEntryData, tids) &&
			((RsrEntry) PageGetItem(page, itemid))->range == shape->nranges - 1;
	}
	return true;
}

/* What AdoptFromPage() found on a page of the free space map */
#define FREE_ADOPTED	0x01	/* a block the slot now holds */
#define FREE_KEEP		0x02	/* more for later inserts: the page stays in
								 * the map */
#define FREE_RETIRED	0x04	/* a retired block for NewBlock() */

/* Free space map pages AdoptBlock() looks at before a new block is made */
#define RSR_ADOPT_TRIES	8

/*
 * Point the slot at a block on page blkno (taken from the free space map)
 * that takes rows (RsrHeadTakesRows) and that no other slot holds; FREE_*
 * flags of what the page holds.
 */
static int
AdoptFromPage(RsrInsertState *st, BlockNumber blkno)
{
	GenericXLogState *xlog;
	Buffer		metabuf;
	Buffer		buf;
	Page		page;
	RsrMetaPage meta;
	Page		metapage;
	OffsetNumber off;
	OffsetNumber maxoff;
	uint32		oldRows;
	int			found = 0;

	/* Metapage first, the slot's old head (its rows), then the page */
	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	oldRows = RsrOpenHeadRows(st->index, RsrPageGetMeta(BufferGetPage(metabuf)),
							  st->slot);
	buf = ReadBuffer(st->index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (PageIsNew(page) || RsrPageIsMeta(page) ||
		RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID)
	{
		UnlockReleaseBuffer(buf);
		UnlockReleaseBuffer(metabuf);
		return 0;
	}
	meta = RsrPageGetMeta(BufferGetPage(metabuf));
	maxoff = PageGetMaxOffsetNumber(page);
	for (off = FirstOffsetNumber; off <= maxoff && !(found & FREE_KEEP); off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		RsrEntry	entry = (RsrEntry) PageGetItem(page, itemid);
		ItemPointerData loc;
		ItemPointerData locs[RSR_MAX_RANGES];
		bool		holes;
		uint32		r;

		if (!ItemIdIsNormal(itemid) ||
			ItemIdGetLength(itemid) < RsrEntryHeaderSize(0, st->shape.k) ||
			entry->range != 0)
			continue;
		if (RsrHeadIsRetired(&st->shape, entry))
		{
			found |= FREE_RETIRED;
			continue;
		}
		if (!RsrHeadTakesRows(&st->shape, entry))
			continue;

		/* blocks on more pages only for their dead rows */
		holes = (entry->deadmask & RsrRowsMask(entry->nrows)) != 0;
		if (!FindBlock(st, page, blkno, off, holes ? INT_MAX : RSR_SPAN_PAGES, locs))
			continue;
		ItemPointerSet(&loc, blkno, off);
		if (RsrHeadIsOpen(meta, &loc))
			continue;
		if (found & FREE_ADOPTED)
		{
			found |= FREE_KEEP; /* another one for the next inserter */
			break;
		}
		xlog = RsrXLogStart(st->index);
		metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
		meta = RsrPageGetMeta(metapage);
		for (r = 0; r < st->shape.nranges; r++)
		{
			meta->open[st->slot][r] = locs[r];
			st->open[r] = locs[r];
		}
		CountSlot(metapage, st->slot, oldRows, 0, entry->nrows);
		st->counted = entry->nrows + 1;
		GenericXLogFinish(xlog);
		found |= FREE_ADOPTED;
	}
	if (!(found & FREE_ADOPTED) &&
		CanPlaceBlock(&st->shape, page, BlockSpace(&st->shape)))
		found |= FREE_KEEP;
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	return found;
}

/*
 * Take pages from the free space map, up to RSR_ADOPT_TRIES, until the
 * slot adopts a block on one (AdoptFromPage): one VACUUM compacted (fewer
 * than k rows) or a block with dead rows.  True when the slot got a
 * block.  The first page with a retired block is left in st->retired for
 * NewBlock(), unless the slot adopted a block; pages with more for later
 * inserts go back in the map, the others (nothing left to take) are
 * dropped from it.
 */
static bool
AdoptBlock(RsrInsertState *st)
{
	BlockNumber keep[RSR_ADOPT_TRIES];
	BlockNumber nblocks = RelationGetNumberOfBlocks(st->index);
	int			nkeep = 0;
	int			tries;
	bool		adopted = false;

	st->retired = InvalidBlockNumber;
	for (tries = 0; tries < RSR_ADOPT_TRIES && !adopted; tries++)
	{
		BlockNumber blkno = GetFreeIndexPage(st->index);
		int			found;

		if (!BlockNumberIsValid(blkno))
			break;
		if (blkno == RSR_METAPAGE_BLKNO || blkno >= nblocks)
			continue;
		found = AdoptFromPage(st, blkno);
		adopted = (found & FREE_ADOPTED) != 0;
		if ((found & FREE_RETIRED) && !BlockNumberIsValid(st->retired))
			st->retired = blkno;
		else if (found & (FREE_KEEP | FREE_RETIRED))
			keep[nkeep++] = blkno;
	}
	if (adopted && BlockNumberIsValid(st->retired))
	{
		keep[nkeep++] = st->retired;
		st->retired = InvalidBlockNumber;
	}
	while (nkeep > 0)
		OfferPage(st->index, keep[--nkeep]);
	return adopted;
}

/* Where NewBlock() put a new block's entries */
typedef enum Placement
{
	PLACED_NOWHERE,				/* not yet: they go at the end of the chain */
	PLACED_NEW,					/* new items on a free page, all written */
	PLACED_RETIRED,				/* a retired block's items, written but for
								 * those on the head's page */
} Placement;

/*
 * Take over the retired block whose head is on page blkno for a new block
 * (entries[r], built[r] bytes each), under RSR_NEWBLOCK_LOCK, which every
 * taker holds, so the block stays retired until the caller publishes it
 * (rsrvacuum.c says why writing over it keeps scans exact).  The entries
 * on pages after the head's are written here, a record per page in chain
 * order; the head still says retired, so no reader uses them, and a crash
 * leaves the block retired.  The head's page is written when the caller
 * publishes the block.  False when the page holds no retired block whose
 * entries can take the new ones.
 */
static bool
TakeRetired(RsrInsertState *st, BlockNumber blkno, uint8 **entries,
			const size_t *built, ItemPointerData *locs)
{
	RsrShape   *shape = &st->shape;
	Buffer		buf;
	Page		page;
	OffsetNumber off;
	bool		ok;
	uint32		r;

	buf = ReadBuffer(st->index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	off = RsrPageFindHead(shape, page, RsrHeadIsRetired);
	ok = off != InvalidOffsetNumber &&
		FindBlock(st, page, blkno, off, INT_MAX, locs);
	for (r = 0; ok && r < shape->nranges &&
		 ItemPointerGetBlockNumber(&locs[r]) == blkno; r++)
		ok = ItemIdGetLength(PageGetItemId(page, ItemPointerGetOffsetNumber(&locs[r]))) >=
			built[r];
	UnlockReleaseBuffer(buf);
	if (!ok)
		return false;

	for (r = 0; r < shape->nranges;)
	{
		BlockNumber b = ItemPointerGetBlockNumber(&locs[r]);
		GenericXLogState *xlog;

		if (b == blkno)
		{
			r++;
			continue;
		}
		buf = ReadBuffer(st->index, b);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		xlog = RsrXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		for (; r < shape->nranges && ItemPointerGetBlockNumber(&locs[r]) == b; r++)
		{
			OpenItemId(st, page, locs[r], r);
			if (!WriteEntry(page, ItemPointerGetOffsetNumber(&locs[r]),
							entries[r], built[r]))
			{
				/* an entry too small for the new one (not in tiles) */
				GenericXLogAbort(xlog);
				UnlockReleaseBuffer(buf);
				return false;
			}
		}
		GenericXLogFinish(xlog);
		UnlockReleaseBuffer(buf);
	}
	return true;
}

/*
 * Place the entries of a new block (entries[r], padded to sizes[r], built[r]
 * bytes used) on a page of the chain from the free space map: at the end
 * of one page with room, all in one record, or over the entries of a
 * retired block (TakeRetired).  A block may go anywhere in the chain, as
 * scans take blocks in any order.
 */
static Placement
PlaceInFreePage(RsrInsertState *st, uint8 **entries, const size_t *sizes,
				const size_t *built, ItemPointerData *locs)
{
	size_t		space = BlockSpace(&st->shape);
	int			tries;

	for (tries = 0; tries < 4; tries++)
	{
		BlockNumber blkno = GetFreeIndexPage(st->index);
		GenericXLogState *xlog;
		Buffer		buf;
		Page		page;
		uint32		r;
		bool		room;

		if (!BlockNumberIsValid(blkno))
			break;
		if (blkno == RSR_METAPAGE_BLKNO ||
			blkno >= RelationGetNumberOfBlocks(st->index))
			continue;
		buf = ReadBuffer(st->index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (!CanPlaceBlock(&st->shape, BufferGetPage(buf), space))
		{
			Page		fsmpage = BufferGetPage(buf);
			bool		retired = RsrPageFindHead(&st->shape, fsmpage, RsrHeadIsRetired) !=
				InvalidOffsetNumber;
			bool		adoptable = !retired &&
				RsrPageFindHead(&st->shape, fsmpage, RsrHeadTakesRows) != InvalidOffsetNumber;

			UnlockReleaseBuffer(buf);
			if (retired && TakeRetired(st, blkno, entries, built, locs))
				return PLACED_RETIRED;
			if (adoptable)
			{
				/* for the next AdoptBlock(), which missed it */
				OfferPage(st->index, blkno);
				break;
			}
			continue;
		}
		xlog = RsrXLogStart(st->index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);
		for (r = 0; r < st->shape.nranges; r++)
		{
			OffsetNumber off;

			off = PageAddItem(page, (Item) entries[r], sizes[r],
							  OffsetNumberNext(PageGetMaxOffsetNumber(page)),
							  false, false);
			if (off == InvalidOffsetNumber)
				elog(ERROR, "could not add entry to rsr index page");
			ItemPointerSet(&locs[r], blkno, off);
		}
		GenericXLogFinish(xlog);
		room = CanPlaceBlock(&st->shape, BufferGetPage(buf), space);
		UnlockReleaseBuffer(buf);
		if (room)
			OfferPage(st->index, blkno);
		return PLACED_NEW;
	}
	return PLACED_NOWHERE;
}

/*
 * Append an entry after the last one of the index, extending it by a page
 * when the last page has less than `space` bytes free.  The metapage is
 * locked exclusively, then the last page, and both change in one record
 * when a page is linked, so the chain is never broken.  The entry goes
 * after the last item of the page, even when an earlier one is unused, so
 * the ranges of a block stay in order.
 */
static ItemPointerData
AppendEntry(RsrInsertState *st, const uint8 *entry, size_t size,
			size_t space)
{
	GenericXLogState *xlog;
	RsrMetaPage meta;
	Buffer		metabuf;
	Buffer		buf = InvalidBuffer;
	Buffer		newbuf;
	Page		page;
	OffsetNumber off;
	ItemPointerData loc;

	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	meta = RsrPageGetMeta(BufferGetPage(metabuf));
	if (meta->lastBlkno != InvalidBlockNumber)
	{
		buf = ReadBuffer(st->index, meta->lastBlkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (PageGetExactFreeSpace(page) >= space &&
			PageGetMaxOffsetNumber(page) < MaxOffsetNumber)
		{
			xlog = RsrXLogStart(st->index);
			page = GenericXLogRegisterBuffer(xlog, buf, 0);
			off = PageAddItem(page, (Item) entry, size,
							  OffsetNumberNext(PageGetMaxOffsetNumber(page)),
							  false, false);
			if (off == InvalidOffsetNumber)
				elog(ERROR, "could not add entry to rsr index page");
			GenericXLogFinish(xlog);
			ItemPointerSet(&loc, BufferGetBlockNumber(buf), off);
			UnlockReleaseBuffer(buf);
			UnlockReleaseBuffer(metabuf);
			return loc;
		}
	}

	newbuf = RsrNewBuffer(st->index);
	xlog = RsrXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, newbuf, GENERIC_XLOG_FULL_IMAGE);
	RsrInitPage(page, 0);
	off = PageAddItem(page, (Item) entry, size, InvalidOffsetNumber,
					  false, false);
	if (off == InvalidOffsetNumber)
		elog(ERROR, "could not add entry to empty rsr index page");
	if (BufferIsValid(buf))
	{
		Page		lastpage = GenericXLogRegisterBuffer(xlog, buf, 0);

		RsrPageGetOpaque(lastpage)->nextblkno = BufferGetBlockNumber(newbuf);
	}
	meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));
	if (meta->firstBlkno == InvalidBlockNumber)
		meta->firstBlkno = BufferGetBlockNumber(newbuf);
	meta->lastBlkno = BufferGetBlockNumber(newbuf);
	GenericXLogFinish(xlog);

	ItemPointerSet(&loc, BufferGetBlockNumber(newbuf), off);
	UnlockReleaseBuffer(newbuf);
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	return loc;
}

/*
 * Start a new block holding only the new row and point the slot at it:
 * its entries are placed unpublished (under RSR_NEWBLOCK_LOCK unless the
 * caller holds it), then the head and the slot are published together.
 * A retired block taken over is published before the lock is released
 * (its head says retired until then).
 */
static void
NewBlock(RsrInsertState *st, const uint8 *row, ItemPointer tid,
		 bool setShape, bool haveNewBlockLock)
{
	RsrShape   *shape = &st->shape;
	ItemPointerData locs[RSR_MAX_RANGES];
	uint8	   *entries[RSR_MAX_RANGES];
	size_t		sizes[RSR_MAX_RANGES];
	size_t		built[RSR_MAX_RANGES];
	GenericXLogState *xlog;
	RsrMetaPage meta;
	Buffer		metabuf;
	Buffer		headbuf;
	Page		page;
	Page		metapage;
	RsrEntry	head;
	Placement	placed;
	uint32		range;
	uint32		oldRows;
	bool		more;

	/* Form the entries with no lock held */
	EnsureBuffers(st);
	st->rowPtrs[0] = row;
	for (range = 0; range < shape->nranges; range++)
	{
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
		size_t		size;

		entries[range] = palloc(RSR_MAX_ITEM_SIZE);
		sizes[range] = RsrEntryMaxSize(shape, range);
		size = RsrBuildEntry(shape, range, st->rowPtrs, 1, tid, 0,
							 RSR_MAX_ITEM_SIZE - hdr, entries[range]);
		memset(entries[range] + size, 0, sizes[range] - size);
		built[range] = size;
	}

	if (!haveNewBlockLock)
		LockPage(st->index, RSR_NEWBLOCK_LOCK, ExclusiveLock);
	placed = PLACED_NOWHERE;
	if (BlockNumberIsValid(st->retired) &&
		TakeRetired(st, st->retired, entries, built, locs))
		placed = PLACED_RETIRED;
	st->retired = InvalidBlockNumber;
	if (placed == PLACED_NOWHERE)
		placed = PlaceInFreePage(st, entries, sizes, built, locs);
	if (placed == PLACED_NOWHERE)
		for (range = 0; range < shape->nranges; range++)
		{
			/*
			 * Entries are packed as the build packs them: a block of at most
			 * a page's bytes then lies on at most 2 pages, which VACUUM
			 * compacts and inserts fill in one record
			 */
			size_t		space = MAXALIGN(sizes[range]) + sizeof(ItemIdData);

			locs[range] = AppendEntry(st, entries[range], sizes[range], space);
		}
	if (!haveNewBlockLock && placed != PLACED_RETIRED)
		UnlockPage(st->index, RSR_NEWBLOCK_LOCK, ExclusiveLock);

	/*
	 * Publish: the metapage, then the head's page, in one record; the rows
	 * the slot's old block took in place are counted (its head is read
	 * before the new head's page is locked).  A retired block's entries on
	 * the head's page are written in this record.
	 */
	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	oldRows = RsrOpenHeadRows(st->index, RsrPageGetMeta(BufferGetPage(metabuf)),
							  st->slot);
	headbuf = ReadBuffer(st->index, ItemPointerGetBlockNumber(&locs[0]));
	LockBuffer(headbuf, BUFFER_LOCK_EXCLUSIVE);
	xlog = RsrXLogStart(st->index);
	page = GenericXLogRegisterBuffer(xlog, headbuf, 0);
	for (range = 0; placed == PLACED_RETIRED && range < shape->nranges &&
		 ItemPointerGetBlockNumber(&locs[range]) ==
		 ItemPointerGetBlockNumber(&locs[0]); range++)
	{
		OpenItemId(st, page, locs[range], range);
		if (!WriteEntry(page, ItemPointerGetOffsetNumber(&locs[range]),
						entries[range], built[range]))
			elog(ERROR, "could not write rsr index entry over a retired one");
	}
	head = (RsrEntry) PageGetItem(page, OpenItemId(st, page, locs[0], 0));
	head->nrows = 1;
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = RsrPageGetMeta(metapage);
	if (placed == PLACED_RETIRED && meta->nretired > 0)
		meta->nretired--;
	if (setShape)
	{
		meta->layout = shape->layout;
		meta->dims = shape->dims;
		meta->k = shape->k;
		meta->nranges = shape->nranges;
		meta->rangeCols = shape->rangeCols;
	}
	memset(meta->open[st->slot], 0, sizeof(meta->open[st->slot]));
	memcpy(meta->open[st->slot], locs, shape->nranges * sizeof(ItemPointerData));
	meta->nblocks++;
	CountSlot(metapage, st->slot, oldRows, 1, 1);
	GenericXLogFinish(xlog);
	/* a page of retired blocks goes back into the map for the next one */
	more = placed == PLACED_RETIRED &&
		RsrPageFindHead(shape, BufferGetPage(headbuf), RsrHeadIsRetired) !=
		InvalidOffsetNumber;
	UnlockReleaseBuffer(headbuf);
	UnlockReleaseBuffer(metabuf);
	if (more)
		OfferPage(st->index, ItemPointerGetBlockNumber(&locs[0]));
	if (!haveNewBlockLock && placed == PLACED_RETIRED)
		UnlockPage(st->index, RSR_NEWBLOCK_LOCK, ExclusiveLock);
}

/*
 * Add the row to the slot's open block, in the slot of a dead row first:
 * in place for tiles, else rebuilt
 */
static bool
AddRow(RsrInsertState *st, const uint8 *row, ItemPointer tid)
{
	if (st->shape.layout == RSR_LAYOUT_TILE)
	{
		StartCounting(st);
		return FillHole(st, row, tid) ||
			PutToOpen(st, row, tid, InvalidBuffer);
	}
	return RebuildOpen(st, row, tid, true) ||
		RebuildOpen(st, row, tid, false);
}

/*
 * The common case, without the slot's heavyweight lock: in a tile index,
 * the open block of this backend's slot takes the row under the metapage's
 * share lock, taken first (PutToOpen), which keeps the slot's pointers.
 * Blocks on more than RSR_SPAN_PAGES pages (written page by page) and
 * slots whose block is not counted yet (StartCounting) are left to the
 * slot's holder.  False, changing nothing, when the index is not a tile
 * index with rows yet, or the block is full, absent, on more pages or not
 * counted yet.
 */
static bool
FastInsert(RsrInsertState *st, const uint8 *row, uint32 dims, ItemPointer tid)
{
	Buffer		metabuf;
	RsrMetaPage meta;

	metabuf = ReadBuffer(st->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(st->index, BufferGetPage(metabuf));
	if (meta->dims == 0 || meta->layout != RSR_LAYOUT_TILE)
	{
		UnlockReleaseBuffer(metabuf);
		return false;
	}
	RsrShapeFromMeta(meta, &st->shape);
	RsrCheckRowDims(st->index, dims, st->shape.dims);
	memcpy(st->open, meta->open[st->slot],
		   st->shape.nranges * sizeof(ItemPointerData));
	if (meta->openCounted[st->slot] == 0 && ItemPointerIsValid(&st->open[0]))
	{
		/* not counted in place yet: StartCounting() */
		UnlockReleaseBuffer(metabuf);
		return false;
	}
	return PutToOpen(st, row, tid, metabuf);
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
	RsrKind		kind;
	const uint8 *row;
	uint32		dims;
	Pointer		detoasted;
	bool		setShape = false;
	bool		haveNewBlockLock = false;

	if (isnull[0])
		return false;

	kind = RsrIndexKind(index);
	row = RsrDatumRow(values[0], kind, &dims, &detoasted);
	memset(&st, 0, sizeof(st));
	st.index = index;
	st.slot = MyProcPid % RSR_OPEN_BLOCKS;
	st.retired = InvalidBlockNumber;
	if (FastInsert(&st, row, dims, ht_ctid))
	{
		if (detoasted != NULL)
			pfree(detoasted);
		return false;
	}

	insertCtx = AllocSetContextCreate(CurrentMemoryContext,
									  "rsr insert context",
									  ALLOCSET_DEFAULT_SIZES);
	oldCtx = MemoryContextSwitchTo(insertCtx);
	st.slot = AcquireSlot(index);

	if (!ReadMeta(&st))
	{
		/*
		 * First row of an index built empty: it decides the shape, under the
		 * new-block lock so that only one first row does.
		 */
		LockPage(index, RSR_NEWBLOCK_LOCK, ExclusiveLock);
		haveNewBlockLock = true;
		if (!ReadMeta(&st))
		{
			RsrCheckRowDims(index, dims, dims);
			RsrChooseShape(index, kind, dims, 0, &st.shape);
			setShape = true;
		}
	}
	if (!setShape)
		RsrCheckRowDims(index, dims, st.shape.dims);

	if (setShape ||
		(!AddRow(&st, row, ht_ctid) &&
		 !(AdoptBlock(&st) &&
		   AddRow(&st, row, ht_ctid))))
		NewBlock(&st, row, ht_ctid, setShape, haveNewBlockLock);

	if (haveNewBlockLock)
		UnlockPage(index, RSR_NEWBLOCK_LOCK, ExclusiveLock);
	UnlockPage(index, RSR_SLOT_LOCK(st.slot), ExclusiveLock);
	MemoryContextSwitchTo(oldCtx);
	MemoryContextDelete(insertCtx);
	if (detoasted != NULL)
		pfree(detoasted);
	return false;
}
