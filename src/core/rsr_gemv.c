/*
 * rsr_gemv.c (being written)
 */
#include "rsr_core.h"
