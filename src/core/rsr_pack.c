/*
 * rsr_pack.c (being written)
 */
#include "rsr_core.h"
