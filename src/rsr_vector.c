/*-------------------------------------------------------------------------
 *
 * rsr_vector.c
 *	  Module entry point: GUCs, CPU dispatch, engine status mapping.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsr_vector.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "rsr_vector.h"
#include "rsr_gpu.h"
#include "rsr_index.h"

PG_MODULE_MAGIC;

/* Kernel threads per query (OpenMP) */
int			rsr_threads = 1;

/* Layout of new indexes whose layout option is auto (0: the engine's) */
int			rsr_default_layout = 0;

static const struct config_enum_entry rsr_layout_entries[] = {
	{"auto", 0, false},
	{"perm", RSR_LAYOUT_PERM, false},
	{"bucket", RSR_LAYOUT_BUCKET, false},
	{"tile", RSR_LAYOUT_TILE, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* Module load: define the GUCs and pick the CPU kernels */
void
_PG_init(void)
{
	rsr_init();

	DefineCustomIntVariable("rsr_vector.threads",
							"Sets the number of kernel threads used to score one query.",
							"Threads only compute on memory prepared by the backend.",
							&rsr_threads,
							1, 1, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("rsr_vector.default_layout",
							 "Sets the layout of new rsr indexes built with layout = auto.",
							 "auto lets the engine choose (tile); perm and bucket are the older layouts.",
							 &rsr_default_layout,
							 0, rsr_layout_entries,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("rsr_vector.scan_cache_size",
							"Sets the memory a backend may use for its copies of tile indexes.",
							"Searches of an unchanged index read its copy instead of its pages; "
							"0 turns the copies off.",
							&rsr_scan_cache_size,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	/* GPU settings; when preloaded, shared memory and the GPU worker */
	RsrGpuInit();

	/* when preloaded, the shared map of recent buffers (rsrpages.c) */
	RsrPagesInit();

	MarkGUCPrefixReserved("rsr_vector");

	RsrInitReloptions();
}

/* Map an engine status to its one error report */
void
RsrCheckStatus(RsrStatus status, const char *what)
{
	switch (status)
	{
		case RSR_OK:
			return;
		case RSR_EINVAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid argument to %s", what)));
			break;
		case RSR_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("buffer too small in %s", what)));
			break;
		case RSR_ECORRUPT:
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("corrupted rsr segment found in %s", what),
					 errhint("Please REINDEX it.")));
			break;
	}
	elog(ERROR, "unknown rsr engine status %d in %s", (int) status, what);
}

/*
 * Block every signal before the engine may start kernel threads.
 *
 * OpenMP threads inherit the signal mask of the thread that creates them, so
 * with everything blocked here no PostgreSQL signal handler can ever run on
 * a kernel thread; the backend's own mask is restored by RsrThreadsEnd().
 */
void
RsrThreadsBegin(sigset_t *saved)
{
	sigset_t	all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
}

/* Restore the backend's signal mask after a threaded kernel call */
void
RsrThreadsEnd(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}
