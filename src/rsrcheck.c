/*-------------------------------------------------------------------------
 *
 * rsrcheck.c
 *	  rsr_index_check(regclass): verify an rsr index against its heap.
 *
 * Checks the metapage, the page chain, every segment's bytes (engine
 * validation) and shape, the counts of the metapage, the tail pointers,
 * that no heap TID is stored twice among live rows, and that every heap row
 * visible to the current snapshot is stored once with the same value.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "rsr_index.h"

/* One live row of the index, by heap TID */
typedef struct CheckRow
{
	ItemPointerData tid;		/* hash key */
	uint64		hash;			/* hash of the stored packed row */
	bool		seen;			/* found in the heap */
} CheckRow;

typedef struct CheckState
{
	Relation	index;
	RsrShape	shape;
	HTAB	   *rows;			/* CheckRow by TID */
	uint64		heapRows;		/* heap rows checked */
	MemoryContext tmpCtx;
} CheckState;

PG_FUNCTION_INFO_V1(rsr_index_check);

/* Report an inconsistency of the index */
static void
Corrupt(Relation index, const char *what, BlockNumber blkno, OffsetNumber off)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("rsr index \"%s\" is inconsistent: %s",
					RelationGetRelationName(index), what),
			 errdetail("Found at block %u, item %u.", blkno, off)));
}

/* Record the live rows of one complete block of rows */
static void
AddBlockRows(CheckState *cs, RsrEntry head, const uint8 *rows,
			 BlockNumber blkno, OffsetNumber off)
{
	uint32		r;

	for (r = 0; r < head->nrows; r++)
	{
		CheckRow   *row;
		bool		found;

		if (head->deadmask & (1 << r))
			continue;
		if (!ItemPointerIsValid(&head->tids[r]))
			Corrupt(cs->index, "invalid heap TID", blkno, off);
		row = hash_search(cs->rows, &head->tids[r], HASH_ENTER, &found);
		if (found)
			Corrupt(cs->index, "heap TID stored twice", blkno, off);
		row->hash = hash_bytes_extended(rows + (Size) r * cs->shape.rowBytes,
										cs->shape.rowBytes, 0);
		row->seen = false;
	}
}

/* Walk the page chain: check every entry and collect the live rows */
static void
CheckIndexPages(CheckState *cs, RsrMetaPage metacopy)
{
	Relation	index = cs->index;
	RsrShape   *shape = &cs->shape;
	BlockNumber blkno = metacopy->firstBlkno;
	BlockNumber last = InvalidBlockNumber;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint8	   *rows = palloc0((Size) shape->k * shape->rowBytes);
	uint8	   *slice = palloc(shape->rowBytes);
	RsrEntry	head = palloc(RsrEntryHeaderSize(0, shape->k));
	bool		inBlock = false;
	uint32		nextRange = 0;
	uint64		ntuples = 0;
	uint64		nheads = 0;
	ItemPointerData lastHead;
	uint32		pages = 0;

	ItemPointerSetInvalid(&lastHead);
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		if (blkno == RSR_METAPAGE_BLKNO || blkno >= nblocks ||
			(BlockNumberIsValid(last) && blkno <= last) || ++pages > nblocks)
			Corrupt(index, "broken page chain", blkno, 0);
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageIsNew(page) || RsrPageIsMeta(page) ||
			RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID)
			Corrupt(index, "not a data page", blkno, 0);

		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			RsrEntry	entry = (RsrEntry) PageGetItem(page, itemid);
			size_t		len = ItemIdGetLength(itemid);
			size_t		hdr;
			RsrSegmentInfo info;
			uint32		r;

			if (!ItemIdIsNormal(itemid) || len < offsetof(RsrEntryData, tids))
				Corrupt(index, "bad item", blkno, off);
			hdr = RsrEntryHeaderSize(entry->range, shape->k);
			if (len < hdr || entry->range >= shape->nranges)
				Corrupt(index, "bad entry header", blkno, off);
			if (rsr_segment_validate(RsrEntrySegment(entry, shape->k),
									 len - hdr, &info) != RSR_OK)
				Corrupt(index, "segment fails validation", blkno, off);
			if (info.kind != shape->kind || info.layout != shape->layout ||
				info.k != shape->k || info.dims != shape->dims ||
				info.col_start != entry->range * shape->rangeCols ||
				info.ncols != RsrRangeCols(shape, entry->range))
				Corrupt(index, "segment shape differs from the metapage", blkno, off);

			if (entry->range == 0)
			{
				/* An unfinished block (nrows 0) may lack ranges after a crash */
				if (inBlock && head->nrows > 0)
					Corrupt(index, "block of rows with missing column ranges", blkno, off);
				if (entry->nrows > shape->k)
					Corrupt(index, "row count above k", blkno, off);
				/* nrows 0: a block whose insert never finished (crash) */
				if (entry->nrows > 0 && info.nrows != entry->nrows)
					Corrupt(index, "segment row count differs from the entry's", blkno, off);
				memcpy(head, entry, RsrEntryHeaderSize(0, shape->k));
				if (entry->nrows > 0)
				{
					nheads++;
					ntuples += entry->nrows;
					ItemPointerSet(&lastHead, blkno, off);
				}
				inBlock = true;
				nextRange = 0;
			}
			else if (!inBlock || entry->range != nextRange)
				Corrupt(index, "column range out of order", blkno, off);
			else if (info.nrows < head->nrows)
				Corrupt(index, "column range with fewer rows than its block", blkno, off);

			/* Reassemble the published rows of the block */
			for (r = 0; r < head->nrows; r++)
			{
				if (rsr_segment_get_row(RsrEntrySegment(entry, shape->k),
										len - hdr, r, slice,
										shape->rowBytes) != RSR_OK)
					Corrupt(index, "row cannot be decoded", blkno, off);
				RsrRangeToRow(shape, entry->range, slice,
							  rows + (Size) r * shape->rowBytes);
			}
			nextRange++;
			if (nextRange == shape->nranges)
			{
				AddBlockRows(cs, head, rows, blkno, off);
				inBlock = false;
			}
		}
		last = blkno;
		blkno = RsrPageGetOpaque(page)->nextblkno;
		UnlockReleaseBuffer(buf);
	}

	if (last != metacopy->lastBlkno)
		Corrupt(index, "last data page differs from the metapage's", last, 0);
	if (ntuples != metacopy->ntuples)
		Corrupt(index, "row count differs from the metapage's", last, 0);
	if (nheads != metacopy->nblocks)
		Corrupt(index, "block count differs from the metapage's", last, 0);
	if (nheads > 0 && !ItemPointerEquals(&lastHead, &metacopy->tail[0]))
		Corrupt(index, "tail differs from the last block", last, 0);
}

/* Heap scan callback: the row must be in the index, with the same value */
static void
CheckHeapRow(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			 bool tupleIsAlive, void *arg)
{
	CheckState *cs = (CheckState *) arg;
	MemoryContext oldCtx;
	CheckRow   *row;
	const uint8 *bytes;
	uint32		dims;
	Pointer		detoasted;

	if (isnull[0])
		return;
	oldCtx = MemoryContextSwitchTo(cs->tmpCtx);
	bytes = RsrDatumRow(values[0], cs->shape.kind, &dims, &detoasted);
	row = hash_search(cs->rows, tid, HASH_FIND, NULL);
	if (row == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" lacks heap row (%u,%u)",
						RelationGetRelationName(index),
						ItemPointerGetBlockNumber(tid),
						ItemPointerGetOffsetNumber(tid))));
	if (row->seen)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("heap row (%u,%u) reported twice",
						ItemPointerGetBlockNumber(tid),
						ItemPointerGetOffsetNumber(tid))));
	if (dims != cs->shape.dims ||
		hash_bytes_extended(bytes, cs->shape.rowBytes, 0) != row->hash)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" stores a different value for heap row (%u,%u)",
						RelationGetRelationName(index),
						ItemPointerGetBlockNumber(tid),
						ItemPointerGetOffsetNumber(tid))));
	row->seen = true;
	cs->heapRows++;
	MemoryContextSwitchTo(oldCtx);
	MemoryContextReset(cs->tmpCtx);
}

/* Verify an rsr index against its heap; true or an error */
Datum
rsr_index_check(PG_FUNCTION_ARGS)
{
	Oid			indexOid = PG_GETARG_OID(0);
	Oid			heapOid;
	Relation	heap;
	Relation	index;
	Buffer		metabuf;
	RsrMetaPageData metacopy;
	CheckState	cs;
	HASHCTL		ctl;
	Snapshot	snapshot;
	TableScanDesc scan;
	IndexInfo  *indexInfo;
	AclResult	aclresult;

	/* Lock the heap before the index, as every other path does */
	heapOid = IndexGetRelation(indexOid, true);
	if (!OidIsValid(heapOid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexOid))));

	/*
	 * The check reads every row of the table: require SELECT on it, as the
	 * bulk functions do, before taking any lock on it.
	 */
	aclresult = pg_class_aclcheck(heapOid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(heapOid)),
					   get_rel_name(heapOid));
	heap = table_open(heapOid, AccessShareLock);
	index = index_open(indexOid, AccessShareLock);
	if (index->rd_indam == NULL || index->rd_indam->ambuild != rsrbuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an rsr index",
						RelationGetRelationName(index))));

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	memcpy(&metacopy, RsrCheckMeta(index, BufferGetPage(metabuf)),
		   sizeof(RsrMetaPageData));
	UnlockReleaseBuffer(metabuf);

	memset(&cs, 0, sizeof(cs));
	cs.index = index;
	RsrShapeFromMeta(&metacopy, &cs.shape);
	cs.shape.kind = RsrIndexKind(index);
	if (metacopy.kind != RsrIndexKind(index))
		Corrupt(index, "metapage kind differs from the column type",
				RSR_METAPAGE_BLKNO, 0);
	if (metacopy.dims == 0)
	{
		if (metacopy.ntuples != 0 || metacopy.nblocks != 0 ||
			BlockNumberIsValid(metacopy.firstBlkno))
			Corrupt(index, "rows in an index of unknown dimension",
					RSR_METAPAGE_BLKNO, 0);
	}
	cs.tmpCtx = AllocSetContextCreate(CurrentMemoryContext,
									  "rsr check row context",
									  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(CheckRow);
	ctl.hcxt = CurrentMemoryContext;
	cs.rows = hash_create("rsr check rows", Max(metacopy.ntuples, 64), &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (metacopy.dims > 0)
		CheckIndexPages(&cs, &metacopy);

	/* Every heap row visible now must be in the index */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = table_beginscan_strat(heap, snapshot, 0, NULL, true, true);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = true;	/* MVCC snapshot, no OldestXmin */
	table_index_build_scan(heap, index, indexInfo, true, false,
						   CheckHeapRow, &cs, scan);
	UnregisterSnapshot(snapshot);

	hash_destroy(cs.rows);
	MemoryContextDelete(cs.tmpCtx);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	PG_RETURN_BOOL(true);
}
