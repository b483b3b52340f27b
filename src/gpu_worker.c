/*-------------------------------------------------------------------------
 *
 * gpu_worker.c
 *	  The GPU worker: a background worker that owns the only CUDA context
 *	  and answers the scoring requests of backends.
 *
 * The worker alone loads $libdir/rsr_vector_cuda (with dlopen: the library
 * is plain C/CUDA with no PostgreSQL magic block) and creates the CUDA
 * context; the postmaster and backends never do.  With
 * rsr_vector.gpu_worker_engine = cpu it runs the same protocol on the CPU
 * engine and never touches CUDA.  Without a library or a device it logs
 * why, serves nothing and backends fall back to the CPU.
 *
 * Resident copies of indexes are kept by (database, index, relfilenode);
 * each holds the page images of one version (the metapage change counter)
 * and, for CUDA, the segments uploaded to the device.  A request for a
 * version newer than the copy, or for a new relfilenode, gets
 * RSR_GPU_NEED_DATA and the backend streams the pages; the old copy is
 * dropped.  A copy newer than the request serves it: rows added since are
 * invisible to the requester's snapshot and rows marked dead are dead for
 * every snapshot.  Copies unused for RSR_GPU_IDLE_MS, or beyond
 * rsr_vector.gpu_memory, are dropped.
 *
 * Requests are served in batches: each time it wakes, the worker takes
 * every queued request, reads them all without waiting on any one backend,
 * serves on its own each one whose copy is missing (the page stream), and
 * scores the requests on one copy with one n together, up to
 * RSR_MAX_BATCH queries per product.  On the CPU engine every request
 * gets the answer it would get alone, bit for bit (see ScoreCopy); with
 * CUDA the batched kernels' float32 sums may differ from the single-query
 * kernel's in the last bits, within rsr_error_bound() (scans skip the
 * rows they returned by slot, so they stay exact).  An error in a
 * request is reported to its backend (to each of its group for an error in
 * scoring) and logged; the worker goes on.  No backend holds the worker
 * longer than rsr_vector.gpu_timeout without progress.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "rsr_gpu.h"
#include "rsr_index.h"
#include "../cuda/rsr_cuda.h"

#define RSR_GPU_IDLE_MS		(10 * 60 * 1000)	/* drop copies unused so long */
#define RSR_GPU_SCRATCH_BYTES	((Size) 128 * 1024 * 1024)	/* host scores of one
															 * pass, and their
															 * transpose */
#define RSR_GPU_RANK_TILE	64	/* slots transposed at a time */
#define RSR_GPU_GROUP_BYTES	((Size) 128 * 1024 * 1024)	/* candidates of a
															 * group, unless it
															 * is one request */
#define RSR_GPU_RESCORE_RATIO 4	/* CPU batches need blocks >= this * n */
#define RSR_GPU_POLL_MS		10	/* longest sleep while polling backends */

/* The functions of cuda/rsr_cuda.h the worker calls, found with dlsym() */
typedef RsrCudaStatus (*cuda_device_count_fn) (int *count);
typedef RsrCudaStatus (*cuda_index_upload_fn) (int device,
											   const RsrSegmentRef *segs,
											   size_t nsegs, void *stream,
											   RsrCudaIndex **index,
											   uint32_t *nout);
typedef void (*cuda_index_free_fn) (RsrCudaIndex *index);
typedef RsrCudaStatus (*cuda_index_set_live_fn) (RsrCudaIndex *index,
												 const uint8_t *live,
												 size_t count, void *stream);
typedef RsrCudaStatus (*cuda_gemm_fn) (RsrCudaIndex *index, const float *Q,
									   uint32_t batch, float *Y, void *stream);
typedef RsrCudaStatus (*cuda_topn_batch_fn) (RsrCudaIndex *index,
											 const float *Q, uint32_t batch,
											 uint32_t n, uint32_t *idx,
											 float *scores, size_t *counts,
											 void *stream);
typedef const char *(*cuda_status_string_fn) (RsrCudaStatus status);
typedef const char *(*cuda_last_error_fn) (void);

typedef struct CudaApi
{
	void	   *lib;
	cuda_device_count_fn device_count;
	cuda_index_upload_fn index_upload;
	cuda_index_free_fn index_free;
	cuda_index_set_live_fn index_set_live;
	cuda_gemm_fn gemm;
	cuda_topn_batch_fn topn_batch;
	cuda_status_string_fn status_string;
	cuda_last_error_fn last_error;
} CudaApi;

/* A resident copy of one index version */
typedef struct IndexCopy
{
	dlist_node	node;			/* in copies, most recently used first */
	Oid			dbOid;
	Oid			indexOid;
	Oid			relNode;
	uint64		version;
	uint32		kind;
	uint32		dims;
	uint32		k;
	uint32		nranges;		/* column ranges per block */
	MemoryContext ctx;			/* this struct and everything below */
	char	   *pages;			/* page images, BLCKSZ each */
	uint32		npages;
	RsrSegmentRef *refs;		/* segments, into pages */
	size_t		nrefs;
	uint32	   *blockRefs;		/* refs of block b: blockRefs[b] .. [b + 1] - 1 */
	uint64		nblocks;		/* blocks of k slots (nslots / k) */
	ItemPointerData *tids;		/* heap TID of each slot */
	bool	   *live;			/* slot holds a live row */
	uint64		nslots;
	RsrCudaIndex *cuda;			/* on the device with the live mask, or NULL */
	char	   *error;			/* why the upload failed, or NULL */
	uint32		nout;			/* its output rows (slots 0 .. nout - 1) */
	Size		bytes;			/* host bytes held */
	TimestampTz lastUsed;
} IndexCopy;

static CudaApi cuda;
static dlist_head copies = DLIST_STATIC_INIT(copies);
static MemoryContext requestCtx;
static uint64 copyDrops;		/* copies dropped so far */
static float *scratch;			/* host scores, kept while copies are */
static Size scratchBytes;

/* Clear the worker's entry in shared memory when it exits */
static void
WorkerExit(int code, Datum arg)
{
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	if (RsrGpu->pid == MyProcPid)
	{
		RsrGpu->pid = 0;
		RsrGpu->proc = NULL;
		RsrGpu->ready = false;
		RsrGpu->entries = 0;
		RsrGpu->residentBytes = 0;
	}
	LWLockRelease(RsrGpu->lock);
}

/* Publish the engine state */
static void
SetReady(bool ready, const char *device)
{
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->ready = ready;
	strlcpy(RsrGpu->device, device, sizeof(RsrGpu->device));
	LWLockRelease(RsrGpu->lock);
}

/* Load rsr_vector_cuda and check for a device; false (logged) if none */
static bool
StartCuda(void)
{
	char		path[MAXPGPATH];
	int			count = 0;
	RsrCudaStatus status;

	snprintf(path, sizeof(path), "%s/rsr_vector_cuda%s", pkglib_path, DLSUFFIX);
	cuda.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (cuda.lib == NULL)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: could not load \"%s\"", path),
				 errdetail("%s", dlerror()),
				 errhint("Build it with \"make WITH_CUDA=1\", or set rsr_vector.gpu_worker_engine to cpu.")));
		SetReady(false, "rsr_vector_cuda library not found");
		return false;
	}
	cuda.device_count = (cuda_device_count_fn) dlsym(cuda.lib, "rsr_cuda_device_count");
	cuda.index_upload = (cuda_index_upload_fn) dlsym(cuda.lib, "rsr_cuda_index_upload");
	cuda.index_free = (cuda_index_free_fn) dlsym(cuda.lib, "rsr_cuda_index_free");
	cuda.index_set_live = (cuda_index_set_live_fn) dlsym(cuda.lib, "rsr_cuda_index_set_live");
	cuda.gemm = (cuda_gemm_fn) dlsym(cuda.lib, "rsr_cuda_gemm");
	cuda.topn_batch = (cuda_topn_batch_fn) dlsym(cuda.lib, "rsr_cuda_topn_batch");
	cuda.status_string = (cuda_status_string_fn) dlsym(cuda.lib, "rsr_cuda_status_string");
	cuda.last_error = (cuda_last_error_fn) dlsym(cuda.lib, "rsr_cuda_last_error");
	if (!cuda.device_count || !cuda.index_upload || !cuda.index_free ||
		!cuda.index_set_live || !cuda.gemm || !cuda.topn_batch ||
		!cuda.status_string || !cuda.last_error)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: \"%s\" lacks a function", path)));
		SetReady(false, "rsr_vector_cuda library incomplete");
		return false;
	}

	/* The first CUDA call creates the context, in this process only */
	status = cuda.device_count(&count);
	if (status != RSR_CUDA_OK || count == 0)
	{
		ereport(LOG,
				(errmsg("rsr_vector gpu worker serves nothing: no CUDA device"),
				 errdetail("%s %s", cuda.status_string(status), cuda.last_error())));
		SetReady(false, "no CUDA device");
		return false;
	}
	SetReady(true, "cuda device 0");
	return true;
}

/* Drop a resident copy */
static void
DropCopy(IndexCopy *c)
{
	dlist_delete(&c->node);
	copyDrops++;
	if (c->cuda)
		cuda.index_free(c->cuda);
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->evictions++;
	RsrGpu->entries--;
	RsrGpu->residentBytes -= c->bytes;
	LWLockRelease(RsrGpu->lock);
	MemoryContextDelete(c->ctx);	/* c lives in it */
}

/* Drop copies idle too long, then the least recently used beyond the budget */
static void
EvictCopies(Size keep)
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
	if (dlist_is_empty(&copies) && scratch != NULL)
	{
		pfree(scratch);
		scratch = NULL;
		scratchBytes = 0;
	}
}

/*
 * Host memory for scores, at least `bytes`: kept across requests, since
 * touching fresh pages costs as much as the transpose that fills them
 */
static float *
Scratch(Size bytes)
{
	if (scratchBytes < bytes)
	{
		if (scratch != NULL)
			pfree(scratch);
		scratch = NULL;
		scratchBytes = 0;
		scratch = MemoryContextAllocHuge(TopMemoryContext, bytes);
		scratchBytes = bytes;
	}
	return scratch;
}

/*
 * Sleep until a backend moves a queue (it sets our latch) or a short
 * while passes; false once nothing moved for rsr_vector.gpu_timeout
 */
static bool
Poll(TimestampTz progress)
{
	if (TimestampDifferenceExceeds(progress, GetCurrentTimestamp(),
								   rsr_gpu_timeout))
		return false;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 RSR_GPU_POLL_MS, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * Send one message, resumed without blocking; false if the backend went
 * away or took nothing for rsr_vector.gpu_timeout
 */
static bool
Send(shm_mq_handle *mqh, const void *data, Size len)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		shm_mq_result res = shm_mq_send(mqh, len, data, true, true);

		if (res != SHM_MQ_WOULD_BLOCK)
			return res == SHM_MQ_SUCCESS;
		if (!Poll(start))
			return false;
	}
}

/*
 * Receive one message (valid until the next receive), resumed without
 * blocking; false if the backend went away or sent nothing for
 * rsr_vector.gpu_timeout
 */
static bool
Receive(shm_mq_handle *mqh, Size *len, void **data)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		shm_mq_result res = shm_mq_receive(mqh, len, data, true);

		if (res != SHM_MQ_WOULD_BLOCK)
			return res == SHM_MQ_SUCCESS;
		if (!Poll(start))
			return false;
	}
}

/* Report an error to the backend (a full sentence) */
static void
SendError(shm_mq_handle *mqh, const char *msg)
{
	Size		len = sizeof(RsrGpuResult) + strlen(msg);
	RsrGpuResult *res = palloc(len);

	res->type = RSR_GPU_ERROR;
	res->nqueries = 0;
	memcpy(res + 1, msg, strlen(msg));
	(void) shm_mq_send(mqh, len, res, true, true);
	pfree(res);
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
					c->live[c->nslots + r] = r < e.nrows &&
						(e.entry->deadmask & (1 << r)) == 0;
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
	if (c->nslots > PG_UINT32_MAX - RSR_MAX_K)
		elog(ERROR, "rsr index too large for the gpu worker");

	/* every block opens with its head entry, so each has at least one ref */
	c->nblocks = c->nslots / c->k;
	c->blockRefs = palloc((c->nblocks + 1) * sizeof(uint32));
	for (i = 0; i < c->nrefs; i++)
		if (i == 0 || c->refs[i].out != c->refs[i - 1].out)
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
	Size		cap = c->nslots + RSR_MAX_K;	/* nout <= nslots - k + RSR_MAX_K */
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
		status = cuda.index_upload(0, c->refs, c->nrefs, NULL, &c->cuda, &c->nout);
		if (status == RSR_CUDA_OK && c->nout > cap)
			status = RSR_CUDA_EINVAL;	/* cannot happen: blocks of <= RSR_MAX_K rows */
		if (status == RSR_CUDA_OK)
			status = cuda.index_set_live(c->cuda, live, c->nout, NULL);
		pfree(live);
		if (status == RSR_CUDA_OK)
			return;
		cuda.index_free(c->cuda);
		c->cuda = NULL;
		why = psprintf("%s %s", cuda.status_string(status), cuda.last_error());
	}
	/* kept, so that later requests fail without streaming the pages again */
	c->error = MemoryContextStrdup(c->ctx,
								   psprintf("could not upload the index to the GPU: %s", why));
}

/* Receive the pages of an index version and make them a resident copy */
static IndexCopy *
LoadCopy(const RsrGpuRequest *req, shm_mq_handle *in, shm_mq_handle *out)
{
	IndexCopy  *c;
	MemoryContext ctx;
	MemoryContext old;
	uint32		cap = 64;
	Size		maxBytes = (Size) rsr_gpu_memory * 1024 * 1024;
	uint32		need = RSR_GPU_NEED_DATA;

	if (!Send(out, &need, sizeof(need)))
		return NULL;

	/* Under the request context until complete, so an error frees it */
	ctx = AllocSetContextCreate(requestCtx, "rsr gpu index copy",
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

		if (!Receive(in, &len, (void **) &msg))
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

	EvictCopies(c->bytes);
	dlist_push_head(&copies, &c->node);
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->loads++;
	RsrGpu->entries++;
	RsrGpu->residentBytes += c->bytes;
	LWLockRelease(RsrGpu->lock);
	return c;
}

/* The copy that can serve a request; older copies of the index are dropped */
static IndexCopy *
FindCopy(const RsrGpuRequest *req)
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

/* Fill a candidate; a slot that is not live means the engine failed */
static inline void
SetCandidate(IndexCopy *c, RsrGpuCandidate *cand, uint32 slot, float score)
{
	if (slot >= c->nslots || !c->live[slot])
		elog(ERROR, "rsr gpu worker: slot %u returned but not live", slot);
	memset(cand, 0, sizeof(*cand));	/* no uninitialized padding in the reply */
	cand->tid = c->tids[slot];
	cand->score = score;
	cand->slot = slot;
}

/* Count one product run by the engine (rsr_gpu_status()'s batches) */
static void
CountBatch(void)
{
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->batches++;
	LWLockRelease(RsrGpu->lock);
}

/*
 * Rank query q's live slots as a request alone is ranked on the CPU engine,
 * by the single-query kernel (rsr_gemv), after a batched product (rsr_gemm)
 * gave its scores `scores` (dead slots NaN).  The kernels sum in different
 * orders, so their float32 results differ in the last bits, each within
 * e = rsr_error_bound() of the exact product: a slot's two scores differ by
 * at most 2e.  With T the n-th best batched score and T' the n-th best
 * single-query score, T <= T' + 2e (the batched top n all score at least
 * T - 2e alone), so every slot of the single-query top n scores at least
 * T' - 2e >= T - 4e batched.  Only the blocks holding such a slot are
 * scored again, with the same segments in the same order as the full
 * product (identical results), and their top n is the answer alone.
 * Returns the number of candidates.
 */
static uint32
RescoreQuery(IndexCopy *c, const float *scores, size_t count, const float *q,
			 uint32 n, uint32 *idx, void *topnWork, void *work, size_t worksize,
			 RsrGpuCandidate *cands)
{
	double		qabs = 0;
	double		lo;
	uint32	   *blocks;
	uint32		nb = 0;
	RsrSegmentRef *refs;
	Size		nrefs = 0;
	float	   *y;
	size_t		got;
	uint64		b;
	uint32		i;
	uint32		r;
	sigset_t	mask;
	RsrStatus	status;

	got = rsr_topn(scores, count, n, idx, topnWork);
	if (got == 0)
		return 0;
	for (i = 0; i < c->dims; i++)
		qabs += fabs((double) q[i]);
	if (got < n)
		lo = -INFINITY;			/* every live slot is a candidate */
	else
	{
		double		t = scores[idx[n - 1]];

		lo = t - 4 * rsr_error_bound(c->dims, qabs) - fabs(t) * DBL_EPSILON;
	}

	/* the blocks holding a candidate, in slot order (NaN compares false) */
	blocks = palloc(Max(c->nblocks, 1) * sizeof(uint32));
	for (b = 0; b < c->nblocks; b++)
	{
		for (r = 0; r < c->k; r++)
			if ((double) scores[b * c->k + r] >= lo)
				break;
		if (r < c->k)
		{
			blocks[nb++] = (uint32) b;
			nrefs += c->blockRefs[b + 1] - c->blockRefs[b];
		}
	}

	/* their segments, block i's rows at i * k */
	refs = palloc(Max(nrefs, 1) * sizeof(RsrSegmentRef));
	nrefs = 0;
	for (i = 0; i < nb; i++)
	{
		uint32		ref;

		for (ref = c->blockRefs[blocks[i]]; ref < c->blockRefs[blocks[i] + 1]; ref++)
		{
			refs[nrefs] = c->refs[ref];
			refs[nrefs].out = i * c->k;
			nrefs++;
		}
	}
	/* the kernels write up to RSR_MAX_K rows past a block's first slot */
	y = palloc0(((Size) nb * c->k + RSR_MAX_K) * sizeof(float));
	RsrThreadsBegin(&mask);
	status = rsr_gemv(refs, nrefs, q, c->dims, y, work, worksize, rsr_threads);
	RsrThreadsEnd(&mask);
	RsrCheckStatus(status, "rsr gpu worker");

	for (i = 0; i < nb; i++)
		for (r = 0; r < c->k; r++)
		{
			uint64		slot = (uint64) blocks[i] * c->k + r;

			if (slot >= c->nslots || !c->live[slot])
				y[i * c->k + r] = NAN;
		}
	got = rsr_topn(y, (size_t) nb * c->k, n, idx, topnWork);
	for (i = 0; i < got; i++)
		SetCandidate(c, &cands[i], blocks[idx[i] / c->k] * c->k + idx[i] % c->k,
					 y[idx[i]]);
	pfree(blocks);
	pfree(refs);
	pfree(y);
	return (uint32) got;
}

/*
 * Rank host scores Y[slot * stride + b] of the first `count` slots for
 * `batch` queries: query b's best n live slots go to cands[b * n ..] and
 * their number to counts[b].  Dead slots become NaN (never selected) while
 * Y is transposed, in tiles that stay in cache, into T[b * count + slot],
 * so that rsr_topn reads each query's scores contiguously (T is unused for
 * stride 1).  Queries b >= lone (CPU engine, stride > 1) are ranked by
 * RescoreQuery, as lone queries are.
 */
static void
RankOnHost(IndexCopy *c, float *Y, float *T, size_t count, uint32 stride,
		   uint32 batch, uint32 n, const float *Q, uint32 lone, void *work,
		   size_t worksize, uint32 *counts, RsrGpuCandidate *cands)
{
	uint32	   *idx = palloc(Max(n, 1) * sizeof(uint32));
	void	   *topnWork = palloc(rsr_topn_work_size(n));
	size_t		r0;
	uint32		b;

	if (stride == 1)
		T = Y;
	for (r0 = 0; r0 < count; r0 += RSR_GPU_RANK_TILE)
	{
		size_t		r1 = Min(r0 + RSR_GPU_RANK_TILE, count);
		size_t		r;

		for (b = 0; b < batch; b++)
			for (r = r0; r < r1; r++)
				T[b * count + r] = r < c->nslots && c->live[r] ?
					Y[r * stride + b] : NAN;
	}
	for (b = 0; b < batch; b++)
	{
		const float *scores = T + b * count;
		size_t		got;
		size_t		i;

		if (stride > 1 && b >= lone)
		{
			counts[b] = RescoreQuery(c, scores, count, Q + (Size) b * c->dims,
									 n, idx, topnWork, work, worksize,
									 &cands[(Size) b * n]);
			continue;
		}
		got = rsr_topn(scores, count, n, idx, topnWork);
		for (i = 0; i < got; i++)
			SetCandidate(c, &cands[(Size) b * n + i], idx[i], scores[idx[i]]);
		counts[b] = (uint32) got;
	}
	pfree(idx);
	pfree(topnWork);
}

/*
 * Score the nq queries Q of one or more requests: query qi's best n live
 * slots go to cands[qi * n ..], best first, and their number to
 * counts[qi].  The first `nmulti` queries come from requests of several
 * queries, the others from requests of one.
 *
 * CUDA, n <= RSR_CUDA_MAX_TOPN: one fused call for all the queries; the
 * device excludes the slots its mask marks dead (set at upload) and only
 * the candidates come back.  Larger n: the products of all queries come
 * back (rsr_cuda_gemm) and are ranked here.  CPU: rsr_gemm for the queries,
 * ranked here.  Host scores are made for as many queries at a time as fit
 * in RSR_GPU_SCRATCH_BYTES (at least one), in memory kept for the next
 * call.
 *
 * On the CPU engine every query gets the answer its request gets alone,
 * bit for bit: a request of one query is scored alone by the single-query
 * kernel (rsr_gemm of one query is rsr_gemv), so in a batch its candidates
 * are ranked again by it (RescoreQuery); a request of several is scored by
 * the batched kernel, whose result for a query does not depend on the
 * other queries of the batch (each has its own lanes, summed in the same
 * order), so it takes the batch's scores, and a query of it left alone by
 * the split into passes is scored beside a copy of itself.
 */
static void
ScoreCopy(IndexCopy *c, const float *Q, uint32 nq, uint32 nmulti, uint32 n,
		  uint32 *counts, RsrGpuCandidate *cands)
{
	Size		rows;
	size_t		count;
	uint32		per;
	uint32		cap;
	uint32		q0;
	float	   *Y;
	float	   *T;
	float	   *pair = NULL;
	void	   *work = NULL;
	size_t		worksize = 0;

	if (c->error)
		ereport(ERROR, (errmsg_internal("%s", c->error)));
	if (n == 0 || c->nrefs == 0)
	{
		memset(counts, 0, nq * sizeof(uint32));
		return;
	}

	/*
	 * CPU engine: rescoring the candidate blocks of a lone query pays while
	 * they are a small part of the index; in a deep top-n, lone queries are
	 * scored one by one and the others together.
	 */
	if (c->cuda == NULL && nq > 1 && nmulti < nq &&
		(uint64) n * RSR_GPU_RESCORE_RATIO > c->nblocks)
	{
		uint32		qi;

		if (nmulti > 0)
			ScoreCopy(c, Q, nmulti, nmulti, n, counts, cands);
		for (qi = nmulti; qi < nq; qi++)
			ScoreCopy(c, Q + (Size) qi * c->dims, 1, 0, n, counts + qi,
					  cands + (Size) qi * n);
		return;
	}

	if (c->cuda && n <= RSR_CUDA_MAX_TOPN)
	{
		uint32	   *idx = palloc((Size) nq * n * sizeof(uint32));
		float	   *scores = palloc((Size) nq * n * sizeof(float));
		size_t		got[RSR_MAX_BATCH];
		RsrCudaStatus status;
		uint32		qi;

		status = cuda.topn_batch(c->cuda, Q, nq, n, idx, scores, got, NULL);
		if (status != RSR_CUDA_OK)
			ereport(ERROR,
					(errmsg("rsr gpu top-n failed"),
					 errdetail("%s %s", cuda.status_string(status), cuda.last_error())));
		CountBatch();
		for (qi = 0; qi < nq; qi++)
		{
			Size		i;

			if (got[qi] > n)
				elog(ERROR, "rsr gpu top-n returned %zu rows for %u", got[qi], n);
			for (i = (Size) qi * n; i < (Size) qi * n + got[qi]; i++)
				SetCandidate(c, &cands[i], idx[i], scores[i]);
			counts[qi] = (uint32) got[qi];
		}
		pfree(idx);
		pfree(scores);
		return;
	}

	/* the CPU kernels write up to RSR_MAX_K rows past a block's first slot */
	rows = c->cuda ? c->nout : c->nslots + RSR_MAX_K;
	count = c->cuda ? c->nout : c->nslots;
	per = (uint32) Max(1, Min(nq, RSR_GPU_SCRATCH_BYTES / (2 * rows * sizeof(float))));
	cap = c->cuda || nmulti == 0 ? per : Max(per, 2);
	Y = Scratch((rows + (cap > 1 ? count : 0)) * cap * sizeof(float));
	T = Y + rows * cap;
	if (c->cuda == NULL)
	{
		worksize = rsr_workspace_size(c->k, cap, rsr_threads);
		work = palloc(Max(worksize, 1));
	}
	for (q0 = 0; q0 < nq; q0 += per)
	{
		uint32		batch = Min(per, nq - q0);
		uint32		stride = batch;
		const float *Qb = Q + (Size) q0 * c->dims;

		if (c->cuda)
		{
			RsrCudaStatus status = cuda.gemm(c->cuda, Qb, batch, Y, NULL);

			if (status != RSR_CUDA_OK)
				ereport(ERROR,
						(errmsg("rsr gpu product failed"),
						 errdetail("%s %s", cuda.status_string(status), cuda.last_error())));
		}
		else
		{
			sigset_t	mask;
			RsrStatus	status;

			if (batch == 1 && q0 < nmulti)
			{
				/* scored beside a copy of itself: the batched kernel's result */
				if (pair == NULL)
					pair = palloc(2 * c->dims * sizeof(float));
				memcpy(pair, Qb, c->dims * sizeof(float));
				memcpy(pair + c->dims, Qb, c->dims * sizeof(float));
				Qb = pair;
				stride = 2;
			}
			memset(Y, 0, rows * stride * sizeof(float));
			RsrThreadsBegin(&mask);
			status = rsr_gemm(c->refs, c->nrefs, Qb, stride, c->dims, Y, work,
							  worksize, rsr_threads);
			RsrThreadsEnd(&mask);
			RsrCheckStatus(status, "rsr gpu worker");
		}
		CountBatch();
		RankOnHost(c, Y, T, count, stride, batch, n, Qb,
				   c->cuda ? batch : (uint32) Max((int64) nmulti - q0, 0),
				   work, worksize, counts + q0, cands + (Size) q0 * n);
	}
	if (work)
		pfree(work);
	if (pair)
		pfree(pair);
}

/* Where a request taken from the queue stands */
typedef enum PendingState
{
	PENDING_READ,				/* attached, its request not yet received */
	PENDING_READY,				/* request received and valid */
	PENDING_REPLY,				/* answered, the reply not yet sent */
	PENDING_DONE				/* replied, failed or given up */
} PendingState;

/* A request taken from the queue, from attach to reply */
typedef struct Pending
{
	PendingState state;
	dsm_segment *seg;
	shm_mq_handle *in;
	shm_mq_handle *out;
	RsrGpuRequest req;
	float	   *queries;		/* req.nqueries x req.dims */
	IndexCopy  *copy;			/* the copy that serves it */
	uint32		n;				/* candidates per query: req.n, at most the slots */
	char	   *reply;			/* RsrGpuResult, counts, candidates */
	Size		replyLen;
} Pending;

/* Report an error to a request's backend, log it and be done with it */
static void
FailPending(Pending *p, const char *message)
{
	ereport(LOG,
			(errmsg("rsr_vector gpu worker could not serve a request: %s",
					message)));
	SendError(p->out, psprintf("The GPU worker failed: %s.", message));
	p->state = PENDING_DONE;
}

/* Take every queued request, in queue order; returns how many */
static int
DequeueAll(RsrGpuSlot *slots)
{
	int			count;
	int			i;

	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	count = RsrGpu->count;
	for (i = 0; i < count; i++)
		slots[i] = RsrGpu->queue[(RsrGpu->head + i) % RSR_GPU_QUEUE];
	RsrGpu->head = (RsrGpu->head + count) % RSR_GPU_QUEUE;
	RsrGpu->count = 0;
	LWLockRelease(RsrGpu->lock);
	return count;
}

/* Attach to a request's segment and queues; false if its backend gave up */
static bool
Attach(RsrGpuSlot slot, Pending *p)
{
	RsrGpuSegmentHeader *header;
	char	   *base;
	shm_mq	   *mq;

	/* NULL: the backend gave up and its segment is gone */
	p->seg = dsm_attach(slot.handle);
	if (p->seg == NULL)
		return false;
	header = dsm_segment_address(p->seg);
	if (dsm_segment_map_length(p->seg) < RSR_GPU_SEGMENT_SIZE ||
		header->magic != RSR_GPU_MAGIC || header->tag != slot.tag)
	{
		dsm_detach(p->seg);
		p->seg = NULL;
		return false;
	}
	base = (char *) header + RSR_GPU_MQ_OFFSET;
	mq = (shm_mq *) base;
	shm_mq_set_receiver(mq, MyProc);
	p->in = shm_mq_attach(mq, p->seg, NULL);
	mq = (shm_mq *) (base + RSR_GPU_MQ_SIZE);
	shm_mq_set_sender(mq, MyProc);
	p->out = shm_mq_attach(mq, p->seg, NULL);
	return true;
}

/* Check a request message and keep its queries; false if malformed */
static bool
ParseRequest(Pending *p, const char *msg, Size len)
{
	if (len < sizeof(RsrGpuRequest))
		return false;
	memcpy(&p->req, msg, sizeof(RsrGpuRequest));
	if (p->req.type != RSR_GPU_REQUEST || p->req.nqueries == 0 ||
		p->req.nqueries > RSR_MAX_BATCH || p->req.dims == 0 ||
		p->req.dims > RSR_MAX_DIMS || p->req.k == 0 ||
		p->req.k > RSR_MAX_K || p->req.nranges == 0 ||
		p->req.nranges > RSR_MAX_RANGES ||
		len != sizeof(RsrGpuRequest) + (Size) p->req.nqueries * p->req.dims * sizeof(float))
		return false;
	p->queries = palloc((Size) p->req.nqueries * p->req.dims * sizeof(float));
	memcpy(p->queries, msg + sizeof(RsrGpuRequest),
		   (Size) p->req.nqueries * p->req.dims * sizeof(float));
	return true;
}

/*
 * Receive the request message of every pending request, without waiting
 * on any one backend: each receive is non-blocking and resumed in turn.  A
 * backend that detached is dropped, a malformed request gets an error, and
 * the requests still unread after rsr_vector.gpu_timeout without progress
 * are given up (their backends time out as well).
 */
static void
ReadRequests(Pending *ps, int np)
{
	TimestampTz progress = GetCurrentTimestamp();
	int			left = 0;
	int			i;

	for (i = 0; i < np; i++)
		left += ps[i].state == PENDING_READ;
	while (left > 0)
	{
		for (i = 0; i < np; i++)
		{
			Pending    *p = &ps[i];
			shm_mq_result res;
			Size		len;
			void	   *msg;

			if (p->state != PENDING_READ)
				continue;
			res = shm_mq_receive(p->in, &len, &msg, true);
			if (res == SHM_MQ_WOULD_BLOCK)
				continue;
			left--;
			progress = GetCurrentTimestamp();
			if (res == SHM_MQ_DETACHED)
				p->state = PENDING_DONE;
			else if (!ParseRequest(p, msg, len))
				FailPending(p, "malformed rsr gpu request");
			else
				p->state = PENDING_READY;
		}
		if (left > 0 && !Poll(progress))
			break;
	}
	for (i = 0; i < np; i++)
		if (ps[i].state == PENDING_READ)
			ps[i].state = PENDING_DONE;
}

/*
 * Send the replies of the answered requests without waiting on any one
 * backend: each send is non-blocking and resumed in turn (with the same
 * message, as shm_mq requires).  A backend that detached is dropped, and
 * the replies not taken after rsr_vector.gpu_timeout without progress are
 * given up.
 */
static void
SendReplies(Pending **ps, int np)
{
	TimestampTz progress = GetCurrentTimestamp();
	int			left = 0;
	int			sent = 0;
	int			i;

	for (i = 0; i < np; i++)
		left += ps[i]->state == PENDING_REPLY;
	while (left > 0)
	{
		for (i = 0; i < np; i++)
		{
			Pending    *p = ps[i];
			shm_mq_result res;

			if (p->state != PENDING_REPLY)
				continue;
			res = shm_mq_send(p->out, p->replyLen, p->reply, true, true);
			if (res == SHM_MQ_WOULD_BLOCK)
				continue;
			left--;
			progress = GetCurrentTimestamp();
			sent += res == SHM_MQ_SUCCESS;
			p->state = PENDING_DONE;
		}
		if (left > 0 && !Poll(progress))
			break;
	}
	for (i = 0; i < np; i++)
		if (ps[i]->state == PENDING_REPLY)
			ps[i]->state = PENDING_DONE;
	if (sent > 0)
	{
		LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
		RsrGpu->requests += sent;
		LWLockRelease(RsrGpu->lock);
	}
}

/*
 * Score the requests `ps` (one copy, one n, at most RSR_MAX_BATCH queries
 * in all) with one ScoreCopy call and build each one's reply: its counts,
 * then its candidates of each query, best first.  An error fails them all.
 * The requests of several queries go first (ScoreCopy's nmulti), so `ps`
 * is reordered.
 */
static void
ScoreGroup(Pending **ps, int np)
{
	IndexCopy  *c = ps[0]->copy;
	uint32		n = ps[0]->n;
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		float	   *Q;
		uint32	   *counts;
		RsrGpuCandidate *cands;
		uint32		nq = 0;
		uint32		nmulti = 0;
		uint32		q0 = 0;
		int			i;
		int			nm = 0;

		for (i = 0; i < np; i++)
		{
			nq += ps[i]->req.nqueries;
			if (ps[i]->req.nqueries > 1)
			{
				Pending    *p = ps[i];

				/* the replies are built in this order too */
				ps[i] = ps[nm];
				ps[nm++] = p;
				nmulti += p->req.nqueries;
			}
		}
		Q = palloc((Size) nq * c->dims * sizeof(float));
		counts = palloc(nq * sizeof(uint32));
		cands = MemoryContextAllocHuge(CurrentMemoryContext,
									   Max((Size) nq * n, 1) * sizeof(RsrGpuCandidate));
		for (i = 0; i < np; i++)
		{
			memcpy(Q + (Size) q0 * c->dims, ps[i]->queries,
				   (Size) ps[i]->req.nqueries * c->dims * sizeof(float));
			q0 += ps[i]->req.nqueries;
		}
		ScoreCopy(c, Q, nq, nmulti, n, counts, cands);

		q0 = 0;
		for (i = 0; i < np; i++)
		{
			Pending    *p = ps[i];
			uint32		nqp = p->req.nqueries;
			Size		ncands = 0;
			RsrGpuResult res;
			char	   *dst;
			uint32		qi;

			for (qi = q0; qi < q0 + nqp; qi++)
				ncands += counts[qi];
			p->replyLen = sizeof(RsrGpuResult) + nqp * sizeof(uint32) +
				ncands * sizeof(RsrGpuCandidate);
			p->reply = MemoryContextAllocHuge(CurrentMemoryContext, p->replyLen);
			res.type = RSR_GPU_RESULT;
			res.nqueries = nqp;
			memcpy(p->reply, &res, sizeof(res));
			memcpy(p->reply + sizeof(res), counts + q0, nqp * sizeof(uint32));
			dst = p->reply + sizeof(res) + nqp * sizeof(uint32);
			for (qi = q0; qi < q0 + nqp; qi++)
			{
				memcpy(dst, cands + (Size) qi * n,
					   counts[qi] * sizeof(RsrGpuCandidate));
				dst += counts[qi] * sizeof(RsrGpuCandidate);
			}
			p->state = PENDING_REPLY;
			q0 += nqp;
		}
		pfree(Q);
		pfree(counts);
		pfree(cands);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			i;

		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		FlushErrorState();
		for (i = 0; i < np; i++)
			FailPending(ps[i], edata->message);
	}
	PG_END_TRY();
}

/*
 * Serve a request whose index copy is missing on its own: the backend
 * streams the pages (RSR_GPU_NEED_DATA) and the answer follows; later
 * requests for that version find the copy.
 */
static void
ServeLoading(Pending *p)
{
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "rsr gpu loading request",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);

	PG_TRY();
	{
		p->copy = LoadCopy(&p->req, p->in, p->out);
		if (p->copy == NULL)
			p->state = PENDING_DONE;	/* the backend gave up */
		else
		{
			p->n = (uint32) Min((uint64) p->req.n, p->copy->nslots);
			ScoreGroup(&p, 1);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		FailPending(p, edata->message);
	}
	PG_END_TRY();
	if (p->state == PENDING_REPLY)
		SendReplies(&p, 1);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

/*
 * Find the copy of every ready request.  One that has none is served on
 * its own at once (which may load and evict copies), and the search starts
 * over; it also starts over when finding a copy dropped an older one (that
 * an earlier request may have found), so that in the end every ready
 * request holds a copy that is still resident.
 */
static void
ResolveCopies(Pending *ps, int np)
{
	for (;;)
	{
		uint64		drops = copyDrops;
		Pending    *missing = NULL;
		int			i;

		for (i = 0; i < np && missing == NULL; i++)
		{
			Pending    *p = &ps[i];

			if (p->state != PENDING_READY)
				continue;
			p->copy = FindCopy(&p->req);
			if (p->copy == NULL)
				missing = p;
			else
				p->n = (uint32) Min((uint64) p->req.n, p->copy->nslots);
		}
		if (missing != NULL)
			ServeLoading(missing);
		else if (drops == copyDrops)
			return;
	}
}

/*
 * Serve every request taken from the queue together.  Requests on the same
 * index copy with the same n form a group, scored with one ScoreCopy call
 * per RSR_MAX_BATCH queries (fewer when their candidates would pass
 * RSR_GPU_GROUP_BYTES); each group's replies are sent before the next group
 * is scored, so the memory held is that of one call.  Every request gets
 * the answer it would get alone.
 */
static void
ServeAll(RsrGpuSlot *slots, int nslots)
{
	Pending    *ps = palloc0(nslots * sizeof(Pending));
	Pending   **group = palloc(nslots * sizeof(Pending *));
	MemoryContext groupCtx;
	int			i;

	groupCtx = AllocSetContextCreate(CurrentMemoryContext, "rsr gpu group",
									 ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < nslots; i++)
		ps[i].state = Attach(slots[i], &ps[i]) ? PENDING_READ : PENDING_DONE;
	ReadRequests(ps, nslots);
	ResolveCopies(ps, nslots);

	for (i = 0; i < nslots; i++)
	{
		Pending    *first = &ps[i];
		uint32		nq = 0;
		int			ng = 0;
		int			j;
		MemoryContext old;

		if (first->state != PENDING_READY)
			continue;
		for (j = i; j < nslots; j++)
		{
			Pending    *p = &ps[j];

			if (p->state != PENDING_READY || p->copy != first->copy ||
				p->n != first->n)
				continue;
			if (nq + p->req.nqueries > RSR_MAX_BATCH ||
				(ng > 0 && (Size) (nq + p->req.nqueries) * p->n *
				 sizeof(RsrGpuCandidate) > RSR_GPU_GROUP_BYTES))
				break;
			nq += p->req.nqueries;
			group[ng++] = p;
		}
		old = MemoryContextSwitchTo(groupCtx);
		ScoreGroup(group, ng);
		SendReplies(group, ng);
		MemoryContextSwitchTo(old);
		MemoryContextReset(groupCtx);
		CHECK_FOR_INTERRUPTS();
	}

	for (i = 0; i < nslots; i++)
		if (ps[i].seg != NULL)
			dsm_detach(ps[i].seg);
}

/* Main of the GPU worker */
void
RsrGpuWorkerMain(Datum arg)
{
	bool		ready;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	requestCtx = AllocSetContextCreate(TopMemoryContext, "rsr gpu request",
									   ALLOCSET_DEFAULT_SIZES);

	/* Requests queued for a previous worker are dropped: their senders time out */
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->pid = MyProcPid;
	RsrGpu->proc = MyProc;
	RsrGpu->ready = false;
	RsrGpu->generation++;
	RsrGpu->engine = rsr_gpu_worker_engine;
	RsrGpu->head = 0;
	RsrGpu->count = 0;
	RsrGpu->entries = 0;
	RsrGpu->residentBytes = 0;
	LWLockRelease(RsrGpu->lock);
	before_shmem_exit(WorkerExit, (Datum) 0);

	if (rsr_gpu_worker_engine == RSR_ENGINE_CPU)
	{
		SetReady(true, "cpu engine (rsr_vector.gpu_worker_engine = cpu)");
		ready = true;
	}
	else
		ready = StartCuda();
	ereport(LOG,
			(errmsg("rsr_vector gpu worker started: %s", RsrGpu->device)));

	for (;;)
	{
		RsrGpuSlot	slots[RSR_GPU_QUEUE];
		int			nslots;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 60 * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		while (ready && (nslots = DequeueAll(slots)) > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(requestCtx);

			ServeAll(slots, nslots);
			MemoryContextSwitchTo(old);
			MemoryContextReset(requestCtx);
			CHECK_FOR_INTERRUPTS();
		}
		EvictCopies(0);
	}
}
