/*-------------------------------------------------------------------------
 *
 * tvec_text_fuzzer.c
 *	  libFuzzer target for rsr_tvec_parse_text(), the parser behind
 *	  tvec_in.
 *
 * Checks, for any input: the parser stays inside the input (ASan sees the
 * input in a buffer of exactly its size, with no terminating NUL); it
 * agrees with a strtol-based reference that is the parser tvec_in had
 * before the core existed (same accept/reject decision, same error, same
 * elements); an accepted value prints back to text that parses to the same
 * elements; the type modifier check accepts exactly its own dimension.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/fuzz/tvec_text_fuzzer.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rsr_core.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Whitespace of the reference parser */
static int
ref_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		ch == '\v' || ch == '\f';
}

/*
 * The original tvec_in loop on a NUL-terminated string, with each ereport
 * replaced by returning its error; *dim and x[] as the core fills them.
 */
static RsrTvecError
ref_parse(const char *lit, int8_t *x, uint32_t *dim_out, uint32_t *elem)
{
	const char *pt = lit;
	uint32_t	dim = 0;

	while (ref_space(*pt))
		pt++;
	if (*pt != '[')
		return RSR_TVEC_NO_BRACKET;
	pt++;
	while (ref_space(*pt))
		pt++;
	if (*pt == ']')
		return RSR_TVEC_NO_DIMS;
	for (;;)
	{
		long		val;
		char	   *end;

		if (dim == RSR_MAX_DIMS)
			return RSR_TVEC_TOO_MANY_DIMS;
		while (ref_space(*pt))
			pt++;
		if (*pt == '\0')
			return RSR_TVEC_SYNTAX;
		errno = 0;
		val = strtol(pt, &end, 10);
		if (end == pt)
			return RSR_TVEC_SYNTAX;
		if (errno == ERANGE || val < -1 || val > 1)
		{
			*elem = dim + 1;
			return RSR_TVEC_BAD_ELEMENT;
		}
		x[dim++] = (int8_t) val;
		pt = end;
		while (ref_space(*pt))
			pt++;
		if (*pt == ',')
			pt++;
		else if (*pt == ']')
		{
			pt++;
			break;
		}
		else
			return RSR_TVEC_SYNTAX;
	}
	while (ref_space(*pt))
		pt++;
	*dim_out = dim;
	return *pt != '\0' ? RSR_TVEC_JUNK : RSR_TVEC_OK;
}

/* Run the parser on one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *lit = (const char *) data;
	size_t		cap = size / 2 + 1 < RSR_MAX_DIMS ? size / 2 + 1 : RSR_MAX_DIMS;
	int8_t	   *x = malloc(cap);
	int8_t	   *y;
	char	   *text;
	RsrTvecParse res;
	RsrTvecParse res2;
	RsrStatus	st;
	uint32_t	j;

	CHECK(x != NULL);
	st = rsr_tvec_parse_text(lit, size, -1, x, cap, &res);
	CHECK((st == RSR_OK) == (res.error == RSR_TVEC_OK));
	CHECK(res.error != RSR_TVEC_NO_SPACE);	/* cap is always enough */
	CHECK(res.error != RSR_TVEC_DIM_MISMATCH);

	/* Same decision as the strtol reference (it stops at a NUL) */
	if (memchr(data, 0, size) == NULL)
	{
		char	   *copy = malloc(size + 1);
		int8_t	   *rx = malloc(cap);
		uint32_t	rdim = 0;
		uint32_t	relem = 0;
		RsrTvecError rerr;

		CHECK(copy != NULL && rx != NULL);
		memcpy(copy, data, size);
		copy[size] = '\0';
		rerr = ref_parse(copy, rx, &rdim, &relem);
		CHECK(rerr == res.error);
		if (rerr == RSR_TVEC_BAD_ELEMENT)
			CHECK(relem == res.elem);
		if (rerr == RSR_TVEC_OK)
			CHECK(rdim == res.dim && memcmp(rx, x, rdim) == 0);
		free(copy);
		free(rx);
	}

	if (st == RSR_OK)
	{
		CHECK(res.dim >= 1 && res.dim <= RSR_MAX_DIMS);
		for (j = 0; j < res.dim; j++)
			CHECK(x[j] >= -1 && x[j] <= 1);

		/* typmod: its own dimension passes, any other fails */
		y = malloc(cap);
		CHECK(y != NULL);
		CHECK(rsr_tvec_parse_text(lit, size, (int32_t) res.dim, y, cap, &res2) == RSR_OK);
		CHECK(rsr_tvec_parse_text(lit, size, (int32_t) res.dim + 1, y, cap, &res2) == RSR_EINVAL &&
			  res2.error == RSR_TVEC_DIM_MISMATCH && res2.dim == res.dim);
		free(y);

		/* Print as tvec_out does and parse again: same elements */
		text = malloc(3 * (size_t) res.dim + 2);
		y = malloc(3 * (size_t) res.dim + 2);
		CHECK(text != NULL && y != NULL);
		{
			char	   *p = text;

			*p++ = '[';
			for (j = 0; j < res.dim; j++)
			{
				if (j > 0)
					*p++ = ',';
				if (x[j] < 0)
					*p++ = '-';
				*p++ = x[j] != 0 ? '1' : '0';
			}
			*p++ = ']';
			CHECK(rsr_tvec_parse_text(text, (size_t) (p - text), -1, y,
									  3 * (size_t) res.dim + 2, &res2) == RSR_OK);
		}
		CHECK(res2.dim == res.dim && memcmp(x, y, res.dim) == 0);
		free(text);
		free(y);
	}
	else if (res.error == RSR_TVEC_BAD_ELEMENT || res.error == RSR_TVEC_JUNK)
		CHECK(res.off <= size && res.len <= size - res.off);
	free(x);
	return 0;
}
