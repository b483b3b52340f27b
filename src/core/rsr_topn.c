/*
 * rsr_topn.c (being written)
 */
#include "rsr_core.h"
