/*-------------------------------------------------------------------------
 *
 * rsrcost.c
 *	  Planner cost estimate of an rsr index scan.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrcost.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/selfuncs.h"

#include "rsr_index.h"

/*
 * Kernel cost of scoring one row, as a fraction of cpu_operator_cost: the
 * RSR and bit-packed kernels score a row several times faster than one
 * call of the <#> operator.
 */
#define RSR_ROW_COST_FACTOR 0.25

/*
 * Estimate the cost of an index scan.  The scan is only useful for ORDER BY
 * <#>: it reads every index page sequentially and scores every row before
 * it returns the first TID (the startup cost), then returns TIDs in order
 * at a small cost each.  It returns every row, so the selectivity is 1;
 * with a LIMIT the planner charges only the fraction of the run cost that
 * is needed, and cost_index() adds the heap fetches.
 */
void
rsrcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				Cost *indexStartupCost, Cost *indexTotalCost,
				Selectivity *indexSelectivity, double *indexCorrelation,
				double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1);
	double		pages = Max(index->pages, 1);

	/* Never use the index without an ORDER BY <#> */
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	*indexStartupCost = pages * seq_page_cost +
		tuples * cpu_operator_cost * RSR_ROW_COST_FACTOR;
	*indexTotalCost = *indexStartupCost + tuples * cpu_index_tuple_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = pages;
}
