/*-------------------------------------------------------------------------
 *
 * gpu_client.c
 *	  Backend side of the GPU worker: settings, shared memory, worker
 *	  registration, and the scoring requests of index scans and rsr_topk.
 *
 * A request never hangs a backend: every wait is a WaitLatch() of at most
 * 10 ms that checks for interrupts, for the worker's exit (its PID and start
 * generation in shared memory) and for rsr_vector.gpu_timeout without a
 * message moving.  When the worker is absent or fails, rsr_vector.device =
 * auto goes on with the CPU engine and gpu raises an error.
 *
 * One request path, RsrGpuTopn(): the top-n candidates of up to
 * RSR_MAX_BATCH queries on one index version.  rsr_topk (rsrbulk.c) sends
 * batches of queries; an index scan sends its one query.
 *
 * Exact order: the worker returns candidates with the engine's float32
 * scores; the scan turns them into lower bounds exactly as on the CPU
 * path, and the executor rechecks and reorders.  Candidates come in
 * batches of growing size; every batch is a fresh top-n, and the rows
 * already returned are skipped by their slot.  Not by their score: the
 * worker may score one request alone and the next in a batch with other
 * backends' queries, with kernels whose float32 results differ in the last
 * bits.  That keeps the order exact: every lower bound the scan returns
 * holds for each row not returned yet, whichever kernel scored it, because
 * such a row ranked below it by the same kernel.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shm_mq.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "rsr_gpu.h"
#include "rsr_index.h"

#define RSR_GPU_FIRST_BATCH	64		/* candidates of the first request */
#define RSR_GPU_WAIT_MS		10		/* longest single sleep */

/* Settings */
int			rsr_device = RSR_DEVICE_AUTO;
int			rsr_gpu_timeout = 10000;
bool		rsr_gpu_worker = false;
int			rsr_gpu_worker_engine = RSR_ENGINE_CUDA;
int			rsr_gpu_memory = 1024;

RsrGpuShared *RsrGpu = NULL;

static shmem_request_hook_type prevShmemRequest = NULL;
static shmem_startup_hook_type prevShmemStartup = NULL;

static const struct config_enum_entry deviceOptions[] = {
	{"auto", RSR_DEVICE_AUTO, false},
	{"cpu", RSR_DEVICE_CPU, false},
	{"gpu", RSR_DEVICE_GPU, false},
	{NULL, 0, false}
};

static const struct config_enum_entry engineOptions[] = {
	{"cuda", RSR_ENGINE_CUDA, false},
	{"cpu", RSR_ENGINE_CPU, false},
	{NULL, 0, false}
};

/* One exchange with the worker: where it is and how long we wait */
typedef struct Exchange
{
	dsm_segment *seg;
	shm_mq_handle *toWorker;
	shm_mq_handle *fromWorker;
	pid_t		pid;			/* worker PID when the request was queued */
	uint32		generation;		/* and its start generation */
	const char *why;			/* reason of a failure */
} Exchange;

struct RsrGpuScan
{
	MemoryContext ctx;			/* the scan's: holds this and the batches */
	Relation	index;
	float	   *q;				/* the query, dims floats */
	uint32		dims;
	uint64		version;		/* index version when the scan began */
	uint32		n;				/* size of the current batch's top-n */
	RsrGpuCandidate *cands;		/* current batch, best first */
	size_t		ncands;
	size_t		pos;			/* next candidate to return */
	bool		exhausted;		/* the last batch held every row */
	uint32	   *returned;		/* slots returned so far */
	size_t		nreturned;
	size_t		capreturned;
	size_t		nsorted;		/* returned[0 .. nsorted) is sorted: the
								 * slots of the batches before this one */
};

/* Request the shared memory and the lock of the worker state */
static void
GpuShmemRequest(void)
{
	if (prevShmemRequest)
		prevShmemRequest();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RsrGpuShared)));
	RequestNamedLWLockTranche("rsr_vector_gpu", 1);
}

/* Create or find the worker state in shared memory */
static void
GpuShmemStartup(void)
{
	bool		found;

	if (prevShmemStartup)
		prevShmemStartup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	RsrGpu = ShmemInitStruct("rsr_vector gpu worker", sizeof(RsrGpuShared),
							 &found);
	if (!found)
	{
		memset(RsrGpu, 0, sizeof(RsrGpuShared));
		RsrGpu->lock = &(GetNamedLWLockTranche("rsr_vector_gpu"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Define the GPU settings; when preloaded, set up shared memory and the worker */
void
RsrGpuInit(void)
{
	BackgroundWorker worker;

	DefineCustomEnumVariable("rsr_vector.device",
							 "Chooses where index scans score rows: auto, cpu or gpu.",
							 "auto uses the GPU worker when it is up and the CPU otherwise; gpu raises an error when the worker cannot answer.",
							 &rsr_device, RSR_DEVICE_AUTO, deviceOptions,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("rsr_vector.gpu_timeout",
							"Sets how long a backend waits for the GPU worker without progress.",
							NULL,
							&rsr_gpu_timeout, 10000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("rsr_vector.gpu_memory",
							"Sets the memory the GPU worker may keep index copies in.",
							NULL,
							&rsr_gpu_memory, 1024, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);

	/* PGC_POSTMASTER settings can only be defined while preloading */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomBoolVariable("rsr_vector.gpu_worker",
							 "Starts the GPU worker (rsr_vector must be in shared_preload_libraries).",
							 NULL,
							 &rsr_gpu_worker, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("rsr_vector.gpu_worker_engine",
							 "Chooses the engine of the GPU worker: cuda, or cpu (the CPU engine on the worker's own copies).",
							 NULL,
							 &rsr_gpu_worker_engine, RSR_ENGINE_CUDA, engineOptions,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);

	prevShmemRequest = shmem_request_hook;
	shmem_request_hook = GpuShmemRequest;
	prevShmemStartup = shmem_startup_hook;
	shmem_startup_hook = GpuShmemStartup;

	if (!rsr_gpu_worker)
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "rsr_vector");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "RsrGpuWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "rsr_vector gpu worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "rsr_vector gpu worker");
	RegisterBackgroundWorker(&worker);
}

/* Raise the error of rsr_vector.device = gpu when the worker cannot answer */
void
RsrGpuFail(const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("gpu worker cannot score %s", what),
			 errdetail("%s", detail),
			 errhint("Set rsr_vector.device to auto or cpu to use the CPU engine.")));
}

/* Sleep a little while waiting for the worker; false if it is gone or late */
static bool
WaitWorker(Exchange *ex, TimestampTz start)
{
	if (RsrGpu->pid != ex->pid || RsrGpu->generation != ex->generation)
	{
		ex->why = "The GPU worker exited.";
		return false;
	}
	if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
								   rsr_gpu_timeout))
	{
		ex->why = psprintf("The GPU worker did not answer within rsr_vector.gpu_timeout (%d ms).",
						   rsr_gpu_timeout);
		return false;
	}
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 RSR_GPU_WAIT_MS, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return true;
}

/* Send one message without blocking past the timeout */
static bool
SendMsg(Exchange *ex, const void *data, Size len)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		shm_mq_result res = shm_mq_send(ex->toWorker, len, data, true, true);

		if (res == SHM_MQ_SUCCESS)
			return true;
		if (res == SHM_MQ_DETACHED)
		{
			ex->why = "The GPU worker stopped reading the request.";
			return false;
		}
		if (!WaitWorker(ex, start))
			return false;
	}
}

/* Receive one message (valid until the next receive) within the timeout */
static bool
ReceiveMsg(Exchange *ex, void **data, Size *len)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		shm_mq_result res = shm_mq_receive(ex->fromWorker, len, data, true);

		if (res == SHM_MQ_SUCCESS)
			return true;
		if (res == SHM_MQ_DETACHED)
		{
			ex->why = "The GPU worker ended the request without an answer.";
			return false;
		}
		if (!WaitWorker(ex, start))
			return false;
	}
}

/* Create the queues of one exchange and put it in the worker's queue */
static bool
StartExchange(Exchange *ex)
{
	shm_mq	   *mq;
	RsrGpuSegmentHeader *header;
	char	   *base;
	PGPROC	   *proc = NULL;
	RsrGpuSlot *slot;
	TimestampTz start;
	bool		queued = false;

	memset(ex, 0, sizeof(Exchange));
	if (RsrGpu == NULL)
	{
		ex->why = "rsr_vector is not in shared_preload_libraries.";
		return false;
	}

	ex->seg = dsm_create(RSR_GPU_SEGMENT_SIZE, 0);
	header = dsm_segment_address(ex->seg);
	header->magic = RSR_GPU_MAGIC;
	header->tag = 0;
	base = (char *) header + RSR_GPU_MQ_OFFSET;
	mq = shm_mq_create(base, RSR_GPU_MQ_SIZE);
	shm_mq_set_sender(mq, MyProc);
	ex->toWorker = shm_mq_attach(mq, ex->seg, NULL);
	mq = shm_mq_create(base + RSR_GPU_MQ_SIZE, RSR_GPU_MQ_SIZE);
	shm_mq_set_receiver(mq, MyProc);
	ex->fromWorker = shm_mq_attach(mq, ex->seg, NULL);

	/* A full queue is waited on, within the timeout */
	start = GetCurrentTimestamp();
	for (;;)
	{
		bool		full = false;

		LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
		if (RsrGpu->pid == 0)
			ex->why = "The GPU worker is not running (see rsr_vector.gpu_worker).";
		else if (!RsrGpu->ready)
			ex->why = psprintf("The GPU worker serves no device: %s.", RsrGpu->device);
		else if (RsrGpu->count == RSR_GPU_QUEUE)
			full = true;
		else
		{
			slot = &RsrGpu->queue[(RsrGpu->head + RsrGpu->count) % RSR_GPU_QUEUE];
			slot->handle = dsm_segment_handle(ex->seg);
			slot->tag = header->tag = ++RsrGpu->nextTag;
			RsrGpu->count++;
			ex->pid = RsrGpu->pid;
			ex->generation = RsrGpu->generation;
			proc = RsrGpu->proc;
			queued = true;
		}
		LWLockRelease(RsrGpu->lock);
		if (!full)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   rsr_gpu_timeout))
		{
			ex->why = "The GPU worker's request queue stayed full for rsr_vector.gpu_timeout.";
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	if (!queued)
	{
		dsm_detach(ex->seg);
		ex->seg = NULL;
		return false;
	}
	SetLatch(&proc->procLatch);
	return true;
}

/*
 * Stream the index pages to the worker, in chain order, in batches of
 * RSR_SCAN_PAGES pages share-locked together as the CPU scan reads them;
 * no lock is held while waiting for the worker.
 */
static bool
SendPages(Exchange *ex, Relation index)
{
	Buffer		metabuf;
	RsrMetaPage meta;
	RsrShape	shape;
	BlockNumber blkno;
	RsrPageReader reader;
	RsrGpuPages *msg;
	Size		msgsize = sizeof(RsrGpuPages) + (Size) RSR_BATCH_PAGES * BLCKSZ;
	bool		ok = true;
	int			npages;

	msg = palloc(msgsize);
	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrShapeFromMeta(meta, &shape);
	blkno = meta->dims > 0 ? meta->firstBlkno : InvalidBlockNumber;
	UnlockReleaseBuffer(metabuf);

	RsrPagesBegin(&reader, index, &shape, blkno, NULL, BUFFER_LOCK_SHARE);
	while (ok && (npages = RsrPagesReadBatch(&reader, RSR_SCAN_PAGES)) > 0)
	{
		int			i;
		int			n = 0;

		/* a page a batch ends in goes twice, each copy with its entries */
		for (i = 0; i < npages; i++)
			if (RsrPagesCopyPage(&reader, i, (char *) (msg + 1) + (Size) n * BLCKSZ))
				n++;
		RsrPagesReleaseBatch(&reader);
		npages = n;
		if (npages == 0)
			continue;

		msg->type = RSR_GPU_PAGES;
		msg->npages = npages;
		ok = SendMsg(ex, msg, sizeof(RsrGpuPages) + (Size) npages * BLCKSZ);
	}
	RsrPagesEnd(&reader);
	if (ok)
	{
		msg->type = RSR_GPU_PAGES_END;
		msg->npages = 0;
		ok = SendMsg(ex, msg, sizeof(RsrGpuPages));
	}
	pfree(msg);
	return ok;
}

/* Detach from the queues (freeing their receive buffers) and the segment */
static void
EndExchange(Exchange *ex)
{
	shm_mq_detach(ex->toWorker);
	shm_mq_detach(ex->fromWorker);
	dsm_detach(ex->seg);
}

/*
 * Are the candidates of each query best first, by score descending then
 * slot ascending (as rsr_topn ranks), with no NaN?
 */
static bool
CandidatesInOrder(const RsrGpuCandidate *c, const uint32 *counts, uint32 nq)
{
	uint32		b;
	uint32		i;

	for (b = 0; b < nq; b++)
	{
		for (i = 0; i < counts[b]; i++)
		{
			if (isnan(c[i].score))
				return false;
			if (i > 0 && !(c[i].score < c[i - 1].score ||
						   (c[i].score == c[i - 1].score &&
							c[i].slot > c[i - 1].slot)))
				return false;
		}
		c += counts[b];
	}
	return true;
}

/*
 * Should requests go to the worker?  rsr_vector.device = cpu: never; auto:
 * when the worker is up; gpu: always (a request to an absent worker fails
 * and the caller raises RsrGpuFail).
 */
bool
RsrGpuWanted(void)
{
	if (rsr_device == RSR_DEVICE_CPU)
		return false;
	if (rsr_device == RSR_DEVICE_AUTO &&
		(RsrGpu == NULL || RsrGpu->pid == 0 || !RsrGpu->ready))
		return false;
	return true;
}

/*
 * Ask the worker for the top n candidates of each of the nq queries
 * Q[b * dims + j] (1 <= nq <= RSR_MAX_BATCH) on a copy of the index of at
 * least `version`, streaming the index pages when it asks for them.  The
 * caller reads `version` (the change counter, RsrMetaCopy) after taking its
 * snapshot and keeps it for all its requests: every row it can see is in
 * that version, and a copy loaded since for a newer one still serves it.
 *
 * On success *cands is palloc'd in the current memory context and holds
 * the candidates of query b, best first, at (*cands)[b * n + i] for
 * i < counts[b] <= n: fewer than n means the query saw every live row.
 * Only (nq - 1) * n + counts[nq - 1] entries are allocated.  On failure,
 * *why says why in a sentence and nothing is allocated.
 */
bool
RsrGpuTopn(Relation index, uint64 version, const float *Q, uint32 nq,
		   uint32 dims, uint32 n, RsrGpuCandidate **cands, uint32 *counts,
		   const char **why)
{
	RsrGpuRequest req;
	Buffer		metabuf;
	RsrMetaPage meta;
	Exchange	ex;
	Size		qsize = (Size) nq * dims * sizeof(float);
	char	   *reqmsg;
	void	   *data;
	Size		len;
	const RsrGpuCandidate *src = NULL;
	bool		ok;

	if (nq == 0 || nq > RSR_MAX_BATCH || n == 0)
		elog(ERROR, "rsr gpu request of %u queries of %u candidates", nq, n);

	/* The shape of the index */
	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = RsrCheckMeta(index, BufferGetPage(metabuf));
	memset(&req, 0, sizeof(req));
	req.type = RSR_GPU_REQUEST;
	req.dbOid = MyDatabaseId;
	req.indexOid = RelationGetRelid(index);
	req.relNode = RsrRelationFileNumber(index);
	req.version = version;
	req.kind = meta->kind;
	req.dims = meta->dims;
	req.k = meta->k;
	req.nranges = meta->nranges;
	req.nqueries = nq;
	req.n = n;
	UnlockReleaseBuffer(metabuf);
	if (req.dims == 0 || req.dims != dims)
		elog(ERROR, "rsr gpu request of %u dimensions on an index of %u",
			 dims, req.dims);

	if (!StartExchange(&ex))
	{
		*why = ex.why;
		return false;
	}

	reqmsg = palloc(sizeof(RsrGpuRequest) + qsize);
	memcpy(reqmsg, &req, sizeof(RsrGpuRequest));
	memcpy(reqmsg + sizeof(RsrGpuRequest), Q, qsize);
	ok = SendMsg(&ex, reqmsg, sizeof(RsrGpuRequest) + qsize) &&
		ReceiveMsg(&ex, &data, &len);
	pfree(reqmsg);

	if (ok && len >= sizeof(uint32) && *(uint32 *) data == RSR_GPU_NEED_DATA)
		ok = SendPages(&ex, index) && ReceiveMsg(&ex, &data, &len);

	/* The shape of the answer: nq counts of at most n, then the candidates */
	if (ok)
	{
		RsrGpuResult *res = (RsrGpuResult *) data;
		Size		head = sizeof(RsrGpuResult) + (Size) nq * sizeof(uint32);
		uint64		total = 0;
		uint32		b;

		if (len >= sizeof(RsrGpuResult) && res->type == RSR_GPU_ERROR)
		{
			ex.why = pnstrdup((char *) (res + 1), len - sizeof(RsrGpuResult));
			ok = false;
		}
		else if (len < head || res->type != RSR_GPU_RESULT ||
				 res->nqueries != nq)
			ok = false;
		else
		{
			memcpy(counts, res + 1, nq * sizeof(uint32));
			for (b = 0; b < nq; b++)
			{
				ok &= counts[b] <= n;
				total += counts[b];
			}
			src = (const RsrGpuCandidate *) ((char *) data + head);
			ok &= len == head + total * sizeof(RsrGpuCandidate) &&
				CandidatesInOrder(src, counts, nq);
		}
		if (!ok && ex.why == NULL)
			ex.why = "The GPU worker sent a malformed answer.";
	}
	if (ok)
	{
		Size		alloc = (Size) (nq - 1) * n + counts[nq - 1];
		uint32		b;

		*cands = palloc_extended(Max(alloc, 1) * sizeof(RsrGpuCandidate),
								 MCXT_ALLOC_HUGE);
		for (b = 0; b < nq; b++)
		{
			memcpy(*cands + (Size) b * n, src,
				   counts[b] * sizeof(RsrGpuCandidate));
			src += counts[b];
		}
	}
	EndExchange(&ex);
	*why = ex.why;
	return ok;
}

/* Ask the worker for the top gs->n rows; the answer goes to gs->cands */
static bool
Request(RsrGpuScan *gs, const char **why)
{
	RsrGpuCandidate *cands;
	uint32		count;

	if (!RsrGpuTopn(gs->index, gs->version, gs->q, 1, gs->dims, gs->n,
					&cands, &count, why))
		return false;
	if (gs->cands)
		pfree(gs->cands);
	gs->cands = cands;
	gs->ncands = count;
	gs->pos = 0;
	gs->exhausted = count < gs->n;
	return true;
}

/*
 * Start a scan on the GPU worker, in the current memory context (the
 * scan's, which must live as long as the scan): NULL means "score on the CPU", because
 * rsr_vector.device says so, the worker is absent or failed (auto), or the
 * index is empty or of another dimension (the CPU path reports that).
 */
RsrGpuScan *
RsrGpuScanBegin(Relation index, const float *q, uint32 dims)
{
	RsrGpuScan *gs;
	Buffer		metabuf;
	RsrMetaPageData meta;
	uint32		indexDims;
	uint64		version;
	const char *why;

	if (!RsrGpuWanted())
		return NULL;

	metabuf = ReadBuffer(index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	RsrCheckMeta(index, BufferGetPage(metabuf));
	RsrMetaCopy(index, BufferGetPage(metabuf), &meta);
	indexDims = meta.dims;
	version = meta.changeCount;
	UnlockReleaseBuffer(metabuf);
	if (indexDims == 0 || indexDims != dims)
		return NULL;

	gs = palloc0(sizeof(RsrGpuScan));
	gs->ctx = CurrentMemoryContext;
	gs->index = index;
	gs->dims = dims;
	gs->version = version;
	gs->n = RSR_GPU_FIRST_BATCH;
	gs->q = palloc(dims * sizeof(float));
	memcpy(gs->q, q, dims * sizeof(float));

	if (!Request(gs, &why))
	{
		if (rsr_device == RSR_DEVICE_GPU)
			RsrGpuFail("this index scan", why);
		ereport(DEBUG1,
				(errmsg_internal("rsr index scan falls back to the CPU: %s", why)));
		pfree(gs->q);
		pfree(gs);
		return NULL;
	}
	return gs;
}

/* Order of slots, for qsort and bsearch */
static int
CompareSlots(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y;
}

/*
 * Was the slot returned by an earlier batch?  (A batch lists each slot
 * once, so the rows returned from the current one need no lookup.)
 */
static bool
ReturnedBefore(RsrGpuScan *gs, uint32 slot)
{
	return gs->nsorted > 0 &&
		bsearch(&slot, gs->returned, gs->nsorted, sizeof(uint32),
				CompareSlots) != NULL;
}

/* The next row of a scan answered by the worker, best first */
RsrGpuNext
RsrGpuScanNext(RsrGpuScan *gs, ItemPointer tid, float *score)
{
	RsrGpuCandidate *c;
	MemoryContext old = MemoryContextSwitchTo(gs->ctx);

	for (;;)
	{
		const char *why;

		while (gs->pos < gs->ncands &&
			   ReturnedBefore(gs, gs->cands[gs->pos].slot))
			gs->pos++;
		if (gs->pos < gs->ncands)
			break;
		if (gs->exhausted)
		{
			MemoryContextSwitchTo(old);
			return RSR_GPU_NEXT_END;
		}

		/* A larger top-n; the rows returned so far are skipped */
		gs->n = (uint32) Min((uint64) gs->n * 4, (uint64) PG_INT32_MAX);
		if (gs->nreturned > 0)
			qsort(gs->returned, gs->nreturned, sizeof(uint32), CompareSlots);
		gs->nsorted = gs->nreturned;
		if (!Request(gs, &why))
		{
			if (rsr_device == RSR_DEVICE_GPU)
				RsrGpuFail("this index scan", why);
			ereport(DEBUG1,
					(errmsg_internal("rsr index scan goes on on the CPU: %s", why)));
			MemoryContextSwitchTo(old);
			return RSR_GPU_NEXT_FALLBACK;
		}
	}

	c = &gs->cands[gs->pos++];
	if (gs->nreturned == gs->capreturned)
	{
		gs->capreturned = Max(gs->capreturned * 2, 64);
		gs->returned = gs->returned ?
			repalloc_huge(gs->returned, gs->capreturned * sizeof(uint32)) :
			palloc(gs->capreturned * sizeof(uint32));
	}
	gs->returned[gs->nreturned++] = c->slot;
	*tid = c->tid;
	*score = c->score;
	MemoryContextSwitchTo(old);
	return RSR_GPU_NEXT_ROW;
}

/* The slots a scan has returned, for a CPU fallback to skip */
const uint32 *
RsrGpuScanReturned(RsrGpuScan *gs, size_t *count)
{
	*count = gs->nreturned;
	return gs->returned;
}

PG_FUNCTION_INFO_V1(rsr_gpu_status);

/* State of the GPU worker as jsonb */
Datum
rsr_gpu_status(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (RsrGpu == NULL)
		appendStringInfoString(&buf, "{\"preloaded\": false, \"running\": false, \"ready\": false}");
	else
	{
		RsrGpuShared s;

		LWLockAcquire(RsrGpu->lock, LW_SHARED);
		memcpy(&s, RsrGpu, sizeof(RsrGpuShared));
		LWLockRelease(RsrGpu->lock);
		appendStringInfo(&buf,
						 "{\"preloaded\": true, \"running\": %s, \"ready\": %s, "
						 "\"pid\": %d, \"generation\": %u, \"engine\": \"%s\", "
						 "\"device\": ",
						 s.pid != 0 ? "true" : "false",
						 s.pid != 0 && s.ready ? "true" : "false",
						 (int) s.pid, s.generation,
						 s.engine == RSR_ENGINE_CPU ? "cpu" : "cuda");
		escape_json(&buf, s.device);
		appendStringInfo(&buf,
						 ", \"queued\": %d, \"requests\": " UINT64_FORMAT
						 ", \"batches\": " UINT64_FORMAT
						 ", \"loads\": " UINT64_FORMAT
						 ", \"evictions\": " UINT64_FORMAT
						 ", \"entries\": %u, \"resident_bytes\": " UINT64_FORMAT "}",
						 s.count, s.requests, s.batches, s.loads, s.evictions, s.entries,
						 s.residentBytes);
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
