/*-------------------------------------------------------------------------
 *
 * rsrvacuum.c
 *	  VACUUM of an rsr index: dead rows are marked in their block's head
 *	  entry; the kernel still computes them and scans skip them.
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
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "rsr_index.h"

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

/* What a walk over the head entries calls for each; true if it changed it */
typedef bool (*HeadVisitor) (RsrEntry entry, uint32 nrows, void *arg);

/*
 * Call `visit` for the head entry (range 0) of every block of rows, in
 * chain order.  Each data page is locked on its own: exclusively when
 * `modify`, then the visitor's changes to the page are one GenericXLog
 * record; share-locked otherwise.  The metapage is not held, so inserts go
 * on meanwhile (an insert that rebuilds the tail keeps the dead-row mask it
 * reads under the same page lock).
 */
static void
WalkHeads(IndexVacuumInfo *info, bool modify, HeadVisitor visit, void *arg)
{
	Relation	index = info->index;
	RsrShape	shape;
	BlockNumber blkno = FirstDataBlock(index, &shape);
	RsrPageReader reader;

	RsrPagesBegin(&reader, index, &shape, blkno, info->strategy,
				  modify ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
	for (;;)
	{
		GenericXLogState *xlog = NULL;
		RsrEntryItem e;
		bool		changed = false;

		RsrVacuumDelayPoint();
		if (RsrPagesReadBatch(&reader, 1) == 0)
			break;
		if (modify)
		{
			xlog = GenericXLogStart(index);
			RsrPagesUsePage(&reader, 0,
							GenericXLogRegisterBuffer(xlog, reader.bufs[0], 0));
		}

		while (RsrPagesNextEntry(&reader, &e))
			if (e.range == 0)
				changed |= visit(e.entry, e.nrows, arg);

		if (xlog != NULL && changed)
			GenericXLogFinish(xlog);
		else if (xlog != NULL)
			GenericXLogAbort(xlog);
		RsrPagesReleaseBatch(&reader);
	}
	RsrPagesEnd(&reader);
}

/* State of a bulk delete */
typedef struct DeleteState
{
	IndexBulkDeleteResult *stats;
	IndexBulkDeleteCallback callback;
	void	   *callbackState;
} DeleteState;

/* Mark the rows of one block that the callback reports dead */
static bool
DeleteRows(RsrEntry entry, uint32 nrows, void *arg)
{
	DeleteState *ds = (DeleteState *) arg;
	bool		changed = false;
	uint32		r;

	for (r = 0; r < nrows; r++)
	{
		if (entry->deadmask & ((uint32) 1 << r))
			continue;
		if (ds->callback(&entry->tids[r], ds->callbackState))
		{
			entry->deadmask |= ((uint32) 1 << r);
			ds->stats->tuples_removed += 1;
			changed = true;
		}
		else
			ds->stats->num_index_tuples += 1;
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

/* Mark the rows whose heap TIDs the callback reports dead */
IndexBulkDeleteResult *
rsrbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	DeleteState ds;
	double		removedBefore;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	removedBefore = stats->tuples_removed;

	ds.stats = stats;
	ds.callback = callback;
	ds.callbackState = callback_state;
	WalkHeads(info, true, DeleteRows, &ds);

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
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		WalkHeads(info, false, CountRows, stats);
	}
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	stats->estimated_count = false;
	return stats;
}
