/*-------------------------------------------------------------------------
 *
 * test_util.h
 *	  What the engine's test and benchmark programs share: a seeded
 *	  random generator, an allocation that exits on failure, a clock, and
 *	  the check counter of the test programs.
 *
 * Header-only (static inline, C and C++), so that every program keeps its
 * own generator state and links nothing more.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/test_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RSR_TEST_UTIL_H
#define RSR_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* State of rnd(); a program seeds it (never 0) */
static uint64_t rng_state = 88172645463325252ULL;

/* xorshift64*: the next pseudo-random 64 bits */
static inline uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform integer in [0, n) */
static inline uint32_t
rndn(uint32_t n)
{
	return (uint32_t) ((rnd() >> 32) % n);
}

/* Allocate n bytes or exit with status 2 */
static inline void *
xmalloc(size_t n)
{
	void	   *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
	{
		printf("out of memory\n");
		exit(2);
	}
	return p;
}

/* Monotonic wall clock in ms */
static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Checks passed so far */
static long npassed;

/* Report a failure with the count of checks passed, and exit */
static inline void
fail(const char *what, const char *detail)
{
	printf("FAIL: %s: %s\n", what, detail);
	printf("%ld passed, 1 failed\n", npassed);
	exit(1);
}

/* Count a check; fail unless ok */
static inline void
check(int ok, const char *what, const char *detail)
{
	if (!ok)
		fail(what, detail);
	npassed++;
}

#endif							/* RSR_TEST_UTIL_H */
