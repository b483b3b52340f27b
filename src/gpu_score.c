/*-------------------------------------------------------------------------
 *
 * gpu_score.c
 *	  Scoring in the GPU worker: the requests of one index copy and one n
 *	  scored together on the device or the CPU engine, each answered as
 *	  it would be alone (see GpuScoreCopy).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/gpu_score.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/memutils.h"

#include "gpu_worker.h"

#define RSR_GPU_SCRATCH_BYTES	((Size) 128 * 1024 * 1024)	/* host scores of one
															 * pass, and their
															 * transpose */
#define RSR_GPU_RANK_TILE	64	/* slots transposed at a time */
#define RSR_GPU_RESCORE_RATIO 4	/* CPU batches need blocks >= this * n */

static float *scratch;			/* host scores, kept while copies are */
static Size scratchBytes;

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

/* Free the host memory for scores (no copy left to score) */
void
GpuFreeScratch(void)
{
	if (scratch != NULL)
		pfree(scratch);
	scratch = NULL;
	scratchBytes = 0;
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
	/* the kernels write up to RSR_INDEX_MAX_K rows past a block's first slot */
	y = palloc0(((Size) nb * c->k + RSR_INDEX_MAX_K) * sizeof(float));
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

/* Order of candidates: score descending, then slot ascending */
static int
CandidateCmp(const void *a, const void *b)
{
	const RsrGpuCandidate *x = (const RsrGpuCandidate *) a;
	const RsrGpuCandidate *y = (const RsrGpuCandidate *) b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/*
 * CPU engine on a tile index: the exact top n of each query with the tile
 * kernels (one pass over the tiles for up to RSR_MAX_BATCH queries, fewer
 * when their search states would pass RSR_GPU_SCRATCH_BYTES), best first,
 * exact ties by the lower slot.  A candidate carries its exact score
 * rounded to float: within the float kernels' bound that the backend
 * allows the worker's scores, in the same order as the exact ones, and the
 * same whatever the other queries of the batch (each query is searched on
 * its own), so every request gets the answer it gets alone.  Rounding can
 * tie rows that the exact scores order, so the candidates are put in the
 * order of the other engines (score, then slot); every row left out still
 * scores at most the last one.
 */
static void
ScoreTiles(IndexCopy *c, const float *Q, uint32 nq, uint32 n, uint32 *counts,
		   RsrGpuCandidate *cands)
{
	RsrKind		kind = (RsrKind) c->kind;
	size_t		tqsize = rsr_tile_query_size(kind, c->dims);
	uint8	   *tqbuf = palloc(tqsize * Min(nq, RSR_MAX_BATCH));
	size_t		cap0 = Min(Max((size_t) 2 * n, 1024), (size_t) c->nslots + RSR_TILE_ROWS);
	size_t		one = rsr_tile_state_size(kind, c->dims, 1, n, cap0);
	uint32		per = (uint32) Max(1, Min(Min(nq, RSR_MAX_BATCH),
										  RSR_GPU_SCRATCH_BYTES / Max(one, 1)));
	uint64	   *ids = palloc_extended((Size) per * n * sizeof(uint64), MCXT_ALLOC_HUGE);
	double	   *scores = palloc_extended((Size) per * n * sizeof(double), MCXT_ALLOC_HUGE);
	uint32		q0;

	for (q0 = 0; q0 < nq; q0 += per)
	{
		uint32		batch = Min(per, nq - q0);
		const void *tqs[RSR_MAX_BATCH];
		size_t		got[RSR_MAX_BATCH];
		size_t		cap = cap0;
		size_t		size = rsr_tile_state_size(kind, c->dims, batch, n, cap);
		void	   *state;
		size_t		done = 0;
		uint32		b;
		RsrStatus	status;

		for (b = 0; b < batch; b++)
		{
			tqs[b] = tqbuf + (Size) b * tqsize;
			status = rsr_tile_prepare(kind, Q + (Size) (q0 + b) * c->dims, c->dims,
									  tqbuf + (Size) b * tqsize, tqsize);
			RsrCheckStatus(status, "rsr gpu worker");
		}
		state = palloc_extended(size, MCXT_ALLOC_HUGE);
		status = rsr_tile_init(state, size, tqs, batch, n, cap);
		RsrCheckStatus(status, "rsr gpu worker");
		while (done < c->nrefs)
		{
			size_t		consumed = 0;
			sigset_t	mask;

			RsrThreadsBegin(&mask);
			status = rsr_tile_feed(state, c->tiles + done, c->nrefs - done,
								   rsr_threads, &consumed);
			RsrThreadsEnd(&mask);
			done += consumed;
			if (status == RSR_ENOMEM)
			{
				/* more candidates than room: a state twice as large */
				size_t		size2;
				void	   *state2;

				cap *= 2;
				size2 = rsr_tile_state_size(kind, c->dims, batch, n, cap);
				state2 = palloc_extended(size2, MCXT_ALLOC_HUGE);
				status = rsr_tile_resize(state, state2, size2, cap);
				pfree(state);
				state = state2;
			}
			else if (status == RSR_OK && consumed == 0)
				status = RSR_ECORRUPT;	/* the last block misses ranges */
			RsrCheckStatus(status, "rsr gpu worker");
		}
		status = rsr_tile_finish(state, ids, scores, got);
		RsrCheckStatus(status, "rsr gpu worker");
		pfree(state);
		CountBatch();
		for (b = 0; b < batch; b++)
		{
			size_t		i;

			for (i = 0; i < got[b]; i++)
				SetCandidate(c, &cands[(Size) (q0 + b) * n + i],
							 (uint32) ids[(Size) b * n + i],
							 (float) scores[(Size) b * n + i]);
			counts[q0 + b] = (uint32) got[b];
			qsort(&cands[(Size) (q0 + b) * n], got[b], sizeof(RsrGpuCandidate),
				  CandidateCmp);
		}
	}
	pfree(tqbuf);
	pfree(ids);
	pfree(scores);
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
 * back (rsr_cuda_gemm) and are ranked here.  CPU on tiles: ScoreTiles.
 * CPU on the other layouts: rsr_gemm for the queries, ranked here.  Host scores are made for as many queries at a time as fit
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
void
GpuScoreCopy(IndexCopy *c, const float *Q, uint32 nq, uint32 nmulti,
			 uint32 n, uint32 *counts, RsrGpuCandidate *cands)
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
	if (c->tiles != NULL)
	{
		ScoreTiles(c, Q, nq, n, counts, cands);
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
			GpuScoreCopy(c, Q, nmulti, nmulti, n, counts, cands);
		for (qi = nmulti; qi < nq; qi++)
			GpuScoreCopy(c, Q + (Size) qi * c->dims, 1, 0, n, counts + qi,
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

		status = GpuCuda.topn_batch(c->cuda, Q, nq, n, idx, scores, got, NULL);
		if (status != RSR_CUDA_OK)
			ereport(ERROR,
					(errmsg("rsr gpu top-n failed"),
					 errdetail("%s %s", GpuCuda.status_string(status), GpuCuda.last_error())));
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

	/* the CPU kernels write up to RSR_INDEX_MAX_K rows past a block's first slot */
	rows = c->cuda ? c->nout : c->nslots + RSR_INDEX_MAX_K;
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
			RsrCudaStatus status = GpuCuda.gemm(c->cuda, Qb, batch, Y, NULL);

			if (status != RSR_CUDA_OK)
				ereport(ERROR,
						(errmsg("rsr gpu product failed"),
						 errdetail("%s %s", GpuCuda.status_string(status), GpuCuda.last_error())));
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
