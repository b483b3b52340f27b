/*-------------------------------------------------------------------------
 *
 * rsr_tvec_parse.c
 *	  Parsing and checking of tvec input, text and binary, without
 *	  PostgreSQL: the glue (tvec_in, tvec_recv) maps each result to its
 *	  error report, and the fuzz targets run the same code directly.
 *
 * Both parsers read exactly `len` bytes and never past them; neither needs
 * a terminating NUL.  The checks run in the order the error messages were
 * defined in, so the first problem of an input decides its message.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_tvec_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "rsr_core.h"

/* Whitespace accepted around elements, as in array literals */
static inline int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		ch == '\v' || ch == '\f';
}

/* Fill *res with an error and return RSR_EINVAL */
static RsrStatus
fail(RsrTvecParse *res, RsrTvecError error, size_t off, size_t len)
{
	res->error = error;
	res->off = off;
	res->len = len;
	return RSR_EINVAL;
}

/*
 * Parse the text form [1,0,-1] from lit[0..len) into x[0..x_cap): one int8
 * per element.  An element is an optional sign and decimal digits (what
 * strtol accepts after the whitespace is skipped), whose value is -1, 0 or
 * 1.  x_cap >= min(len / 2 + 1, RSR_MAX_DIMS) always suffices.
 */
RsrStatus
rsr_tvec_parse_text(const char *lit, size_t len, int32_t expected_dim,
					int8_t *x, size_t x_cap, RsrTvecParse *res)
{
	size_t		i = 0;
	uint32_t	dim = 0;

	memset(res, 0, sizeof(*res));
	while (i < len && is_space(lit[i]))
		i++;
	if (i == len || lit[i] != '[')
		return fail(res, RSR_TVEC_NO_BRACKET, 0, 0);
	i++;
	while (i < len && is_space(lit[i]))
		i++;
	if (i < len && lit[i] == ']')
		return fail(res, RSR_TVEC_NO_DIMS, 0, 0);

	for (;;)
	{
		size_t		start;
		size_t		digits;
		int			neg = 0;
		uint32_t	val = 0;

		if (dim == RSR_MAX_DIMS)
			return fail(res, RSR_TVEC_TOO_MANY_DIMS, 0, 0);
		while (i < len && is_space(lit[i]))
			i++;
		if (i == len)
			return fail(res, RSR_TVEC_SYNTAX, 0, 0);

		/* [+-]?[0-9]+; a sign without digits converts nothing */
		start = i;
		if (lit[i] == '+' || lit[i] == '-')
		{
			neg = lit[i] == '-';
			i++;
		}
		digits = i;
		while (i < len && lit[i] >= '0' && lit[i] <= '9')
		{
			/* saturate: anything above 1 is out of range anyway */
			if (val <= 1)
				val = val * 10 + (uint32_t) (lit[i] - '0');
			i++;
		}
		if (i == digits)
			return fail(res, RSR_TVEC_SYNTAX, 0, 0);
		if (val > 1)
		{
			res->elem = dim + 1;
			return fail(res, RSR_TVEC_BAD_ELEMENT, start, i - start);
		}
		if (dim >= x_cap)
			return fail(res, RSR_TVEC_NO_SPACE, 0, 0);
		x[dim++] = (int8_t) (neg ? -(int32_t) val : (int32_t) val);

		while (i < len && is_space(lit[i]))
			i++;
		if (i < len && lit[i] == ',')
			i++;
		else if (i < len && lit[i] == ']')
		{
			i++;
			break;
		}
		else
			return fail(res, RSR_TVEC_SYNTAX, 0, 0);
	}

	/* Only whitespace may follow the closing bracket */
	while (i < len && is_space(lit[i]))
		i++;
	res->dim = dim;
	if (i != len)
		return fail(res, RSR_TVEC_JUNK, i, len - i);
	if (expected_dim != -1 && (uint32_t) expected_dim != dim)
		return fail(res, RSR_TVEC_DIM_MISMATCH, 0, 0);
	return RSR_OK;
}

/*
 * Check the external binary form in msg[0..len): int32 dim in network
 * order, then the plus plane and the minus plane.  On success res->dim is
 * the dimension, res->off the offset of the planes and res->len the bytes
 * consumed; bytes past them are the caller's business.
 */
RsrStatus
rsr_tvec_parse_binary(const uint8_t *msg, size_t len, int32_t expected_dim,
					  RsrTvecParse *res)
{
	int32_t		dim;
	size_t		nbytes;
	const uint8_t *plus;
	const uint8_t *minus;
	uint8_t		padmask;
	size_t		i;

	memset(res, 0, sizeof(*res));
	if (len < 4)
		return fail(res, RSR_TVEC_SHORT, 0, 0);
	dim = (int32_t) (((uint32_t) msg[0] << 24) | ((uint32_t) msg[1] << 16) |
					 ((uint32_t) msg[2] << 8) | (uint32_t) msg[3]);
	res->dim = (uint32_t) dim;
	if (dim < 1)
		return fail(res, RSR_TVEC_NO_DIMS, 0, 0);
	if (dim > RSR_MAX_DIMS)
		return fail(res, RSR_TVEC_TOO_MANY_DIMS, 0, 0);
	if (expected_dim != -1 && expected_dim != dim)
		return fail(res, RSR_TVEC_DIM_MISMATCH, 0, 0);
	nbytes = ((size_t) dim + 7) / 8;
	if (len - 4 < 2 * nbytes)
		return fail(res, RSR_TVEC_SHORT, 0, 0);

	plus = msg + 4;
	minus = plus + nbytes;
	padmask = (uint8_t) (0xFF >> (((dim - 1) & 7) + 1));
	for (i = 0; i < nbytes; i++)
	{
		/* a padding bit in both planes is reported as padding, below */
		uint8_t		both = plus[i] & minus[i] & (i == nbytes - 1 ? ~padmask : 0xFF);

		if (both != 0)
		{
			/* the element of the highest set bit: the first in bit order */
			uint32_t	first = 0;

			while (!(both & (0x80 >> first)))
				first++;
			res->elem = (uint32_t) (i * 8 + first + 1);
			return fail(res, RSR_TVEC_BOTH_PLANES, 0, 0);
		}
	}

	/* Bits past the last element, in the last byte of each plane */
	if (((plus[nbytes - 1] | minus[nbytes - 1]) & padmask) != 0)
		return fail(res, RSR_TVEC_PADDING, 0, 0);

	res->off = 4;
	res->len = 4 + 2 * nbytes;
	return RSR_OK;
}
