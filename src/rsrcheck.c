/*-------------------------------------------------------------------------
 *
 * rsrcheck.c
 *	  rsr_index_check(regclass): verify an rsr index against its heap.
 *
 * Checks the metapage, the page chain, every segment's bytes (engine
 * validation) and shape, the counts of the metapage, the open block pointers,
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

		if (head->deadmask & ((uint32) 1 << r))
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

/*
 * Walk the page chain: the reader checks the pages and the entry headers,
 * here every segment is validated and the live rows are collected
 */
static void
CheckIndexPages(CheckState *cs, RsrMetaPage metacopy)
{
	Relation	index = cs->index;
	RsrShape   *shape = &cs->shape;
	RsrPageReader reader;
	RsrEntryItem e;
	BlockNumber last = InvalidBlockNumber;
	uint8	   *rows = palloc0((Size) shape->k * shape->rowBytes);
	uint8	   *slice = palloc(shape->rowBytes);
	RsrEntry	head = palloc(RsrEntryHeaderSize(0, shape->k));
	uint64		ntuples = 0;
	uint64		nheads = 0;
	uint64		nretired = 0;
	bool		openSeen[RSR_OPEN_BLOCKS];
	int			s;

	memset(openSeen, 0, sizeof(openSeen));
	head->nrows = 0;
	RsrPagesBegin(&reader, index, shape, metacopy->firstBlkno, NULL,
				  BUFFER_LOCK_SHARE);
	while (RsrPagesReadBatch(&reader, 1) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		last = reader.blknos[reader.npages - 1];
		while (RsrPagesNextEntry(&reader, &e))
		{
			RsrSegmentInfo info;
			uint32		r;

			if (rsr_segment_validate(e.segment, e.segsize, &info) != RSR_OK)
				RsrPagesCorrupt(&reader, "segment fails validation", e.blkno, e.off);
			if (info.kind != shape->kind || info.layout != shape->layout ||
				info.k != shape->k || info.dims != shape->dims ||
				info.col_start != e.range * shape->rangeCols ||
				info.ncols != RsrRangeCols(shape, e.range))
				RsrPagesCorrupt(&reader, "segment shape differs from the metapage",
								e.blkno, e.off);

			if (e.range == 0)
			{
				/* nrows 0: a block whose insert never finished (crash) */
				if (e.nrows > 0 && info.nrows != e.nrows)
					RsrPagesCorrupt(&reader, "segment row count differs from the entry's",
									e.blkno, e.off);
				memcpy(head, e.entry, RsrEntryHeaderSize(0, shape->k));
				if (RsrHeadIsRetired(shape, head))
					nretired++;
				if (e.nrows > 0)
				{
					ItemPointerData loc;

					nheads++;
					ntuples += e.nrows;
					ItemPointerSet(&loc, e.blkno, e.off);
					for (s = 0; s < RSR_OPEN_BLOCKS; s++)
						if (ItemPointerEquals(&loc, &metacopy->open[s][0]))
							openSeen[s] = true;
				}
			}
			else if (info.nrows < head->nrows)
				RsrPagesCorrupt(&reader, "column range with fewer rows than its block",
								e.blkno, e.off);

			/* Reassemble the published rows of the block */
			for (r = 0; r < head->nrows; r++)
			{
				if (rsr_segment_get_row(e.segment, e.segsize, r, slice,
										shape->rowBytes) != RSR_OK)
					RsrPagesCorrupt(&reader, "row cannot be decoded", e.blkno, e.off);
				RsrRangeToRow(shape, e.range, slice,
							  rows + (Size) r * shape->rowBytes);
			}
			if (e.range == shape->nranges - 1)
				AddBlockRows(cs, head, rows, e.blkno, e.off);
		}
	}
	RsrPagesEnd(&reader);

	if (last != metacopy->lastBlkno)
		Corrupt(index, "last data page differs from the metapage's", last, 0);
	if (ntuples != metacopy->ntuples)
		Corrupt(index, "row count differs from the metapage's", last, 0);
	if (nheads != metacopy->nblocks)
		Corrupt(index, "block count differs from the metapage's", last, 0);
	if (nretired != metacopy->nretired)
		Corrupt(index, "retired block count differs from the metapage's", last, 0);
	for (s = 0; s < RSR_OPEN_BLOCKS; s++)
		if (ItemPointerIsValid(&metacopy->open[s][0]) && !openSeen[s])
			Corrupt(index, "open block is not the head of a block of rows",
					ItemPointerGetBlockNumber(&metacopy->open[s][0]),
					ItemPointerGetOffsetNumber(&metacopy->open[s][0]));
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
	RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrMetaCopy(index, BufferGetPage(metabuf), &metacopy);
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
