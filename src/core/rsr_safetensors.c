/*-------------------------------------------------------------------------
 *
 * rsr_safetensors.c
 *	  The safetensors header parser and the row conversions behind
 *	  rsr_safetensors_tensors(), rsr_safetensors_ternary() and
 *	  rsr_safetensors_binary(), without PostgreSQL: the glue maps each
 *	  result to its error report and the fuzz target runs the same code.
 *
 * The parser walks the JSON header in place, one tensor entry per call, and
 * keeps nothing but a cursor: memory is O(1) whatever the number of
 * tensors.  Every read is bounds-checked against `len`; no terminating NUL
 * is needed.  Numbers in shapes and offsets must be plain non-negative
 * integers (what the format writes); any JSON value is accepted and skipped
 * under "__metadata__" and under unknown keys of a tensor entry.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_safetensors.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "rsr_core.h"

#define ST_INT64_MAX UINT64_C(0x7FFFFFFFFFFFFFFF)

static const struct
{
	const char *name;
	RsrStDtype	dtype;
	uint32_t	bits;
}			st_dtypes[] =
{
	{"BOOL", RSR_ST_BOOL, 8},
	{"U8", RSR_ST_U8, 8},
	{"I8", RSR_ST_I8, 8},
	{"F8_E5M2", RSR_ST_F8_E5M2, 8},
	{"F8_E4M3", RSR_ST_F8_E4M3, 8},
	{"F8_E8M0", RSR_ST_F8_E8M0, 8},
	{"I16", RSR_ST_I16, 16},
	{"U16", RSR_ST_U16, 16},
	{"F16", RSR_ST_F16, 16},
	{"BF16", RSR_ST_BF16, 16},
	{"I32", RSR_ST_I32, 32},
	{"U32", RSR_ST_U32, 32},
	{"F32", RSR_ST_F32, 32},
	{"I64", RSR_ST_I64, 64},
	{"U64", RSR_ST_U64, 64},
	{"F64", RSR_ST_F64, 64},
	{"C64", RSR_ST_C64, 64},
	{"F4", RSR_ST_F4, 4},
	{"F6_E2M3", RSR_ST_F6_E2M3, 6},
	{"F6_E3M2", RSR_ST_F6_E3M2, 6},
};

#define ST_NDTYPES (sizeof(st_dtypes) / sizeof(st_dtypes[0]))

/* Name of a dtype as the format spells it ("?" for none) */
const char *
rsr_st_dtype_name(RsrStDtype dtype)
{
	for (size_t i = 0; i < ST_NDTYPES; i++)
		if (st_dtypes[i].dtype == dtype)
			return st_dtypes[i].name;
	return "?";
}

/* Bits per element of a dtype (0 for none) */
uint32_t
rsr_st_dtype_bits(RsrStDtype dtype)
{
	for (size_t i = 0; i < ST_NDTYPES; i++)
		if (st_dtypes[i].dtype == dtype)
			return st_dtypes[i].bits;
	return 0;
}

/* Fill *res with an error at offset off and return RSR_EINVAL */
static RsrStatus
st_fail(RsrStParse *res, RsrStError error, size_t off)
{
	res->error = error;
	res->off = off;
	return RSR_EINVAL;
}

/* JSON whitespace */
static inline void
skip_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
		(*i)++;
}

static inline int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Scan the string at s[*i] == '"': escapes are checked for form only and
 * raw control characters rejected.  On success *start and *slen span the
 * contents and *i is past the closing quote.
 */
static RsrStatus
scan_string(const char *s, size_t len, size_t *i, size_t *start, size_t *slen,
			RsrStParse *res)
{
	size_t		p = *i;

	if (p >= len || s[p] != '"')
		return st_fail(res, RSR_ST_SYNTAX, p);
	p++;
	*start = p;
	for (;;)
	{
		unsigned char c;

		if (p >= len)
			return st_fail(res, RSR_ST_SYNTAX, p);
		c = (unsigned char) s[p];
		if (c == '"')
			break;
		if (c < 0x20)
			return st_fail(res, RSR_ST_SYNTAX, p);
		if (c == '\\')
		{
			if (p + 1 >= len)
				return st_fail(res, RSR_ST_SYNTAX, p);
			c = (unsigned char) s[p + 1];
			if (c == 'u')
			{
				if (p + 6 > len || !is_hex(s[p + 2]) || !is_hex(s[p + 3]) ||
					!is_hex(s[p + 4]) || !is_hex(s[p + 5]))
					return st_fail(res, RSR_ST_SYNTAX, p);
				p += 6;
				continue;
			}
			if (strchr("\"\\/bfnrt", c) == NULL || c == '\0')
				return st_fail(res, RSR_ST_SYNTAX, p);
			p += 2;
			continue;
		}
		p++;
	}
	*slen = p - *start;
	*i = p + 1;
	return RSR_OK;
}

/* Scan a JSON number at s[*i] (any form JSON allows) */
static RsrStatus
scan_number(const char *s, size_t len, size_t *i, RsrStParse *res)
{
	size_t		p = *i;
	size_t		d;

	if (p < len && s[p] == '-')
		p++;
	if (p >= len || s[p] < '0' || s[p] > '9')
		return st_fail(res, RSR_ST_SYNTAX, p);
	if (s[p] == '0')
		p++;
	else
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
	if (p < len && s[p] == '.')
	{
		d = ++p;
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
		if (p == d)
			return st_fail(res, RSR_ST_SYNTAX, p);
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E'))
	{
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		d = p;
		while (p < len && s[p] >= '0' && s[p] <= '9')
			p++;
		if (p == d)
			return st_fail(res, RSR_ST_SYNTAX, p);
	}
	*i = p;
	return RSR_OK;
}

/*
 * After a list element: skip the separator.  1: a ',' (another element
 * follows, whitespace skipped), 0: the closing `close` (consumed), -1: a
 * syntax error (res set).
 */
static int
list_next(const char *s, size_t len, size_t *i, char close, RsrStParse *res)
{
	skip_ws(s, len, i);
	if (*i < len && s[*i] == ',')
	{
		(*i)++;
		skip_ws(s, len, i);
		return 1;
	}
	if (*i < len && s[*i] == close)
	{
		(*i)++;
		return 0;
	}
	st_fail(res, RSR_ST_SYNTAX, *i);
	return -1;
}

/* An object key at s[*i] and its ':' into s[*kstart..+*klen), whitespace skipped */
static RsrStatus
scan_key(const char *s, size_t len, size_t *i, size_t *kstart, size_t *klen,
		 RsrStParse *res)
{
	if (scan_string(s, len, i, kstart, klen, res) != RSR_OK)
		return RSR_EINVAL;
	skip_ws(s, len, i);
	if (*i >= len || s[*i] != ':')
		return st_fail(res, RSR_ST_SYNTAX, *i);
	(*i)++;
	skip_ws(s, len, i);
	return RSR_OK;
}

/* Skip one JSON value at s[*i], nested at most RSR_ST_MAX_DEPTH deep */
static RsrStatus
skip_value(const char *s, size_t len, size_t *i, int depth, RsrStParse *res)
{
	size_t		start;
	size_t		slen;
	char		c;

	if (*i >= len)
		return st_fail(res, RSR_ST_SYNTAX, *i);
	c = s[*i];
	if (c == '"')
		return scan_string(s, len, i, &start, &slen, res);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s, len, i, res);
	if (c == 't' || c == 'f' || c == 'n')
	{
		const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		size_t		n = strlen(lit);

		if (len - *i < n || memcmp(s + *i, lit, n) != 0)
			return st_fail(res, RSR_ST_SYNTAX, *i);
		*i += n;
		return RSR_OK;
	}
	if (c != '{' && c != '[')
		return st_fail(res, RSR_ST_SYNTAX, *i);
	if (depth >= RSR_ST_MAX_DEPTH)
		return st_fail(res, RSR_ST_TOO_DEEP, *i);

	(*i)++;
	skip_ws(s, len, i);
	if (*i < len && s[*i] == (c == '{' ? '}' : ']'))
	{
		(*i)++;
		return RSR_OK;
	}
	for (;;)
	{
		int			more;

		if (c == '{' && scan_key(s, len, i, &start, &slen, res) != RSR_OK)
			return RSR_EINVAL;
		if (skip_value(s, len, i, depth + 1, res) != RSR_OK)
			return RSR_EINVAL;
		more = list_next(s, len, i, c == '{' ? '}' : ']', res);
		if (more <= 0)
			return more < 0 ? RSR_EINVAL : RSR_OK;
	}
}

/* A non-negative integer without sign, fraction or exponent, below 2^63 */
static RsrStatus
scan_uint(const char *s, size_t len, size_t *i, uint64_t *val, RsrStParse *res)
{
	size_t		p = *i;
	uint64_t	v = 0;

	if (p >= len || s[p] < '0' || s[p] > '9')
		return st_fail(res, RSR_ST_SYNTAX, p);
	if (s[p] == '0')
		p++;
	else
		while (p < len && s[p] >= '0' && s[p] <= '9')
		{
			uint64_t	digit = (uint64_t) (s[p] - '0');

			if (v > (ST_INT64_MAX - digit) / 10)
				return st_fail(res, RSR_ST_OVERFLOW, *i);
			v = v * 10 + digit;
			p++;
		}
	if (p < len && (s[p] == '.' || s[p] == 'e' || s[p] == 'E' ||
					(s[p] >= '0' && s[p] <= '9')))
		return st_fail(res, RSR_ST_SYNTAX, p);
	*val = v;
	*i = p;
	return RSR_OK;
}

/*
 * An array of non-negative integers at s[*i] into v[0..*n), at most cap
 * (RSR_ST_TOO_MANY_DIMS past it, or `exact` entries when exact > 0).
 */
static RsrStatus
scan_uint_array(const char *s, size_t len, size_t *i, uint64_t *v,
				uint32_t cap, uint32_t *n, RsrStParse *res)
{
	*n = 0;
	if (*i >= len || s[*i] != '[')
		return st_fail(res, RSR_ST_SYNTAX, *i);
	(*i)++;
	skip_ws(s, len, i);
	if (*i < len && s[*i] == ']')
	{
		(*i)++;
		return RSR_OK;
	}
	for (;;)
	{
		uint64_t	val;
		int			more;

		if (*n == cap)
			return st_fail(res, RSR_ST_TOO_MANY_DIMS, *i);
		if (scan_uint(s, len, i, &val, res) != RSR_OK)
			return RSR_EINVAL;
		v[(*n)++] = val;
		more = list_next(s, len, i, ']', res);
		if (more <= 0)
			return more < 0 ? RSR_EINVAL : RSR_OK;
	}
}

/* Does the raw string s[start..start+slen) equal lit? */
static inline int
raw_equals(const char *s, size_t start, size_t slen, const char *lit)
{
	return slen == strlen(lit) && memcmp(s + start, lit, slen) == 0;
}

/* Parse the tensor entry object at s[*i] into *t */
static RsrStatus
parse_tensor(const char *s, size_t len, size_t *i, uint64_t data_size,
			 RsrStTensor *t, RsrStParse *res)
{
	int			have_dtype = 0;
	int			have_shape = 0;
	int			have_offsets = 0;
	size_t		entry = *i;
	uint64_t	bits;

	if (*i >= len || s[*i] != '{')
		return st_fail(res, RSR_ST_SYNTAX, *i);
	(*i)++;
	skip_ws(s, len, i);
	if (*i < len && s[*i] == '}')
		(*i)++;
	else
		for (;;)
		{
			size_t		kstart;
			size_t		klen;
			size_t		vstart;
			int			more;

			if (scan_key(s, len, i, &kstart, &klen, res) != RSR_OK)
				return RSR_EINVAL;
			vstart = *i;
			if (raw_equals(s, kstart, klen, "dtype"))
			{
				size_t		dstart;
				size_t		dlen;
				size_t		d;

				if (have_dtype)
					return st_fail(res, RSR_ST_SYNTAX, kstart);
				have_dtype = 1;
				if (scan_string(s, len, i, &dstart, &dlen, res) != RSR_OK)
					return RSR_EINVAL;
				for (d = 0; d < ST_NDTYPES; d++)
					if (raw_equals(s, dstart, dlen, st_dtypes[d].name))
						break;
				if (d == ST_NDTYPES)
					return st_fail(res, RSR_ST_BAD_DTYPE, vstart);
				t->dtype = st_dtypes[d].dtype;
			}
			else if (raw_equals(s, kstart, klen, "shape"))
			{
				if (have_shape)
					return st_fail(res, RSR_ST_SYNTAX, kstart);
				have_shape = 1;
				if (scan_uint_array(s, len, i, t->shape, RSR_ST_MAX_NDIM,
									&t->ndim, res) != RSR_OK)
					return RSR_EINVAL;
			}
			else if (raw_equals(s, kstart, klen, "data_offsets"))
			{
				uint64_t	off[2];
				uint32_t	n;

				if (have_offsets)
					return st_fail(res, RSR_ST_SYNTAX, kstart);
				have_offsets = 1;
				if (scan_uint_array(s, len, i, off, 2, &n, res) != RSR_OK)
				{
					if (res->error == RSR_ST_TOO_MANY_DIMS)
						res->error = RSR_ST_SYNTAX;
					return RSR_EINVAL;
				}
				if (n != 2)
					return st_fail(res, RSR_ST_SYNTAX, vstart);
				t->begin = off[0];
				t->end = off[1];
			}
			else if (skip_value(s, len, i, 1, res) != RSR_OK)
				return RSR_EINVAL;

			more = list_next(s, len, i, '}', res);
			if (more < 0)
				return RSR_EINVAL;
			if (more == 0)
				break;
		}

	if (!have_dtype || !have_shape || !have_offsets)
		return st_fail(res, RSR_ST_MISSING_FIELD, entry);

	/* numel and bytes, every intermediate product below 2^63 */
	t->numel = 1;
	for (uint32_t d = 0; d < t->ndim; d++)
	{
		if (t->shape[d] != 0 && t->numel > ST_INT64_MAX / t->shape[d])
			return st_fail(res, RSR_ST_OVERFLOW, entry);
		t->numel *= t->shape[d];
	}
	bits = rsr_st_dtype_bits(t->dtype);
	if (t->numel > ST_INT64_MAX / bits)
		return st_fail(res, RSR_ST_OVERFLOW, entry);
	if (t->begin > t->end || t->end > data_size)
		return st_fail(res, RSR_ST_BAD_OFFSETS, entry);
	if ((t->numel * bits) % 8 != 0 || t->end - t->begin != t->numel * bits / 8)
		return st_fail(res, RSR_ST_SIZE_MISMATCH, entry);
	return RSR_OK;
}

/* Read the header length from the first 8 bytes of the file */
RsrStatus
rsr_st_header_len(const uint8_t *prefix, size_t prefix_len, uint64_t file_size,
				  uint64_t *header_len, RsrStParse *res)
{
	uint64_t	n = 0;

	memset(res, 0, sizeof(*res));
	if (prefix_len < 8 || file_size < 8)
		return st_fail(res, RSR_ST_SHORT_FILE, 0);
	for (int b = 7; b >= 0; b--)
		n = (n << 8) | prefix[b];
	*header_len = n;
	if (n > RSR_ST_MAX_HEADER)
		return st_fail(res, RSR_ST_HEADER_TOO_LARGE, 0);
	if (n > file_size - 8)
		return st_fail(res, RSR_ST_HEADER_PAST_END, 0);
	return RSR_OK;
}

/* Return the next tensor entry of the header, skipping "__metadata__" */
RsrStatus
rsr_st_next(const char *json, size_t len, uint64_t data_size,
			RsrStCursor *cur, RsrStTensor *t, int *found, RsrStParse *res)
{
	size_t		i = cur->pos;
	int			more;

	memset(res, 0, sizeof(*res));
	res->index = cur->count;
	*found = 0;
	if (cur->done)
		return RSR_OK;

	if (i == 0)
	{
		skip_ws(json, len, &i);
		if (i >= len || json[i] != '{')
			return st_fail(res, RSR_ST_SYNTAX, i);
		i++;
		skip_ws(json, len, &i);
		more = 1;
		if (i < len && json[i] == '}')
		{
			i++;
			more = 0;
		}
	}
	else
		more = list_next(json, len, &i, '}', res); /* after an entry */

	while (more > 0)
	{
		size_t		kstart;
		size_t		klen;

		if (scan_key(json, len, &i, &kstart, &klen, res) != RSR_OK)
			return RSR_EINVAL;
		if (!raw_equals(json, kstart, klen, "__metadata__"))
		{
			memset(t, 0, sizeof(*t));
			t->name_off = kstart;
			t->name_len = klen;
			if (parse_tensor(json, len, &i, data_size, t, res) != RSR_OK)
				return RSR_EINVAL;
			cur->pos = i;
			cur->count++;
			*found = 1;
			return RSR_OK;
		}
		if (skip_value(json, len, &i, 0, res) != RSR_OK)
			return RSR_EINVAL;
		more = list_next(json, len, &i, '}', res);
	}
	if (more < 0)
		return RSR_EINVAL;

	/* past the closing brace only whitespace (the format pads with spaces) */
	skip_ws(json, len, &i);
	if (i != len)
		return st_fail(res, RSR_ST_SYNTAX, i);
	cur->pos = i;
	cur->done = 1;
	return RSR_OK;
}

/* Value of 4 hex digits */
static uint32_t
hex4(const char *p)
{
	uint32_t	v = 0;

	for (int k = 0; k < 4; k++)
	{
		char		c = p[k];

		v = v * 16 + (uint32_t) (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* Decode JSON string contents to UTF-8, checking the UTF-8 of raw bytes */
RsrStatus
rsr_st_decode_string(const char *raw, size_t len, char *out, size_t out_cap,
					 size_t *out_len)
{
	const unsigned char *s = (const unsigned char *) raw;
	size_t		i = 0;
	size_t		o = 0;

	while (i < len)
	{
		uint32_t	cp;

		if (s[i] < 0x20)
			return RSR_EINVAL;
		if (s[i] == '\\')
		{
			if (i + 1 >= len)
				return RSR_EINVAL;
			switch (s[i + 1])
			{
				case '"':
				case '\\':
				case '/':
					cp = s[i + 1];
					break;
				case 'b':
					cp = '\b';
					break;
				case 'f':
					cp = '\f';
					break;
				case 'n':
					cp = '\n';
					break;
				case 'r':
					cp = '\r';
					break;
				case 't':
					cp = '\t';
					break;
				case 'u':
					if (i + 6 > len || !is_hex(raw[i + 2]) || !is_hex(raw[i + 3]) ||
						!is_hex(raw[i + 4]) || !is_hex(raw[i + 5]))
						return RSR_EINVAL;
					cp = hex4(raw + i + 2);
					if (cp >= 0xDC00 && cp <= 0xDFFF)
						return RSR_EINVAL;	/* lone low surrogate */
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32_t	lo;

						if (i + 12 > len || raw[i + 6] != '\\' || raw[i + 7] != 'u' ||
							!is_hex(raw[i + 8]) || !is_hex(raw[i + 9]) ||
							!is_hex(raw[i + 10]) || !is_hex(raw[i + 11]))
							return RSR_EINVAL;
						lo = hex4(raw + i + 8);
						if (lo < 0xDC00 || lo > 0xDFFF)
							return RSR_EINVAL;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						i += 6;
					}
					i += 4;
					break;
				default:
					return RSR_EINVAL;
			}
			i += 2;
			if (cp == 0)
				return RSR_EINVAL;
			/* encode cp; never longer than the escape it came from */
			if (cp < 0x80)
			{
				if (o + 1 > out_cap)
					return RSR_ENOMEM;
				out[o++] = (char) cp;
			}
			else if (cp < 0x800)
			{
				if (o + 2 > out_cap)
					return RSR_ENOMEM;
				out[o++] = (char) (0xC0 | (cp >> 6));
				out[o++] = (char) (0x80 | (cp & 0x3F));
			}
			else if (cp < 0x10000)
			{
				if (o + 3 > out_cap)
					return RSR_ENOMEM;
				out[o++] = (char) (0xE0 | (cp >> 12));
				out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
				out[o++] = (char) (0x80 | (cp & 0x3F));
			}
			else
			{
				if (o + 4 > out_cap)
					return RSR_ENOMEM;
				out[o++] = (char) (0xF0 | (cp >> 18));
				out[o++] = (char) (0x80 | ((cp >> 12) & 0x3F));
				out[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
				out[o++] = (char) (0x80 | (cp & 0x3F));
			}
			continue;
		}
		else
		{
			/* one raw UTF-8 sequence: shortest form, no surrogates, <= U+10FFFF */
			size_t		n;
			uint32_t	min;

			if (s[i] < 0x80)
			{
				n = 1;
				cp = s[i];
				min = 0;
			}
			else if ((s[i] & 0xE0) == 0xC0)
			{
				n = 2;
				cp = s[i] & 0x1F;
				min = 0x80;
			}
			else if ((s[i] & 0xF0) == 0xE0)
			{
				n = 3;
				cp = s[i] & 0x0F;
				min = 0x800;
			}
			else if ((s[i] & 0xF8) == 0xF0)
			{
				n = 4;
				cp = s[i] & 0x07;
				min = 0x10000;
			}
			else
				return RSR_EINVAL;
			if (len - i < n)
				return RSR_EINVAL;
			for (size_t k = 1; k < n; k++)
			{
				if ((s[i + k] & 0xC0) != 0x80)
					return RSR_EINVAL;
				cp = (cp << 6) | (s[i + k] & 0x3F);
			}
			if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				return RSR_EINVAL;
			if (o + n > out_cap)
				return RSR_ENOMEM;
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	*out_len = o;
	return RSR_OK;
}

/* Order of spans: by begin, then end */
static inline int
span_less(const RsrStSpan *a, const RsrStSpan *b)
{
	return a->begin < b->begin || (a->begin == b->begin && a->end < b->end);
}

/* Restore the max-heap property below node r of heap h[0..n) */
static void
sift_down(RsrStSpan *h, size_t r, size_t n)
{
	for (;;)
	{
		size_t		c = 2 * r + 1;
		RsrStSpan	tmp;

		if (c >= n)
			return;
		if (c + 1 < n && span_less(&h[c], &h[c + 1]))
			c++;
		if (!span_less(&h[r], &h[c]))
			return;
		tmp = h[r];
		h[r] = h[c];
		h[c] = tmp;
		r = c;
	}
}

/* Heapsort the spans (in place, O(n log n), no memory), then look for overlap */
RsrStatus
rsr_st_check_overlap(RsrStSpan *spans, size_t n, RsrStParse *res)
{
	uint64_t	max_end = 0;
	uint32_t	max_index = 0;
	int			have = 0;

	memset(res, 0, sizeof(*res));
	for (size_t r = n / 2; r-- > 0;)
		sift_down(spans, r, n);
	for (size_t m = n; m > 1; m--)
	{
		RsrStSpan	tmp = spans[0];

		spans[0] = spans[m - 1];
		spans[m - 1] = tmp;
		sift_down(spans, 0, m - 1);
	}

	/* empty tensors hold no byte and overlap nothing */
	for (size_t k = 0; k < n; k++)
	{
		if (spans[k].begin == spans[k].end)
			continue;
		if (have && spans[k].begin < max_end)
		{
			res->index = spans[k].index < max_index ? spans[k].index : max_index;
			res->other = spans[k].index < max_index ? max_index : spans[k].index;
			return st_fail(res, RSR_ST_OVERLAP, 0);
		}
		if (!have || spans[k].end > max_end)
		{
			max_end = spans[k].end;
			max_index = spans[k].index;
		}
		have = 1;
	}
	return RSR_OK;
}

/* IEEE binary16 to float: every value is exact in binary32 */
float
rsr_st_f16_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1F;
	uint32_t	mant = h & 0x3FF;
	uint32_t	bits;
	float		f;

	if (exp == 0x1F)
		bits = sign | 0x7F800000 | (mant << 13);	/* inf, NaN (payload kept) */
	else if (exp != 0)
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	else if (mant == 0)
		bits = sign;
	else
	{
		/* subnormal: mant * 2^-24, normalized */
		int			e = 127 - 15 + 1;

		while ((mant & 0x400) == 0)
		{
			mant <<= 1;
			e--;
		}
		bits = sign | ((uint32_t) e << 23) | ((mant & 0x3FF) << 13);
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* bfloat16 to float: the upper half of the binary32 bits */
float
rsr_st_bf16_to_float(uint16_t h)
{
	uint32_t	bits = (uint32_t) h << 16;
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Little-endian F32, F16 or BF16 values to floats, on any host byte order */
RsrStatus
rsr_st_to_float(RsrStDtype dtype, const uint8_t *src, size_t n, float *dst)
{
	switch (dtype)
	{
		case RSR_ST_F32:
			for (size_t j = 0; j < n; j++)
			{
				const uint8_t *p = src + 4 * j;
				uint32_t	bits = (uint32_t) p[0] | (uint32_t) p[1] << 8 |
					(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;

				memcpy(&dst[j], &bits, sizeof(float));
			}
			return RSR_OK;
		case RSR_ST_F16:
			for (size_t j = 0; j < n; j++)
				dst[j] = rsr_st_f16_to_float((uint16_t) (src[2 * j] | src[2 * j + 1] << 8));
			return RSR_OK;
		case RSR_ST_BF16:
			for (size_t j = 0; j < n; j++)
				dst[j] = rsr_st_bf16_to_float((uint16_t) (src[2 * j] | src[2 * j + 1] << 8));
			return RSR_OK;
		default:
			return RSR_EINVAL;
	}
}

/* ternary_quantize's rule with a given scale, into packed planes */
void
rsr_st_ternary_row(const float *x, uint32_t n, double scale, uint8_t *planes)
{
	size_t		pb = ((size_t) n + 7) / 8;

	memset(planes, 0, 2 * pb);
	if (!(scale > 0.0))
		return;
	for (uint32_t j = 0; j < n; j++)
	{
		double		r = (double) x[j] / scale;
		double		e;

		r = r < -1.0 ? -1.0 : (r > 1.0 ? 1.0 : r);
		e = rint(r);
		if (e > 0)
			planes[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
		else if (e < 0)
			planes[pb + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
	}
}

/* binary_quantize's rule: bit j set when x_j > 0 */
void
rsr_st_binary_row(const float *x, uint32_t n, uint8_t *bits)
{
	memset(bits, 0, ((size_t) n + 7) / 8);
	for (uint32_t j = 0; j < n; j++)
		if (x[j] > 0)
			bits[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
}

/* One output row of a BitNet-packed tensor: field `field` of each byte, minus 1 */
RsrStatus
rsr_st_bitnet_row(const uint8_t *packed, uint32_t n, uint32_t field,
				  uint8_t *planes, uint32_t *bad_col)
{
	size_t		pb = ((size_t) n + 7) / 8;

	if (field > 3)
		return RSR_EINVAL;
	memset(planes, 0, 2 * pb);
	for (uint32_t j = 0; j < n; j++)
	{
		uint32_t	v = (packed[j] >> (2 * field)) & 3;

		if (v == 3)
		{
			*bad_col = j;
			return RSR_EINVAL;
		}
		if (v == 2)
			planes[j >> 3] |= (uint8_t) (0x80 >> (j & 7));
		else if (v == 0)
			planes[pb + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
	}
	return RSR_OK;
}
