/*-------------------------------------------------------------------------
 *
 * rsrvacuum.c
 *	  VACUUM of an rsr index: dead rows are marked in their block's head
 *	  entry; blocks whose rows are all dead are retired, for new blocks to
 *	  take over, and blocks on at most RSR_SPAN_PAGES pages with some dead
 *	  rows are compacted in place.
 *
 * The rule.  A block of rows whose entries (one per column range) lie on at
 * most RSR_SPAN_PAGES (3) pages is reclaimed once k / RSR_COMPACT_DIVISOR
 * of its rows (at least one) are dead: retired (below) when none of its
 * rows is alive, else rewritten in place without its dead rows (same items
 * on the same pages, fewer rows; a tile keeps its size).  Each block is
 * reclaimed in one GenericXLog record: its pages and the metapage, at most
 * 4 buffers.  A page holding the head of a retired block, of a block of
 * fewer than k rows or with dead rows, or no entry, goes into the free
 * space map: inserts take a retired block's entries over for a new block,
 * adopt a block with room as one of their open blocks and fill it again
 * (its dead rows' slots too), and place new blocks on free pages before
 * extending the index.  So after deletes the index does not grow until the
 * freed row slots are used again.  A block an open slot points at is only
 * marked, never retired or compacted.
 *
 * Why retire rather than remove.  Until 2026-12-02 a dead block on at most
 * RSR_SPAN_PAGES pages was removed (its items marked unused).  New blocks
 * go on a free page only whole, so the room of removed blocks that
 * straddled pages took one new block a page: deleting the older half of
 * 6400 rows and inserting as many grew a tile index of bit(1024) rows
 * (4.3 kB blocks) 1.34x, of tvec(1024) rows (8.4 kB) 1.5x, a perm index of
 * bit(1024) rows 1.30x.  A retired block's entries take a new block of the
 * same shape in place (a perm entry that grows past its item later is
 * grown on its page or the row goes to another block), and none of these
 * grows.
 *
 * Retired blocks.  A retired block's head publishes no row and carries
 * RSR_RETIRED_MASK, and the metapage counts it; the head's page goes into
 * the free space map.  A block on more pages (a block of 32 tile rows may
 * lie on more than 3 above about 4000 binary or 2000 ternary dimensions)
 * cannot be rewritten in one record: when all its rows are dead it is
 * retired in one record of the metapage and the head's page.  A retired
 * block's entries stay where they are; readers skip them as those of any
 * head without rows.  A new block takes them over in place (rsrinsert.c).
 * A block with some live rows keeps them, and its page goes into the map
 * too: an insert puts a new row in the slot of a dead one (a tile in
 * place, rsr_segment_set_row; the other layouts by rebuilding each column
 * range), the other pages first and the head, which clears the row's dead
 * bit, last.  So the index keeps its size
 * under churn whatever the width of its rows and its layout.
 *
 * Why writing over dead rows and retired blocks keeps scans exact.  A scan
 * that read a head before VACUUM marked its rows dead (or retired the
 * block) may go on to read the block's later pages, trusting that head,
 * after an insert wrote a new row there: it then scores a mix of the old
 * row and the new one under the old row's TID, or, for a tile search that
 * reads TIDs after its pass, under the new row's.  Both rows are invisible
 * to its snapshot: VACUUM marks only rows dead to every snapshot, and the
 * new row's transaction commits after the insert, which comes after the
 * marking, which comes after the scan read the head, after taking its
 * snapshot.  The heap check drops them, and the rows visible to the scan
 * are untouched, so its results stay exact (scans with a non-MVCC
 * snapshot, which would need more, do not use this access method: it has
 * no equality operators and cannot cluster).  An insert writes the later
 * pages first and the head last, so a scan that reads the new head finds
 * the new row on every page, and one that reads the head before it skips
 * the slot (dead bit, or no rows).  A backend's copy of the index
 * (rsrcache.c) is dropped when changeCount moved while it was copied:
 * VACUUM bumps it after marking rows, an insert over a dead row or a
 * retired block in its last record.  Unlike nbtree, which recycles a page
 * only after every snapshot from before its deletion is gone, no wait is
 * needed: no scan follows a link into a reused page, and a block's entries
 * keep their places and ranges.
 *
 * Why a concurrent scan stays exact.  Pages are never unlinked from the
 * chain, even empty ones: a scan that has read a page's next link must
 * find that page still a member of the same chain, or it could end early.
 * Entries are never removed (those an earlier version removed left
 * unused items behind, which readers skip: rsrpages.c), so every entry
 * keeps its offset and the metapage's pointers stay valid.  No live row
 * ever moves to another block: a compaction rewrites the entries of one
 * block in one record, under the exclusive locks of all its pages, and the
 * page reader never ends a batch inside such a block (it grows the batch
 * or stops before the block's head and starts the next batch there), so a
 * scan sees the whole block before or after, each live row exactly once;
 * the rows it drops are dead to every snapshot (VACUUM's callback says so).
 * Tile searches name rows by their place; every record that removes or
 * moves rows bumps the metapage's reclaimCount, and a search that saw it
 * change searches again (rsrscan.c).  Rows an insert adds to a block or a
 * page meanwhile belong to transactions that commit after the scan's
 * snapshot was taken, so a scan may miss them.
 *
 * Crash safety.  Marking writes one record per batch of pages; each
 * reclaimed block is one record with the metapage's counters, so after a
 * crash a block is whole before or after its compaction.
 *
 * Locking.  Marking locks the pages of one batch (one page, grown to at
 * most RSR_SPAN_PAGES to finish a block) exclusively, and never the
 * metapage.  Reclaiming a block locks the metapage exclusively and then
 * the block's pages in chain order (the order of rsrinsert.c), so the open
 * slots it reads cannot change until the pages and the metapage's counters
 * are written in one record.  No heavyweight lock is taken.
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
	xlog = RsrXLogStart(index);
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

/* A block of rows worth reclaiming: where each of its entries is */
typedef struct Candidate
{
	ItemPointerData locs[RSR_MAX_RANGES];	/* entry of each range */
} Candidate;

/* Buffers for compacting blocks, and what a bulk delete counts */
struct VacuumState
{
	IndexVacuumInfo *info;
	RsrShape	shape;
	IndexBulkDeleteResult *stats;
	IndexBulkDeleteCallback callback;
	void	   *callbackState;
	Candidate  *cands;			/* blocks of the batch worth reclaiming */
	int			ncands;
	int			candcap;
	uint8	   *rows;			/* k full packed rows */
	const uint8 *rowPtrs[RSR_INDEX_MAX_K];
	uint8	   *slice;			/* one decoded row of one column range */
	uint8	   *entries[RSR_MAX_RANGES];	/* the entries being formed */
};

/* The pages a candidate's entries lie on, in chain order; their count */
static int
CandidatePages(const VacuumState *vs, const Candidate *c, BlockNumber *blknos)
{
	int			n = 0;
	uint32		r;

	for (r = 0; r < vs->shape.nranges; r++)
	{
		BlockNumber blkno = ItemPointerGetBlockNumber(&c->locs[r]);

		if (n == 0 || blknos[n - 1] != blkno)
		{
			if (n == RSR_SPAN_PAGES)
				return n + 1;
			blknos[n++] = blkno;
		}
	}
	return n;
}

/* The entry of range r of a candidate on its page, or NULL if it changed */
static RsrEntry
CandidateEntry(const VacuumState *vs, const Candidate *c, uint32 r,
			   const BlockNumber *blknos, Page *pages, int npages,
			   Page *page, size_t *len)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(&c->locs[r]);
	ItemId		itemid;
	int			i;

	for (i = 0; i < npages; i++)
		if (blknos[i] == ItemPointerGetBlockNumber(&c->locs[r]))
			break;
	if (i == npages || off > PageGetMaxOffsetNumber(pages[i]))
		return NULL;
	itemid = PageGetItemId(pages[i], off);
	if (!ItemIdIsNormal(itemid) ||
		ItemIdGetLength(itemid) < RsrEntryHeaderSize(r, vs->shape.k) ||
		((RsrEntry) PageGetItem(pages[i], itemid))->range != r)
		return NULL;
	*page = pages[i];
	*len = ItemIdGetLength(itemid);
	return (RsrEntry) PageGetItem(pages[i], itemid);
}

/*
 * Rewrite the candidate block without its dead rows, in place (same items,
 * on the same pages); the number of rows dropped, 0 when the smaller block
 * would not be smaller after all.
 */
static uint32
CompactBlock(VacuumState *vs, const Candidate *c, const BlockNumber *blknos,
			 Page *pages, int npages)
{
	RsrShape   *shape = &vs->shape;
	Page		page;
	size_t		len;
	RsrEntry	head = CandidateEntry(vs, c, 0, blknos, pages, npages, &page, &len);
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
		const uint8 *entry = (const uint8 *) CandidateEntry(vs, c, range, blknos,
															pages, npages, &page, &len);
		size_t		hdr = RsrEntryHeaderSize(range, shape->k);
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
						 errdetail("Found at block %u, item %u.",
								   ItemPointerGetBlockNumber(&c->locs[range]),
								   ItemPointerGetOffsetNumber(&c->locs[range]))));
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
	{
		CandidateEntry(vs, c, range, blknos, pages, npages, &page, &len);
		if (!PageIndexTupleOverwrite(page, ItemPointerGetOffsetNumber(&c->locs[range]),
									 (Item) vs->entries[range], sizes[range]))
			elog(ERROR, "could not compact rsr index entry");
	}
	return nrows - nlive;
}

/*
 * Retire the block of dead rows with this head, in the record's copies of
 * the head's page and the metapage: the head publishes no row and carries
 * RSR_RETIRED_MASK, and the metapage counts it
 */
static void
RetireHead(Page metapage, RsrEntry head)
{
	RsrMetaPage meta = RsrPageGetMeta(metapage);

	meta->ntuples -= head->nrows;
	meta->nblocks--;
	meta->nretired++;
	head->nrows = 0;
	head->deadmask = RSR_RETIRED_MASK;
	RsrMetaCover(metapage);
}

/*
 * Reclaim one candidate block by the rule above: retire it when none of
 * its rows is alive, else rewrite it without its dead rows.  One record holds
 * its pages (at most RSR_SPAN_PAGES) and the metapage's counters; the
 * metapage is locked first, then the pages in chain order, and no data page
 * is locked on entry.  Pages left with room are offered to inserts.
 */
static void
ReclaimBlock(VacuumState *vs, const Candidate *c)
{
	Relation	index = vs->info->index;
	RsrShape   *shape = &vs->shape;
	BlockNumber blknos[RSR_SPAN_PAGES + 1];
	Buffer		bufs[RSR_SPAN_PAGES];
	Page		pages[RSR_SPAN_PAGES];
	int			npages = CandidatePages(vs, c, blknos);
	GenericXLogState *xlog;
	Buffer		metabuf;
	Page		metapage;
	RsrMetaPage meta;
	RsrEntry	head;
	ItemPointerData headLoc;
	Page		page;
	size_t		len;
	uint32		nrows;
	bool		changed = false;
	int			i;

	if (npages > RSR_SPAN_PAGES)
		return;
	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	for (i = 0; i < npages; i++)
	{
		bufs[i] = ReadBufferExtended(index, MAIN_FORKNUM, blknos[i],
									 RBM_NORMAL, vs->info->strategy);
		LockBuffer(bufs[i], BUFFER_LOCK_EXCLUSIVE);
	}
	xlog = RsrXLogStart(index);
	for (i = 0; i < npages; i++)
		pages[i] = GenericXLogRegisterBuffer(xlog, bufs[i], 0);
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	meta = RsrPageGetMeta(metapage);

	/* Still the block the walk saw, worth reclaiming, and no slot's? */
	head = CandidateEntry(vs, c, 0, blknos, pages, npages, &page, &len);
	for (i = 1; head != NULL && i < (int) shape->nranges; i++)
		if (CandidateEntry(vs, c, i, blknos, pages, npages, &page, &len) == NULL)
			head = NULL;
	headLoc = c->locs[0];
	if (head != NULL && RsrHeadIsOpen(meta, &headLoc))
		head = NULL;			/* inserts own it */
	if (head != NULL && head->nrows <= shape->k &&
		WorthReclaiming(shape, head, head->nrows))
	{
		nrows = head->nrows;
		if (DeadRows(head, nrows) == nrows)
		{
			RetireHead(metapage, head);
			changed = true;
		}
		else
		{
			uint32		dropped = CompactBlock(vs, c, blknos, pages, npages);

			meta->ntuples -= dropped;
			changed = dropped > 0;
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

	for (i = npages - 1; i >= 0; i--)
	{
		Page		p = BufferGetPage(bufs[i]);
		bool		room = PageIsEmpty(p) ||
			RsrPageFindHead(shape, p, RsrHeadTakesRows) != InvalidOffsetNumber ||
			RsrPageFindHead(shape, p, RsrHeadIsRetired) != InvalidOffsetNumber;

		UnlockReleaseBuffer(bufs[i]);
		if (room)
			RecordFreeIndexPage(index, blknos[i]);
	}
	UnlockReleaseBuffer(metabuf);
}

/*
 * Retire the dead block on more than RSR_SPAN_PAGES pages whose head is at
 * `loc`: its head publishes no row and carries RSR_RETIRED_MASK, and the
 * metapage counts it, in one record of the two pages (metapage first).
 * The head's page goes into the free space map, where inserts find the
 * block to take over (rsrinsert.c).  Nothing happens when the
 * head changed since the walk saw it or an open slot holds it.
 */
static void
RetireBlock(VacuumState *vs, ItemPointer loc)
{
	Relation	index = vs->info->index;
	BlockNumber blkno = ItemPointerGetBlockNumber(loc);
	OffsetNumber off = ItemPointerGetOffsetNumber(loc);
	GenericXLogState *xlog;
	Buffer		metabuf;
	Buffer		buf;
	Page		page;
	Page		metapage;
	RsrMetaPage meta;
	RsrEntry	head = NULL;
	ItemId		itemid;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
							 vs->info->strategy);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (off <= PageGetMaxOffsetNumber(page))
	{
		itemid = PageGetItemId(page, off);
		head = (RsrEntry) PageGetItem(page, itemid);
		if (!ItemIdIsNormal(itemid) ||
			ItemIdGetLength(itemid) < RsrEntryHeaderSize(0, vs->shape.k) ||
			head->range != 0 || head->nrows == 0 || head->nrows > vs->shape.k ||
			DeadRows(head, head->nrows) != head->nrows)
			head = NULL;
	}
	if (head != NULL && RsrHeadIsOpen(RsrPageGetMeta(BufferGetPage(metabuf)), loc))
		head = NULL;			/* inserts own it */
	if (head == NULL)
	{
		UnlockReleaseBuffer(buf);
		UnlockReleaseBuffer(metabuf);
		return;
	}

	xlog = RsrXLogStart(index);
	page = GenericXLogRegisterBuffer(xlog, buf, 0);
	head = (RsrEntry) PageGetItem(page, PageGetItemId(page, off));
	metapage = GenericXLogRegisterBuffer(xlog, metabuf, 0);
	RetireHead(metapage, head);
	meta = RsrPageGetMeta(metapage);
	/* rows went: tile searches in flight must search again */
	meta->changeCount++;
	meta->reclaimCount++;
	GenericXLogFinish(xlog);
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	RecordFreeIndexPage(index, blkno);
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
 * The walk of a bulk delete, in chain order, one page at a time (a batch
 * grows to at most RSR_SPAN_PAGES pages to finish a block, rsrpages.c):
 * the batch's pages are locked exclusively (never the metapage), the dead
 * rows of its heads are marked in one record, and the blocks the rule
 * reclaims are listed; once the batch is released, they are reclaimed.
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
		bool		allDead = false;
		ItemPointerData retire; /* head of the dead block on more pages
								 * the batch ends inside, or invalid */
		BlockNumber offer[RSR_SPAN_PAGES];	/* pages of heads with dead
											 * rows to fill */
		int			noffer = 0;
		int			npages;
		int			i;

		RsrVacuumDelayPoint();
		CHECK_FOR_INTERRUPTS();
		npages = RsrPagesReadBatch(&reader, 1);
		if (npages == 0)
			break;
		Assert(npages <= MAX_GENERIC_XLOG_PAGES);
		xlog = RsrXLogStart(index);
		for (i = 0; i < npages; i++)
			RsrPagesUsePage(&reader, i,
							GenericXLogRegisterBuffer(xlog, reader.bufs[i], 0));

		vs->ncands = 0;
		ItemPointerSetInvalid(&retire);
		while (RsrPagesNextEntry(&reader, &e))
		{
			if (e.range == 0)
			{
				changed |= DeleteRows(e.entry, e.nrows, vs);
				pending = WorthReclaiming(&vs->shape, e.entry, e.nrows);
				allDead = e.nrows > 0 && DeadRows(e.entry, e.nrows) == e.nrows;
				if (!allDead && DeadRows(e.entry, e.nrows) > 0 &&
					(noffer == 0 || offer[noffer - 1] != e.blkno) &&
					noffer < RSR_SPAN_PAGES)
					offer[noffer++] = e.blkno;
				if (pending && vs->ncands == vs->candcap)
				{
					vs->candcap *= 2;
					vs->cands = repalloc(vs->cands, vs->candcap * sizeof(Candidate));
				}
			}
			if (pending)
				ItemPointerSet(&vs->cands[vs->ncands].locs[e.range], e.blkno, e.off);
			/* A candidate counts once its last range is in this batch */
			if (pending && e.range == vs->shape.nranges - 1)
			{
				vs->ncands++;
				pending = false;
			}
		}

		/*
		 * A block the batch ends inside lies on more than RSR_SPAN_PAGES
		 * pages (a batch grows to finish smaller ones): retired when dead
		 */
		if (pending && allDead)
			retire = vs->cands[vs->ncands].locs[0];

		if (changed)
			GenericXLogFinish(xlog);
		else
			GenericXLogAbort(xlog);
		RsrPagesReleaseBatch(&reader);

		/* Last block first */
		for (i = vs->ncands - 1; i >= 0; i--)
			ReclaimBlock(vs, &vs->cands[i]);
		if (ItemPointerIsValid(&retire))
			RetireBlock(vs, &retire);
		for (i = 0; i < noffer; i++)
			RecordFreeIndexPage(index, offer[i]);
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
		vs.candcap = 16;
		vs.cands = palloc(vs.candcap * sizeof(Candidate));
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
