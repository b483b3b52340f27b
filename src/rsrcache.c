/*-------------------------------------------------------------------------
 *
 * rsrcache.c
 *	  The backend's copy of a tile index for repeated searches
 *	  (rsr_vector.scan_cache_size).
 *
 * A warm search of a tile index spends most of its time on the index's
 * pages rather than in the kernels: every page is pinned and locked and
 * every entry's header read, one cache miss per segment, before the
 * kernels stream the segments.  With the cache on, a backend keeps copies
 * of up to RSR_CACHE_INDEXES tile indexes: each one's segments in one
 * allocation, in chain order, with the dead rows and heap TIDs of every
 * block, searched the way the engine searches its own memory.  A copy
 * costs its size in backend memory (about the index's size), so the cache
 * is off by default and its copies together are bounded by the setting:
 * to copy an index the backend first drops the copies used longest ago
 * until the new one fits, and an index larger than the setting is never
 * copied.
 *
 * The copy is valid while the index is unchanged.  It is keyed by the
 * index (relation OID and file) and by the metapage's counters:
 * changeCount plus the rows the open heads hold past the counted ones
 * (RsrMetaCopy), which every insert, every new block and every VACUUM
 * that marks rows dead grow, and reclaimCount, which every VACUUM that
 * removes or moves rows grows (the GPU worker keys its resident copy the
 * same way).  Each search reads them under the metapage's share lock; if
 * they differ from the copy's, the copy is rebuilt from the pages, and if
 * they changed while it was being rebuilt the copy is dropped and the
 * search reads the pages.  An index that changes between searches
 * (inserts) stops being copied for RSR_CACHE_BACKOFF searches after
 * RSR_CACHE_MISSES rebuilds in a row that served a single search.
 *
 * Why results stay exact.  Unchanged counters mean that the pages hold the
 * entries the copy holds, so a search of the copy returns what a search of
 * the pages would return at that moment.  A change after the check is
 * like one after a scan read the pages: rows added belong to transactions
 * that commit after the snapshot, and rows VACUUM marks dead are dead to
 * every snapshot; their TIDs, even if the heap gives them to new rows
 * meanwhile, name rows the snapshot cannot see.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrcache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "pg_compat.h"
#include "rsr_index.h"

#define RSR_CACHE_INDEXES	4	/* copies a backend keeps at most */
#define RSR_CACHE_MISSES	2	/* rebuilds serving one search each ... */
#define RSR_CACHE_BACKOFF	32	/* ... turn the index's copy off for this
								 * many of its searches */

/* Kilobytes of copies a backend may keep; 0 = off (the GUC) */
int			rsr_scan_cache_size = 0;

/* The version of an index's contents the copy holds */
typedef struct CacheKey
{
	Oid			relid;
	RsrFileLocator locator;
	uint64		changeCount;	/* with the open heads' rows (RsrMetaCopy) */
	uint64		reclaimCount;
	uint64		nblocks;
	uint64		ntuples;
} CacheKey;

/* One index's copy, and its backoff */
typedef struct ScanCache
{
	Oid			relid;			/* the index; InvalidOid: a free slot */
	uint64		lastUse;		/* for replacement: the oldest goes */
	bool		valid;			/* the copy below is the index's at key */
	CacheKey	key;
	RsrShape	shape;
	uint8	   *arena;			/* the segments, MAXALIGNed, chain order */
	Size		arenaCap;
	Size		arenaUsed;
	RsrTileRef *refs;			/* data: into arena; id: block * 32 */
	Size		refsCap;		/* bytes */
	size_t		nrefs;
	ItemPointerData *tids;		/* block b's row r: tids[b * 32 + r] */
	Size		tidsCap;		/* bytes */
	uint32		nblocks;
	/* backoff */
	int			misses;			/* rebuilds in a row that served 1 search */
	int			uses;			/* searches of the current copy */
	int			skip;			/* searches left without the copy */
} ScanCache;

static ScanCache caches[RSR_CACHE_INDEXES];
static ScanCache *current = NULL;	/* the copy RsrCacheGet() returned last */
static uint64 cacheClock = 0;

/*
 * The index's identity and content counters, its shape and its first data
 * page, under the metapage's lock
 */
static void
ReadKey(Relation index, CacheKey *key, RsrShape *shape, BlockNumber *first)
{
	Buffer		metabuf;
	RsrMetaPageData meta;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrMetaCopy(index, BufferGetPage(metabuf), &meta);
	UnlockReleaseBuffer(metabuf);

	memset(key, 0, sizeof(CacheKey));
	key->relid = RelationGetRelid(index);
	key->locator = RsrRelationLocator(index);
	key->changeCount = meta.changeCount;
	key->reclaimCount = meta.reclaimCount;
	key->nblocks = meta.nblocks;
	key->ntuples = meta.ntuples;
	RsrShapeFromMeta(&meta, shape);
	*first = meta.firstBlkno;
}

static bool
KeyEqual(const CacheKey *a, const CacheKey *b)
{
	return a->relid == b->relid && RsrLocatorEquals(a->locator, b->locator) &&
		a->changeCount == b->changeCount && a->reclaimCount == b->reclaimCount &&
		a->nblocks == b->nblocks && a->ntuples == b->ntuples;
}

/* Give a copy's memory back (the slot keeps its index and backoff) */
static void
Release(ScanCache *c)
{
	c->valid = false;
	if (c->arena != NULL)
		pfree(c->arena);
	if (c->refs != NULL)
		pfree(c->refs);
	if (c->tids != NULL)
		pfree(c->tids);
	c->arena = NULL;
	c->refs = NULL;
	c->tids = NULL;
	c->arenaCap = c->refsCap = c->tidsCap = 0;
	c->arenaUsed = 0;
	c->nrefs = 0;
	c->nblocks = 0;
	if (current == c)
		current = NULL;
}

/* Bytes of segments the copies other than c hold room for */
static Size
OthersSize(const ScanCache *c)
{
	Size		size = 0;

	for (int i = 0; i < RSR_CACHE_INDEXES; i++)
		if (&caches[i] != c)
			size += caches[i].arenaCap;
	return size;
}

/*
 * Drop the copies used longest ago, other than c's, until they leave room
 * for `need` bytes of segments within the setting's `limit`
 */
static void
MakeRoom(const ScanCache *c, Size need, Size limit)
{
	while (OthersSize(c) + need > limit)
	{
		ScanCache  *victim = NULL;

		for (int i = 0; i < RSR_CACHE_INDEXES; i++)
			if (&caches[i] != c && caches[i].arena != NULL &&
				(victim == NULL || caches[i].lastUse < victim->lastUse))
				victim = &caches[i];
		if (victim == NULL)
			return;
		Release(victim);
	}
}

/* The slot of the index, taken over from the one used longest ago if new */
static ScanCache *
Slot(Oid relid)
{
	ScanCache  *victim = NULL;

	for (int i = 0; i < RSR_CACHE_INDEXES; i++)
	{
		if (caches[i].relid == relid)
			return &caches[i];
		if (victim == NULL ||
			(victim->relid != InvalidOid &&
			 (caches[i].relid == InvalidOid || caches[i].lastUse < victim->lastUse)))
			victim = &caches[i];
	}
	Release(victim);
	victim->relid = relid;
	victim->misses = victim->uses = victim->skip = 0;
	return victim;
}

/* Grow *mem (kept in TopMemoryContext) to at least `need` bytes */
static void *
Grow(void *mem, Size *cap, Size need)
{
	Size		size = Max(need, Max(*cap * 2, (Size) 1 << 16));

	if (need <= *cap)
		return mem;
	mem = mem == NULL ?
		MemoryContextAllocExtended(TopMemoryContext, size, MCXT_ALLOC_HUGE) :
		repalloc_huge(mem, size);
	*cap = size;
#ifdef MADV_HUGEPAGE

	/*
	 * Transparent huge pages where the system offers them on request: the
	 * copy is filled once and read by every search, and 4 kB pages cost a
	 * fault each to fill and a TLB miss each to read
	 */
	{
		uintptr_t	lo = TYPEALIGN((uintptr_t) 2 << 20, (uintptr_t) mem);
		uintptr_t	hi = TYPEALIGN_DOWN((uintptr_t) 2 << 20, (uintptr_t) mem + size);

		if (hi > lo)
			(void) madvise((void *) lo, hi - lo, MADV_HUGEPAGE);
	}
#endif
	return mem;
}

/*
 * Copy the index's entries into c; false when they exceed the `limit`
 * bytes allowed (c is then empty)
 */
static bool
Build(ScanCache *c, Relation index, const RsrShape *shape, BlockNumber first,
	  Size limit)
{
	RsrPageReader reader;
	RsrEntryItem e;
	size_t		i;

	BlockNumber pages = RelationGetNumberOfBlocks(index);

	c->valid = false;
	c->arenaUsed = 0;
	c->nrefs = 0;
	c->nblocks = 0;

	/*
	 * Room for what the pages can hold, at once: growing by copies would
	 * touch the memory several times
	 */
	c->arena = Grow(c->arena, &c->arenaCap,
					   Min(limit, (Size) pages * BLCKSZ));
	c->refs = Grow(c->refs, &c->refsCap,
					  (Size) pages * 8 * sizeof(RsrTileRef));
	c->tids = Grow(c->tids, &c->tidsCap,
					  (Size) pages * 2 * RSR_TILE_ROWS * sizeof(ItemPointerData));
	RsrPagesBegin(&reader, index, shape, first, NULL, BUFFER_LOCK_SHARE);
	while (RsrPagesReadBatch(&reader, RSR_SCAN_PAGES) > 0)
	{
		RsrPagesWarmBatch(&reader);
		while (RsrPagesNextEntry(&reader, &e))
		{
			Size		seg = MAXALIGN(e.segsize);
			RsrTileRef *ref;

			if (e.nrows == 0)
				continue;		/* a block no insert published yet */
			if (c->arenaUsed + seg > limit)
			{
				RsrPagesEnd(&reader);
				c->arenaUsed = 0;
				c->nrefs = 0;
				return false;
			}
			if (e.range == 0)
			{
				c->tids = Grow(c->tids, &c->tidsCap,
								  (Size) (c->nblocks + 1) * RSR_TILE_ROWS *
								  sizeof(ItemPointerData));
				memset(c->tids + (Size) c->nblocks * RSR_TILE_ROWS, 0,
					   RSR_TILE_ROWS * sizeof(ItemPointerData));
				memcpy(c->tids + (Size) c->nblocks * RSR_TILE_ROWS,
					   e.entry->tids, Min(e.nrows, RSR_TILE_ROWS) * sizeof(ItemPointerData));
				c->nblocks++;
			}
			else if (c->nblocks == 0)
				RsrPagesCorrupt(&reader, "a column range precedes every head",
								e.blkno, e.off);
			c->arena = Grow(c->arena, &c->arenaCap, c->arenaUsed + seg);
			c->refs = Grow(c->refs, &c->refsCap,
							  (c->nrefs + 1) * sizeof(RsrTileRef));
			memcpy(c->arena + c->arenaUsed, e.segment, e.segsize);
			ref = &c->refs[c->nrefs++];
			ref->data = (const uint8 *) (uintptr_t) c->arenaUsed;	/* offset for now */
			ref->size = (uint32) e.segsize;
			ref->dead = e.skip;
			ref->id = (uint64) (c->nblocks - 1) * RSR_TILE_ROWS;
			c->arenaUsed += seg;
		}
		RsrPagesReleaseBatch(&reader);
		CHECK_FOR_INTERRUPTS();
	}
	RsrPagesEnd(&reader);
	for (i = 0; i < c->nrefs; i++)
		c->refs[i].data = c->arena + (uintptr_t) c->refs[i].data;
	c->shape = *shape;
	return true;
}

/*
 * The cached copy of a tile index for a search: its segment references
 * (*refs, *nrefs; ids are block * 32) when the cache is on and the copy is
 * current, rebuilding it if needed; false when the search must read the
 * pages (cache off or backing off, index too large, or changed while it
 * was being copied)
 */
bool
RsrCacheGet(Relation index, const RsrTileRef **refs, size_t *nrefs,
			RsrShape *shapeOut)
{
	Size		limit = (Size) rsr_scan_cache_size * 1024;
	CacheKey	key;
	CacheKey	after;
	RsrShape	shape;
	BlockNumber first;
	ScanCache  *c;
	Size		size;

	current = NULL;
	if (rsr_scan_cache_size <= 0)
	{
		for (int i = 0; i < RSR_CACHE_INDEXES; i++)
			Release(&caches[i]);
		return false;
	}
	MakeRoom(NULL, 0, limit);	/* the setting may have shrunk */
	c = Slot(RelationGetRelid(index));
	c->lastUse = ++cacheClock;
	if (c->skip > 0)
	{
		c->skip--;
		return false;
	}

	ReadKey(index, &key, &shape, &first);
	if (shape.dims == 0 || shape.layout != RSR_LAYOUT_TILE)
		return false;
	if (!(c->valid && KeyEqual(&c->key, &key)))
	{
		/* a copy that served one search only, then changed: a miss */
		if (c->valid && c->uses <= 1 && ++c->misses >= RSR_CACHE_MISSES)
		{
			c->misses = 0;
			c->skip = RSR_CACHE_BACKOFF;
			Release(c);
			return false;
		}
		/* an index larger than the setting is not copied (nor room made) */
		size = (Size) RelationGetNumberOfBlocks(index) * BLCKSZ;
		if (size > limit)
		{
			Release(c);
			c->skip = RSR_CACHE_BACKOFF;
			return false;
		}
		MakeRoom(c, size, limit);
		if (!Build(c, index, &shape, first, limit - Min(limit, OthersSize(c))))
		{
			Release(c);			/* too large: give its memory back */
			c->skip = RSR_CACHE_BACKOFF;
			return false;
		}
		ReadKey(index, &after, &shape, &first);
		if (!KeyEqual(&key, &after))
			return false;		/* changed meanwhile: read the pages */
		c->key = key;
		c->valid = true;
		c->uses = 0;
	}
	else
		c->misses = 0;
	c->uses++;
	current = c;
	*refs = c->refs;
	*nrefs = c->nrefs;
	*shapeOut = c->shape;
	return true;
}

/* The heap TID of a row RsrCacheGet()'s last copy named by id */
bool
RsrCacheTid(uint64 id, ItemPointer tid)
{
	uint64		block = id / RSR_TILE_ROWS;

	if (current == NULL || !current->valid || block >= current->nblocks)
		return false;
	*tid = current->tids[id];
	return ItemPointerIsValid(tid);
}
