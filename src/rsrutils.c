/*-------------------------------------------------------------------------
 *
 * rsrutils.c
 *	  Handler, reloptions, pages, metapage and row helpers of the rsr
 *	  index access method.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrutils.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/xact.h"
#include "access/reloptions.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/varbit.h"

#include "rsr_index.h"
#include "rsr_vector.h"
#include "tvec.h"

static relopt_kind rsr_relopt_kind;

static relopt_enum_elt_def rsr_layout_values[] = {
	{"auto", RSR_LAYOUT_OPTION_AUTO},
	{"perm", RSR_LAYOUT_OPTION_PERM},
	{"bucket", RSR_LAYOUT_OPTION_BUCKET},
	{"tile", RSR_LAYOUT_OPTION_TILE},
	{(const char *) NULL}
};

PG_FUNCTION_INFO_V1(rsrhandler);

/* Register the reloptions of the rsr access method (from _PG_init) */
void
RsrInitReloptions(void)
{
	rsr_relopt_kind = add_reloption_kind();
	add_int_reloption(rsr_relopt_kind, "k",
					  "Rows per block (segment height) of layouts perm and bucket, 1..16; chosen from the dimension when not set",
					  0, 1, RSR_MAX_K, AccessExclusiveLock);
	add_enum_reloption(rsr_relopt_kind, "layout",
					   "Segment layout: auto, perm (permutation + groups), bucket (column codes) or tile (32-row tiles)",
					   rsr_layout_values, RSR_LAYOUT_OPTION_AUTO,
					   "Valid values are \"auto\", \"perm\", \"bucket\" and \"tile\".",
					   AccessExclusiveLock);
}

/* Parse and validate the reloptions of an rsr index */
bytea *
rsroptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"k", RELOPT_TYPE_INT, offsetof(RsrOptions, k)},
		{"layout", RELOPT_TYPE_ENUM, offsetof(RsrOptions, layout)},
	};

	return (bytea *) build_reloptions(reloptions, validate, rsr_relopt_kind,
									  sizeof(RsrOptions), tab, lengthof(tab));
}

/* Access method handler: the IndexAmRoutine of rsr */
Datum
rsrhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 1;
	amroutine->amsupport = 0;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = rsrbuild;
	amroutine->ambuildempty = rsrbuildempty;
	amroutine->aminsert = rsrinsert;
	amroutine->ambulkdelete = rsrbulkdelete;
	amroutine->amvacuumcleanup = rsrvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = rsrcostestimate;
	amroutine->amoptions = rsroptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = NULL;
	amroutine->amvalidate = rsrvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = rsrbeginscan;
	amroutine->amrescan = rsrrescan;
	amroutine->amgettuple = rsrgettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = rsrendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	/* PG 16 added amsummarizing: rsr indexes every row version, as btree does */
#if PG_VERSION_NUM >= 160000
	amroutine->amsummarizing = false;
#endif

	/*
	 * PG 17 added parallel index builds and aminsertcleanup: rsrbuild is
	 * serial, and rsrinsert keeps nothing in ii_AmCache to release.
	 */
#if PG_VERSION_NUM >= 170000
	amroutine->amcanbuildparallel = false;
	amroutine->aminsertcleanup = NULL;
#endif

	/*
	 * PG 18 added the fields below.  None pays for rsr: it has no equality
	 * or btree-like ordering operators (only the <#> ordering operator), so
	 * no hashing, consistency or strategy-to-compare-type translation, and
	 * it is not a tree (amgettreeheight feeds tree cost models).
	 */
#if PG_VERSION_NUM >= 180000
	amroutine->amcanhash = false;
	amroutine->amconsistentequality = false;
	amroutine->amconsistentordering = false;
	amroutine->amgettreeheight = NULL;
	amroutine->amtranslatestrategy = NULL;
	amroutine->amtranslatecmptype = NULL;
#endif

	PG_RETURN_POINTER(amroutine);
}

/* Initialize an empty page with the rsr special space */
void
RsrInitPage(Page page, uint16 flags)
{
	RsrPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(RsrPageOpaqueData));
	opaque = RsrPageGetOpaque(page);
	opaque->nextblkno = InvalidBlockNumber;
	opaque->flags = flags;
	opaque->page_id = RSR_PAGE_ID;
}

/*
 * GenericXLogStart, with the record's state in a memory context the backend
 * keeps.  The state is about 66 kB (images and deltas of up to four pages):
 * in the caller's context palloc takes it from malloc and gives it back
 * with every record, and glibc then returns the top of its heap to the
 * kernel (brk, with a TLB shootdown on every core the backend ran on) and
 * page-faults it back on the next record.  For an insert in place that was
 * about a fifth of the transaction's CPU time.  A generation context keeps
 * its block: a finished or aborted record frees its state, the block
 * becomes empty and is reused.  A state an error left behind is freed when
 * the (sub)transaction aborts; no record spans one.
 */
#define RSR_XLOG_CONTEXT_SIZE	(128 * 1024)	/* one state and room */
#define RSR_XLOG_CONTEXT_MAX	(2 * 1024 * 1024)	/* chunks up to 128 kB */

static MemoryContext xlogContext = NULL;

static void
XLogContextReset(void)
{
	if (xlogContext != NULL)
		MemoryContextReset(xlogContext);
}

static void
XLogContextXact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		XLogContextReset();
}

static void
XLogContextSubXact(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		XLogContextReset();
}

GenericXLogState *
RsrXLogStart(Relation index)
{
	MemoryContext old;
	GenericXLogState *state;

	if (xlogContext == NULL)
	{
		xlogContext = GenerationContextCreate(TopMemoryContext,
											  "rsr WAL record",
											  RSR_XLOG_CONTEXT_SIZE,
											  RSR_XLOG_CONTEXT_SIZE,
											  RSR_XLOG_CONTEXT_MAX);
		RegisterXactCallback(XLogContextXact, NULL);
		RegisterSubXactCallback(XLogContextSubXact, NULL);
	}
	old = MemoryContextSwitchTo(xlogContext);
	state = GenericXLogStart(index);
	MemoryContextSwitchTo(old);
	return state;
}

/*
 * Add a new page at the end of the index and return it pinned and
 * exclusively locked; the caller initializes it under GenericXLog.  The
 * relation extension lock is held only while extending.
 */
Buffer
RsrNewBuffer(Relation index)
{
	Buffer		buf;
	bool		needLock = !RELATION_IS_LOCAL(index);

	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/* Check the metapage's identity and return its contents */
RsrMetaPage
RsrCheckMeta(Relation index, Page page)
{
	RsrMetaPage meta = RsrPageGetMeta(page);

	if (PageIsNew(page) || !RsrPageIsMeta(page) ||
		RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID ||
		meta->magic != RSR_MAGIC_NUMBER)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an rsr index",
						RelationGetRelationName(index))));
	if (meta->version != RSR_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has on-disk version %u, expected %u",
						RelationGetRelationName(index), meta->version,
						RSR_FORMAT_VERSION),
				 errhint("Please REINDEX it.")));
	if (meta->dims > RSR_MAX_DIMS ||
		(meta->dims > 0 && !rsr_k_valid_for((RsrLayout) meta->layout, meta->k)) ||
		meta->nranges > RSR_MAX_RANGES ||
		(meta->dims > 0 && (meta->k < 1 || meta->nranges < 1 ||
							meta->rangeCols < 1)))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has a corrupted metapage",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
	return meta;
}

/*
 * Rows the head of open block `slot` publishes, 0 when the slot has none.
 * The caller holds the metapage's lock (either mode); the head's page is
 * share-locked only while its row count is read.
 */
uint32
RsrOpenHeadRows(Relation index, RsrMetaPage meta, int slot)
{
	ItemPointerData loc = meta->open[slot][0];
	Buffer		buf;
	Page		page;
	ItemId		itemid;
	RsrEntry	head;
	uint32		nrows = 0;
	bool		ok;

	if (!ItemPointerIsValid(&loc) || meta->dims == 0)
		return 0;
	buf = ReadBuffer(index, ItemPointerGetBlockNumber(&loc));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	ok = !PageIsNew(page) &&
		ItemPointerGetOffsetNumber(&loc) <= PageGetMaxOffsetNumber(page);
	if (ok)
	{
		itemid = PageGetItemId(page, ItemPointerGetOffsetNumber(&loc));
		head = (RsrEntry) PageGetItem(page, itemid);
		ok = ItemIdIsNormal(itemid) &&
			ItemIdGetLength(itemid) >= RsrEntryHeaderSize(0, meta->k) &&
			head->range == 0;
		if (ok)
			nrows = head->nrows;
	}
	UnlockReleaseBuffer(buf);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" has a corrupted open block entry",
						RelationGetRelationName(index))));
	return nrows;
}

/*
 * Copy the checked, locked (either mode) metapage, with the totals that
 * readers want: inserts into an open block add rows without changing the
 * metapage (rsrinsert.c), so the rows each open block holds past its
 * openCounted are added to ntuples and to changeCount.  The result only
 * grows while the metapage is share-locked, which is what the GPU worker's
 * version needs.
 */
void
RsrMetaCopy(Relation index, Page metapage, RsrMetaPageData *copy)
{
	RsrMetaPage meta = RsrPageGetMeta(metapage);
	int			s;

	memcpy(copy, meta, sizeof(RsrMetaPageData));
	for (s = 0; s < RSR_OPEN_BLOCKS; s++)
	{
		uint32		nrows;

		if (meta->openCounted[s] == 0)
			continue;
		nrows = RsrOpenHeadRows(index, meta, s);
		if (nrows + 1 > meta->openCounted[s])
		{
			copy->ntuples += nrows + 1 - meta->openCounted[s];
			copy->changeCount += nrows + 1 - meta->openCounted[s];
		}
		copy->openCounted[s] = 0;
	}
}

/*
 * Make the metapage's header cover the whole RsrMetaPageData, so that
 * GenericXLog logs its last fields: an index made before openCounted
 * existed has pd_lower before them.
 */
void
RsrMetaCover(Page metapage)
{
	LocationIndex end = (LocationIndex)
		(((char *) RsrPageGetMeta(metapage) + sizeof(RsrMetaPageData)) -
		 (char *) metapage);

	if (((PageHeader) metapage)->pd_lower < end)
		((PageHeader) metapage)->pd_lower = end;
}

/* Fill a shape from a checked metapage with dims > 0 */
void
RsrShapeFromMeta(RsrMetaPage meta, RsrShape *shape)
{
	shape->kind = (RsrKind) meta->kind;
	shape->layout = (RsrLayout) meta->layout;
	shape->dims = meta->dims;
	shape->k = meta->k;
	shape->nranges = meta->nranges;
	shape->rangeCols = meta->rangeCols;
	shape->rowBytes = meta->dims > 0 ? rsr_row_bytes(shape->kind, meta->dims) : 0;
}

/* Data pages taken by one block of rows cut into nranges column ranges */
static double
PagesPerBlock(const RsrShape *shape, uint32 nranges, uint32 rangeCols)
{
	Size		room = RSR_MAX_ITEM_SIZE + sizeof(ItemIdData);
	double		pages = 0;
	uint32		r;

	for (r = 0; r < nranges; r++)
	{
		uint32		cols = Min(rangeCols, shape->dims - r * rangeCols);
		Size		entry = RsrEntryHeaderSize(r, shape->k) +
			rsr_segment_max_size(shape->kind, shape->layout, shape->k, cols);

		pages += 1.0 / (double) (room / (MAXALIGN(entry) + sizeof(ItemIdData)));
	}
	return pages;
}

/*
 * Pages per block when blocks of nranges entries are appended one after the
 * other as the build does: 64 blocks packed entry by entry.
 */
static double
PackedPagesPerBlock(const RsrShape *shape, uint32 nranges, uint32 rangeCols)
{
	Size		room = RSR_MAX_ITEM_SIZE + sizeof(ItemIdData);
	Size		left = room;
	uint32		pages = 1;
	int			blk;
	uint32		r;

	for (blk = 0; blk < 64; blk++)
		for (r = 0; r < nranges; r++)
		{
			uint32		cols = Min(rangeCols, shape->dims - r * rangeCols);
			Size		need = MAXALIGN(RsrEntryHeaderSize(r, shape->k) +
										rsr_segment_max_size(shape->kind, shape->layout,
															 shape->k, cols)) +
				sizeof(ItemIdData);

			if (need > left)
			{
				pages++;
				left = room;
			}
			left -= need;
		}
	return pages / 64.0;
}

typedef double (*PagesPerBlockFn) (const RsrShape *shape, uint32 nranges,
								   uint32 rangeCols);

/*
 * Cut rows into column ranges (each a multiple of 8 columns, at most
 * maxcols) so that the entries of a block fill the data pages well: an
 * entry just over half a page would leave every page half empty.  Among
 * the minimum number of ranges and up to `extra` more, take the fewest
 * whose page use (by pagesFn) is within `slack` of the best.
 *
 * Layouts perm and bucket: each range costs the kernels a segment header
 * and a fold, so the fewest ranges within 15% of the best page use (up to 8
 * more).  Tiles: the kernels take all the ranges of a block in one call, so
 * more ranges cost little: the fewest within 2% of the best page use as the
 * build packs them (up to 64 more), which keeps the index size near the
 * packed bits plus TIDs.
 */
static void
ChooseRanges(RsrShape *shape, uint32 maxcols)
{
	bool		tile = shape->layout == RSR_LAYOUT_TILE;
	PagesPerBlockFn pagesFn = tile ? PackedPagesPerBlock : PagesPerBlock;
	double		slack = tile ? 1.02 : 1.15;
	uint32		extra = tile ? 64 : 8;
	uint32		minRanges = (shape->dims + maxcols - 1) / maxcols;
	double		pages[65];
	double		best = -1;
	uint32		i;

	shape->rangeCols = minRanges == 1 ? shape->dims : maxcols;
	shape->nranges = minRanges;
	for (i = 0; i <= extra; i++)
	{
		uint32		n = minRanges + i;
		uint32		cols = TYPEALIGN(8, (shape->dims + n - 1) / n);

		pages[i] = -1;
		if (n > RSR_MAX_RANGES || (shape->dims + cols - 1) / cols != n)
			continue;
		pages[i] = pagesFn(shape, n, cols);
		if (best < 0 || pages[i] < best)
			best = pages[i];
	}
	for (i = 0; i <= extra; i++)
	{
		uint32		n = minRanges + i;

		if (pages[i] >= 0 && pages[i] <= best * slack)
		{
			shape->nranges = n;
			shape->rangeCols = n == 1 ? shape->dims :
				TYPEALIGN(8, (shape->dims + n - 1) / n);
			break;
		}
	}
}

/*
 * Choose k, the layout and the column ranges for rows of `dims` elements:
 * the reloptions win, then rsr_vector.default_layout (when not auto; read
 * when the shape is chosen: by the build, or by the first row of an index
 * built empty), and the engine's table of measurements decides the rest.
 */
void
RsrChooseShape(Relation index, RsrKind kind, uint32 dims, double rows,
			   RsrShape *shape)
{
	RsrOptions *opts = (RsrOptions *) index->rd_options;
	uint32		k;
	RsrLayout	layout;
	uint32		maxcols;

	rsr_choose(kind, dims, rows > 0 ? (uint64) rows : 0, 1, &k, &layout);
	if ((opts && opts->layout != RSR_LAYOUT_OPTION_AUTO) || rsr_default_layout != 0)
	{
		/* the option, else rsr_vector.default_layout */
		layout = (RsrLayout) (opts && opts->layout != RSR_LAYOUT_OPTION_AUTO ?
							  opts->layout : rsr_default_layout);
		k = layout == RSR_LAYOUT_TILE ? RSR_TILE_ROWS :
			rsr_choose_bucket_k(kind, dims, 1);
	}
	if (opts && opts->k > 0)
	{
		/* a chosen height is one of the layouts that take it */
		if (layout == RSR_LAYOUT_TILE &&
			opts->layout == RSR_LAYOUT_OPTION_TILE && opts->k != RSR_TILE_ROWS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("layout \"tile\" stores blocks of %d rows, not k = %d",
							RSR_TILE_ROWS, opts->k)));
		if (layout == RSR_LAYOUT_TILE &&
			opts->layout == RSR_LAYOUT_OPTION_AUTO)
			layout = RSR_LAYOUT_BUCKET;
		k = opts->k;
	}
	if (!rsr_k_valid_for(layout, k))
		elog(ERROR, "rsr engine chose an invalid k %u", k);

	maxcols = rsr_segment_max_cols(kind, layout, k,
								   RSR_MAX_ITEM_SIZE - RsrEntryHeaderSize(0, k));
	maxcols &= ~(uint32) 7;
	if (maxcols == 0)
		elog(ERROR, "rsr segment of k = %u does not fit a page", k);

	shape->kind = kind;
	shape->layout = layout;
	shape->dims = dims;
	shape->k = k;
	ChooseRanges(shape, maxcols);
	if (shape->nranges > RSR_MAX_RANGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rows of %u dimensions need %u pages per block of %u rows, more than the limit of %d",
						dims, shape->nranges, k, RSR_MAX_RANGES),
				 errhint("Use a smaller k.")));
	shape->rowBytes = rsr_row_bytes(kind, dims);
}

/* Kind of rows of an rsr index, from the type of its column */
RsrKind
RsrIndexKind(Relation index)
{
	Oid			typid = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;

	if (typid == BITOID || typid == VARBITOID)
		return RSR_KIND_BINARY;
	return RSR_KIND_TERNARY;
}

/* Dimension fixed by the column's typmod, or 0 */
int
RsrIndexTypmodDims(Relation index)
{
	int32		typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	return typmod > 0 && typmod <= RSR_MAX_DIMS ? typmod : 0;
}

/*
 * The packed row of a bit or tvec datum and its dimension.  *detoasted is
 * set to the palloc'd copy to free, or NULL when the datum was used as is.
 */
const uint8 *
RsrDatumRow(Datum value, RsrKind kind, uint32 *dims, Pointer *detoasted)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(value);
	struct varlena *v = pg_detoast_datum(raw);

	*detoasted = (v != raw) ? (Pointer) v : NULL;
	if (kind == RSR_KIND_BINARY)
	{
		VarBit	   *bits = (VarBit *) v;

		*dims = VARBITLEN(bits);
		return VARBITS(bits);
	}
	else
	{
		Tvec	   *t = (Tvec *) v;

		*dims = t->dim;
		return t->data;
	}
}

/* Error out when a row's dimension differs from the index's */
void
RsrCheckRowDims(Relation index, uint32 dims, uint32 expected)
{
	if (dims == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("rsr index \"%s\" cannot hold a row of 0 dimensions",
						RelationGetRelationName(index))));
	if (dims > RSR_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row has %u dimensions, the rsr index limit is %d",
						dims, RSR_MAX_DIMS)));
	if (dims != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %u dimensions, not %u", expected, dims),
				 errdetail("Every row of rsr index \"%s\" must have the same dimension.",
						   RelationGetRelationName(index))));
}

/* Columns covered by one column range */
uint32
RsrRangeCols(const RsrShape *shape, uint32 range)
{
	uint32		start = range * shape->rangeCols;

	return Min(shape->rangeCols, shape->dims - start);
}

/*
 * Copy a row decoded from a column-range segment (packed over its own
 * columns) into its place in a full packed row.  Ranges start at a
 * multiple of 8 columns, so this is a byte copy per plane.
 */
void
RsrRangeToRow(const RsrShape *shape, uint32 range, const uint8 *slice,
			  uint8 *row)
{
	uint32		start = range * shape->rangeCols / 8;
	uint32		sliceBytes = (RsrRangeCols(shape, range) + 7) / 8;

	memcpy(row + start, slice, sliceBytes);
	if (shape->kind == RSR_KIND_TERNARY)
		memcpy(row + (shape->dims + 7) / 8 + start, slice + sliceBytes,
			   sliceBytes);
}

/*
 * Whether an insert may put rows in the block of rows with this head: it
 * has room (fewer than k rows), or dead rows, whose slots take new ones
 * (rsrinsert.c)
 */
bool
RsrHeadTakesRows(const RsrShape *shape, RsrEntry head)
{
	return head->nrows > 0 && head->nrows <= shape->k &&
		(head->nrows < shape->k ||
		 (head->deadmask & RsrRowsMask(head->nrows)) != 0);
}

/* Whether an open block slot of the (locked) metapage holds the head at loc */
bool
RsrHeadIsOpen(RsrMetaPage meta, ItemPointer loc)
{
	int			s;

	for (s = 0; s < RSR_OPEN_BLOCKS; s++)
		if (ItemPointerEquals(&meta->open[s][0], loc))
			return true;
	return false;
}

/*
 * The offset of the first head on the locked data page that passes `test`,
 * or InvalidOffsetNumber
 */
OffsetNumber
RsrPageFindHead(const RsrShape *shape, Page page, RsrHeadTest test)
{
	OffsetNumber off;

	for (off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		ItemId		itemid = PageGetItemId(page, off);

		if (ItemIdIsNormal(itemid) &&
			ItemIdGetLength(itemid) >= RsrEntryHeaderSize(0, shape->k) &&
			((RsrEntry) PageGetItem(page, itemid))->range == 0 &&
			test(shape, (RsrEntry) PageGetItem(page, itemid)))
			return off;
	}
	return InvalidOffsetNumber;
}

/* Whether a head is retired (RsrHeadTest) */
bool
RsrHeadIsRetired(const RsrShape *shape, RsrEntry head)
{
	return head->nrows == 0 && head->deadmask == RSR_RETIRED_MASK;
}

/* Largest entry of a column range: header plus the largest segment */
uint32
RsrEntryMaxSize(const RsrShape *shape, uint32 range)
{
	return RsrEntryHeaderSize(range, shape->k) +
		rsr_segment_max_size(shape->kind, shape->layout, shape->k,
							 RsrRangeCols(shape, range));
}

/*
 * Form the entry of one column range of a block of rows into out: header
 * (TIDs and published row count for the head) then the segment.  Returns
 * the entry's size.  The dead-row mask starts empty.
 */
size_t
RsrBuildEntry(const RsrShape *shape, uint32 range, const uint8 *const *rows,
			  uint32 nrows, const ItemPointerData *tids, uint16 pubrows,
			  uint32 segcap, uint8 *out)
{
	RsrEntry	entry = (RsrEntry) out;
	size_t		hdr = RsrEntryHeaderSize(range, shape->k);
	size_t		segsize;
	RsrStatus	status;

	memset(out, 0, hdr);
	entry->range = range;
	if (range == 0)
	{
		entry->nrows = pubrows;
		memcpy(entry->tids, tids, nrows * sizeof(ItemPointerData));
	}
	status = rsr_segment_build(shape->kind, shape->layout, shape->k, rows,
							   nrows, shape->dims, range * shape->rangeCols,
							   RsrRangeCols(shape, range), out + hdr, segcap,
							   &segsize);
	RsrCheckStatus(status, "rsr segment build");
	return hdr + segsize;
}
