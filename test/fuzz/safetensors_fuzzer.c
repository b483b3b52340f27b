/*-------------------------------------------------------------------------
 *
 * safetensors_fuzzer.c
 *	  libFuzzer target for the safetensors header parser and the row
 *	  conversions of rsr_safetensors.c, on inputs read as whole files.
 *
 * Checks, for any input: the header length check and the parser stay
 * inside the bytes (ASan sees the header in a buffer of exactly its size);
 * every tensor returned has offsets inside the data and a byte count that
 * matches its dtype and shape; names decode to no more bytes than their
 * raw text and never contain NUL; the overlap check agrees with a
 * quadratic reference; rows of 2-D F32/F16/BF16/U8 tensors convert into
 * valid packed rows (no element in both planes, zero padding), and BitNet
 * unpacking agrees with a direct reading of the 2-bit fields.  Once at
 * start-up, every F16 and BF16 bit pattern is checked against a reference
 * conversion built from ldexp().
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/fuzz/safetensors_fuzzer.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsr_core.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#define MAX_ELEMENTS (1 << 18)	/* row conversions only for small tensors */

/* Reference binary16 -> double */
static double
ref_f16(uint16_t h)
{
	int			exp = (h >> 10) & 0x1F;
	int			mant = h & 0x3FF;
	double		v;

	if (exp == 0x1F)
		v = mant ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double) mant, -24);
	else
		v = ldexp((double) (mant | 0x400), exp - 25);
	return (h & 0x8000) ? -v : v;
}

/* Reference bfloat16 -> double */
static double
ref_bf16(uint16_t h)
{
	int			exp = (h >> 7) & 0xFF;
	int			mant = h & 0x7F;
	double		v;

	if (exp == 0xFF)
		v = mant ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double) mant, -133);
	else
		v = ldexp((double) (mant | 0x80), exp - 134);
	return (h & 0x8000) ? -v : v;
}

/* Same value (NaN matches NaN; the sign of zero counts) */
static int
same(float f, double d)
{
	if (isnan(d))
		return isnan(f);
	return (double) f == d && signbit(f) == signbit(d);
}

/* Every F16 and BF16 value converts exactly */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (uint32_t h = 0; h <= 0xFFFF; h++)
	{
		uint8_t		le[2] = {(uint8_t) h, (uint8_t) (h >> 8)};
		float		f;

		CHECK(same(rsr_st_f16_to_float((uint16_t) h), ref_f16((uint16_t) h)));
		CHECK(same(rsr_st_bf16_to_float((uint16_t) h), ref_bf16((uint16_t) h)));
		CHECK(rsr_st_to_float(RSR_ST_F16, le, 1, &f) == RSR_OK &&
			  same(f, ref_f16((uint16_t) h)));
	}
	return 0;
}

/* A packed ternary row of n elements has no element in both planes and zero padding */
static void
check_planes(const uint8_t *planes, uint32_t n)
{
	size_t		pb = ((size_t) n + 7) / 8;

	for (size_t b = 0; b < pb; b++)
		CHECK((planes[b] & planes[pb + b]) == 0);
	if (n % 8 != 0)
	{
		uint8_t		pad = (uint8_t) (0xFF >> (n % 8));

		CHECK((planes[pb - 1] & pad) == 0 && (planes[2 * pb - 1] & pad) == 0);
	}
}

/* Convert the rows of a small 2-D tensor at data[t->begin..t->end) */
static void
check_rows(const RsrStTensor *t, const uint8_t *data)
{
	uint32_t	rows = (uint32_t) t->shape[0];
	uint32_t	cols = (uint32_t) t->shape[1];
	size_t		pb = ((size_t) cols + 7) / 8;
	uint8_t    *planes = malloc(2 * pb);
	float	   *x = malloc(sizeof(float) * cols);

	CHECK(planes != NULL && x != NULL);
	if (t->dtype == RSR_ST_U8)
	{
		for (uint32_t field = 0; field < 4; field++)
			for (uint32_t p = 0; p < rows; p++)
			{
				const uint8_t *row = data + t->begin + (size_t) p * cols;
				uint32_t	bad = UINT32_MAX;
				RsrStatus	st = rsr_st_bitnet_row(row, cols, field, planes, &bad);
				uint32_t	first3 = UINT32_MAX;

				for (uint32_t j = 0; j < cols && first3 == UINT32_MAX; j++)
					if (((row[j] >> (2 * field)) & 3) == 3)
						first3 = j;
				if (first3 != UINT32_MAX)
				{
					CHECK(st == RSR_EINVAL && bad == first3);
					continue;
				}
				CHECK(st == RSR_OK);
				check_planes(planes, cols);
				for (uint32_t j = 0; j < cols; j++)
				{
					int			v = (int) ((row[j] >> (2 * field)) & 3) - 1;
					int			plus = (planes[j >> 3] >> (7 - (j & 7))) & 1;
					int			minus = (planes[pb + (j >> 3)] >> (7 - (j & 7))) & 1;

					CHECK(v == plus - minus);
				}
			}
	}
	else
	{
		size_t		unit = (size_t) cols * (rsr_st_dtype_bits(t->dtype) / 8);
		double		sum = 0.0;
		double		scale;

		for (uint32_t i = 0; i < rows; i++)
		{
			CHECK(rsr_st_to_float(t->dtype, data + t->begin + i * unit, cols, x) == RSR_OK);
			for (uint32_t j = 0; j < cols; j++)
				sum += fabs((double) x[j]);
		}
		scale = sum / (double) t->numel;
		for (uint32_t i = 0; i < rows; i++)
		{
			CHECK(rsr_st_to_float(t->dtype, data + t->begin + i * unit, cols, x) == RSR_OK);
			rsr_st_ternary_row(x, cols, scale, planes);
			check_planes(planes, cols);
			rsr_st_binary_row(x, cols, planes);
			for (uint32_t j = 0; j < cols; j++)
				CHECK(((planes[j >> 3] >> (7 - (j & 7))) & 1) == (x[j] > 0));
		}
	}
	free(planes);
	free(x);
}

/* Parse one input as a whole safetensors file */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	hlen = 0;
	RsrStParse	res;
	RsrStCursor cur;
	RsrStTensor t;
	RsrStSpan  *spans;
	size_t		nspans = 0;
	char	   *json;
	const uint8_t *dat;
	uint64_t	data_size;
	int			found;
	RsrStatus	st;

	if (rsr_st_header_len(data, size, size, &hlen, &res) != RSR_OK)
	{
		CHECK(res.error == RSR_ST_SHORT_FILE || res.error == RSR_ST_HEADER_TOO_LARGE ||
			  res.error == RSR_ST_HEADER_PAST_END);
		return 0;
	}
	CHECK(hlen <= size - 8 && hlen <= RSR_ST_MAX_HEADER);

	/* the header alone, in a buffer of its exact size */
	json = malloc(hlen > 0 ? hlen : 1);
	spans = malloc(sizeof(RsrStSpan) * (hlen + 1));
	CHECK(json != NULL && spans != NULL);
	memcpy(json, data + 8, hlen);
	dat = data + 8 + hlen;
	data_size = size - 8 - hlen;

	memset(&cur, 0, sizeof(cur));
	for (;;)
	{
		size_t		prev = cur.pos;
		char	   *name;
		size_t		name_len = 0;

		st = rsr_st_next(json, hlen, data_size, &cur, &t, &found, &res);
		if (st != RSR_OK)
		{
			CHECK(res.error != RSR_ST_OK && res.off <= hlen);
			break;
		}
		if (!found)
		{
			CHECK(cur.done && cur.pos == hlen);
			break;
		}
		CHECK(cur.pos > prev && cur.pos <= hlen);
		CHECK(t.name_off + t.name_len <= hlen);
		CHECK(t.ndim <= RSR_ST_MAX_NDIM);
		CHECK(t.begin <= t.end && t.end <= data_size);
		CHECK(t.end - t.begin == t.numel * rsr_st_dtype_bits(t.dtype) / 8);
		CHECK(strcmp(rsr_st_dtype_name(t.dtype), "?") != 0);

		name = malloc(t.name_len > 0 ? t.name_len : 1);
		CHECK(name != NULL);
		if (rsr_st_decode_string(json + t.name_off, t.name_len, name, t.name_len,
								 &name_len) == RSR_OK)
			CHECK(name_len <= t.name_len && memchr(name, 0, name_len) == NULL);
		free(name);

		CHECK(nspans <= hlen);
		spans[nspans].begin = t.begin;
		spans[nspans].end = t.end;
		spans[nspans].index = cur.count - 1;
		nspans++;

		if (t.ndim == 2 && t.shape[1] >= 1 && t.shape[1] <= RSR_MAX_DIMS &&
			t.numel <= MAX_ELEMENTS &&
			(t.dtype == RSR_ST_F32 || t.dtype == RSR_ST_F16 ||
			 t.dtype == RSR_ST_BF16 || t.dtype == RSR_ST_U8))
			check_rows(&t, dat);
	}

	if (st == RSR_OK && nspans <= 256)
	{
		int			overlap = 0;

		for (size_t a = 0; a < nspans; a++)
			for (size_t b = a + 1; b < nspans; b++)
				if (spans[a].begin < spans[a].end && spans[b].begin < spans[b].end &&
					spans[a].begin < spans[b].end && spans[b].begin < spans[a].end)
					overlap = 1;
		st = rsr_st_check_overlap(spans, nspans, &res);
		CHECK((st != RSR_OK) == overlap);
		if (st != RSR_OK)
			CHECK(res.error == RSR_ST_OVERLAP && res.index < res.other &&
				  res.other < nspans);
		for (size_t k = 1; k < nspans; k++)
			CHECK(spans[k - 1].begin <= spans[k].begin);
	}
	free(spans);
	free(json);
	return 0;
}
