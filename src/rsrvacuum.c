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

/* The first data page and k, from the metapage (locked only while read) */
static BlockNumber
FirstDataBlock(Relation index, uint32 *k)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	BlockNumber blkno;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	blkno = meta->dims > 0 ? meta->firstBlkno : InvalidBlockNumber;
	*k = meta->k;
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

/*
 * Mark the rows whose heap TIDs the callback reports dead.  Each data page
 * is locked exclusively on its own and changed in one GenericXLog record;
 * the metapage is not locked, so inserts go on meanwhile (an insert that
 * rebuilds the tail keeps the dead-row mask it reads under the same lock).
 */
IndexBulkDeleteResult *
rsrbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber blkno;
	uint32		k;
	double		removedBefore;

	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	removedBefore = stats->tuples_removed;

	blkno = FirstDataBlock(index, &k);
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;
		GenericXLogState *xlog;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;
		bool		changed = false;

		vacuum_delay_point();

		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		xlog = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(xlog, buf, 0);

		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			RsrEntry	entry = (RsrEntry) PageGetItem(page, itemid);
			uint32		r;

			if (ItemIdGetLength(itemid) < RsrEntryHeaderSize(0, k) ||
				entry->range != 0)
				continue;
			for (r = 0; r < Min(entry->nrows, k); r++)
			{
				if (entry->deadmask & (1 << r))
					continue;
				if (callback(&entry->tids[r], callback_state))
				{
					entry->deadmask |= (1 << r);
					stats->tuples_removed += 1;
					changed = true;
				}
				else
					stats->num_index_tuples += 1;
			}
		}
		blkno = RsrPageGetOpaque(page)->nextblkno;

		if (changed)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		UnlockReleaseBuffer(buf);
	}

	/* A new version for the GPU worker's resident copy, if rows died */
	if (stats->tuples_removed > removedBefore)
		BumpChangeCount(index);
	return stats;
}

/* Count live rows after VACUUM, or when no bulk delete ran */
IndexBulkDeleteResult *
rsrvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	BlockNumber blkno;
	uint32		k;

	if (info->analyze_only)
		return stats;

	if (stats == NULL)
	{
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		blkno = FirstDataBlock(index, &k);
		while (BlockNumberIsValid(blkno))
		{
			Buffer		buf;
			Page		page;
			OffsetNumber off;
			OffsetNumber maxoff;

			vacuum_delay_point();
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
									 info->strategy);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			maxoff = PageGetMaxOffsetNumber(page);
			for (off = FirstOffsetNumber; off <= maxoff; off++)
			{
				ItemId		itemid = PageGetItemId(page, off);
				RsrEntry	entry = (RsrEntry) PageGetItem(page, itemid);
				uint32		r;

				if (ItemIdGetLength(itemid) < RsrEntryHeaderSize(0, k) ||
					entry->range != 0)
					continue;
				for (r = 0; r < Min(entry->nrows, k); r++)
					if (!(entry->deadmask & (1 << r)))
						stats->num_index_tuples += 1;
			}
			blkno = RsrPageGetOpaque(page)->nextblkno;
			UnlockReleaseBuffer(buf);
		}
	}
	stats->num_pages = RelationGetNumberOfBlocks(index);
	stats->estimated_count = false;
	return stats;
}
