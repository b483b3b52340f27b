/*-------------------------------------------------------------------------
 *
 * rsrpages.c
 *	  The one reader of rsr index pages: entries in chain order, over
 *	  locked buffers or over page images, with one set of rules for bad
 *	  pages and bad items.
 *
 * Every walk over the data pages goes through here: the ordered scan, the
 * GPU client (which copies the pages it reads), the GPU worker (which
 * parses those copies), VACUUM and rsr_index_check.  A page or an entry
 * that breaks the format is reported the same way everywhere, with
 * ERRCODE_INDEX_CORRUPTED and "rsr index ... is inconsistent: <what>".
 * The checks are the structural ones, cheap enough for every scan: the
 * page header and special space, the item bounds, the entry header, the
 * head's row count, the order of column ranges.  The engine's own
 * validation of segment bytes stays with the kernels and rsr_index_check.
 *
 * Unused items (entries VACUUM removed before it retired dead blocks
 * instead) are skipped; a page whose items are all unused stays in the
 * chain (rsrvacuum.c says why) and yields nothing.
 *
 * Pages of the buffer source are read in batches (at most RSR_SCAN_PAGES,
 * all pinned and locked at once) so that the caller can run a kernel over
 * a whole batch; the caller releases a batch before reading the next.
 *
 * A batch never ends inside a block of rows whose entries lie on at most
 * RSR_SPAN_PAGES pages: those are the blocks VACUUM rewrites (in one
 * record, rsrvacuum.c), and a rewrite between two batches would pair the
 * old head with new column ranges.  When the last page read ends inside a
 * block, the batch either grows by up to RSR_SPAN_PAGES - 1 pages to
 * finish it (its head is on the batch's first page) or stops before its
 * head; the next batch then starts at the head, re-reading that page from
 * the head's item on.  Offsets on a page are stable (items are never moved
 * or reused while a live entry follows them), so no entry is yielded
 * twice or skipped.  A block on more pages may be split between batches;
 * VACUUM only marks its dead rows or retires it whole (its head then
 * publishes no row), inserts only add rows to it, which its head publishes
 * last, and a new block takes over a retired block's entries, the head
 * last (rsrvacuum.c says why no wait for older scans is needed).
 *
 * Recent buffers.  A scan reads every page of the index, and finding each
 * in the shared buffer mapping table (a hash table over all of
 * shared_buffers, one cache miss or more per page) was a sixth of a warm
 * query over 1M rows.  The reader remembers the buffer each block was last
 * found in and tries it first with ReadRecentBuffer(), which pins it only
 * if it still holds that block (it compares the buffer's tag under its
 * header lock), so a stale hint costs one failed try and a normal read.
 * That pin does not raise the buffer's usage count for the clock sweep, so
 * every RSR_RECENT_REFRESH-th reader reads all its pages the normal way:
 * hot index pages then age no faster than pages read that often.  Only
 * readers without a buffer access strategy use the hints (VACUUM's ring
 * chooses its buffers itself).
 *
 * The hints live in shared memory when there is some: when rsr_vector is
 * in shared_preload_libraries, and on PostgreSQL 17 and later in a segment
 * of the DSM registry.  Then a new connection's first scan finds the
 * buffers the backends before it found (1M x 1024 binary, huge pages,
 * preloaded, median first top-10 of a connection: 25.3 -> 20.0 ms, warm
 * 15.8; ternary 40 ms, warm 34).  The
 * shared map has two slots per shared buffer in chunks of RSR_RECENT_CHUNK
 * (a 4 kB page of slots); block b of an index takes slot b %
 * RSR_RECENT_CHUNK of the chunk its relation file and b / RSR_RECENT_CHUNK
 * hash to, so a scan reads its hints from few pages, and two indexes whose
 * chunks meet overwrite each other's hints there (failed tries, nothing
 * worse).  Otherwise, and for temporary indexes (local buffers), the map
 * is backend-local, for the last RSR_RECENT_INDEXES indexes read.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrpages.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_compat.h"
#include "rsr_index.h"

#define RSR_RECENT_INDEXES	4
#define RSR_RECENT_REFRESH	16
#define RSR_READ_AHEAD		4	/* pages down the chain PrefetchRecent() asks for */
#define RSR_RECENT_CHUNK	1024	/* slots of the shared map hashed together */
#define RSR_RECENT_MAX_SLOTS (1 << 24)	/* 64 MB at most */
#define RECENT_SHARED		RSR_RECENT_INDEXES	/* RsrPageReader.recent: the
												 * shared map */

/* The buffers an index's blocks were last found in, in backend memory */
typedef struct RecentBuffers
{
	RsrFileLocator locator;		/* the index (its relation file) */
	bool		used;
	uint32		readers;		/* readers begun: every RSR_RECENT_REFRESH-th
								 * reads normally */
	uint64		lastUse;		/* for replacement: the oldest goes */
	BlockNumber size;			/* entries of bufs */
	Buffer	   *bufs;			/* by block: a buffer, or InvalidBuffer */
} RecentBuffers;

static RecentBuffers recentBuffers[RSR_RECENT_INDEXES];
static uint64 recentClock = 0;

/* The shared map: a buffer, or InvalidBuffer, per slot */
typedef struct RecentShared
{
	pg_atomic_uint32 readers;	/* readers begun, of all indexes: every
								 * RSR_RECENT_REFRESH-th reads normally */
	uint32		nchunks;
	pg_atomic_uint32 slots[FLEXIBLE_ARRAY_MEMBER];
} RecentShared;

static RecentShared *recentShared = NULL;
static bool recentSharedTried = false;	/* asked the DSM registry */
static shmem_request_hook_type prevShmemRequest = NULL;
static shmem_startup_hook_type prevShmemStartup = NULL;

/* Chunks of the shared map: two slots per shared buffer */
static uint32
RecentChunks(void)
{
	uint64		slots = Min(2 * (uint64) NBuffers, RSR_RECENT_MAX_SLOTS);

	return (uint32) Max((slots + RSR_RECENT_CHUNK - 1) / RSR_RECENT_CHUNK, 1);
}

static Size
RecentSharedSize(void)
{
	return add_size(offsetof(RecentShared, slots),
					mul_size((Size) RecentChunks() * RSR_RECENT_CHUNK,
							 sizeof(pg_atomic_uint32)));
}

/* Set up a new shared map at ptr (also the DSM registry's callback) */
static void
RecentSharedInit(void *ptr)
{
	RecentShared *rs = (RecentShared *) ptr;
	Size		nslots;

	rs->nchunks = RecentChunks();
	pg_atomic_init_u32(&rs->readers, 0);
	nslots = (Size) rs->nchunks * RSR_RECENT_CHUNK;
	for (Size i = 0; i < nslots; i++)
		pg_atomic_init_u32(&rs->slots[i], InvalidBuffer);
}

static void
RecentShmemRequest(void)
{
	if (prevShmemRequest)
		prevShmemRequest();
	RequestAddinShmemSpace(RecentSharedSize());
}

static void
RecentShmemStartup(void)
{
	bool		found;

	if (prevShmemStartup)
		prevShmemStartup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	recentShared = ShmemInitStruct("rsr_vector recent buffers",
								   RecentSharedSize(), &found);
	if (!found)
		RecentSharedInit(recentShared);
	LWLockRelease(AddinShmemInitLock);
}

/* Module load: while preloading, ask for the shared map */
void
RsrPagesInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prevShmemRequest = shmem_request_hook;
	shmem_request_hook = RecentShmemRequest;
	prevShmemStartup = shmem_startup_hook;
	shmem_startup_hook = RecentShmemStartup;
}

/* The shared map, or NULL; made in the DSM registry (17+) on first use */
static RecentShared *
RecentSharedMap(void)
{
	if (recentShared == NULL && !recentSharedTried)
	{
		bool		found;

		recentSharedTried = true;
		recentShared = RsrNamedDSMSegment("rsr_vector recent buffers",
										  RecentSharedSize(),
										  RecentSharedInit, &found);
	}
	return recentShared;
}

/* The shared map's slot of the block of the index whose file hashes to key */
static pg_attribute_always_inline pg_atomic_uint32 *
SharedSlot(uint32 key, BlockNumber blkno)
{
	uint32		chunk = murmurhash32(key + blkno / RSR_RECENT_CHUNK) %
		recentShared->nchunks;

	return &recentShared->slots[(Size) chunk * RSR_RECENT_CHUNK +
								blkno % RSR_RECENT_CHUNK];
}

/*
 * Where a new reader of the index finds its hints (the shared map, or the
 * slot of the backend's map, taken over from the oldest if new); *try =
 * whether it tries them (else it reads normally and remembers what it
 * reads)
 */
static int
RecentBegin(RsrPageReader *r, Relation index)
{
	RsrFileLocator locator = RsrRelationLocator(index);
	int			victim = 0;
	int			i;

	if (!RelationUsesLocalBuffers(index) && RecentSharedMap() != NULL)
	{
		r->recentKey = hash_bytes((const unsigned char *) &locator,
								  sizeof(locator));
		r->recentTry = pg_atomic_fetch_add_u32(&recentShared->readers, 1) %
			RSR_RECENT_REFRESH != RSR_RECENT_REFRESH - 1;
		return RECENT_SHARED;
	}
	for (i = 0; i < RSR_RECENT_INDEXES; i++)
	{
		RecentBuffers *rb = &recentBuffers[i];

		if (rb->used && RsrLocatorEquals(rb->locator, locator))
			break;
		if (!rb->used ||
			(recentBuffers[victim].used && rb->lastUse < recentBuffers[victim].lastUse))
			victim = i;
	}
	if (i == RSR_RECENT_INDEXES)
	{
		i = victim;
		recentBuffers[i].locator = locator;
		recentBuffers[i].used = true;
		recentBuffers[i].readers = 0;
		if (recentBuffers[i].bufs != NULL)
			memset(recentBuffers[i].bufs, 0,
				   recentBuffers[i].size * sizeof(Buffer));
	}
	recentBuffers[i].lastUse = ++recentClock;
	r->recentTry = recentBuffers[i].readers++ % RSR_RECENT_REFRESH != 0;
	return i;
}

/* The buffer the block was last found in, or InvalidBuffer */
static pg_attribute_always_inline Buffer
RecentGet(const RsrPageReader *r, BlockNumber blkno)
{
	const RecentBuffers *rb;

	if (r->recent == RECENT_SHARED)
		return (Buffer) pg_atomic_read_u32(SharedSlot(r->recentKey, blkno));
	rb = &recentBuffers[r->recent];
	return blkno < rb->size ? rb->bufs[blkno] : InvalidBuffer;
}

/* The block's page pinned through the hints, or InvalidBuffer */
static Buffer
ReadRecent(RsrPageReader *r, BlockNumber blkno)
{
	RsrFileLocator locator = RsrRelationLocator(r->index);
	Buffer		buf;

	/* another reader may have given a backend slot to another index since */
	if (r->recent != RECENT_SHARED &&
		!RsrLocatorEquals(recentBuffers[r->recent].locator, locator))
		return InvalidBuffer;
	buf = RecentGet(r, blkno);
	if (!BufferIsValid(buf) ||
		!ReadRecentBuffer(locator, MAIN_FORKNUM, blkno, buf))
		return InvalidBuffer;
	pgstat_count_buffer_read(r->index);
	pgstat_count_buffer_hit(r->index);
	return buf;
}

/*
 * Ask the CPU for what reading the block will touch, if the hints know its
 * buffer: the buffer's descriptor and the page's header and special space.
 * The chain leads from page to page through the special space, so without
 * this each page read waits for the misses of the one before (warm 1M
 * binary top-10 with the buffers scattered over shared_buffers: 19.5 ->
 * 18.0 ms median; RSR_READ_AHEAD pages ahead, 4 and 8 measured alike).
 * Only a hint: the buffer may hold another page by now, and nothing is
 * read.  Inlined: GCC takes a function that only prefetches for one without
 * effects and drops its calls.
 */
static pg_attribute_always_inline void
PrefetchRecent(const RsrPageReader *r, BlockNumber blkno)
{
	Buffer		buf = RecentGet(r, blkno);
	const char *page;

	if (buf <= 0)
		return;					/* none, or a local buffer */
	page = (const char *) BufferGetBlock(buf);
	__builtin_prefetch(GetBufferDescriptor(buf - 1), 0, 3);
	__builtin_prefetch(page, 0, 3);
	__builtin_prefetch(page + BLCKSZ - 1, 0, 3);
}

/* Remember the buffer the block was read into */
static void
RememberBuffer(RsrPageReader *r, BlockNumber blkno, Buffer buf)
{
	RecentBuffers *rb;

	if (r->recent == RECENT_SHARED)
	{
		pg_atomic_write_u32(SharedSlot(r->recentKey, blkno), (uint32) buf);
		return;
	}
	rb = &recentBuffers[r->recent];
	if (!RsrLocatorEquals(rb->locator, RsrRelationLocator(r->index)))
		return;
	if (blkno >= rb->size)
	{
		BlockNumber size = Max(blkno + 1, r->relBlocks);

		size += size / 4;
		if (rb->bufs == NULL)
			rb->bufs = MemoryContextAllocZero(TopMemoryContext,
											  size * sizeof(Buffer));
		else
		{
			rb->bufs = repalloc(rb->bufs, size * sizeof(Buffer));
			memset(rb->bufs + rb->size, 0, (size - rb->size) * sizeof(Buffer));
		}
		rb->size = size;
	}
	rb->bufs[blkno] = buf;
}

/* Report a broken index the same way from every reader */
void
RsrPagesCorrupt(const RsrPageReader *r, const char *what, BlockNumber blkno,
				OffsetNumber off)
{
	if (r->index != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("rsr index \"%s\" is inconsistent: %s", r->name, what),
				 errdetail("Found at block %u, item %u.", blkno, off)));
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("rsr index \"%s\" is inconsistent: %s", r->name, what),
			 errdetail("Found at page %u of the copy, item %u.", blkno, off)));
}

/* Start reading the chain from `first` (InvalidBlockNumber: no page) */
void
RsrPagesBegin(RsrPageReader *r, Relation index, const RsrShape *shape,
			  BlockNumber first, BufferAccessStrategy strategy, int lockmode)
{
	memset(r, 0, sizeof(RsrPageReader));
	r->index = index;
	r->name = RelationGetRelationName(index);
	r->k = shape->k;
	r->nranges = shape->nranges;
	r->strategy = strategy;
	r->lockmode = lockmode;
	r->next = first;
	r->last = InvalidBlockNumber;
	r->startOff = FirstOffsetNumber;
	r->relBlocks = RelationGetNumberOfBlocks(index);
	r->recent = strategy == NULL ? RecentBegin(r, index) : -1;
}

/* Start reading `npages` page images, in chain order */
void
RsrPagesBeginImages(RsrPageReader *r, const char *name, uint32 k,
					uint32 nranges, const char *images, uint32 npages)
{
	memset(r, 0, sizeof(RsrPageReader));
	r->name = name;
	r->k = k;
	r->nranges = nranges;
	r->images = images;
	r->nimages = npages;
	r->next = npages > 0 ? 0 : InvalidBlockNumber;
	r->startOff = FirstOffsetNumber;
	r->recent = -1;
}

/* The header and special space must be those of an rsr data page */
static void
CheckPage(const RsrPageReader *r, Page page, BlockNumber blkno)
{
	PageHeader	ph = (PageHeader) page;

	if (PageIsNew(page) ||
		ph->pd_special != BLCKSZ - MAXALIGN(sizeof(RsrPageOpaqueData)) ||
		ph->pd_lower < SizeOfPageHeaderData || ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special ||
		RsrPageIsMeta(page) || RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID)
		RsrPagesCorrupt(r, "not a data page", blkno, 0);
}

/*
 * The chain goes forward through pages of the relation.  The relation may
 * have grown since the reader started (inserts go on during scans).
 */
static void
CheckChain(RsrPageReader *r, BlockNumber blkno)
{
	if (blkno >= r->relBlocks)
		r->relBlocks = RelationGetNumberOfBlocks(r->index);
	if (blkno == RSR_METAPAGE_BLKNO || blkno >= r->relBlocks ||
		(BlockNumberIsValid(r->last) && blkno <= r->last))
		RsrPagesCorrupt(r, "broken page chain", blkno, 0);
}

/* Read (pin, lock, check) the next page of the chain into the batch */
static void
ReadPage(RsrPageReader *r)
{
	BlockNumber blkno = r->next;
	Page		page;

	if (r->index != NULL)
	{
		Buffer		buf;

		CheckChain(r, blkno);
		if (r->recent >= 0)
			PrefetchRecent(r, blkno + RSR_READ_AHEAD);
		buf = r->recentTry ? ReadRecent(r, blkno) : InvalidBuffer;
		if (!BufferIsValid(buf))
		{
			buf = ReadBufferExtended(r->index, MAIN_FORKNUM, blkno,
									 RBM_NORMAL, r->strategy);
			if (r->recent >= 0)
				RememberBuffer(r, blkno, buf);
		}
		LockBuffer(buf, r->lockmode);
		r->bufs[r->npages] = buf;
		r->nbufs = r->npages + 1;
		page = BufferGetPage(buf);
	}
	else
		page = (Page) (r->images + (Size) blkno * BLCKSZ);
	r->pages[r->npages] = page;
	r->blknos[r->npages] = blkno;
	r->npages++;
	CheckPage(r, page, blkno);

	r->last = blkno;
	if (r->index != NULL)
		r->next = RsrPageGetOpaque(page)->nextblkno;
	else
		r->next = blkno + 1 < r->nimages ? blkno + 1 : InvalidBlockNumber;
}

/*
 * Whether the batch's last entry leaves a block of rows unfinished; if so,
 * *page and *off locate its head, or *page is -1 when the head lies before
 * the batch.  Bad items end the search: RsrPagesNextEntry() reports them.
 */
static bool
LastBlockOpen(const RsrPageReader *r, int *page, OffsetNumber *off)
{
	int			p;

	*page = -1;
	for (p = r->npages - 1; p >= 0; p--)
	{
		Page		pg = r->pages[p];
		OffsetNumber first = p == 0 ? r->batchStart : FirstOffsetNumber;
		OffsetNumber o;

		for (o = PageGetMaxOffsetNumber(pg); o >= first && o >= FirstOffsetNumber; o--)
		{
			ItemId		itemid = PageGetItemId(pg, o);
			RsrEntry	entry;

			if (!ItemIdIsUsed(itemid))
				continue;
			if (!ItemIdIsNormal(itemid) ||
				ItemIdGetLength(itemid) < offsetof(RsrEntryData, tids))
				return false;
			entry = (RsrEntry) PageGetItem(pg, itemid);
			if (entry->range >= r->nranges - 1)
				return false;	/* the last block is whole */
			if (entry->range == 0)
			{
				*page = p;
				*off = o;
				return true;
			}
		}
	}
	return true;
}

/*
 * Release the pages of the current batch, then read (pin, lock, check) up
 * to `maxpages` next ones, more or fewer so as not to split a block of at
 * most RSR_SPAN_PAGES pages (see the file header); the number read, 0 at
 * the end of the chain
 */
int
RsrPagesReadBatch(RsrPageReader *r, int maxpages)
{
	int			head;
	OffsetNumber headOff;

	Assert(maxpages >= 1 && maxpages <= RSR_SCAN_PAGES);
	RsrPagesReleaseBatch(r);
	r->npages = 0;
	r->cur = 0;
	r->batchStart = r->startOff;
	r->off = r->startOff;

	while (r->npages < maxpages && BlockNumberIsValid(r->next))
		ReadPage(r);
	r->cutPage = r->npages;
	r->cutOff = FirstOffsetNumber;

	while (r->index != NULL && r->npages > 0 &&
		   LastBlockOpen(r, &head, &headOff))
	{
		if (head > 0)
		{
			/* stop before the head; the next batch starts there */
			r->cutPage = head;
			r->cutOff = headOff;
			r->next = r->blknos[head];
			r->last = r->blknos[head - 1];
			r->startOff = headOff;
			return r->npages;
		}
		if (head < 0 || r->npages >= RSR_SPAN_PAGES ||
			!BlockNumberIsValid(r->next))
			break;				/* a block on more pages, or a torn one */
		ReadPage(r);
		r->cutPage = r->npages;
	}
	r->startOff = FirstOffsetNumber;
	return r->npages;
}

/* Unlock and unpin the pages of the current batch (buffer source) */
void
RsrPagesReleaseBatch(RsrPageReader *r)
{
	int			i;

	for (i = 0; i < r->nbufs; i++)
		UnlockReleaseBuffer(r->bufs[i]);
	r->nbufs = 0;
}

/* Read entries from `page` instead of page i of the batch (a WAL copy) */
void
RsrPagesUsePage(RsrPageReader *r, int i, Page page)
{
	Assert(i >= 0 && i < r->npages);
	r->pages[i] = page;
}

/*
 * Copy page i of the batch into dst as a page whose items are the entries
 * this batch yields (the others marked unused), so that a reader of the
 * copies (RsrPagesBeginImages) sees each entry once; false when the page
 * yields none and need not be copied
 */
bool
RsrPagesCopyPage(const RsrPageReader *r, int i, char *dst)
{
	Page		page = (Page) dst;
	OffsetNumber first = i == 0 ? r->batchStart : FirstOffsetNumber;
	OffsetNumber o;

	Assert(i >= 0 && i < r->npages);
	if (i > r->cutPage || (i == r->cutPage && r->cutOff <= first))
		return false;
	memcpy(dst, r->pages[i], BLCKSZ);
	for (o = FirstOffsetNumber; o <= PageGetMaxOffsetNumber(page); o++)
		if (o < first || (i == r->cutPage && o >= r->cutOff))
			ItemIdSetUnused(PageGetItemId(page, o));
	return true;
}

/*
 * The next entry of the batch, checked; false after its last one.  A head
 * (range 0) opens a block of rows; ranges 1..nranges-1 must follow it in
 * order.  A block whose head publishes no row yet (an insert under way, or
 * one a crash interrupted) may lack ranges.
 */
bool
RsrPagesNextEntry(RsrPageReader *r, RsrEntryItem *e)
{
	return RsrPagesNextEntryBefore(r, r->npages, e);
}

/* RsrPagesNextEntry() among the batch's pages before page `end` */
bool
RsrPagesNextEntryBefore(RsrPageReader *r, int end, RsrEntryItem *e)
{
	while (r->cur < Min(end, r->npages))
	{
		Page		page = r->pages[r->cur];
		BlockNumber blkno = r->blknos[r->cur];
		PageHeader	ph = (PageHeader) page;
		OffsetNumber off = r->off;
		ItemId		itemid;
		RsrEntry	entry;
		size_t		len;
		size_t		hdr;

		if (r->cur == r->cutPage && off >= r->cutOff)
			return false;		/* the next batch starts here */
		if (off > PageGetMaxOffsetNumber(page))
		{
			r->cur++;
			r->off = FirstOffsetNumber;
			continue;
		}
		r->off++;

		itemid = PageGetItemId(page, off);
		if (!ItemIdIsUsed(itemid))
			continue;			/* an entry an older VACUUM removed */
		len = ItemIdGetLength(itemid);
		if (!ItemIdIsNormal(itemid) || len < offsetof(RsrEntryData, tids) ||
			ItemIdGetOffset(itemid) < ph->pd_upper ||
			ItemIdGetOffset(itemid) + len > ph->pd_special)
			RsrPagesCorrupt(r, "bad item", blkno, off);
		entry = (RsrEntry) PageGetItem(page, itemid);
		hdr = RsrEntryHeaderSize(entry->range, r->k);
		if (len < hdr || entry->range >= r->nranges)
			RsrPagesCorrupt(r, "bad entry header", blkno, off);

		if (entry->range == 0)
		{
			if (entry->nrows > r->k)
				RsrPagesCorrupt(r, "row count above k", blkno, off);
			if (r->inBlock && r->headRows > 0)
				RsrPagesCorrupt(r, "block of rows with missing column ranges",
								blkno, off);
			r->inBlock = true;
			r->headRows = entry->nrows;
			r->headDead = entry->deadmask;
			r->nextRange = 0;
		}
		else if (!r->inBlock || entry->range != r->nextRange)
			RsrPagesCorrupt(r, "column range out of order", blkno, off);
		r->nextRange++;
		if (r->nextRange == r->nranges)
			r->inBlock = false;

		e->blkno = blkno;
		e->off = off;
		e->entry = entry;
		e->range = entry->range;
		e->nrows = r->headRows;
		e->skip = r->headDead |
			(r->headRows >= 32 ? 0 : ~(uint32) 0 << r->headRows);
		e->segment = (const uint8 *) entry + hdr;
		e->segsize = len - hdr;
		return true;
	}
	return false;
}

/* Release what the reader holds */
void
RsrPagesEnd(RsrPageReader *r)
{
	RsrPagesReleaseBatch(r);
	r->npages = 0;
}

/*
 * Bring the pages of the batch into the CPU's caches by reading each of
 * them whole, in address order, before RsrPagesNextEntry() and the kernels
 * read them in item order.  A scan reads every entry of the batch anyway,
 * but in pieces: the line pointers, then each entry's header and segment,
 * the entries at descending addresses on a page, one segment (about 1 kB)
 * at a time, and the hardware prefetcher does not follow that.  Each page
 * is read line by line; the first line of every 4 kB of the next page is
 * requested just before, so that the prefetcher is already streaming it
 * when the page's buffer does not follow the last one in memory.
 *
 * Measured on the project's AMD EPYC VM (Zen 5), warm top-10 over 1M x
 * 1024 binary rows, 1 thread: with the index's buffers in block order in
 * memory (a freshly started server) 24-25 ms with a prefetch of each
 * entry's header, 15.4-16.2 ms with this pass; with them scattered over
 * shared_buffers (5,300 of 17,860 after the one before) 27-28 ms, 23 ms
 * without the requests ahead, 20-21 ms with them.  Software prefetches
 * instead of the loads: 20-30 ms; passes over a few pages interleaved with
 * the lookups: no better.  A batch is at most RSR_SCAN_PAGES pages (1 MB),
 * which the caches keep until the kernels have read it.  Reads only: the
 * pages are pinned and share-locked, and a batch of images is memory the
 * caller owns.
 */
void
RsrPagesWarmBatch(const RsrPageReader *r)
{
	RsrPagesWarm(r, 0, r->npages);
}

/* RsrPagesWarmBatch() for the batch's pages [from, to) */
void
RsrPagesWarm(const RsrPageReader *r, int from, int to)
{
	int			i;
	int			off;

	to = Min(to, r->npages);
	for (i = from; i < to; i++)
	{
		const char *page = (const char *) r->pages[i];

		if (i == from)
			for (off = 0; off < BLCKSZ; off += 4096)
				__builtin_prefetch(page + off, 0, 3);
		if (i + 1 < to)
			for (off = 0; off < BLCKSZ; off += 4096)
				__builtin_prefetch((const char *) r->pages[i + 1] + off, 0, 3);
		for (off = 0; off < BLCKSZ; off += 64)
			(void) *(const volatile char *) (page + off);
	}
}
