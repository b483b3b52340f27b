/*
 * rsr_choose.c (being written)
 */
#include "rsr_core.h"
