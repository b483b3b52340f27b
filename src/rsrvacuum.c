/*-------------------------------------------------------------------------
 *
 * rsrvacuum.c
 *	  VACUUM of an rsr index: dead rows are marked in their block's head
 *	  entry, and blocks of one column range are reclaimed: removed when all
 *	  their rows are dead, compacted in place when many are.
 *
 * The rule.  A block of rows whose entries (one per column range) all lie
 * on one page is reclaimed: removed when none of its rows is alive (its
 * items are marked unused), rewritten in place without its dead rows when
 * at least a quarter of its k rows are dead (same items, fewer rows,
 * smaller entries).  A page left with no entry, or with a block of fewer
 * than k rows, goes into the free space map: inserts adopt such a block as
 * one of their open blocks and fill it again (growing its entries on the
 * page), and place new blocks on free pages before extending the index.  A
 * block an open slot points at is only marked, never removed or compacted.
 * A block whose entries continue on the next page is only marked: scans
 * read pages in batches, and a batch may end between its pages, so a
 * rewrite in between would pair an old head with new column ranges.
 *
 * Why a concurrent scan stays exact.  Pages are never unlinked from the
 * chain, even empty ones: a scan that has read a page's next link must
 * find that page still a member of the same chain, or it could end early.
 * Removed entries leave unused items behind (PageIndexTupleDeleteNoCompact),
 * so every other entry keeps its offset and the metapage's pointers stay
 * valid; readers skip unused items (rsrpages.c).  No live row ever moves to
 * another page: a compaction rewrites the items of one block on one page
 * in one record, under that page's exclusive lock, so a scan sees the block
 * before or after, each live row exactly once; the rows it drops are dead to every
 * snapshot (VACUUM's callback says so).  Rows an insert adds to a block or
 * a page meanwhile belong to transactions that commit after the scan's
 * snapshot was taken, so a scan may miss them.
 *
 * Locking.  Marking locks one data page at a time, exclusively, and never
 * the metapage.  Reclaiming a page locks the metapage exclusively and then
 * that page (the order of rsrinsert.c), so the open slots it reads cannot
 * change until the page and the metapage's counters are written in one
 * record.  No heavyweight lock is taken.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrvacuum.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_index.h"

/* A block is compacted once k / RSR_COMPACT_DIVISOR of its rows are dead */
#ifndef RSR_COMPACT_DIVISOR
#define RSR_COMPACT_DIVISOR 16
#endif

/* The first data page and the shape, from the metapage (locked only while read) */
static BlockNumber
FirstDataBlock(Relation index, RsrShape *shape)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	BlockNumber blkno;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	blkno = meta->dims > 0 ? meta->firstBlkno : InvalidBlockNumber;
	RsrShapeFromMeta(meta, shape);
	UnlockReleaseBuffer(metabuf);
	return blkno;
}

/*
 * Bump the metapage's change counter.  Only the metapage is locked, after
 * every data page lock was released.
 */
static void
BumpChangeCount(Relation index)
{
	Buffer		metabuf;
	GenericXLogState *xlog;
	RsrMetaPage meta;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	xlog = GenericXLogStart(index);
	meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));
	meta->changeCount++;
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(metabuf);
}

/* Dead rows among the first nrows of a head */
static uint32
DeadRows(RsrEntry entry, uint32 nrows)
{
	uint32		r;
	uint32		n = 0;

	for (r = 0; r < nrows; r++)
		if (entry->deadmask & ((uint32) 1 << r))
			n++;
	return n;
}

/* Whether the rule above reclaims a block with these rows (if on one page) */
static bool
WorthReclaiming(const RsrShape *shape, RsrEntry entry, uint32 nrows)
{
	uint32		dead;

	if (nrows == 0)
		return false;
	dead = DeadRows(entry, nrows);
	return dead == nrows || dead >= Max(1, shape->k / RSR_COMPACT_DIVISOR);
}

/* What a walk over the head entries calls for each; true if it changed it */
typedef bool (*HeadVisitor) (RsrEntry entry, uint32 nrows, void *arg);

typedef struct VacuumState VacuumState;
static bool DeleteRows(RsrEntry entry, uint32 nrows, void *arg);

/* Buffers for compacting blocks, and what a bulk delete counts */
struct VacuumState
{
	IndexVacuumInfo *info;
	RsrShape	shape;
	IndexBulkDeleteResult *stats;
	IndexBulkDeleteCallback callback;
	void	   *callbackState;
	OffsetNumber cands[MaxOffsetNumber];	/* heads worth reclaiming on the
											 * page, whole on it */
	int			ncands;
	uint8	   *rows;			/* k full packed rows */
	const uint8 *rowPtrs[RSR_INDEX_MAX_K];
	uint8	   *slice;			/* one decoded row of one column range */
	uint8	   *entries[RSR_MAX_RANGES];	/* the entries being formed */
};

/*
 * Rewrite the block whose head is at off (its ranges at the next items)
 * without its dead rows, in place; the number of rows dropped, 0 when the
 * smaller block would not be smaller after all.
 */
static uint32
CompactBlock(VacuumState *vs, Page page, BlockNumber blkno, OffsetNumber off)
{
	RsrShape   *shape = &vs->shape;
	RsrEntry	head = (RsrEntry) PageGetItem(page, PageGetItemId(page, off));
	ItemPointerData tids[RSR_INDEX_MAX_K];
	size_t		sizes[RSR_MAX_RANGES];
	uint32		nrows = head->nrows;
	uint32		nlive = 0;
	uint32		range;
	uint32		r;

	for (r = 0; r < nrows; r++)
		if (!(head->deadmask & ((uint32) 1 << r)))
			tids[nlive++] = head->tids[r];

	for (range = 0; range < shape->nranges; range++)
	{
		ItemId		itemid = PageGetItemId(page, off + range);
		const uint8 *entry = (const uint8 *) PageGetItem(page, itemid);
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
		size_t		len = ItemIdGetLength(itemid);
		size_t		sliceBytes = rsr_row_bytes(shape->kind,
											   RsrRangeCols(shape, range));
		uint32		live = 0;

		for (r = 0; r < nrows; r++)
		{
			if (head->deadmask & ((uint32) 1 << r))
				continue;
			if (rsr_segment_get_row(entry + hdr, len - hdr, r, vs->slice,
									sliceBytes) != RSR_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INDEX_CORRUPTED),
						 errmsg("rsr index \"%s\" is inconsistent: row cannot be decoded",
								RelationGetRelationName(vs->info->index)),
						 errdetail("Found at block %u, item %u.", blkno,
								   off + range)));
			RsrRangeToRow(shape, range, vs->slice,
						  vs->rows + (Size) live * shape->rowBytes);
			live++;
		}
		sizes[range] = RsrBuildEntry(shape, range, vs->rowPtrs, nlive, tids,
									 nlive, RSR_MAX_ITEM_SIZE - hdr,
									 vs->entries[range]);
		if (sizes[range] > len)
			return 0;
	}
	for (range = 0; range < shape->nranges; range++)
		if (!PageIndexTupleOverwrite(page, off + range,
									 (Item) vs->entries[range], sizes[range]))
			elog(ERROR, "could not compact rsr index entry");
	return nrows - nlive;
}

/*
 * Whether the head at off is still the block the walk saw worth
 * reclaiming, whole on the page
 */
static bool
StillCandidate(VacuumState *vs, Page page, OffsetNumber off)
{
	ItemId		itemid;
	RsrEntry	head;
	uint32		r;

	if (off + vs->shape.nranges - 1 > PageGetMaxOffsetNumber(page))
		return false;
	for (r = 0; r < vs->shape.nranges; r++)
	{
		itemid = PageGetItemId(page, off + r);
		if (!ItemIdIsNormal(itemid) ||
			ItemIdGetLength(itemid) < RsrEntryHeaderSize(r, vs->shape.k) ||
			((RsrEntry) PageGetItem(page, itemid))->range != r)
			return false;
	}
	head = (RsrEntry) PageGetItem(page, PageGetItemId(page, off));
	return head->nrows <= vs->shape.k &&
		WorthReclaiming(&vs->shape, head, head->nrows);
}

/*
 * Reclaim the candidate blocks of one page by the rule above, in one record
 * with the metapage's counters, then offer the page to inserts if it has
 * room.  No data page is locked on entry: the metapage comes first.
 */
static void
ReclaimPage(VacuumState *vs, BlockNumber blkno)
{
	Relation	index = vs->info->index;
	RsrShape   *shape = &vs->shape;
	GenericXLogState *xlog;
	Buffer		metabuf;
	Buffer		buf;
	RsrMetaPage meta;
	Page		page;
	OffsetNumber off;
	int			i;
	bool		changed = false;
	bool		room = false;
	bool		empty;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
							 vs->info->strategy);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	xlog = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(xlog, buf, 0);
	meta = RsrPageGetMeta(GenericXLogRegisterBuffer(xlog, metabuf, 0));

	/* Last block first: removing the last item shortens the item array */
	for (i = vs->ncands - 1; i >= 0; i--)
	{
		RsrEntry	head;
		uint32		nrows;
		ItemPointerData loc;
		int			s;
		int			r;

		off = vs->cands[i];
		if (!StillCandidate(vs, page, off))
			continue;
		ItemPointerSet(&loc, blkno, off);
		for (s = 0; s < RSR_OPEN_BLOCKS; s++)
			if (ItemPointerEquals(&meta->open[s][0], &loc))
				break;
		if (s < RSR_OPEN_BLOCKS)
			continue;			/* inserts own it */
		head = (RsrEntry) PageGetItem(page, PageGetItemId(page, off));
		nrows = head->nrows;
		if (DeadRows(head, nrows) == nrows)
		{
			for (r = shape->nranges - 1; r >= 0; r--)
				PageIndexTupleDeleteNoCompact(page, off + r);
			meta->ntuples -= nrows;
			meta->nblocks--;
			changed = true;
		}
		else
		{
			uint32		dropped = CompactBlock(vs, page, blkno, off);

			meta->ntuples -= dropped;
			changed |= dropped > 0;
		}
	}

	if (changed)
	{
		/* rows moved or went: tile searches in flight must search again */
		meta->changeCount++;
		meta->reclaimCount++;
		GenericXLogFinish(xlog);
	}
	else
		GenericXLogAbort(xlog);

	/* Room for inserts: an empty page, or a block to fill again */
	page = BufferGetPage(buf);
	empty = PageIsEmpty(page);
	room = empty;
	for (off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page) && !room; off++)
	{
		ItemId		itemid = PageGetItemId(page, off);
		RsrEntry	entry = (RsrEntry) PageGetItem(page, itemid);

		room = ItemIdIsNormal(itemid) &&
			ItemIdGetLength(itemid) >= RsrEntryHeaderSize(0, shape->k) &&
			entry->range == 0 && entry->nrows > 0 && entry->nrows < shape->k;
	}
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);

	if (room)
		RecordFreeIndexPage(index, blkno);
	if (empty)
		vs->stats->pages_free++;
}

/*
 * Call `visit` for the head entry (range 0) of every block of rows, in
 * chain order, each data page share-locked on its own.
 */
static void
WalkHeads(VacuumState *vs, HeadVisitor visit, void *arg)
{
	Relation	index = vs->info->index;
	BlockNumber blkno = FirstDataBlock(index, &vs->shape);
	RsrPageReader reader;
	RsrEntryItem e;

	RsrPagesBegin(&reader, index, &vs->shape, blkno, vs->info->strategy,
				  BUFFER_LOCK_SHARE);
	for (;;)
	{
		RsrVacuumDelayPoint();
		CHECK_FOR_INTERRUPTS();
		if (RsrPagesReadBatch(&reader, 1) == 0)
			break;
		while (RsrPagesNextEntry(&reader, &e))
			if (e.range == 0)
				visit(e.entry, e.nrows, arg);
		RsrPagesReleaseBatch(&reader);
	}
	RsrPagesEnd(&reader);
}

/*
 * The walk of a bulk delete, in chain order: each data page is locked
 * exclusively on its own (never the metapage), the dead rows of its heads
 * are marked in one record, and the blocks the rule reclaims that lie
 * whole on it are listed; once the page is released, they are reclaimed.
 * Inserts go on meanwhile: an insert that rebuilds an open block keeps the
 * dead-row mask it reads under its final lock of the head.
 */
static void
DeleteWalk(VacuumState *vs)
{
	Relation	index = vs->info->index;
	BlockNumber blkno = FirstDataBlock(index, &vs->shape);
	RsrPageReader reader;

	RsrPagesBegin(&reader, index, &vs->shape, blkno, vs->info->strategy,
				  BUFFER_LOCK_EXCLUSIVE);
	for (;;)
	{
		GenericXLogState *xlog;
		RsrEntryItem e;
		bool		changed = false;
		bool		pending = false;

		RsrVacuumDelayPoint();
		CHECK_FOR_INTERRUPTS();
		if (RsrPagesReadBatch(&reader, 1) == 0)
			break;
		xlog = GenericXLogStart(index);
		RsrPagesUsePage(&reader, 0,
						GenericXLogRegisterBuffer(xlog, reader.bufs[0], 0));

		vs->ncands = 0;
		while (RsrPagesNextEntry(&reader, &e))
		{
			if (e.range == 0)
			{
				changed |= DeleteRows(e.entry, e.nrows, vs);
				pending = WorthReclaiming(&vs->shape, e.entry, e.nrows);
				if (pending)
					vs->cands[vs->ncands] = e.off;
			}
			/* A candidate counts once its last range is on this page */
			if (pending && e.range == vs->shape.nranges - 1)
			{
				vs->ncands++;
				pending = false;
			}
		}

		if (changed)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		blkno = reader.blknos[0];
		RsrPagesReleaseBatch(&reader);

		if (vs->ncands > 0)
			ReclaimPage(vs, blkno);
	}
	RsrPagesEnd(&reader);
}

/* Mark the rows of one block that the callback reports dead */
static bool
DeleteRows(RsrEntry entry, uint32 nrows, void *arg)
{
	VacuumState *vs = (VacuumState *) arg;
	bool		changed = false;
	uint32		r;

	for (r = 0; r < nrows; r++)
	{
		if (entry->deadmask & ((uint32) 1 << r))
			continue;
		if (vs->callback(&entry->tids[r], vs->callbackState))
		{
			entry->deadmask |= ((uint32) 1 << r);
			vs->stats->tuples_removed += 1;
			changed = true;
		}
		else
			vs->stats->num_index_tuples += 1;
	}
	return changed;
}

/* Count the live rows of one block */
static bool
CountRows(RsrEntry entry, uint32 nrows, void *arg)
{
	IndexBulkDeleteResult *stats = (IndexBulkDeleteResult *) arg;
	uint32		r;

	for (r = 0; r < nrows; r++)
		if (!(entry->deadmask & ((uint32) 1 << r)))
			stats->num_index_tuples += 1;
	return false;
}

/* Mark the rows whose heap TIDs the callback reports dead; reclaim blocks */
IndexBulkDeleteResult *
rsrbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	VacuumState vs;
	double		removedBefore;
	uint32		i;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	removedBefore = stats->tuples_removed;

	memset(&vs, 0, sizeof(vs));
	vs.info = info;
	vs.stats = stats;
	vs.callback = callback;
	vs.callbackState = callback_state;
	FirstDataBlock(info->index, &vs.shape);
	if (vs.shape.dims > 0)
	{
		vs.rows = palloc0((Size) vs.shape.k * vs.shape.rowBytes);
		for (i = 0; i < vs.shape.k; i++)
			vs.rowPtrs[i] = vs.rows + (Size) i * vs.shape.rowBytes;
		vs.slice = palloc(vs.shape.rowBytes);
		for (i = 0; i < vs.shape.nranges; i++)
			vs.entries[i] = palloc(RSR_MAX_ITEM_SIZE);
		DeleteWalk(&vs);
	}

	/* A new version for the GPU worker's resident copy, if rows died */
	if (stats->tuples_removed > removedBefore)
		BumpChangeCount(info->index);
	return stats;
}

/* Count live rows after VACUUM, or when no bulk delete ran */
IndexBulkDeleteResult *
rsrvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;

	if (stats == NULL)
	{
		VacuumState vs;

		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		memset(&vs, 0, sizeof(vs));
		vs.info = info;
		vs.stats = stats;
		WalkHeads(&vs, CountRows, stats);
	}

	/* Make the pages recorded free findable by inserts */
	IndexFreeSpaceMapVacuum(info->index);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->estimated_count = false;
	return stats;
}
