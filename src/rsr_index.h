/*-------------------------------------------------------------------------
 *
 * rsr_index.h
 *	  Structures and declarations of the rsr index access method.
 *
 * On-disk format.  Block 0 is the metapage.  Every other block is a data
 * page whose items are entries: one entry is the RSR segment of one block
 * of up to k heap rows over one column range, preceded by a small header.
 * A block of rows whose segment does not fit a page is stored as several
 * column-range entries (range 0, 1, ...), adjacent in block order; only the
 * range-0 entry (the "head") carries the row count, the dead-row mask and
 * the TIDs.  Data pages form a chain from firstBlkno through the next
 * links, in increasing block numbers.
 *
 * Up to RSR_OPEN_BLOCKS blocks of rows are open: the metapage points at
 * their entries, and while one holds fewer than k rows each insert adds a
 * row to its segments in place (rsrinsert.c: a tile takes the row's bytes,
 * other layouts are rebuilt).  A new block's entries are allocated with the
 * largest size a segment of that column range can take, so a rebuild never
 * needs more room; a block VACUUM compacted has entries of its exact size,
 * and an insert grows them in place while the page has room.
 *
 * VACUUM (rsrvacuum.c) never unlinks a page: it compacts blocks on at most
 * RSR_SPAN_PAGES pages in place, marks the items of removed entries unused,
 * records pages with room in the free space map, and new blocks reuse
 * them.  Readers skip unused items and never split such a block between
 * two batches of pages (rsrpages.c).  A block on more pages whose rows are
 * all dead is retired instead: its head publishes no row and carries
 * RSR_RETIRED_MASK, its entries stay where they are, and a new block takes
 * them over (rsrinsert.c).  Likewise an insert puts a row in the slot of
 * a dead row of a tile block.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsr_index.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_INDEX_H
#define RSR_INDEX_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/reloptions.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/relcache.h"

#include "rsr_vector.h"

#define RSR_METAPAGE_BLKNO	0
#define RSR_MAGIC_NUMBER	0x52535249	/* "RSRI" */
#define RSR_FORMAT_VERSION	2		/* 2: 32-bit dead masks, tiles, open blocks
									 * in the metapage, unused items on data
									 * pages (VACUUM reclaims) */
#define RSR_PAGE_ID			0xFF8A	/* unused by bloom, ivfflat, hnsw */
#define RSR_MAX_RANGES		128		/* column ranges per block of rows */
#define RSR_OPEN_BLOCKS		4		/* blocks of rows open to inserts at once */
#define RSR_SCAN_PAGES		128		/* data pages share-locked at once by a
									 * scan: one kernel call each, well below
									 * MAX_SIMUL_LWLOCKS (200) */
#define RSR_SPAN_PAGES		3		/* a block of rows on at most this many
									 * pages is rewritten in one record (with
									 * the metapage: GenericXLog's limit of
									 * 4 buffers) and never split between
									 * two batches of a reader */
#define RSR_BATCH_PAGES		(RSR_SCAN_PAGES + RSR_SPAN_PAGES - 1)	/* most
									 * pages of one batch: a batch grows to
									 * finish such a block */

/* Page flags */
#define RSR_META			(1 << 0)

/* Special space of every page */
typedef struct RsrPageOpaqueData
{
	BlockNumber nextblkno;		/* next data page, or InvalidBlockNumber */
	uint16		flags;			/* RSR_META or 0 */
	uint16		page_id;		/* RSR_PAGE_ID */
} RsrPageOpaqueData;

typedef RsrPageOpaqueData *RsrPageOpaque;

#define RsrPageGetOpaque(page) ((RsrPageOpaque) PageGetSpecialPointer(page))
#define RsrPageIsMeta(page) ((RsrPageGetOpaque(page)->flags & RSR_META) != 0)

/* Metapage contents */
typedef struct RsrMetaPageData
{
	uint32		magic;			/* RSR_MAGIC_NUMBER */
	uint32		version;		/* RSR_FORMAT_VERSION */
	uint32		kind;			/* RsrKind of the indexed column */
	uint32		layout;			/* RsrLayout of every segment */
	uint32		dims;			/* row dimension; 0 until the first row */
	uint32		k;				/* rows per block */
	uint32		nranges;		/* column-range entries per block */
	uint32		rangeCols;		/* columns per range (a multiple of 8) */
	uint64		ntuples;		/* rows stored, dead ones included, but for
								 * the open blocks' rows past openCounted
								 * (RsrMetaCopy adds them) */
	uint64		nblocks;		/* blocks of rows stored */
	BlockNumber firstBlkno;		/* first data page, or InvalidBlockNumber */
	BlockNumber lastBlkno;		/* last data page, or InvalidBlockNumber */
	ItemPointerData open[RSR_OPEN_BLOCKS][RSR_MAX_RANGES];	/* entries of the
															 * open blocks, by
															 * range; invalid
															 * offset = none */
	uint64		changeCount;	/* plus the rows past openCounted (RsrMetaCopy):
								 * bumped by every insert and every VACUUM
								 * that marks rows dead: the version the GPU
								 * worker keys its resident copy by */
	uint64		reclaimCount;	/* bumped by every VACUUM that removes or
								 * moves rows (in the same record): a tile
								 * search whose row places it saw change
								 * searches again */
	uint32		openCounted[RSR_OPEN_BLOCKS];	/* rows of open block s that
												 * ntuples and changeCount
												 * count, plus one; 0 = all
												 * (rsrinsert.c) */
	uint64		nretired;		/* retired blocks no new block took over
								 * (0 in an index made before it existed,
								 * which has none) */
} RsrMetaPageData;

typedef RsrMetaPageData *RsrMetaPage;

#define RsrPageGetMeta(page) ((RsrMetaPage) PageGetContents(page))

/* Header of an entry; the segment bytes follow it */
typedef struct RsrEntryData
{
	uint16		range;			/* column range index, 0 = head */
	uint16		nrows;			/* head: rows published to scans */
	uint32		deadmask;		/* head: bit r set = row r is dead */
	ItemPointerData tids[FLEXIBLE_ARRAY_MEMBER];	/* head: k heap TIDs */
} RsrEntryData;

typedef RsrEntryData *RsrEntry;

/*
 * The dead-row mask of a retired head (nrows 0): a block of rows VACUUM
 * took out of the index whose entries a new block may take over.  A head
 * that publishes no row yet (an insert under way) has an empty mask.
 */
#define RSR_RETIRED_MASK	(~(uint32) 0)

/* The dead-row bits of a head that count: those of its first n rows */
#define RsrRowsMask(n)	((n) >= 32 ? ~(uint32) 0 : ((uint32) 1 << (n)) - 1)

/* Bytes of the header of an entry of this range */
#define RsrEntryHeaderSize(range, k) \
	(offsetof(RsrEntryData, tids) + ((range) == 0 ? (k) : 0) * sizeof(ItemPointerData))
#define RsrEntrySegment(e, k) ((uint8 *) (e) + RsrEntryHeaderSize((e)->range, (k)))

/* Room for one item on an empty data page */
#define RSR_MAX_ITEM_SIZE \
	MAXALIGN_DOWN(BLCKSZ - SizeOfPageHeaderData - sizeof(ItemIdData) - \
				  MAXALIGN(sizeof(RsrPageOpaqueData)))

/* Reloptions */
typedef enum RsrLayoutOption
{
	RSR_LAYOUT_OPTION_AUTO = 0,
	RSR_LAYOUT_OPTION_PERM = RSR_LAYOUT_PERM,
	RSR_LAYOUT_OPTION_BUCKET = RSR_LAYOUT_BUCKET,
	RSR_LAYOUT_OPTION_TILE = RSR_LAYOUT_TILE
} RsrLayoutOption;

/* Largest block height of any layout (tiles: 32 rows) */
#define RSR_INDEX_MAX_K		RSR_TILE_ROWS

/* Is k the block height of a layout: 1..RSR_MAX_K, or 32 for tiles? */
static inline bool
rsr_k_valid_for(RsrLayout layout, uint32 k)
{
	if (layout == RSR_LAYOUT_TILE)
		return k == RSR_TILE_ROWS;
	return (layout == RSR_LAYOUT_PERM || layout == RSR_LAYOUT_BUCKET) &&
		k >= 1 && k <= RSR_MAX_K;
}

typedef struct RsrOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			k;				/* rows per block, 0 = chosen by the engine */
	int			layout;			/* RsrLayoutOption */
} RsrOptions;

/* Shape of the rows of one index, from its metapage */
typedef struct RsrShape
{
	RsrKind		kind;
	RsrLayout	layout;
	uint32		dims;
	uint32		k;
	uint32		nranges;
	uint32		rangeCols;
	uint32		rowBytes;		/* packed bytes of one full row */
} RsrShape;

/*
 * Rows scored by RsrScoreIndex(): one slot per row position (k per block
 * of rows) with `batch` scores each.
 */
typedef struct RsrScores RsrScores;

/* Consume slots [0, count) of sc; called between batches of pages */
typedef void (*RsrScoresFlush) (RsrScores *sc, uint64 count, void *arg);

struct RsrScores
{
	MemoryContext cxt;			/* holds scores and tids */
	uint32		batch;			/* scores per slot, 1..RSR_MAX_BATCH */
	float	   *scores;			/* [slot * batch + b]; NaN = empty or dead */
	ItemPointerData *tids;		/* heap TID of each slot */
	uint64		nslots;			/* slots in use */
	uint64		capacity;		/* slots allocated (plus RSR_MAX_K spare) */
	uint64		nentries;		/* entries (segments) read */
	uint64		segbytes;		/* segment bytes read */
	RsrScoresFlush flush;		/* NULL: keep every slot */
	void	   *flushArg;		/* passed to flush */
	bool		wantExact;		/* tile indexes: fill exact, not scores */
	double	   *exact;			/* [slot * batch + b]: <#>'s inner product,
								 * bit for bit; NaN = empty or dead */
};

/*
 * A reader of the entries of the data pages, in chain order (rsrpages.c):
 * over buffers of an index (batches of pinned, locked pages) or over page
 * images (the GPU worker's copies).  Fields are private to rsrpages.c.
 */
typedef struct RsrPageReader
{
	Relation	index;			/* buffer source, or NULL for images */
	const char *name;			/* index name, for errors */
	uint32		k;				/* rows per block */
	uint32		nranges;		/* column ranges per block */
	BufferAccessStrategy strategy;	/* buffer source: or NULL */
	int			lockmode;		/* buffer source: BUFFER_LOCK_SHARE or
								 * BUFFER_LOCK_EXCLUSIVE */
	BlockNumber next;			/* next block (image: next image), or
								 * InvalidBlockNumber at the end */
	BlockNumber last;			/* last block read */
	BlockNumber relBlocks;		/* relation size seen */
	int			recent;			/* buffer source: where its hints are (a
								 * slot of the backend's map, the shared
								 * map), or -1: none */
	uint32		recentKey;		/* the shared map's hash of the index */
	bool		recentTry;		/* try the hints first */
	const char *images;			/* image source: BLCKSZ each */
	uint32		nimages;
	Buffer		bufs[RSR_BATCH_PAGES];	/* locked buffers of the batch */
	int			nbufs;
	Page		pages[RSR_BATCH_PAGES]; /* pages of the batch */
	BlockNumber blknos[RSR_BATCH_PAGES];	/* their blocks (image: position) */
	int			npages;			/* pages in the batch */
	int			cur;			/* page of the next entry */
	OffsetNumber off;			/* item of the next entry */
	OffsetNumber batchStart;	/* first item of page 0 of the batch */
	OffsetNumber startOff;		/* first item of page 0 of the next batch */
	int			cutPage;		/* the batch's entries end at this page... */
	OffsetNumber cutOff;		/* ...before this item (cutPage = npages: at
								 * the end of the last page) */
	bool		inBlock;		/* ranges of the last head still expected */
	uint32		nextRange;		/* the range expected next */
	uint16		headRows;		/* rows published by the last head */
	uint32		headDead;		/* its dead rows (deadmask) */
} RsrPageReader;

/* One entry, as RsrPagesNextEntry() yields it */
typedef struct RsrEntryItem
{
	BlockNumber blkno;			/* block (image source: page position) */
	OffsetNumber off;			/* item on the page */
	RsrEntry	entry;			/* header, in the page (head: deadmask, tids) */
	uint32		range;			/* column range, 0 = head */
	uint32		nrows;			/* rows its block publishes (<= k) */
	uint32		skip;			/* rows of its block no search may return:
								 * bit r set when row r is dead or not
								 * published (r >= nrows) */
	const uint8 *segment;		/* the segment bytes, in the page */
	size_t		segsize;
} RsrEntryItem;

/* rsrcache.c */
extern int	rsr_scan_cache_size;
extern bool RsrCacheGet(Relation index, const RsrTileRef **refs, size_t *nrefs,
						RsrShape *shape);
extern bool RsrCacheTid(uint64 id, ItemPointer tid);

/* rsrpages.c */
extern void RsrPagesInit(void);
extern void RsrPagesBegin(RsrPageReader *r, Relation index,
						  const RsrShape *shape, BlockNumber first,
						  BufferAccessStrategy strategy, int lockmode);
extern void RsrPagesBeginImages(RsrPageReader *r, const char *name, uint32 k,
								uint32 nranges, const char *images,
								uint32 npages);
extern int	RsrPagesReadBatch(RsrPageReader *r, int maxpages);
extern bool RsrPagesNextEntry(RsrPageReader *r, RsrEntryItem *e);
extern bool RsrPagesNextEntryBefore(RsrPageReader *r, int end,
									RsrEntryItem *e);
extern void RsrPagesUsePage(RsrPageReader *r, int i, Page page);
extern bool RsrPagesCopyPage(const RsrPageReader *r, int i, char *dst);
extern void RsrPagesReleaseBatch(RsrPageReader *r);
extern void RsrPagesEnd(RsrPageReader *r);
extern void RsrPagesWarmBatch(const RsrPageReader *r);
extern void RsrPagesWarm(const RsrPageReader *r, int from, int to);
pg_noreturn extern void RsrPagesCorrupt(const RsrPageReader *r, const char *what,
							BlockNumber blkno, OffsetNumber off);

/* rsrutils.c */
extern void RsrInitReloptions(void);
extern bytea *rsroptions(Datum reloptions, bool validate);
extern void RsrInitPage(Page page, uint16 flags);
extern Buffer RsrNewBuffer(Relation index);
extern struct GenericXLogState *RsrXLogStart(Relation index);

/* rsrwal.c: one generic WAL record of changes to items (see there) */
#define RSR_ITEM_LOG_PAGES	RSR_SPAN_PAGES
#define RSR_ITEM_LOG_ITEMS	RSR_MAX_RANGES

typedef struct RsrLoggedItem
{
	int			page;			/* index into RsrItemLog.bufs */
	uint32		offset;			/* of the item on its page */
	Size		len;
	char	   *copy;			/* the caller's changed copy */
} RsrLoggedItem;

typedef struct RsrItemLog
{
	Relation	index;
	int			npages;
	int			nitems;
	Size		used;			/* bytes of copies */
	Buffer		bufs[RSR_ITEM_LOG_PAGES];
	RsrLoggedItem items[RSR_ITEM_LOG_ITEMS];
} RsrItemLog;

extern void RsrItemLogBegin(RsrItemLog *log, Relation index);
extern char *RsrItemLogItem(RsrItemLog *log, int page, Buffer buf, ItemId itemid);
extern void RsrItemLogFinish(RsrItemLog *log);
extern RsrMetaPage RsrCheckMeta(Relation index, Page page);
extern void RsrShapeFromMeta(RsrMetaPage meta, RsrShape *shape);
extern void RsrMetaCopy(Relation index, Page metapage, RsrMetaPageData *copy);
extern uint32 RsrOpenHeadRows(Relation index, RsrMetaPage meta, int slot);
extern void RsrMetaCover(Page metapage);
extern void RsrChooseShape(Relation index, RsrKind kind, uint32 dims,
						   double rows, RsrShape *shape);
extern RsrKind RsrIndexKind(Relation index);
extern int	RsrIndexTypmodDims(Relation index);
extern const uint8 *RsrDatumRow(Datum value, RsrKind kind, uint32 *dims,
								Pointer *detoasted);
extern void RsrCheckRowDims(Relation index, uint32 dims, uint32 expected);
extern uint32 RsrRangeCols(const RsrShape *shape, uint32 range);
extern void RsrRangeToRow(const RsrShape *shape, uint32 range,
						  const uint8 *slice, uint8 *row);
typedef bool (*RsrHeadTest) (const RsrShape *shape, RsrEntry head);
extern bool RsrHeadTakesRows(const RsrShape *shape, RsrEntry head);
extern bool RsrHeadIsRetired(const RsrShape *shape, RsrEntry head);
extern bool RsrHeadIsOpen(RsrMetaPage meta, ItemPointer loc);
extern OffsetNumber RsrPageFindHead(const RsrShape *shape, Page page,
									RsrHeadTest test);
extern uint32 RsrEntryMaxSize(const RsrShape *shape, uint32 range);
extern size_t RsrBuildEntry(const RsrShape *shape, uint32 range,
							const uint8 *const *rows, uint32 nrows,
							const ItemPointerData *tids, uint16 pubrows,
							uint32 segcap, uint8 *out);

/* rsrbuild.c */
extern IndexBuildResult *rsrbuild(Relation heap, Relation index,
								  IndexInfo *indexInfo);
extern void rsrbuildempty(Relation index);

/*
 * Heavyweight page locks on tags past every real block: one per open block
 * slot (its inserters queue there), and one taken while a new block's
 * entries are appended (so that the ranges of a block stay adjacent).
 * Scans never take them.
 */
#define RSR_SLOT_LOCK(slot)		((BlockNumber) (MaxBlockNumber - (slot)))
#define RSR_NEWBLOCK_LOCK		RSR_SLOT_LOCK(RSR_OPEN_BLOCKS)

/* rsrinsert.c */
extern bool rsrinsert(Relation index, Datum *values, bool *isnull,
					  ItemPointer ht_ctid, Relation heapRel,
					  IndexUniqueCheck checkUnique, bool indexUnchanged,
					  IndexInfo *indexInfo);

/* rsrscan.c */
extern IndexScanDesc rsrbeginscan(Relation r, int nkeys, int norderbys);
extern void rsrrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
					  ScanKey orderbys, int norderbys);
extern bool rsrgettuple(IndexScanDesc scan, ScanDirection dir);
extern void rsrendscan(IndexScanDesc scan);
/*
 * Tile indexes: a row's engine id is its place in the index, (block of the
 * head entry << 21) | (item << 5) | row, so ids ascend in chain order.
 */
#define RSR_TILE_ID(blkno, off) (((uint64) (blkno) << 21) | ((uint64) (off) << 5))
extern void RsrTileSearch(Relation index, const void *const *tqs, uint32 nq,
						  size_t n, uint64 *ids, double *scores,
						  ItemPointerData *tids, size_t *counts);
extern void RsrScoreIndex(Relation index, const float *Q, uint32 batch,
						  uint32 dims, RsrScores *sc);

/* rsrvacuum.c */
extern IndexBulkDeleteResult *rsrbulkdelete(IndexVacuumInfo *info,
											IndexBulkDeleteResult *stats,
											IndexBulkDeleteCallback callback,
											void *callback_state);
extern IndexBulkDeleteResult *rsrvacuumcleanup(IndexVacuumInfo *info,
											   IndexBulkDeleteResult *stats);

/* rsrvalidate.c */
extern bool rsrvalidate(Oid opclassoid);

/* rsrcost.c */
extern void rsrcostestimate(PlannerInfo *root, IndexPath *path,
							double loop_count, Cost *indexStartupCost,
							Cost *indexTotalCost,
							Selectivity *indexSelectivity,
							double *indexCorrelation, double *indexPages);

#endif							/* RSR_INDEX_H */
