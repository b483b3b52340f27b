/*-------------------------------------------------------------------------
 *
 * tvec.h
 *	  The ternary vector type tvec and the query-array check shared by the
 *	  operators, the index and the bulk functions.
 *
 * Storage (a contract with src/core and the index: keep it exactly).  Each
 * of the two bit planes is TvecPlaneBytes(dim) bytes in PostgreSQL bit(n)
 * order: element j is bit (7 - j % 8) of byte j / 8, most significant bit
 * first, padding bits zero.  Element +1 sets its bit in the plus plane, -1
 * in the minus plane, 0 in neither; a bit set in both planes is invalid.
 * This is the engine's packed ternary row (rsr_row_bytes()), so `data` is
 * handed to the engine without copying.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/tvec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TVEC_H
#define TVEC_H

#include "pg_compat.h"

#include "fmgr.h"
#include "utils/array.h"

#define TVEC_MAX_DIM 65535		/* elements per tvec (= RSR_MAX_DIMS) */

typedef struct Tvec
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int32		dim;			/* number of elements, 1..65535 */
	uint8		data[FLEXIBLE_ARRAY_MEMBER];	/* plus plane, then minus plane */
} Tvec;

/* Bytes of one bit plane of a tvec of dim elements */
#define TvecPlaneBytes(dim)		(((dim) + 7) / 8)
/* Total size of a tvec of dim elements, varlena header included */
#define TVEC_SIZE(dim)			(offsetof(Tvec, data) + 2 * TvecPlaneBytes(dim))
#define TvecPlus(v)				((v)->data)
#define TvecMinus(v)			((v)->data + TvecPlaneBytes((v)->dim))

#define DatumGetTvecP(x)		((Tvec *) PG_DETOAST_DATUM(x))
#define PG_GETARG_TVEC_P(n)		DatumGetTvecP(PG_GETARG_DATUM(n))
#define PG_RETURN_TVEC_P(x)		PG_RETURN_POINTER(x)

/* tvec.c */
extern Tvec *InitTvec(int dim);

#endif							/* TVEC_H */
