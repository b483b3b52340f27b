/*-------------------------------------------------------------------------
 *
 * rsr_vector.h
 *	  Glue declarations shared by the PostgreSQL side of rsr_vector.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsr_vector.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_VECTOR_H
#define RSR_VECTOR_H

#include "pg_compat.h"

#include <signal.h>

#include "rsr_core.h"

/* GUCs (rsr_vector.c) */
extern int	rsr_threads;
extern int	rsr_default_layout;	/* RsrLayout, or 0: the engine's choice */

/* rsr_vector.c */
extern void RsrCheckStatus(RsrStatus status, const char *what);
extern void RsrThreadsBegin(sigset_t *saved);
extern void RsrThreadsEnd(const sigset_t *saved);

#endif							/* RSR_VECTOR_H */
