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

/*
 * The macros below name fields and functions of headers that pg_compat.h
 * does not include (utils/rel.h, storage/smgr.h, commands/vacuum.h): they
 * expand where used, in files that include those headers.
 */

/* PG 16 changed RelFileNode rd_node into RelFileLocator rd_locator */
#if PG_VERSION_NUM >= 160000
#define RsrRelationFileNumber(rel)	((rel)->rd_locator.relNumber)
#define RsrRelationSmgrLocator(rel)	(&RelationGetSmgr(rel)->smgr_rlocator.locator)
#else
#define RsrRelationFileNumber(rel)	((rel)->rd_node.relNode)
#define RsrRelationSmgrLocator(rel)	(&RelationGetSmgr(rel)->smgr_rnode.node)
#endif

/* PG 16 also changed ReadRecentBuffer()'s RelFileNode into a RelFileLocator */
#if PG_VERSION_NUM >= 160000
#define RsrFileLocator				RelFileLocator
#define RsrRelationLocator(rel)		((rel)->rd_locator)
#define RsrLocatorEquals(a, b)		RelFileLocatorEquals(a, b)
#else
#define RsrFileLocator				RelFileNode
#define RsrRelationLocator(rel)		((rel)->rd_node)
#define RsrLocatorEquals(a, b)		RelFileNodeEquals(a, b)
#endif

/* PG 18 changed vacuum_delay_point() to take is_analyze */
#if PG_VERSION_NUM >= 180000
#define RsrVacuumDelayPoint()	vacuum_delay_point(false)
#else
#define RsrVacuumDelayPoint()	vacuum_delay_point()
#endif

/*
 * PG 17 added the DSM registry, shared memory a library gets without being
 * preloaded: RsrNamedDSMSegment() is its segment of that name (made and set
 * up by init on first use), or NULL before 17.
 */
#if PG_VERSION_NUM >= 170000
#include "storage/dsm_registry.h"
#define RsrNamedDSMSegment(name, size, init, found) \
	GetNamedDSMSegment(name, size, init, found)
#else
#define RsrNamedDSMSegment(name, size, init, found) \
	((void) (init), *(found) = false, (void *) NULL)
#endif

/*
 * PG 18 changed pg_attribute_noreturn() (after the declarator) into
 * pg_noreturn (before the declaration, C11 _Noreturn); GCC and Clang take
 * the older attribute in front too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

#endif							/* PG_COMPAT_H */
