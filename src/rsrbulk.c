/*-------------------------------------------------------------------------
 *
 * rsrbulk.c
 *	  Bulk scoring and introspection of rsr indexes: rsr_scores(),
 *	  rsr_topk() and rsr_index_info().
 *
 * All three walk the index with RsrScoreIndex() (rsrscan.c), the page walk
 * of the ordered scan, and consume the scores of each batch of pages through
 * its flush callback, so memory stays bounded by one batch of pages times
 * the number of queries, plus the results.
 *
 * Rows come from the index, so an entry may point to a heap tuple that the
 * caller's snapshot cannot see (deleted, updated or aborted, not yet
 * vacuumed).  Every row reported is therefore checked against the heap
 * with the active snapshot, following HOT chains, and reported with the TID
 * of its visible version: `JOIN t ON t.ctid = s.tid` finds it.
 *
 * Exact top-n.  The kernels accumulate in float32; a kernel score f and the
 * exact value x (double, element order: the inner_product operator) differ
 * by at most e = rsr_error_bound(dims, sum |q|) plus a margin for the double
 * sum.  rsr_topk keeps, per query, the n best exact scores seen so far; L
 * is the n-th of them.  A row whose f + e < L can never reach the top n, so
 * it is skipped without touching the heap; every other row is fetched,
 * checked for visibility and scored exactly with the operator of the
 * index's operator class.  Rows whose exact score falls below L are dropped
 * as L rises.  What is left is sorted by exact score, ties by TID.
 *
 * rsr_topk on the GPU worker (rsr_vector.device, as for index scans): the
 * worker returns each query's m best rows by kernel score, best first, and
 * they go through the same floor, heap check and exact rescoring.  Every
 * row the worker did not return has a kernel score at most the m-th's, so
 * the query is settled when the worker returned fewer than m rows (all of
 * them) or when the m-th's score is below the floor; otherwise it is asked
 * again with m four times larger and its answer taken from scratch.  The
 * result is the same set, scores and order as the CPU walk, which takes
 * the queries the worker could not answer.  Every request names the index
 * version read when the index was opened, after the statement's snapshot
 * was taken: it holds every row the snapshot can see, and a copy the
 * worker loaded since for a newer version serves it too (with other
 * slots, which is why each answer is taken from scratch).  rsr_scores
 * returns every row and always runs on the CPU.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrbulk.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/freespace.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "rsr_gpu.h"
#include "rsr_index.h"
#include "rsr_query.h"
#include "tvec.h"

#define RSR_TOPK_FIRST_CANDIDATES	64	/* least candidates asked of the worker */
#define RSR_TOPK_REPLY_BYTES	((Size) 64 * 1024 * 1024)	/* largest answer */
#define RSR_TOPK_MAX_CANDIDATES \
	((uint32) (RSR_TOPK_REPLY_BYTES / sizeof(RsrGpuCandidate)))

PG_FUNCTION_INFO_V1(rsr_scores);
PG_FUNCTION_INFO_V1(rsr_topk);
PG_FUNCTION_INFO_V1(rsr_index_info);

/* The indexed table and the index, locked, with what scoring needs */
typedef struct BulkRel
{
	Relation	heap;
	Relation	index;
	RsrMetaPageData meta;		/* copy of the metapage */
	Snapshot	snapshot;		/* active snapshot, for visibility */
	IndexFetchTableData *fetch; /* heap fetches by TID */
	TupleTableSlot *slot;		/* the fetched tuple */
	EState	   *estate;			/* evaluates the index expression */
	IndexInfo  *indexInfo;
} BulkRel;

/* One candidate row of one query of rsr_topk */
typedef struct TopkRow
{
	double		score;			/* exact inner product */
	ItemPointerData tid;		/* TID of the visible version */
} TopkRow;

/* State of one query of rsr_topk */
typedef struct TopkQuery
{
	FmgrInfo	op;				/* the <#> operator, with its own query cache */
	Datum		query;			/* the query as a real[] datum */
	const float *kq;			/* the query for the kernels */
	const float *q;				/* the query as given (tile engine) */
	double		bound;			/* |kernel score - exact score| <= bound */
	double		scale;			/* kernel score * scale = score */
	double		floor;			/* rows with scaled kernel score < floor
								 * are out */
	double	   *best;			/* min-heap of the best exact scores */
	int64		nbest;			/* entries in best, at most n */
	int64		bestcap;		/* entries allocated */
	TopkRow    *rows;			/* candidates */
	int64		nrows;
	int64		rowcap;
} TopkQuery;

typedef struct TopkState
{
	BulkRel    *rel;
	int64		n;				/* results per query */
	TopkQuery **queries;		/* the queries of the CPU walk */
	uint32		batch;			/* their number */
	uint32		dims;
	MemoryContext cxt;			/* holds the candidates */
} TopkState;

/* State of rsr_scores while the index is walked */
typedef struct ScoresState
{
	BulkRel    *rel;
	Tuplestorestate *store;
	TupleDesc	desc;
	double		scale;			/* kernel score * scale = score */
} ScoresState;

/* Rows counted by rsr_index_info */
typedef struct InfoState
{
	uint64		live;
} InfoState;

/*
 * Open and lock the table and the rsr index `indexOid`, after checking the
 * caller's SELECT privilege on the table.  The table is locked first, as
 * every other path does; both with AccessShareLock until the end of the
 * transaction.
 */
static void
OpenBulk(Oid indexOid, BulkRel *rel)
{
	Oid			heapOid;
	AclResult	aclresult;
	char		relkind = get_rel_relkind(indexOid);
	Buffer		metabuf;

	memset(rel, 0, sizeof(BulkRel));
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation with OID %u does not exist", indexOid)));
	heapOid = IndexGetRelation(indexOid, true);
	if (!OidIsValid(heapOid) ||
		(relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexOid))));
	if (relkind == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partitioned index", get_rel_name(indexOid)),
				 errdetail("Partitioned indexes store no rows; score the index of each partition.")));

	/* Check the privilege before taking any lock on the table */
	aclresult = pg_class_aclcheck(heapOid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(heapOid)),
					   get_rel_name(heapOid));
	rel->heap = table_open(heapOid, AccessShareLock);
	rel->index = index_open(indexOid, AccessShareLock);

	/* The index may have been dropped and its OID reused before the lock */
	if (IndexGetRelation(indexOid, true) != heapOid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index \"%s\" changed while it was being opened",
						RelationGetRelationName(rel->index))));
	if (rel->index->rd_indam == NULL ||
		rel->index->rd_indam->ambuild != rsrbuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an rsr index",
						RelationGetRelationName(rel->index))));

	metabuf = ReadBuffer(rel->index, RSR_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	RsrCheckMeta(rel->index, BufferGetPage(metabuf));
	RsrMetaCopy(rel->index, BufferGetPage(metabuf), &rel->meta);
	UnlockReleaseBuffer(metabuf);
}

/* Prepare heap fetches and the evaluation of the indexed value */
static void
BeginFetch(BulkRel *rel)
{
	rel->snapshot = GetActiveSnapshot();
	rel->fetch = table_index_fetch_begin(rel->heap);
	rel->slot = table_slot_create(rel->heap, NULL);
	rel->estate = CreateExecutorState();
	GetPerTupleExprContext(rel->estate)->ecxt_scantuple = rel->slot;
	rel->indexInfo = BuildIndexInfo(rel->index);
}

/* Release what OpenBulk and BeginFetch took; the locks stay */
static void
CloseBulk(BulkRel *rel)
{
	if (rel->fetch)
	{
		table_index_fetch_end(rel->fetch);
		ExecDropSingleTupleTableSlot(rel->slot);
		FreeExecutorState(rel->estate);
	}
	index_close(rel->index, NoLock);
	table_close(rel->heap, NoLock);
}

/*
 * Fetch the version of heap row *tid visible to the snapshot into
 * rel->slot; false when there is none.  *tid becomes the TID of that
 * version (a HOT chain member of the indexed one).
 */
static bool
FetchVisible(BulkRel *rel, ItemPointer tid)
{
	bool		call_again = false;
	bool		all_dead = false;

	if (!table_index_fetch_tuple(rel->fetch, tid, rel->snapshot, rel->slot,
								 &call_again, &all_dead))
		return false;
	*tid = rel->slot->tts_tid;
	return true;
}

/* The indexed value of the tuple in rel->slot; false when it is NULL */
static bool
IndexedValue(BulkRel *rel, Datum *value)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	ResetExprContext(GetPerTupleExprContext(rel->estate));
	FormIndexDatum(rel->indexInfo, rel->slot, rel->estate, values, isnull);
	*value = values[0];
	return !isnull[0];
}

/* The <#> operator of the index's operator class */
static Oid
OrderingProc(Relation index)
{
	Oid			opno;

	opno = get_opfamily_member(index->rd_opfamily[0], index->rd_opcintype[0],
							   FLOAT4ARRAYOID, 1);
	if (!OidIsValid(opno))
		elog(ERROR, "missing ordering operator for rsr index \"%s\"",
			 RelationGetRelationName(index));
	return get_opcode(opno);
}

/* ---- rsr_scores ---- */

/* Report the visible rows of slots [0, count) with their scores */
static void
ScoresFlush(RsrScores *sc, uint64 count, void *arg)
{
	ScoresState *st = (ScoresState *) arg;
	uint64		s;

	for (s = 0; s < count; s++)
	{
		double		f = sc->exact != NULL ? sc->exact[s] :
			(double) sc->scores[s] * st->scale;
		ItemPointerData tid;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (isnan(f))
			continue;			/* empty or dead */
		tid = sc->tids[s];
		if (!FetchVisible(st->rel, &tid))
			continue;
		values[0] = PointerGetDatum(&tid);
		values[1] = Float8GetDatum(f);
		tuplestore_putvalues(st->store, st->desc, values, nulls);
	}
}

/*
 * rsr_scores(index regclass, query real[]) RETURNS TABLE(tid, score):
 * the inner product of every row visible to the snapshot: on tile indexes
 * exactly inner_product's (rsr_tile_exact, on the query as given), on the
 * others the float kernel's (on the scaled query, scaled back).
 */
Datum
rsr_scores(PG_FUNCTION_ARGS)
{
	Oid			indexOid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BulkRel		rel;
	ScoresState st;
	RsrScores	sc;
	float	   *q;
	int			dims;

	OpenBulk(indexOid, &rel);
	q = RsrQueryFromArray(arr, rel.meta.dims > 0 ? (int) rel.meta.dims : -1,
						  &dims);
	InitMaterializedSRF(fcinfo, 0);

	if (rel.meta.dims > 0)
	{
		float	   *kq = palloc(Max(dims, 1) * sizeof(float));
		RsrQuery	pq;

		BeginFetch(&rel);
		RsrQueryPrepare(q, dims, kq, &pq);
		st.scale = pq.scale;
		st.rel = &rel;
		st.store = rsinfo->setResult;
		st.desc = rsinfo->setDesc;
		memset(&sc, 0, sizeof(sc));
		sc.cxt = CurrentMemoryContext;
		sc.batch = 1;
		sc.flush = ScoresFlush;
		sc.flushArg = &st;
		/* tiles: the query as given, scored exactly as the operator does */
		sc.wantExact = rel.meta.layout == RSR_LAYOUT_TILE;
		RsrScoreIndex(rel.index, sc.wantExact ? q : kq, 1, dims, &sc);
	}
	CloseBulk(&rel);
	return (Datum) 0;
}

/* ---- rsr_topk ---- */

/* Sift the root of the min-heap best[0..n) down */
static void
HeapSiftDown(double *best, int64 n)
{
	int64		i = 0;
	double		v = best[0];

	for (;;)
	{
		int64		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && best[c + 1] < best[c])
			c++;
		if (best[c] >= v)
			break;
		best[i] = best[c];
		i = c;
	}
	best[i] = v;
}

/* Add exact score x to the min-heap of the n best scores of a query */
static void
HeapAdd(TopkQuery *tq, int64 n, double x)
{
	if (tq->nbest < n)
	{
		int64		i;

		if (tq->nbest == tq->bestcap)
		{
			tq->bestcap = Min(tq->bestcap * 2, n);
			tq->best = repalloc_huge(tq->best, tq->bestcap * sizeof(double));
		}
		i = tq->nbest++;

		/* Sift up */
		while (i > 0 && tq->best[(i - 1) / 2] > x)
		{
			tq->best[i] = tq->best[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		tq->best[i] = x;
	}
	else if (x > tq->best[0])
	{
		tq->best[0] = x;
		HeapSiftDown(tq->best, tq->nbest);
	}
	else
		return;
	if (tq->nbest == n)
		tq->floor = tq->best[0] - tq->bound;
}

/* Drop the candidates whose exact score is below the n-th best */
static void
PruneRows(TopkQuery *tq, int64 n)
{
	int64		i;
	int64		m = 0;

	if (tq->nbest < n)
		return;
	for (i = 0; i < tq->nrows; i++)
		if (tq->rows[i].score >= tq->best[0])
			tq->rows[m++] = tq->rows[i];
	tq->nrows = m;
}

/* Keep the row as a candidate of the query */
static void
AddRow(TopkState *ts, TopkQuery *tq, double x, ItemPointer tid)
{
	if (tq->nbest == ts->n && x < tq->best[0])
		return;
	HeapAdd(tq, ts->n, x);
	if (tq->nrows == tq->rowcap)
	{
		PruneRows(tq, ts->n);
		if (tq->nrows * 2 > tq->rowcap)
		{
			tq->rowcap *= 2;
			tq->rows = repalloc_huge(tq->rows, tq->rowcap * sizeof(TopkRow));
		}
	}
	tq->rows[tq->nrows].score = x;
	tq->rows[tq->nrows].tid = *tid;
	tq->nrows++;
}

/* Score the row (value, tid) exactly for the query and keep it if it may count */
static void
ScoreRow(TopkState *ts, TopkQuery *tq, Datum value, ItemPointer tid)
{
	double		x;

	x = 0.0 - DatumGetFloat8(FunctionCall2(&tq->op, value, tq->query));
	AddRow(ts, tq, x, tid);
}

/* Forget what a query has found, to take its rows again from scratch */
static void
ResetQuery(TopkQuery *tq)
{
	tq->nbest = 0;
	tq->nrows = 0;
	tq->floor = -INFINITY;
}

/*
 * Take the slots [0, count) that may reach a query's top n: fetch each such
 * row once, check its visibility and score it exactly for every query that
 * wants it.
 */
static void
TopkFlush(RsrScores *sc, uint64 count, void *arg)
{
	TopkState  *ts = (TopkState *) arg;
	uint32		batch = ts->batch;
	uint64		s;
	MemoryContext oldcxt = MemoryContextSwitchTo(ts->cxt);

	for (s = 0; s < count; s++)
	{
		const float *y = sc->scores + s * batch;
		bool		want = false;
		ItemPointerData tid;
		Datum		value;
		uint32		b;

		if (isnan(y[0]))
			continue;			/* empty or dead */
		for (b = 0; b < batch; b++)
			want |= (double) y[b] * ts->queries[b]->scale >=
				ts->queries[b]->floor;
		if (!want)
			continue;

		tid = sc->tids[s];
		if (!FetchVisible(ts->rel, &tid) || !IndexedValue(ts->rel, &value))
			continue;
		for (b = 0; b < batch; b++)
		{
			TopkQuery  *tq = ts->queries[b];

			if ((double) y[b] * tq->scale >= tq->floor)
				ScoreRow(ts, tq, value, &tid);
		}
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Walk the index on the CPU for the queries pending[0..npending), from
 * scratch, in one batched pass.
 */
static void
TopkWalk(TopkState *ts, TopkQuery **pending, uint32 npending)
{
	float	   *Q = palloc((size_t) npending * ts->dims * sizeof(float));
	RsrScores	sc;
	uint32		b;

	for (b = 0; b < npending; b++)
	{
		ResetQuery(pending[b]);
		memcpy(Q + (size_t) b * ts->dims, pending[b]->kq,
			   ts->dims * sizeof(float));
	}
	ts->queries = pending;
	ts->batch = npending;
	memset(&sc, 0, sizeof(sc));
	sc.cxt = ts->cxt;
	sc.batch = npending;
	sc.flush = TopkFlush;
	sc.flushArg = ts;
	RsrScoreIndex(ts->rel->index, Q, npending, ts->dims, &sc);
	pfree(Q);
}

/*
 * The queries pending[0..npending) on a tile index: the engine's batched
 * exact top-m (one pass over the index for all of them), then the heap
 * check of each row in order.  A query is settled when the pass returned
 * every row (fewer than m) or when the m-th row's score is below the n-th
 * visible one's: then every row with a score at least that is among the m,
 * so the TID order of ties is complete.  Others go again with m four times
 * larger.  The engine's scores are the operator's, bit for bit.
 */
static void
TopkTiles(TopkState *ts, TopkQuery **pending, uint32 npending)
{
	RsrKind		kind = (RsrKind) ts->rel->meta.kind;
	size_t		tqsize = rsr_tile_query_size(kind, ts->dims);
	uint8	   *tqbuf = palloc(tqsize * npending);
	const void *tqs[RSR_MAX_BATCH];
	TopkQuery  *todo[RSR_MAX_BATCH];
	uint32		ntodo = npending;
	size_t		m = (size_t) ts->n + 16;
	uint32		b;
	MemoryContext oldcxt = MemoryContextSwitchTo(ts->cxt);

	for (b = 0; b < npending; b++)
	{
		RsrCheckStatus(rsr_tile_prepare(kind, pending[b]->q, ts->dims,
										tqbuf + tqsize * b, tqsize),
					   "rsr_topk");
		todo[b] = pending[b];
		tqs[b] = tqbuf + tqsize * b;
	}
	while (ntodo > 0)
	{
		uint64	   *ids = palloc_extended(ntodo * m * sizeof(uint64), MCXT_ALLOC_HUGE);
		double	   *scores = palloc_extended(ntodo * m * sizeof(double), MCXT_ALLOC_HUGE);
		ItemPointerData *tids = palloc_extended(ntodo * m * sizeof(ItemPointerData),
												MCXT_ALLOC_HUGE);
		size_t		counts[RSR_MAX_BATCH];
		uint32		left = 0;

		RsrTileSearch(ts->rel->index, tqs, ntodo, m, ids, scores, tids, counts);
		for (b = 0; b < ntodo; b++)
		{
			TopkQuery  *tq = todo[b];
			int64		visible = 0;
			double		nth = 0;
			size_t		i;

			ResetQuery(tq);
			for (i = 0; i < counts[b]; i++)
			{
				if (!FetchVisible(ts->rel, &tids[b * m + i]))
					continue;
				AddRow(ts, tq, scores[b * m + i], &tids[b * m + i]);
				if (++visible == ts->n)
					nth = scores[b * m + i];
			}
			if (!(counts[b] < m ||
				  (visible >= ts->n && scores[b * m + m - 1] < nth)))
			{
				todo[left] = tq;
				tqs[left] = tqs[b];
				left++;
			}
		}
		pfree(ids);
		pfree(scores);
		pfree(tids);
		ntodo = left;
		m *= 4;
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Take the worker's `count` best candidates of a query (at most m, best
 * first) from scratch, through the floor, the heap check and the exact
 * score of the CPU path.  True when the query is settled: no row beyond
 * them can reach its top n, because the worker returned every row (count
 * < m) or the m-th's scaled kernel score is below the floor (the rows it
 * did not return score at most that).
 */
static bool
TopkCandidates(TopkState *ts, TopkQuery *tq, const RsrGpuCandidate *cands,
			   uint32 count, uint32 m)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(ts->cxt);
	uint32		i;

	ResetQuery(tq);
	for (i = 0; i < count; i++)
	{
		ItemPointerData tid = cands[i].tid;
		Datum		value;

		/* This row and every later one are out */
		if ((double) cands[i].score * tq->scale < tq->floor)
			break;
		if (FetchVisible(ts->rel, &tid) && IndexedValue(ts->rel, &value))
			ScoreRow(ts, tq, value, &tid);
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(oldcxt);
	return count < m || (double) cands[m - 1].score * tq->scale < tq->floor;
}

/*
 * Answer the queries pending[0..npending) on the GPU worker: every round
 * asks it for the m best candidates of each query not settled yet, in
 * requests of as many queries as keep the answer within
 * RSR_TOPK_REPLY_BYTES, then m grows fourfold up to
 * RSR_TOPK_MAX_CANDIDATES.  Returns how many queries are left for the CPU
 * walk, moved to the front of pending: those needing more candidates and,
 * when the worker fails with rsr_vector.device = auto, those it did not
 * answer (*useWorker becomes false: the later batches skip it).  With gpu,
 * a failure is an error.
 */
static uint32
TopkOnWorker(TopkState *ts, TopkQuery **pending, uint32 npending,
			 bool *useWorker)
{
	uint32		m = (uint32) Min(Max((int64) RSR_TOPK_FIRST_CANDIDATES,
									 2 * ts->n),
								 (int64) RSR_TOPK_MAX_CANDIDATES + 1);
	float	   *Q = palloc((size_t) RSR_MAX_BATCH * ts->dims * sizeof(float));
	uint32		counts[RSR_MAX_BATCH];

	while (npending > 0 && m <= RSR_TOPK_MAX_CANDIDATES)
	{
		uint32		per = (uint32) Min(RSR_TOPK_REPLY_BYTES /
									   ((Size) m * sizeof(RsrGpuCandidate)),
									   RSR_MAX_BATCH);
		uint32		done = 0;	/* pending queries asked this round */
		uint32		left = 0;	/* of them, those not settled */

		while (done < npending)
		{
			uint32		nr = Min(Max(per, 1), npending - done);
			RsrGpuCandidate *cands;
			const char *why;
			uint32		b;

			for (b = 0; b < nr; b++)
				memcpy(Q + (size_t) b * ts->dims, pending[done + b]->kq,
					   ts->dims * sizeof(float));
			if (!RsrGpuTopn(ts->rel->index, ts->rel->meta.changeCount, Q, nr,
							ts->dims, m, &cands, counts, &why))
			{
				if (rsr_device == RSR_DEVICE_GPU)
					RsrGpuFail("rsr_topk queries", why);
				ereport(DEBUG1,
						(errmsg_internal("rsr_topk goes on on the CPU: %s", why)));
				*useWorker = false;
				memmove(pending + left, pending + done,
						(npending - done) * sizeof(TopkQuery *));
				pfree(Q);
				return left + npending - done;
			}
			for (b = 0; b < nr; b++)
				if (!TopkCandidates(ts, pending[done + b],
									cands + (Size) b * m, counts[b], m))
					pending[left++] = pending[done + b];
			pfree(cands);
			done += nr;
			CHECK_FOR_INTERRUPTS();
		}
		npending = left;
		m = m == RSR_TOPK_MAX_CANDIDATES ? m + 1 :
			(uint32) Min((uint64) m * 4, RSR_TOPK_MAX_CANDIDATES);
	}
	pfree(Q);
	return npending;
}

/* Order candidates by exact score, best first, then by TID */
static int
CompareRows(const void *a, const void *b)
{
	const TopkRow *ra = (const TopkRow *) a;
	const TopkRow *rb = (const TopkRow *) b;

	if (ra->score != rb->score)
		return ra->score > rb->score ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &ra->tid, (ItemPointer) &rb->tid);
}

/*
 * rsr_topk(index regclass, queries real[][], n int)
 *		RETURNS TABLE(query int, tid tid, score double precision):
 * the exact top n rows of each query (numbered from 1), best first.
 *
 * Queries are scored RSR_MAX_BATCH at a time: by the GPU worker when
 * rsr_vector.device says so, else (and for the queries the worker could
 * not answer) with the batched kernel, one pass over the index per batch.
 */
Datum
rsr_topk(PG_FUNCTION_ARGS)
{
	Oid			indexOid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int32		n = PG_GETARG_INT32(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BulkRel		rel;
	TopkState	ts;
	float	   *Q;
	int			nq;
	int			dims;
	int			first;
	Oid			opproc;
	MemoryContext batchCxt;
	bool		useWorker;

	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be greater than zero")));
	OpenBulk(indexOid, &rel);
	Q = RsrQueriesFromArray(arr, rel.meta.dims, &nq, &dims);
	InitMaterializedSRF(fcinfo, 0);
	if (rel.meta.dims == 0)
	{
		CloseBulk(&rel);
		return (Datum) 0;
	}

	BeginFetch(&rel);
	opproc = OrderingProc(rel.index);
	batchCxt = AllocSetContextCreate(CurrentMemoryContext,
									 "rsr_topk batch",
									 ALLOCSET_DEFAULT_SIZES);
	memset(&ts, 0, sizeof(ts));
	ts.rel = &rel;
	ts.n = n;
	ts.dims = dims;
	ts.cxt = batchCxt;
	useWorker = RsrGpuWanted();

	for (first = 0; first < nq; first += RSR_MAX_BATCH)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(batchCxt);
		uint32		batch = Min(nq - first, RSR_MAX_BATCH);
		int64		heapcap = Min((int64) n, 1024);
		float	   *Qb;			/* the batch's queries, for the kernel */
		TopkQuery  *queries;
		TopkQuery **pending;	/* the queries not answered yet */
		uint32		npending = batch;
		uint32		b;

		queries = palloc0(batch * sizeof(TopkQuery));
		pending = palloc(batch * sizeof(TopkQuery *));
		Qb = palloc((size_t) batch * dims * sizeof(float));
		for (b = 0; b < batch; b++)
		{
			TopkQuery  *tq = &queries[b];
			const float *q = Q + (size_t) (first + b) * dims;
			Datum	   *elems = palloc(dims * sizeof(Datum));
			RsrQuery	pq;
			int			j;

			for (j = 0; j < dims; j++)
				elems[j] = Float4GetDatum(q[j]);
			tq->query = PointerGetDatum(construct_array(elems, dims, FLOAT4OID,
														sizeof(float4), true,
														TYPALIGN_INT));
			pfree(elems);
			fmgr_info_cxt(opproc, &tq->op, batchCxt);
			tq->kq = Qb + (size_t) b * dims;
			tq->q = q;
			RsrQueryPrepare(q, dims, Qb + (size_t) b * dims, &pq);
			tq->scale = pq.scale;
			tq->bound = pq.bound;
			tq->floor = -INFINITY;
			tq->bestcap = heapcap;
			tq->best = palloc(heapcap * sizeof(double));
			tq->rowcap = Max(2 * heapcap, 64);
			tq->rows = palloc_extended(tq->rowcap * sizeof(TopkRow),
									   MCXT_ALLOC_HUGE);
			pending[b] = tq;
		}

		if (useWorker)
			npending = TopkOnWorker(&ts, pending, npending, &useWorker);
		if (npending > 0 && rel.meta.layout == RSR_LAYOUT_TILE)
			TopkTiles(&ts, pending, npending);
		else if (npending > 0)
			TopkWalk(&ts, pending, npending);

		for (b = 0; b < batch; b++)
		{
			TopkQuery  *tq = &queries[b];
			int64		i;

			PruneRows(tq, n);
			qsort(tq->rows, tq->nrows, sizeof(TopkRow), CompareRows);
			for (i = 0; i < Min(tq->nrows, (int64) n); i++)
			{
				Datum		values[3];
				bool		nulls[3] = {false, false, false};

				values[0] = Int32GetDatum(first + b + 1);
				values[1] = PointerGetDatum(&tq->rows[i].tid);
				values[2] = Float8GetDatum(tq->rows[i].score);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
									 values, nulls);
			}
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(batchCxt);
	}
	MemoryContextDelete(batchCxt);
	CloseBulk(&rel);
	return (Datum) 0;
}

/* ---- rsr_index_info ---- */

/* Count the live slots of [0, count) */
static void
InfoFlush(RsrScores *sc, uint64 count, void *arg)
{
	InfoState  *st = (InfoState *) arg;
	uint64		s;

	for (s = 0; s < count; s++)
		if (!isnan(sc->scores[s]))
			st->live++;
}

/*
 * rsr_index_info(index regclass) RETURNS jsonb: the shape, size and row
 * counts of an rsr index and the kernel that scores it on this machine.
 */
Datum
rsr_index_info(PG_FUNCTION_ARGS)
{
	Oid			indexOid = PG_GETARG_OID(0);
	BulkRel		rel;
	InfoState	st;
	RsrScores	sc;
	StringInfoData buf;
	BlockNumber pages;
	BlockNumber blkno;
	BlockNumber freePages = 0;
	RsrKind		kind;
	const char *layout;
	double		weights;

	OpenBulk(indexOid, &rel);
	kind = RsrIndexKind(rel.index);
	memset(&st, 0, sizeof(st));
	memset(&sc, 0, sizeof(sc));
	sc.cxt = CurrentMemoryContext;
	sc.batch = 1;
	sc.flush = InfoFlush;
	sc.flushArg = &st;
	RsrScoreIndex(rel.index, NULL, 1, 0, &sc);
	pages = RelationGetNumberOfBlocks(rel.index);
	for (blkno = RSR_METAPAGE_BLKNO + 1; blkno < pages; blkno++)
		if (GetRecordedFreeSpace(rel.index, blkno) > 0)
			freePages++;			/* offered to inserts by VACUUM */

	switch (rel.meta.layout)
	{
		case RSR_LAYOUT_PERM:
			layout = "perm";
			break;
		case RSR_LAYOUT_BUCKET:
			layout = "bucket";
			break;
		case RSR_LAYOUT_TILE:
			layout = "tile";
			break;
		default:
			layout = "none";
			break;
	}
	weights = (double) rel.meta.ntuples * rel.meta.dims;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"type\": \"%s\", \"dims\": %u, \"k\": %u, "
					 "\"layout\": \"%s\", \"ranges\": %u",
					 kind == RSR_KIND_TERNARY ? "ternary" : "binary",
					 rel.meta.dims, rel.meta.k, layout, rel.meta.nranges);
	appendStringInfo(&buf, ", \"rows\": " UINT64_FORMAT
					 ", \"live_rows\": " UINT64_FORMAT
					 ", \"dead_rows\": " UINT64_FORMAT
					 ", \"blocks\": " UINT64_FORMAT
					 ", \"segments\": " UINT64_FORMAT,
					 rel.meta.ntuples, st.live,
					 rel.meta.ntuples - Min(rel.meta.ntuples, st.live),
					 rel.meta.nblocks, sc.nentries);
	appendStringInfo(&buf, ", \"pages\": %u, \"free_pages\": %u"
					 ", \"retired_blocks\": " UINT64_FORMAT
					 ", \"bytes\": " UINT64_FORMAT
					 ", \"segment_bytes\": " UINT64_FORMAT,
					 pages, freePages, rel.meta.nretired,
					 (uint64) pages * BLCKSZ, sc.segbytes);
	if (weights > 0)
		appendStringInfo(&buf, ", \"bits_per_weight\": %.3f",
						 (double) sc.segbytes * 8.0 / weights);
	else
		appendStringInfoString(&buf, ", \"bits_per_weight\": null");
	appendStringInfo(&buf, ", \"kernel\": \"%s\", \"threads\": %d}",
					 rel.meta.layout == RSR_LAYOUT_TILE ? rsr_tile_kernel_name() :
					 rsr_kernel_name(), rsr_threads);

	CloseBulk(&rel);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
