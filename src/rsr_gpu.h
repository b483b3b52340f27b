/*-------------------------------------------------------------------------
 *
 * rsr_gpu.h
 *	  The GPU worker and its backend client: settings, shared state and the
 *	  request protocol over DSM + shm_mq.
 *
 * Backends never call CUDA.  One background worker owns the device (or,
 * with rsr_vector.gpu_worker_engine = cpu, runs the same protocol on the
 * CPU engine).  A backend creates a DSM segment holding two message queues,
 * puts its handle in the shared request queue and sets the worker's latch.
 * The worker answers with the top-n slots of the index for each query (up
 * to RSR_MAX_BATCH queries per request), or with RSR_GPU_NEED_DATA when it
 * holds no copy of that index version; the backend then streams the index
 * pages once and the worker keeps them.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsr_gpu.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_GPU_H
#define RSR_GPU_H

#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/itemptr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/relcache.h"

#define RSR_GPU_QUEUE		64		/* pending requests in shared memory */
#define RSR_GPU_MQ_SIZE		(256 * 1024)	/* bytes of each message queue */
#define RSR_GPU_MAGIC		0x52534751	/* "RSGQ": a request segment */

/* A queued request: its DSM segment and the tag written at its start */
typedef struct RsrGpuSlot
{
	dsm_handle	handle;
	uint32		tag;
} RsrGpuSlot;

/*
 * Start of a request's DSM segment; the queue to the worker follows at
 * RSR_GPU_MQ_OFFSET and the queue back after it.  The worker attaches only
 * to a segment of the right size whose magic and tag match its queue slot,
 * so a handle left by a backend that gave up can never reach another
 * segment.
 */
typedef struct RsrGpuSegmentHeader
{
	uint32		magic;			/* RSR_GPU_MAGIC */
	uint32		tag;			/* as in the queue slot */
} RsrGpuSegmentHeader;

#define RSR_GPU_MQ_OFFSET	MAXALIGN(sizeof(RsrGpuSegmentHeader))
#define RSR_GPU_SEGMENT_SIZE (RSR_GPU_MQ_OFFSET + 2 * RSR_GPU_MQ_SIZE)

/* rsr_vector.device */
typedef enum RsrDevice
{
	RSR_DEVICE_AUTO,			/* the GPU worker when it is up, else CPU */
	RSR_DEVICE_CPU,
	RSR_DEVICE_GPU				/* the GPU worker or an error */
} RsrDevice;

/* rsr_vector.gpu_worker_engine */
typedef enum RsrWorkerEngine
{
	RSR_ENGINE_CUDA,			/* rsr_vector_cuda.so on device 0 */
	RSR_ENGINE_CPU				/* src/core, for tests and diagnosis */
} RsrWorkerEngine;

/* Fixed shared state, in the main shared memory */
typedef struct RsrGpuShared
{
	LWLock	   *lock;			/* protects everything below */
	pid_t		pid;			/* worker's PID, 0 when none runs */
	PGPROC	   *proc;			/* worker's PGPROC (its latch) */
	bool		ready;			/* the engine is up and requests are served */
	uint32		generation;		/* bumped at every worker start */
	int			engine;			/* RsrWorkerEngine in use */
	char		device[128];	/* device name, or why none is used */
	uint64		requests;		/* requests answered */
	uint64		batches;		/* products run, each for one or more requests */
	uint64		loads;			/* index copies received */
	uint64		evictions;		/* index copies dropped */
	uint32		entries;		/* index copies resident */
	uint64		residentBytes;	/* their bytes */
	int			head;			/* next request to take */
	int			count;			/* requests queued */
	uint32		nextTag;		/* tag of the next request */
	RsrGpuSlot	queue[RSR_GPU_QUEUE];
} RsrGpuShared;

/* Message types */
#define RSR_GPU_REQUEST		1	/* backend: RsrGpuRequest + queries */
#define RSR_GPU_PAGES		2	/* backend: RsrGpuPages + page images */
#define RSR_GPU_PAGES_END	3	/* backend: all pages sent */
#define RSR_GPU_RESULT		4	/* worker: RsrGpuResult + candidates */
#define RSR_GPU_NEED_DATA	5	/* worker: send the index pages */
#define RSR_GPU_ERROR		6	/* worker: RsrGpuResult + message text */

/* A scoring request; `nqueries` x `dims` floats follow */
typedef struct RsrGpuRequest
{
	uint32		type;			/* RSR_GPU_REQUEST */
	Oid			dbOid;
	Oid			indexOid;
	Oid			relNode;		/* relfilenode: changes at REINDEX, TRUNCATE */
	uint64		version;		/* metapage change counter */
	uint32		kind;			/* RsrKind */
	uint32		dims;
	uint32		k;
	uint32		nranges;		/* column ranges per block */
	uint32		nqueries;
	uint32		n;				/* candidates wanted per query */
} RsrGpuRequest;

/* A batch of index pages; `npages` x BLCKSZ bytes follow */
typedef struct RsrGpuPages
{
	uint32		type;			/* RSR_GPU_PAGES or RSR_GPU_PAGES_END */
	uint32		npages;
} RsrGpuPages;

/* One candidate: a row, its engine score and its slot (tie-breaker) */
typedef struct RsrGpuCandidate
{
	ItemPointerData tid;
	float		score;			/* engine score (the scan's float32) */
	uint32		slot;			/* row position; ties go to the lower */
} RsrGpuCandidate;

/*
 * The answer; for RSR_GPU_RESULT, `nqueries` uint32 counts then the
 * candidates of each query, best first.  For RSR_GPU_ERROR, a message.
 */
typedef struct RsrGpuResult
{
	uint32		type;
	uint32		nqueries;
} RsrGpuResult;

/* Settings */
extern int	rsr_device;
extern int	rsr_gpu_timeout;
extern bool rsr_gpu_worker;
extern int	rsr_gpu_worker_engine;
extern int	rsr_gpu_memory;

extern RsrGpuShared *RsrGpu;

/* Scan-side state of a query answered by the worker */
typedef struct RsrGpuScan RsrGpuScan;

/* What RsrGpuScanNext() gives */
typedef enum RsrGpuNext
{
	RSR_GPU_NEXT_ROW,			/* a row, in order */
	RSR_GPU_NEXT_END,			/* no more rows */
	RSR_GPU_NEXT_FALLBACK		/* the worker failed: go on on the CPU */
} RsrGpuNext;

/* gpu_client.c */
extern void RsrGpuInit(void);
extern bool RsrGpuWanted(void);
extern bool RsrGpuTopn(Relation index, uint64 version, const float *Q,
					   uint32 nq, uint32 dims, uint32 n,
					   RsrGpuCandidate **cands, uint32 *counts,
					   const char **why);
extern RsrGpuScan *RsrGpuScanBegin(Relation index, const float *q,
								   uint32 dims);
extern RsrGpuNext RsrGpuScanNext(RsrGpuScan *gs, ItemPointer tid,
								 float *score);
extern const uint32 *RsrGpuScanReturned(RsrGpuScan *gs, size_t *count);
extern void RsrGpuFail(const char *what, const char *detail);

/* gpu_worker.c */
extern PGDLLEXPORT void RsrGpuWorkerMain(Datum arg);

#endif							/* RSR_GPU_H */
