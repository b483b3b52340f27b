/*-------------------------------------------------------------------------
 *
 * gpu_copies.c
 *	  The GPU worker's resident index copies: the CUDA library, loading the
 *	  page images a backend streams, listing their segments, uploading them
 *	  to the device, finding and evicting copies.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_copies.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "gpu_worker.h"

#define RSR_GPU_IDLE_MS		(10 * 60 * 1000)	/* drop copies unused so long */

CudaApi		GpuCuda;
uint64		GpuCopyDrops;
static dlist_head copies = DLIST_STATIC_INIT(copies);

/* Load rsr_vector_cuda and check for a device; false (logged) if none */
bool
GpuStartCuda(void)
{
	char		path[MAXPGPATH];
	int			count = 0;
	RsrCudaStatus status;

	snprintf(path, sizeof(path), "%s/rsr_vector_cuda%s", pkglib_path, DLSUFFIX);
	GpuCuda.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (GpuCuda.lib == NULL)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: could not load \"%s\"", path),
				 errdetail("%s", dlerror()),
				 errhint("Build it with \"make WITH_CUDA=1\", or set rsr_vector.gpu_worker_engine to cpu.")));
		GpuSetReady(false, "rsr_vector_cuda library not found");
		return false;
	}
	GpuCuda.device_count = (cuda_device_count_fn) dlsym(GpuCuda.lib, "rsr_cuda_device_count");
	GpuCuda.index_upload = (cuda_index_upload_fn) dlsym(GpuCuda.lib, "rsr_cuda_index_upload");
	GpuCuda.index_free = (cuda_index_free_fn) dlsym(GpuCuda.lib, "rsr_cuda_index_free");
	GpuCuda.index_set_live = (cuda_index_set_live_fn) dlsym(GpuCuda.lib, "rsr_cuda_index_set_live");
	GpuCuda.gemm = (cuda_gemm_fn) dlsym(GpuCuda.lib, "rsr_cuda_gemm");
	GpuCuda.topn_batch = (cuda_topn_batch_fn) dlsym(GpuCuda.lib, "rsr_cuda_topn_batch");
	GpuCuda.status_string = (cuda_status_string_fn) dlsym(GpuCuda.lib, "rsr_cuda_status_string");
	GpuCuda.last_error = (cuda_last_error_fn) dlsym(GpuCuda.lib, "rsr_cuda_last_error");
	if (!GpuCuda.device_count || !GpuCuda.index_upload || !GpuCuda.index_free ||
		!GpuCuda.index_set_live || !GpuCuda.gemm || !GpuCuda.topn_batch ||
		!GpuCuda.status_string || !GpuCuda.last_error)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: \"%s\" lacks a function", path)));
		GpuSetReady(false, "rsr_vector_cuda library incomplete");
		return false;
	}

	/* The first CUDA call creates the context, in this process only */
	status = GpuCuda.device_count(&count);
	if (status != RSR_CUDA_OK || count == 0)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: no CUDA device"),
				 errdetail("%s %s", GpuCuda.status_string(status), GpuCuda.last_error())));
		GpuSetReady(false, "no CUDA device");
		return false;
	}
	GpuSetReady(true, "cuda device 0");
	return true;
}

/* Drop a resident copy */
static void
DropCopy(IndexCopy *c)
{
	dlist_delete(&c->node);
	GpuCopyDrops++;
	if (c->cuda)
		GpuCuda.index_free(c->cuda);
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->evictions++;
	RsrGpu->entries--;
	RsrGpu->residentBytes -= c->bytes;
	LWLockRelease(RsrGpu->lock);
	MemoryContextDelete(c->ctx);	/* c lives in it */
}

/* Drop copies idle too long, then the least recently used beyond the budget */
void
GpuEvictCopies(Size keep)
{
	dlist_mutable_iter iter;
	Size		total = keep;
	TimestampTz now = GetCurrentTimestamp();

	dlist_foreach_modify(iter, &copies)
	{
		IndexCopy  *c = dlist_container(IndexCopy, node, iter.cur);

		if (TimestampDifferenceExceeds(c->lastUsed, now, RSR_GPU_IDLE_MS) ||
			total + c->bytes > (Size) rsr_gpu_memory * 1024 * 1024)
			DropCopy(c);
		else
			total += c->bytes;
	}
	if (dlist_is_empty(&copies))
		GpuFreeScratch();
}

/*
 * The CPU engine searches the tiles of an index of layout (c) directly
 * (rsr_tile_*, exact): list them as tile references, each block's ranges
 * with the slot of its row 0 and the mask of its slots that are not live.
 * Every segment is validated (checksum included) once, here.  The segments
 * are copied one after the other into one arena, in the order a search
 * reads them, and the page images are freed: in the images a page's
 * entries lie at descending addresses, which the hardware prefetcher does
 * not follow (1M x 1024 binary, warm top-10 through the worker: 32 ms,
 * a third of it on the first load of each segment's header), and the
 * images took twice the index's size.
 */
static void
ListTiles(IndexCopy *c)
{
	Size		total = 0;
	char	   *arena;
	size_t		i;

	for (i = 0; i < c->nrefs; i++)
		total += MAXALIGN(c->refs[i].size);
	arena = palloc_extended(Max(total, 1), MCXT_ALLOC_HUGE);
	c->tiles = palloc_extended(Max(c->nrefs, 1) * sizeof(RsrTileRef),
							   MCXT_ALLOC_HUGE);
	for (i = 0; i < c->nrefs; i++)
	{
		RsrSegmentInfo info;
		uint64		slot = c->refs[i].out;
		uint32		dead = 0;
		uint32		r;

		if (rsr_segment_validate(c->refs[i].data, c->refs[i].size, &info) != RSR_OK ||
			info.layout != RSR_LAYOUT_TILE || info.dims != c->dims ||
			c->k != RSR_TILE_ROWS)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("rsr index %u sent to the gpu worker has a corrupt segment",
							c->indexOid)));
		for (r = 0; r < RSR_TILE_ROWS; r++)
			if (!c->live[slot + r])
				dead |= (uint32) 1 << r;
		memcpy(arena, c->refs[i].data, c->refs[i].size);
		c->refs[i].data = (const uint8 *) arena;
		arena += MAXALIGN(c->refs[i].size);
		c->tiles[i].data = c->refs[i].data;
		c->tiles[i].size = c->refs[i].size;
		c->tiles[i].dead = dead;
		c->tiles[i].id = slot;
	}
	pfree(c->pages);
	c->pages = NULL;
}

/*
 * The CUDA kernels run on layout (b): the tiles of an index of layout (c)
 * become two segments of 16 rows per column range at upload, decoded with
 * rsr_segment_get_row() and built again with rsr_segment_build().  The
 * halves of a block are listed one after the other, each with its ranges
 * in order (segments sharing an out adjacent).
 */
static void
TilesToBuckets(IndexCopy *c)
{
	RsrKind		kind = (RsrKind) c->kind;
	size_t		plane = ((size_t) c->dims + 7) / 8;
	size_t		rb = rsr_row_bytes(kind, c->dims);
	uint8	   *rows = palloc(16 * rb);
	uint8	   *part = palloc(rb);
	const uint8 *ptrs[16];
	RsrSegmentRef *out = palloc_extended(2 * c->nrefs * sizeof(RsrSegmentRef),
										 MCXT_ALLOC_HUGE);
	size_t		n = 0;
	size_t		i = 0;
	uint32		r;

	for (r = 0; r < 16; r++)
		ptrs[r] = rows + r * rb;
	while (i < c->nrefs)
	{
		size_t		j = i;
		uint32		half;

		while (j < c->nrefs && c->refs[j].out == c->refs[i].out)
			j++;
		for (half = 0; half < 2; half++)
		{
			size_t		k;

			for (k = i; k < j; k++)
			{
				RsrSegmentInfo info;
				uint32		h0 = half * 16;
				uint32		hn;
				size_t		cap;
				size_t		size;
				uint8	   *seg;
				size_t		pb;

				if (rsr_segment_validate(c->refs[k].data, c->refs[k].size, &info) != RSR_OK ||
					info.layout != RSR_LAYOUT_TILE || info.dims != c->dims)
					ereport(ERROR,
							(errcode(ERRCODE_INDEX_CORRUPTED),
							 errmsg("rsr index %u sent to the gpu worker has a corrupt segment",
									c->indexOid)));
				if (info.nrows <= h0)
					continue;
				hn = Min(16, info.nrows - h0);
				pb = (info.ncols + 7) / 8;
				memset(rows, 0, 16 * rb);
				for (r = 0; r < hn; r++)
				{
					if (rsr_segment_get_row(c->refs[k].data, c->refs[k].size,
											h0 + r, part, rb) != RSR_OK)
						elog(ERROR, "could not decode an rsr tile");
					memcpy(rows + r * rb + info.col_start / 8, part, pb);
					if (kind == RSR_KIND_TERNARY)
						memcpy(rows + r * rb + plane + info.col_start / 8, part + pb, pb);
				}
				cap = rsr_segment_max_size(kind, RSR_LAYOUT_BUCKET, 16, info.ncols);
				seg = palloc(cap);
				if (rsr_segment_build(kind, RSR_LAYOUT_BUCKET, 16, ptrs, hn, c->dims,
									  info.col_start, info.ncols, seg, cap,
									  &size) != RSR_OK)
					elog(ERROR, "could not convert an rsr tile");
				out[n].data = seg;
				out[n].size = (uint32) size;
				out[n].out = c->refs[k].out + h0;
				n++;
			}
		}
		i = j;
	}
	pfree(rows);
	pfree(part);
	pfree(c->refs);
	c->refs = out;
	c->nrefs = n;
}

/*
 * List the slots and segments of the page images with the reader the CPU
 * scan uses: every head entry opens a block of k slots, other ranges score
 * into the block of the head before them.
 */
static void
ParsePages(IndexCopy *c)
{
	size_t		refcap = 1024;
	uint64		slotcap = 1024;
	RsrPageReader reader;
	RsrEntryItem e;
	size_t		i;

	c->refs = palloc(refcap * sizeof(RsrSegmentRef));
	c->tids = palloc(slotcap * sizeof(ItemPointerData));
	c->live = palloc0(slotcap * sizeof(bool));
	RsrPagesBeginImages(&reader, psprintf("%u", c->indexOid), c->k,
						c->nranges, c->pages, c->npages);
	while (RsrPagesReadBatch(&reader, RSR_SCAN_PAGES) > 0)
	{
		while (RsrPagesNextEntry(&reader, &e))
		{
			if (e.range == 0)
			{
				uint32		r;

				if (c->nslots + c->k > slotcap)
				{
					slotcap *= 2;
					c->tids = repalloc_huge(c->tids, slotcap * sizeof(ItemPointerData));
					c->live = repalloc_huge(c->live, slotcap * sizeof(bool));
				}
				memcpy(c->tids + c->nslots, e.entry->tids,
					   e.nrows * sizeof(ItemPointerData));
				for (r = 0; r < c->k; r++)
					c->live[c->nslots + r] = (e.skip & ((uint32) 1 << r)) == 0;
				c->nslots += c->k;
			}

			if (c->nrefs == refcap)
			{
				refcap *= 2;
				c->refs = repalloc_huge(c->refs, refcap * sizeof(RsrSegmentRef));
			}
			c->refs[c->nrefs].data = e.segment;
			c->refs[c->nrefs].size = e.segsize;
			c->refs[c->nrefs].out = c->nslots - c->k;
			c->nrefs++;
		}
	}
	RsrPagesEnd(&reader);
	if (c->nslots > PG_UINT32_MAX - RSR_INDEX_MAX_K)
		elog(ERROR, "rsr index too large for the gpu worker");

	if (c->nrefs > 0 && c->refs[0].size > 3 &&
		c->refs[0].data[3] == RSR_LAYOUT_TILE)
	{
		if (rsr_gpu_worker_engine == RSR_ENGINE_CUDA)
			TilesToBuckets(c);
		else
			ListTiles(c);
	}

	/* every block opens with its head entry, so each has at least one ref */
	c->nblocks = c->nslots / c->k;
	c->blockRefs = palloc((c->nblocks + 1) * sizeof(uint32));
	for (i = 0; i < c->nrefs; i++)
		if (i == 0 || c->refs[i].out / c->k != c->refs[i - 1].out / c->k)
			c->blockRefs[c->refs[i].out / c->k] = (uint32) i;
	c->blockRefs[c->nblocks] = (uint32) c->nrefs;
}

/*
 * Put a copy's segments on the device with the mask of its live slots, so
 * that the device's top-n never returns a dead row or a slot past a block's
 * rows (which scores 0 there).  A failure is kept in c->error.
 */
static void
UploadCopy(IndexCopy *c)
{
	Size		cap = c->nslots + RSR_INDEX_MAX_K;	/* nout <= nslots - k + RSR_INDEX_MAX_K */
	uint8	   *live;
	RsrSegmentInfo info;
	RsrCudaStatus status;
	const char *why;
	uint64		i;

	/*
	 * The device reads as many floats of each query as the segments have
	 * dimensions (the upload checks that they all agree with the first)
	 */
	if (rsr_segment_validate(c->refs[0].data, c->refs[0].size, &info) != RSR_OK)
		why = "corrupt segment";
	else if (info.dims != c->dims)
		why = psprintf("segments of %u dimensions in an index of %u",
					   info.dims, c->dims);
	else
	{
		/* allocated before the upload: an error after it would leak the device memory */
		live = MemoryContextAllocHuge(CurrentMemoryContext, cap);
		for (i = 0; i < cap; i++)
			live[i] = i < c->nslots && c->live[i];
		status = GpuCuda.index_upload(0, c->refs, c->nrefs, NULL, &c->cuda, &c->nout);
		if (status == RSR_CUDA_OK && c->nout > cap)
			status = RSR_CUDA_EINVAL;	/* cannot happen: blocks of <= RSR_INDEX_MAX_K rows */
		if (status == RSR_CUDA_OK)
			status = GpuCuda.index_set_live(c->cuda, live, c->nout, NULL);
		pfree(live);
		if (status == RSR_CUDA_OK)
			return;
		GpuCuda.index_free(c->cuda);
		c->cuda = NULL;
		why = psprintf("%s %s", GpuCuda.status_string(status), GpuCuda.last_error());
	}
	/* kept, so that later requests fail without streaming the pages again */
	c->error = MemoryContextStrdup(c->ctx,
								   psprintf("could not upload the index to the GPU: %s", why));
}

/* GpuReceive the pages of an index version and make them a resident copy */
IndexCopy *
GpuLoadCopy(const RsrGpuRequest *req, shm_mq_handle *in, shm_mq_handle *out)
{
	IndexCopy  *c;
	MemoryContext ctx;
	MemoryContext old;
	uint32		cap = 64;
	Size		maxBytes = (Size) rsr_gpu_memory * 1024 * 1024;
	uint32		need = RSR_GPU_NEED_DATA;

	if (!GpuSend(out, &need, sizeof(need)))
		return NULL;

	/* Under the request context until complete, so an error frees it */
	ctx = AllocSetContextCreate(GpuRequestCtx, "rsr gpu index copy",
								ALLOCSET_DEFAULT_SIZES);
	c = MemoryContextAllocZero(ctx, sizeof(IndexCopy));
	c->ctx = ctx;
	c->dbOid = req->dbOid;
	c->indexOid = req->indexOid;
	c->relNode = req->relNode;
	c->version = req->version;
	c->kind = req->kind;
	c->dims = req->dims;
	c->k = req->k;
	c->nranges = req->nranges;
	old = MemoryContextSwitchTo(c->ctx);
	c->pages = MemoryContextAllocHuge(c->ctx, (Size) cap * BLCKSZ);
	for (;;)
	{
		RsrGpuPages *msg;
		Size		len;

		if (!GpuReceive(in, &len, (void **) &msg))
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(ctx);
			return NULL;
		}
		if (len < sizeof(RsrGpuPages) ||
			len != sizeof(RsrGpuPages) + (Size) msg->npages * BLCKSZ)
			elog(ERROR, "malformed rsr index pages message");
		if (msg->type == RSR_GPU_PAGES_END)
			break;
		if ((Size) (c->npages + msg->npages) * BLCKSZ > maxBytes)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("rsr index larger than rsr_vector.gpu_memory (%d MB)",
							rsr_gpu_memory)));
		while (c->npages + msg->npages > cap)
			cap *= 2;
		c->pages = repalloc_huge(c->pages, (Size) cap * BLCKSZ);
		memcpy(c->pages + (Size) c->npages * BLCKSZ, msg + 1,
			   (Size) msg->npages * BLCKSZ);
		c->npages += msg->npages;
	}
	ParsePages(c);
	MemoryContextSwitchTo(old);

	if (rsr_gpu_worker_engine == RSR_ENGINE_CUDA && c->nrefs > 0)
		UploadCopy(c);
	MemoryContextSetParent(ctx, TopMemoryContext);
	c->bytes = MemoryContextMemAllocated(ctx, true);
	c->lastUsed = GetCurrentTimestamp();

	GpuEvictCopies(c->bytes);
	dlist_push_head(&copies, &c->node);
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->loads++;
	RsrGpu->entries++;
	RsrGpu->residentBytes += c->bytes;
	LWLockRelease(RsrGpu->lock);
	return c;
}

/* The copy that can serve a request; older copies of the index are dropped */
IndexCopy *
GpuFindCopy(const RsrGpuRequest *req)
{
	dlist_mutable_iter iter;
	IndexCopy  *found = NULL;

	dlist_foreach_modify(iter, &copies)
	{
		IndexCopy  *c = dlist_container(IndexCopy, node, iter.cur);

		if (c->dbOid != req->dbOid || c->indexOid != req->indexOid)
			continue;
		if (found == NULL && c->relNode == req->relNode &&
			c->version >= req->version && c->kind == req->kind &&
			c->dims == req->dims && c->k == req->k &&
			c->nranges == req->nranges)
			found = c;
		else if (c->relNode != req->relNode || c->version < req->version)
			DropCopy(c);
	}
	if (found)
	{
		dlist_move_head(&copies, &found->node);
		found->lastUsed = GetCurrentTimestamp();
	}
	return found;
}
