/*-------------------------------------------------------------------------
 *
 * rsrcache.c
 *	  The backend's copy of a tile index for repeated searches
 *	  (rsr_vector.scan_cache_size).
 *
 * A warm search of a tile index spends most of its time on the index's
 * pages rather than in the kernels: every page is pinned and locked and
 * every entry's header read, one cache miss per segment, before the
 * kernels stream the segments.  With the cache on, a backend keeps a copy
 * of one tile index: its segments in one allocation, in chain order, with
 * the dead rows and heap TIDs of every block, and searches it the way the
 * engine searches its own memory.  The copy costs its size in backend
 * memory (about the index's size), so it is off by default and bounded by
 * the setting; an index larger than that is never copied.
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

#define RSR_CACHE_MISSES	2	/* rebuilds serving one search each ... */
#define RSR_CACHE_BACKOFF	32	/* ... turn the copy off for this many */

/* Kilobytes of the copy a backend may keep; 0 = off (the GUC) */
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

typedef struct ScanCache
{
	bool		valid;
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
	Oid			lastRelid;		/* the index the counters below are for */
	int			misses;			/* rebuilds in a row that served 1 search */
	int			uses;			/* searches of the current copy */
	int			skip;			/* searches left without the copy */
} ScanCache;

static ScanCache cache;

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

/* Give the copy's memory back */
static void
Release(void)
{
	cache.valid = false;
	if (cache.arena != NULL)
		pfree(cache.arena);
	if (cache.refs != NULL)
		pfree(cache.refs);
	if (cache.tids != NULL)
		pfree(cache.tids);
	cache.arena = NULL;
	cache.refs = NULL;
	cache.tids = NULL;
	cache.arenaCap = cache.refsCap = cache.tidsCap = 0;
	cache.arenaUsed = 0;
	cache.nrefs = 0;
	cache.nblocks = 0;
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
 * Copy the index's entries into the cache; false when they exceed the
 * size allowed (the cache is then empty)
 */
static bool
Build(Relation index, const RsrShape *shape, BlockNumber first)
{
	Size		limit = (Size) rsr_scan_cache_size * 1024;
	RsrPageReader reader;
	RsrEntryItem e;
	size_t		i;

	BlockNumber pages = RelationGetNumberOfBlocks(index);

	cache.valid = false;
	cache.arenaUsed = 0;
	cache.nrefs = 0;
	cache.nblocks = 0;

	/*
	 * Room for what the pages can hold, at once: growing by copies would
	 * touch the memory several times
	 */
	cache.arena = Grow(cache.arena, &cache.arenaCap,
					   Min(limit, (Size) pages * BLCKSZ));
	cache.refs = Grow(cache.refs, &cache.refsCap,
					  (Size) pages * 8 * sizeof(RsrTileRef));
	cache.tids = Grow(cache.tids, &cache.tidsCap,
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
			if (cache.arenaUsed + seg > limit)
			{
				RsrPagesEnd(&reader);
				cache.arenaUsed = 0;
				cache.nrefs = 0;
				return false;
			}
			if (e.range == 0)
			{
				cache.tids = Grow(cache.tids, &cache.tidsCap,
								  (Size) (cache.nblocks + 1) * RSR_TILE_ROWS *
								  sizeof(ItemPointerData));
				memset(cache.tids + (Size) cache.nblocks * RSR_TILE_ROWS, 0,
					   RSR_TILE_ROWS * sizeof(ItemPointerData));
				memcpy(cache.tids + (Size) cache.nblocks * RSR_TILE_ROWS,
					   e.entry->tids, Min(e.nrows, RSR_TILE_ROWS) * sizeof(ItemPointerData));
				cache.nblocks++;
			}
			else if (cache.nblocks == 0)
				RsrPagesCorrupt(&reader, "a column range precedes every head",
								e.blkno, e.off);
			cache.arena = Grow(cache.arena, &cache.arenaCap, cache.arenaUsed + seg);
			cache.refs = Grow(cache.refs, &cache.refsCap,
							  (cache.nrefs + 1) * sizeof(RsrTileRef));
			memcpy(cache.arena + cache.arenaUsed, e.segment, e.segsize);
			ref = &cache.refs[cache.nrefs++];
			ref->data = (const uint8 *) (uintptr_t) cache.arenaUsed;	/* offset for now */
			ref->size = (uint32) e.segsize;
			ref->dead = e.skip;
			ref->id = (uint64) (cache.nblocks - 1) * RSR_TILE_ROWS;
			cache.arenaUsed += seg;
		}
		RsrPagesReleaseBatch(&reader);
		CHECK_FOR_INTERRUPTS();
	}
	RsrPagesEnd(&reader);
	for (i = 0; i < cache.nrefs; i++)
		cache.refs[i].data = cache.arena + (uintptr_t) cache.refs[i].data;
	cache.shape = *shape;
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
	CacheKey	key;
	CacheKey	after;
	RsrShape	shape;
	BlockNumber first;

	if (rsr_scan_cache_size <= 0)
	{
		Release();
		return false;
	}
	if (cache.lastRelid != RelationGetRelid(index))
	{
		cache.lastRelid = RelationGetRelid(index);
		cache.misses = 0;
		cache.skip = 0;
	}
	if (cache.skip > 0)
	{
		cache.skip--;
		return false;
	}

	ReadKey(index, &key, &shape, &first);
	if (shape.dims == 0 || shape.layout != RSR_LAYOUT_TILE)
		return false;
	if (!(cache.valid && KeyEqual(&cache.key, &key)))
	{
		/* a copy that served one search only, then changed: a miss */
		if (cache.valid && cache.key.relid == key.relid && cache.uses <= 1 &&
			++cache.misses >= RSR_CACHE_MISSES)
		{
			cache.misses = 0;
			cache.skip = RSR_CACHE_BACKOFF;
			cache.valid = false;
			return false;
		}
		if (!Build(index, &shape, first))
		{
			Release();			/* too large: give its memory back */
			cache.skip = RSR_CACHE_BACKOFF;
			return false;
		}
		ReadKey(index, &after, &shape, &first);
		if (!KeyEqual(&key, &after))
			return false;		/* changed meanwhile: read the pages */
		cache.key = key;
		cache.valid = true;
		cache.uses = 0;
	}
	else
		cache.misses = 0;
	cache.uses++;
	*refs = cache.refs;
	*nrefs = cache.nrefs;
	*shapeOut = cache.shape;
	return true;
}

/* The heap TID of a row RsrCacheGet()'s copy named by id */
bool
RsrCacheTid(uint64 id, ItemPointer tid)
{
	uint64		block = id / RSR_TILE_ROWS;

	if (!cache.valid || block >= cache.nblocks)
		return false;
	*tid = cache.tids[id];
	return ItemPointerIsValid(tid);
}
