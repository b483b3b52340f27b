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
 * Requests are served one at a time.  An error in a request is reported
 * to its backend and logged; the worker goes on.
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
	MemoryContext ctx;			/* this struct and everything below */
	char	   *pages;			/* page images, BLCKSZ each */
	uint32		npages;
	RsrSegmentRef *refs;		/* segments, into pages */
	size_t		nrefs;
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

/* Send one message, blocking; false if the backend went away */
static bool
Send(shm_mq_handle *mqh, const void *data, Size len)
{
	return shm_mq_send(mqh, len, data, false, true) == SHM_MQ_SUCCESS;
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
 * List the slots and segments of the page images, as the CPU scan does:
 * every head entry opens a block of k slots, other ranges score into the
 * block of the head before them.
 */
static void
ParsePages(IndexCopy *c)
{
	size_t		refcap = 1024;
	uint64		slotcap = 1024;
	uint32		p;

	c->refs = palloc(refcap * sizeof(RsrSegmentRef));
	c->tids = palloc(slotcap * sizeof(ItemPointerData));
	c->live = palloc0(slotcap * sizeof(bool));
	for (p = 0; p < c->npages; p++)
	{
		Page		page = (Page) (c->pages + (Size) p * BLCKSZ);
		OffsetNumber off;
		OffsetNumber maxoff;

		if (PageIsNew(page) || RsrPageIsMeta(page) ||
			RsrPageGetOpaque(page)->page_id != RSR_PAGE_ID ||
			((PageHeader) page)->pd_lower > BLCKSZ)
			elog(ERROR, "bad rsr data page in request");
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			RsrEntry	entry;
			size_t		len = ItemIdGetLength(itemid);
			size_t		hdr;

			if (ItemIdGetOffset(itemid) + len > BLCKSZ ||
				len < offsetof(RsrEntryData, tids))
				continue;
			entry = (RsrEntry) PageGetItem(page, itemid);
			hdr = RsrEntryHeaderSize(entry->range, c->k);
			if (len < hdr)
				continue;
			if (entry->range == 0)
			{
				uint32		nrows = Min(entry->nrows, c->k);
				uint32		r;

				if (c->nslots + c->k > slotcap)
				{
					slotcap *= 2;
					c->tids = repalloc_huge(c->tids, slotcap * sizeof(ItemPointerData));
					c->live = repalloc_huge(c->live, slotcap * sizeof(bool));
				}
				memcpy(c->tids + c->nslots, entry->tids,
					   nrows * sizeof(ItemPointerData));
				for (r = 0; r < c->k; r++)
					c->live[c->nslots + r] = r < nrows &&
						(entry->deadmask & (1 << r)) == 0;
				c->nslots += c->k;
			}
			else if (c->nslots == 0)
				continue;		/* range before any head: orphan */

			if (c->nrefs == refcap)
			{
				refcap *= 2;
				c->refs = repalloc_huge(c->refs, refcap * sizeof(RsrSegmentRef));
			}
			c->refs[c->nrefs].data = (const uint8 *) entry + hdr;
			c->refs[c->nrefs].size = len - hdr;
			c->refs[c->nrefs].out = c->nslots - c->k;
			c->nrefs++;
		}
	}
	if (c->nslots > PG_UINT32_MAX - RSR_MAX_K)
		elog(ERROR, "rsr index too large for the gpu worker");
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
	old = MemoryContextSwitchTo(c->ctx);
	c->pages = MemoryContextAllocHuge(c->ctx, (Size) cap * BLCKSZ);
	for (;;)
	{
		RsrGpuPages *msg;
		Size		len;

		if (shm_mq_receive(in, &len, (void **) &msg, false) != SHM_MQ_SUCCESS)
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
			c->dims == req->dims && c->k == req->k)
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

/*
 * Rank host scores Y[slot * batch + b] of the first `count` slots for
 * `batch` queries: query b's best n live slots go to cands[b * n ..] and
 * their number to counts[b].  Dead slots become NaN (never selected) while
 * Y is transposed, in tiles that stay in cache, into T[b * count + slot],
 * so that rsr_topn reads each query's scores contiguously (T is unused for
 * one query).
 */
static void
RankOnHost(IndexCopy *c, float *Y, float *T, size_t count, uint32 batch,
		   uint32 n, uint32 *counts, RsrGpuCandidate *cands)
{
	uint32	   *idx = palloc(Max(n, 1) * sizeof(uint32));
	void	   *work = palloc(rsr_topn_work_size(n));
	size_t		r0;
	uint32		b;

	if (batch == 1)
		T = Y;
	for (r0 = 0; r0 < count; r0 += RSR_GPU_RANK_TILE)
	{
		size_t		r1 = Min(r0 + RSR_GPU_RANK_TILE, count);
		size_t		r;

		for (b = 0; b < batch; b++)
			for (r = r0; r < r1; r++)
				T[b * count + r] = r < c->nslots && c->live[r] ?
					Y[r * batch + b] : NAN;
	}
	for (b = 0; b < batch; b++)
	{
		const float *scores = T + b * count;
		size_t		got = rsr_topn(scores, count, n, idx, work);
		size_t		i;

		for (i = 0; i < got; i++)
			SetCandidate(c, &cands[(Size) b * n + i], idx[i], scores[idx[i]]);
		counts[b] = (uint32) got;
	}
	pfree(idx);
	pfree(work);
}

/*
 * Score the nq queries Q of a request: query qi's best n live slots go to
 * cands[qi * n ..], best first, and their number to counts[qi].
 *
 * CUDA, n <= RSR_CUDA_MAX_TOPN: one fused call for all the queries; the
 * device excludes the slots its mask marks dead (set at upload) and only
 * the candidates come back.  Larger n: the products of all queries come
 * back (rsr_cuda_gemm) and are ranked here.  CPU: rsr_gemm for the queries,
 * ranked here.  Host scores are made for as many queries at a time as fit
 * in RSR_GPU_SCRATCH_BYTES (at least one), in memory kept for the next
 * request.
 */
static void
ScoreCopy(IndexCopy *c, const float *Q, uint32 nq, uint32 n, uint32 *counts,
		  RsrGpuCandidate *cands)
{
	Size		rows;
	size_t		count;
	uint32		per;
	uint32		q0;
	float	   *Y;
	float	   *T;
	void	   *work = NULL;
	size_t		worksize = 0;

	if (c->error)
		ereport(ERROR, (errmsg_internal("%s", c->error)));
	if (n == 0 || c->nrefs == 0)
	{
		memset(counts, 0, nq * sizeof(uint32));
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
	Y = Scratch((rows + (per > 1 ? count : 0)) * per * sizeof(float));
	T = Y + rows * per;
	if (c->cuda == NULL)
	{
		worksize = rsr_workspace_size(c->k, per, rsr_threads);
		work = palloc(Max(worksize, 1));
	}
	for (q0 = 0; q0 < nq; q0 += per)
	{
		uint32		batch = Min(per, nq - q0);
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

			memset(Y, 0, rows * batch * sizeof(float));
			RsrThreadsBegin(&mask);
			status = rsr_gemm(c->refs, c->nrefs, Qb, batch, c->dims, Y, work,
							  worksize, rsr_threads);
			RsrThreadsEnd(&mask);
			RsrCheckStatus(status, "rsr gpu worker");
		}
		RankOnHost(c, Y, T, count, batch, n, counts + q0, cands + (Size) q0 * n);
	}
	if (work)
		pfree(work);
}

/* Answer one request: find or load the index copy, score, reply */
static void
ServeRequest(shm_mq_handle *in, shm_mq_handle *out)
{
	RsrGpuRequest req;
	char	   *msg;
	Size		len;
	IndexCopy  *c;
	float	   *queries;
	uint32		n;
	uint32		qi;
	uint32	   *counts;
	RsrGpuCandidate *cands;
	Size		head;
	Size		ncands;
	StringInfoData reply;
	RsrGpuResult res;

	if (shm_mq_receive(in, &len, (void **) &msg, false) != SHM_MQ_SUCCESS)
		return;					/* the backend gave up */
	if (len < sizeof(RsrGpuRequest))
		elog(ERROR, "malformed rsr gpu request");
	memcpy(&req, msg, sizeof(RsrGpuRequest));
	if (req.type != RSR_GPU_REQUEST || req.nqueries == 0 ||
		req.nqueries > RSR_MAX_BATCH || req.dims == 0 ||
		req.k == 0 || req.k > RSR_MAX_K ||
		len != sizeof(RsrGpuRequest) + (Size) req.nqueries * req.dims * sizeof(float))
		elog(ERROR, "malformed rsr gpu request");
	queries = palloc((Size) req.nqueries * req.dims * sizeof(float));
	memcpy(queries, msg + sizeof(RsrGpuRequest),
		   (Size) req.nqueries * req.dims * sizeof(float));

	c = FindCopy(&req);
	if (c == NULL && (c = LoadCopy(&req, in, out)) == NULL)
		return;					/* the backend gave up */

	/*
	 * Counts of every query first, then the candidates of each query.  They
	 * are scored into n places per query and then moved up behind each
	 * other (always towards the start, so memmove in query order is safe).
	 */
	n = (uint32) Min((uint64) req.n, c->nslots);
	initStringInfo(&reply);
	res.type = RSR_GPU_RESULT;
	res.nqueries = req.nqueries;
	appendBinaryStringInfo(&reply, (char *) &res, sizeof(res));
	head = reply.len;
	enlargeStringInfo(&reply, req.nqueries * (sizeof(uint32) +
											  (Size) n * sizeof(RsrGpuCandidate)));
	counts = (uint32 *) (reply.data + head);
	cands = (RsrGpuCandidate *) (reply.data + head + req.nqueries * sizeof(uint32));
	ScoreCopy(c, queries, req.nqueries, n, counts, cands);
	ncands = 0;
	for (qi = 0; qi < req.nqueries; qi++)
	{
		memmove(cands + ncands, cands + (Size) qi * n,
				counts[qi] * sizeof(RsrGpuCandidate));
		ncands += counts[qi];
	}
	reply.len = head + req.nqueries * sizeof(uint32) + ncands * sizeof(RsrGpuCandidate);
	if (Send(out, reply.data, reply.len))
	{
		LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
		RsrGpu->requests++;
		LWLockRelease(RsrGpu->lock);
	}
}

/* Take the next request from the shared queue */
static bool
Dequeue(RsrGpuSlot *slot)
{
	bool		found = false;

	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	if (RsrGpu->count > 0)
	{
		*slot = RsrGpu->queue[RsrGpu->head];
		RsrGpu->head = (RsrGpu->head + 1) % RSR_GPU_QUEUE;
		RsrGpu->count--;
		found = true;
	}
	LWLockRelease(RsrGpu->lock);
	return found;
}

/* Attach to a request's queues, serve it, report errors to its backend */
static void
Serve(RsrGpuSlot slot)
{
	dsm_segment *seg;
	RsrGpuSegmentHeader *header;
	char	   *base;
	shm_mq	   *mq;
	shm_mq_handle *in;
	shm_mq_handle *out;
	MemoryContext old;

	/* NULL: the backend gave up and its segment is gone */
	seg = dsm_attach(slot.handle);
	if (seg == NULL)
		return;
	header = dsm_segment_address(seg);
	if (dsm_segment_map_length(seg) < RSR_GPU_SEGMENT_SIZE ||
		header->magic != RSR_GPU_MAGIC || header->tag != slot.tag)
	{
		dsm_detach(seg);
		return;
	}
	base = (char *) header + RSR_GPU_MQ_OFFSET;
	mq = (shm_mq *) base;
	shm_mq_set_receiver(mq, MyProc);
	in = shm_mq_attach(mq, seg, NULL);
	mq = (shm_mq *) (base + RSR_GPU_MQ_SIZE);
	shm_mq_set_sender(mq, MyProc);
	out = shm_mq_attach(mq, seg, NULL);

	old = MemoryContextSwitchTo(requestCtx);
	PG_TRY();
	{
		ServeRequest(in, out);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(requestCtx);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("rsr_vector gpu worker could not serve a request: %s",
						edata->message)));
		SendError(out, psprintf("The GPU worker failed: %s.", edata->message));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	dsm_detach(seg);
	MemoryContextReset(requestCtx);
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
		RsrGpuSlot	slot;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 60 * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		while (ready && Dequeue(&slot))
		{
			Serve(slot);
			CHECK_FOR_INTERRUPTS();
		}
		EvictCopies(0);
	}
}
