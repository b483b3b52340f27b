/*-------------------------------------------------------------------------
 *
 * tvec_binary_fuzzer.c
 *	  libFuzzer target for rsr_tvec_parse_binary(), the checks behind
 *	  tvec_recv.
 *
 * Checks, for any input: no read past the message; an accepted value is
 * canonical (no element in both planes, padding zero), consumes exactly
 * 4 + 2 * ceil(dim / 8) bytes, and survives the trip through the text
 * form (printed as tvec_out does, parsed by rsr_tvec_parse_text, packed
 * again: same bytes); the type modifier check accepts exactly its own
 * dimension.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/fuzz/tvec_binary_fuzzer.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "rsr_core.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Run the checks on one message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	RsrTvecParse res;
	RsrTvecParse res2;
	RsrStatus	st;
	size_t		nbytes;
	const uint8_t *plus;
	const uint8_t *minus;
	char	   *text;
	char	   *p;
	int8_t	   *x;
	uint8_t    *packed;
	uint32_t	j;

	st = rsr_tvec_parse_binary(data, size, -1, &res);
	CHECK((st == RSR_OK) == (res.error == RSR_TVEC_OK));
	if (st != RSR_OK)
	{
		if (res.error == RSR_TVEC_BOTH_PLANES)
			CHECK(res.elem >= 1 && res.elem <= res.dim);
		return 0;
	}

	CHECK(res.dim >= 1 && res.dim <= RSR_MAX_DIMS);
	nbytes = (res.dim + 7) / 8;
	CHECK(res.off == 4 && res.len == 4 + 2 * nbytes && res.len <= size);
	CHECK(rsr_tvec_parse_binary(data, size, (int32_t) res.dim, &res2) == RSR_OK);
	CHECK(rsr_tvec_parse_binary(data, size, (int32_t) res.dim - 1, &res2) == RSR_EINVAL &&
		  res2.error == RSR_TVEC_DIM_MISMATCH);
	/* A message cut short by one byte is short */
	CHECK(rsr_tvec_parse_binary(data, res.len - 1, -1, &res2) == RSR_EINVAL &&
		  res2.error == RSR_TVEC_SHORT);

	plus = data + 4;
	minus = plus + nbytes;
	text = malloc(3 * (size_t) res.dim + 2);
	x = malloc(3 * (size_t) res.dim + 2);
	packed = calloc(2, nbytes);
	CHECK(text != NULL && x != NULL && packed != NULL);
	p = text;
	*p++ = '[';
	for (j = 0; j < res.dim; j++)
	{
		int			pb = (plus[j >> 3] >> (7 - (j & 7))) & 1;
		int			mb = (minus[j >> 3] >> (7 - (j & 7))) & 1;

		CHECK(!(pb && mb));
		if (j > 0)
			*p++ = ',';
		if (mb)
			*p++ = '-';
		*p++ = pb || mb ? '1' : '0';
	}
	*p++ = ']';
	CHECK(rsr_tvec_parse_text(text, (size_t) (p - text), -1, x,
							  3 * (size_t) res.dim + 2, &res2) == RSR_OK);
	CHECK(res2.dim == res.dim);
	for (j = 0; j < res.dim; j++)
	{
		if (x[j] > 0)
			packed[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
		else if (x[j] < 0)
			packed[nbytes + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
	}
	CHECK(memcmp(packed, data + 4, 2 * nbytes) == 0);
	free(text);
	free(x);
	free(packed);
	return 0;
}
