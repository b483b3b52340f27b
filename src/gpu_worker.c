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
 * gets the answer it would get alone, bit for bit (see GpuScoreCopy; on
 * tile indexes the exact top n of the tile kernels, ScoreTiles); with
 * CUDA the batched kernels' float32 sums may differ from the single-query
 * kernel's in the last bits, within rsr_error_bound() (scans skip the
 * rows they returned by slot, so they stay exact).  An error in a
 * request is reported to its backend (to each of its group for an error in
 * scoring) and logged; the worker goes on.  No backend holds the worker
 * longer than rsr_vector.gpu_timeout without progress.
 *
 * This file holds the process and the request protocol; the resident
 * copies are in gpu_copies.c, the scoring in gpu_score.c.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"

#include "gpu_worker.h"

#define RSR_GPU_GROUP_BYTES	((Size) 128 * 1024 * 1024)	/* candidates of a
															 * group, unless it
															 * is one request */
#define RSR_GPU_POLL_MS		10	/* longest sleep while polling backends */

MemoryContext GpuRequestCtx;

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
void
GpuSetReady(bool ready, const char *device)
{
	LWLockAcquire(RsrGpu->lock, LW_EXCLUSIVE);
	RsrGpu->ready = ready;
	strlcpy(RsrGpu->device, device, sizeof(RsrGpu->device));
	LWLockRelease(RsrGpu->lock);
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
 * GpuSend one message, resumed without blocking; false if the backend went
 * away or took nothing for rsr_vector.gpu_timeout
 */
bool
GpuSend(shm_mq_handle *mqh, const void *data, Size len)
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
 * GpuReceive one message (valid until the next receive), resumed without
 * blocking; false if the backend went away or sent nothing for
 * rsr_vector.gpu_timeout
 */
bool
GpuReceive(shm_mq_handle *mqh, Size *len, void **data)
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
		p->req.k > RSR_INDEX_MAX_K || p->req.nranges == 0 ||
		p->req.nranges > RSR_MAX_RANGES ||
		len != sizeof(RsrGpuRequest) + (Size) p->req.nqueries * p->req.dims * sizeof(float))
		return false;
	p->queries = palloc((Size) p->req.nqueries * p->req.dims * sizeof(float));
	memcpy(p->queries, msg + sizeof(RsrGpuRequest),
		   (Size) p->req.nqueries * p->req.dims * sizeof(float));
	return true;
}

/*
 * GpuReceive the request message of every pending request, without waiting
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
 * GpuSend the replies of the answered requests without waiting on any one
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
 * in all) with one GpuScoreCopy call and build each one's reply: its counts,
 * then its candidates of each query, best first.  An error fails them all.
 * The requests of several queries go first (GpuScoreCopy's nmulti), so `ps`
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
		GpuScoreCopy(c, Q, nq, nmulti, n, counts, cands);

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
		p->copy = GpuLoadCopy(&p->req, p->in, p->out);
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
		uint64		drops = GpuCopyDrops;
		Pending    *missing = NULL;
		int			i;

		for (i = 0; i < np && missing == NULL; i++)
		{
			Pending    *p = &ps[i];

			if (p->state != PENDING_READY)
				continue;
			p->copy = GpuFindCopy(&p->req);
			if (p->copy == NULL)
				missing = p;
			else
				p->n = (uint32) Min((uint64) p->req.n, p->copy->nslots);
		}
		if (missing != NULL)
			ServeLoading(missing);
		else if (drops == GpuCopyDrops)
			return;
	}
}

/*
 * Serve every request taken from the queue together.  Requests on the same
 * index copy with the same n form a group, scored with one GpuScoreCopy call
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

	GpuRequestCtx = AllocSetContextCreate(TopMemoryContext, "rsr gpu request",
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
		GpuSetReady(true, "cpu engine (rsr_vector.gpu_worker_engine = cpu)");
		ready = true;
	}
	else
		ready = GpuStartCuda();
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
			MemoryContext old = MemoryContextSwitchTo(GpuRequestCtx);

			ServeAll(slots, nslots);
			MemoryContextSwitchTo(old);
			MemoryContextReset(GpuRequestCtx);
			CHECK_FOR_INTERRUPTS();
		}
		GpuEvictCopies(0);
	}
}
