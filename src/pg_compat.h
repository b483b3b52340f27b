/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  Every PG_VERSION_NUM shim of rsr_vector, each with a note.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/pg_compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_COMPAT_H
#define PG_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "rsr_vector requires PostgreSQL 15 or later"
#endif

#endif							/* PG_COMPAT_H */
