/*-------------------------------------------------------------------------
 *
 * gpu_worker.h
 *	  Declarations shared by the files of the GPU worker: gpu_worker.c
 *	  (process, request protocol), gpu_copies.c (resident index copies,
 *	  CUDA library and upload) and gpu_score.c (scoring a copy).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GPU_WORKER_H
#define GPU_WORKER_H

#include "lib/ilist.h"
#include "storage/shm_mq.h"
#include "utils/timestamp.h"

#include "rsr_gpu.h"
#include "rsr_index.h"
#include "../cuda/rsr_cuda.h"

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
	char	   *pages;			/* page images, BLCKSZ each; NULL once the
								 * segments of a tile index were copied
								 * out (ListTiles) */
	uint32		npages;
	RsrSegmentRef *refs;		/* segments, into pages or that copy */
	size_t		nrefs;
	RsrTileRef *tiles;			/* CPU engine on a tile index: the tile
								 * segments (id = slot of row 0, dead = the
								 * block's slots not live), else NULL */
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

/* The CUDA library's functions; loaded by GpuStartCuda() */
extern CudaApi GpuCuda;

/* Reset after each round of requests; copies are built under it */
extern MemoryContext GpuRequestCtx;

/* Resident copies dropped so far */
extern uint64 GpuCopyDrops;

/* gpu_worker.c */
extern void GpuSetReady(bool ready, const char *device);
extern bool GpuSend(shm_mq_handle *mqh, const void *data, Size len);
extern bool GpuReceive(shm_mq_handle *mqh, Size *len, void **data);

/* gpu_copies.c */
extern bool GpuStartCuda(void);
extern void GpuEvictCopies(Size keep);
extern IndexCopy *GpuLoadCopy(const RsrGpuRequest *req, shm_mq_handle *in,
							  shm_mq_handle *out);
extern IndexCopy *GpuFindCopy(const RsrGpuRequest *req);

/* gpu_score.c */
extern void GpuScoreCopy(IndexCopy *c, const float *Q, uint32 nq,
						 uint32 nmulti, uint32 n, uint32 *counts,
						 RsrGpuCandidate *cands);
extern void GpuFreeScratch(void);

#endif							/* GPU_WORKER_H */
