/*-------------------------------------------------------------------------
 *
 * rsr_choose.c
 *	  Choice of block height k and segment layout for a shape.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_choose.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

/* Pick k and the layout for (kind, dims, rows, batch) */
void
rsr_choose(RsrKind kind, uint32_t dims, uint64_t rows, uint32_t batch,
		   uint32_t *k, RsrLayout *layout)
{
	(void) kind;
	(void) dims;
	(void) rows;
	(void) batch;
	*layout = RSR_LAYOUT_BUCKET;
	*k = 8;
}
