/*-------------------------------------------------------------------------
 *
 * rsr_pack.c
 *	  Packed rows and RSR segments: preprocessing of a block of rows into
 *	  a self-contained segment (both layouts), validation of segment bytes
 *	  read back from disk, and decoding of a row.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_pack.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

#define HASH_MUL 0x9E3779B97F4A7C15ULL

/* Bytes of one packed row */
size_t
rsr_row_bytes(RsrKind kind, uint32_t dims)
{
	size_t		plane = ((size_t) dims + 7) / 8;

	return kind == RSR_KIND_TERNARY ? 2 * plane : plane;
}

/* Payload bytes of a segment with these parameters (layout (a): given groups) */
static size_t
payload_bytes(RsrKind kind, RsrLayout layout, uint32_t k, uint32_t ncols,
			  uint32_t ngroups, uint32_t nperm)
{
	if (layout == RSR_LAYOUT_PERM)
		return (size_t) ngroups * rsr_group_bytes(kind) + (size_t) nperm * 2;
	if (layout == RSR_LAYOUT_TILE)
		return rsr_tile_payload_bytes(kind, ncols);
	return (size_t) ncols * rsr_code_bytes(k) * (kind == RSR_KIND_TERNARY ? 2 : 1);
}

/* Read 8 little-endian bytes */
static inline uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t) rsr_rd32(p) | ((uint64_t) rsr_rd32(p + 4) << 32);
}

/*
 * Mix bytes p[0..len) into four hash lanes.  Each step is a bijection of the
 * lane for a fixed input word and of the word for a fixed lane, so any
 * change confined to one 8-byte word always changes the final hash.
 */
static void
hash_bytes(uint64_t *h, const uint8_t *p, size_t len)
{
	size_t		i = 0;
	uint8_t		tail[8];

	for (; i + 32 <= len; i += 32)
	{
		h[0] = (h[0] ^ rd64(p + i)) * HASH_MUL;
		h[1] = (h[1] ^ rd64(p + i + 8)) * HASH_MUL;
		h[2] = (h[2] ^ rd64(p + i + 16)) * HASH_MUL;
		h[3] = (h[3] ^ rd64(p + i + 24)) * HASH_MUL;
	}
	for (; i + 8 <= len; i += 8)
		h[0] = (h[0] ^ rd64(p + i)) * HASH_MUL;
	if (i < len)
	{
		memset(tail, 0, sizeof(tail));
		memcpy(tail, p + i, len - i);
		h[1] = (h[1] ^ rd64(tail)) * HASH_MUL;
	}
}

/* Checksum of a segment: every byte except the checksum field itself */
static uint64_t
segment_checksum(const uint8_t *seg, size_t size)
{
	uint64_t	h[4] = {1, 2, 3, (uint64_t) size};
	uint64_t	r;

	hash_bytes(h, seg, 24);
	hash_bytes(h, seg + RSR_SEG_HEADER, size - RSR_SEG_HEADER);
	/* each lane enters through a bijection, so no lane's change is lost */
	r = h[0] * HASH_MUL;
	r = (r ^ h[1]) * HASH_MUL;
	r = (r ^ h[2]) * HASH_MUL;
	r = r ^ h[3];
	r ^= r >> 29;
	return r;
}

/* Upper bound of the bytes of a segment with these parameters */
size_t
rsr_segment_max_size(RsrKind kind, RsrLayout layout, uint32_t k,
					 uint32_t ncols)
{
	return RSR_SEG_HEADER + payload_bytes(kind, layout, k, ncols, ncols, ncols);
}

/* Largest ncols whose segment is guaranteed to fit in max_bytes (0: none) */
uint32_t
rsr_segment_max_cols(RsrKind kind, RsrLayout layout, uint32_t k,
					 size_t max_bytes)
{
	size_t		per_col;
	size_t		n;

	if (max_bytes <= RSR_SEG_HEADER || !rsr_k_valid(layout, k))
		return 0;
	if (layout == RSR_LAYOUT_TILE)
	{
		/* whole column bytes of 32 rows per plane */
		n = 8 * ((max_bytes - RSR_SEG_HEADER) /
				 rsr_tile_payload_bytes(kind, 8));
		return n > RSR_MAX_DIMS ? RSR_MAX_DIMS : (uint32_t) n;
	}
	per_col = rsr_segment_max_size(kind, layout, k, 1) - RSR_SEG_HEADER;
	n = (max_bytes - RSR_SEG_HEADER) / per_col;
	return n > RSR_MAX_DIMS ? RSR_MAX_DIMS : (uint32_t) n;
}

/* Sort key of absolute column j: binary code, or (pos | neg << 16) */
static inline uint32_t
column_key(RsrKind kind, const uint8_t *const *rows, uint32_t nrows,
		   size_t plane, uint32_t j)
{
	uint32_t	key = 0;
	uint32_t	r;

	for (r = 0; r < nrows; r++)
	{
		key |= rsr_bit(rows[r], j) << r;
		if (kind == RSR_KIND_TERNARY)
			key |= rsr_bit(rows[r] + plane, j) << (16 + r);
	}
	return key;
}

/*
 * Layout (a): counting sort of the columns by pattern (LSD radix, 8-bit
 * digits, so the counters fit on the stack), drop the all-zero pattern,
 * write the group table and the permutation.  The output buffer serves as
 * scratch for two permutation arrays of ncols entries each.
 */
static RsrStatus
build_perm(RsrKind kind, uint32_t k, const uint8_t *const *rows,
		   uint32_t nrows, uint32_t dims, uint32_t col_start, uint32_t ncols,
		   uint8_t *out, size_t out_cap, size_t *out_size)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	uint8_t    *a = out + RSR_SEG_HEADER;
	uint8_t    *b = a + 2 * (size_t) ncols;
	uint8_t    *src;
	uint8_t    *dst;
	uint32_t	count[257];
	uint32_t	digit;
	uint32_t	i;
	uint32_t	nzero;
	uint32_t	ngroups;
	uint32_t	nperm;
	uint32_t	gb = rsr_group_bytes(kind);
	size_t		size;
	uint8_t    *perm;
	uint8_t    *rec;

	if (out_cap < RSR_SEG_HEADER + 4 * (size_t) ncols)
		return RSR_ENOMEM;
	for (i = 0; i < ncols; i++)
		rsr_wr16(a + 2 * i, i);
	src = a;
	dst = b;
	for (digit = 0; digit < 4; digit++)
	{
		uint8_t    *tmp;

		memset(count, 0, sizeof(count));
		for (i = 0; i < ncols; i++)
		{
			uint32_t	key = column_key(kind, rows, nrows, plane,
										 col_start + rsr_rd16(src + 2 * i));

			count[((key >> (8 * digit)) & 0xFF) + 1]++;
		}
		if (count[1] == ncols)
			continue;			/* this digit is zero everywhere */
		for (i = 1; i <= 256; i++)
			count[i] += count[i - 1];
		for (i = 0; i < ncols; i++)
		{
			uint32_t	c = rsr_rd16(src + 2 * i);
			uint32_t	key = column_key(kind, rows, nrows, plane, col_start + c);

			rsr_wr16(dst + 2 * count[(key >> (8 * digit)) & 0xFF]++, c);
		}
		tmp = src;
		src = dst;
		dst = tmp;
	}

	/* the zero pattern sorts first; count it and the groups after it */
	nzero = 0;
	while (nzero < ncols &&
		   column_key(kind, rows, nrows, plane, col_start + rsr_rd16(src + 2 * nzero)) == 0)
		nzero++;
	nperm = ncols - nzero;
	ngroups = 0;
	for (i = nzero; i < ncols; i++)
		if (i == nzero ||
			column_key(kind, rows, nrows, plane, col_start + rsr_rd16(src + 2 * i)) !=
			column_key(kind, rows, nrows, plane, col_start + rsr_rd16(src + 2 * (i - 1))))
			ngroups++;
	size = RSR_SEG_HEADER + payload_bytes(kind, RSR_LAYOUT_PERM, k, ncols, ngroups, nperm);
	if (size > out_cap)
		return RSR_ENOMEM;

	/* move the permutation behind the group table, then write the groups */
	perm = out + RSR_SEG_HEADER + (size_t) ngroups * gb;
	memmove(perm, src + 2 * (size_t) nzero, 2 * (size_t) nperm);
	rec = out + RSR_SEG_HEADER;
	i = 0;
	while (i < nperm)
	{
		uint32_t	key = column_key(kind, rows, nrows, plane, col_start + rsr_rd16(perm + 2 * i));
		uint32_t	len = 1;

		while (i + len < nperm &&
			   column_key(kind, rows, nrows, plane, col_start + rsr_rd16(perm + 2 * (i + len))) == key)
			len++;
		rsr_wr16(rec, len);
		rsr_wr16(rec + 2, key & 0xFFFF);
		if (kind == RSR_KIND_TERNARY)
			rsr_wr16(rec + 4, key >> 16);
		rec += gb;
		i += len;
	}
	out[16] = (uint8_t) ngroups;
	out[17] = (uint8_t) (ngroups >> 8);
	rsr_wr16(out + 18, nperm);
	*out_size = size;
	return RSR_OK;
}

/*
 * Transpose an 8x8 bit matrix: bit 8 i + j goes to bit 8 j + i (Hacker's
 * Delight, transpose8rS64).
 */
static inline uint64_t
transpose8(uint64_t x)
{
	uint64_t	t;

	t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
	x = x ^ t ^ (t << 7);
	t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
	x = x ^ t ^ (t << 14);
	t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
	x = x ^ t ^ (t << 28);
	return x;
}

/*
 * Layout (b) codes of a byte-aligned column range, 8 rows x 8 columns at a
 * time: byte r of the matrix is row r's byte (column t at bit 7 - t), so
 * after the transpose byte 7 - t holds column t's code for those rows.
 */
static void
build_codes_aligned(const uint8_t *const *rows, uint32_t nrows,
					size_t offset, uint32_t ncols, uint32_t cb,
					uint8_t *codes)
{
	uint32_t	jb;
	uint32_t	g;

	for (jb = 0; 8 * jb < ncols; jb++)
		for (g = 0; g < cb; g++)
		{
			uint64_t	x = 0;
			uint32_t	rr;
			uint32_t	t;

			for (rr = 0; rr < 8 && 8 * g + rr < nrows; rr++)
				x |= (uint64_t) rows[8 * g + rr][offset + jb] << (8 * rr);
			x = transpose8(x);
			for (t = 0; t < 8 && 8 * jb + t < ncols; t++)
				codes[(size_t) (8 * jb + t) * cb + g] = (uint8_t) (x >> (8 * (7 - t)));
		}
}

/* Layout (b): one code per column, "+1" codes then "-1" codes for ternary */
static void
build_bucket(RsrKind kind, uint32_t k, const uint8_t *const *rows,
			 uint32_t nrows, uint32_t dims, uint32_t col_start,
			 uint32_t ncols, uint8_t *out)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	uint32_t	cb = rsr_code_bytes(k);
	uint32_t	nplanes = kind == RSR_KIND_TERNARY ? 2 : 1;
	uint32_t	p;
	uint32_t	j;
	uint32_t	r;

	for (p = 0; p < nplanes; p++)
	{
		uint8_t    *codes = out + RSR_SEG_HEADER + (size_t) p * ncols * cb;

		if (col_start % 8 == 0)
		{
			build_codes_aligned(rows, nrows, p * plane + col_start / 8, ncols,
								cb, codes);
			continue;
		}
		for (j = 0; j < ncols; j++)
		{
			uint32_t	code = 0;

			for (r = 0; r < nrows; r++)
				code |= rsr_bit(rows[r] + p * plane, col_start + j) << r;
			if (cb == 1)
				codes[j] = (uint8_t) code;
			else
				rsr_wr16(codes + 2 * j, code);
		}
	}
}

/* Preprocess a block of rows over a column range into a segment */
RsrStatus
rsr_segment_build(RsrKind kind, RsrLayout layout, uint32_t k,
				  const uint8_t *const *rows, uint32_t nrows, uint32_t dims,
				  uint32_t col_start, uint32_t ncols, uint8_t *out,
				  size_t out_cap, size_t *out_size)
{
	size_t		plane = ((size_t) dims + 7) / 8;
	size_t		size;
	uint32_t	r;
	uint32_t	i;
	uint64_t	sum;
	RsrStatus	st;

	if ((kind != RSR_KIND_BINARY && kind != RSR_KIND_TERNARY) ||
		!rsr_k_valid(layout, k) || nrows < 1 || nrows > k || rows == NULL ||
		(layout == RSR_LAYOUT_TILE && col_start % 8 != 0) ||
		dims < 1 || dims > RSR_MAX_DIMS || ncols < 1 ||
		col_start >= dims || ncols > dims - col_start ||
		out == NULL || out_size == NULL)
		return RSR_EINVAL;
	for (r = 0; r < nrows; r++)
	{
		if (rows[r] == NULL)
			return RSR_EINVAL;
		if (kind == RSR_KIND_TERNARY)
			for (i = 0; i < plane; i++)
				if (rows[r][i] & rows[r][plane + i])
					return RSR_EINVAL;	/* element both +1 and -1 */
	}

	if (out_cap < RSR_SEG_HEADER)
		return RSR_ENOMEM;
	memset(out, 0, RSR_SEG_HEADER);
	if (layout == RSR_LAYOUT_PERM)
	{
		st = build_perm(kind, k, rows, nrows, dims, col_start, ncols,
						out, out_cap, &size);
		if (st != RSR_OK)
			return st;
	}
	else
	{
		size = RSR_SEG_HEADER + payload_bytes(kind, layout, k, ncols, 0, 0);
		if (size > out_cap)
			return RSR_ENOMEM;
		if (layout == RSR_LAYOUT_TILE)
			rsr_tile_build(kind, rows, nrows, dims, col_start, ncols,
						   out + RSR_SEG_HEADER);
		else
			build_bucket(kind, k, rows, nrows, dims, col_start, ncols, out);
	}
	out[0] = RSR_SEG_MAGIC;
	out[1] = RSR_SEG_VERSION;
	out[2] = (uint8_t) kind;
	out[3] = (uint8_t) layout;
	out[4] = (uint8_t) k;
	out[5] = (uint8_t) nrows;
	rsr_wr16(out + 6, dims);
	rsr_wr16(out + 8, col_start);
	rsr_wr16(out + 10, ncols);
	rsr_wr16(out + 12, (uint32_t) size);
	rsr_wr16(out + 14, (uint32_t) (size >> 16));
	sum = segment_checksum(out, size);
	for (i = 0; i < 8; i++)
		out[24 + i] = (uint8_t) (sum >> (8 * i));
	*out_size = size;
	return RSR_OK;
}

/*
 * Structural check of a segment header: every field in range and the
 * payload size consistent with `size`.  This is all the kernels need to
 * stay inside the segment (they check permutation entries as they read
 * them); rsr_segment_validate() adds the checksum and the payload checks.
 */
RsrStatus
rsr_seg_parse(const uint8_t *seg, size_t size, RsrSeg *s)
{
	uint32_t	ngroups;
	uint32_t	nperm;

	if (seg == NULL || size < RSR_SEG_HEADER)
		return RSR_ECORRUPT;
	if (seg[0] != RSR_SEG_MAGIC || seg[1] != RSR_SEG_VERSION)
		return RSR_ECORRUPT;
	s->kind = (RsrKind) seg[2];
	s->layout = (RsrLayout) seg[3];
	s->k = seg[4];
	s->nrows = seg[5];
	s->dims = rsr_rd16(seg + 6);
	s->col_start = rsr_rd16(seg + 8);
	s->ncols = rsr_rd16(seg + 10);
	s->size = rsr_rd32(seg + 12);
	/*
	 * The checks below read these two from locals: read back from *s, the
	 * compiler merged them into one 8-byte load of two 4-byte stores just
	 * made, which the CPU cannot forward (a stall on every segment a scan
	 * parses)
	 */
	ngroups = rsr_rd16(seg + 16);
	nperm = rsr_rd16(seg + 18);
	s->ngroups = ngroups;
	s->nperm = nperm;
	s->payload = seg + RSR_SEG_HEADER;
	if ((s->kind != RSR_KIND_BINARY && s->kind != RSR_KIND_TERNARY) ||
		!rsr_k_valid(s->layout, s->k) || s->nrows < 1 || s->nrows > s->k ||
		(s->layout == RSR_LAYOUT_TILE && s->col_start % 8 != 0) ||
		s->dims < 1 || s->ncols < 1 || s->col_start >= s->dims ||
		s->ncols > s->dims - s->col_start || rsr_rd32(seg + 20) != 0)
		return RSR_ECORRUPT;
	if (s->layout == RSR_LAYOUT_PERM)
	{
		if (nperm > s->ncols || ngroups > nperm)
			return RSR_ECORRUPT;
	}
	else if ((ngroups | nperm) != 0)
		return RSR_ECORRUPT;
	if (s->size > size || s->size != RSR_SEG_HEADER +
		payload_bytes(s->kind, s->layout, s->k, s->ncols, ngroups, nperm))
		return RSR_ECORRUPT;
	return RSR_OK;
}

/* Check the payload of a layout (a) segment: groups, masks, permutation */
static RsrStatus
check_perm(const RsrSeg *s)
{
	uint32_t	gb = rsr_group_bytes(s->kind);
	const uint8_t *rec = s->payload;
	const uint8_t *perm = s->payload + (size_t) s->ngroups * gb;
	uint32_t	rowmask = (1u << s->nrows) - 1;
	uint32_t	total = 0;
	uint32_t	g;
	uint32_t	i;
	uint8_t		seen[(RSR_MAX_DIMS + 7) / 8];

	for (g = 0; g < s->ngroups; g++, rec += gb)
	{
		uint32_t	len = rsr_rd16(rec);
		uint32_t	pos = rsr_rd16(rec + 2);
		uint32_t	neg = s->kind == RSR_KIND_TERNARY ? rsr_rd16(rec + 4) : 0;

		if (len == 0 || (pos | neg) == 0 || (pos & neg) != 0 ||
			((pos | neg) & ~rowmask) != 0)
			return RSR_ECORRUPT;
		total += len;
	}
	if (total != s->nperm)
		return RSR_ECORRUPT;
	memset(seen, 0, (s->ncols + 7) / 8);
	for (i = 0; i < s->nperm; i++)
	{
		uint32_t	c = rsr_rd16(perm + 2 * i);

		if (c >= s->ncols || (seen[c >> 3] >> (c & 7)) & 1)
			return RSR_ECORRUPT;
		seen[c >> 3] |= (uint8_t) (1 << (c & 7));
	}
	return RSR_OK;
}

/* Check the payload of a layout (b) segment: codes use only present rows */
static RsrStatus
check_bucket(const RsrSeg *s)
{
	uint32_t	cb = rsr_code_bytes(s->k);
	uint32_t	bad = ~((1u << s->nrows) - 1);
	const uint8_t *pos = s->payload;
	const uint8_t *neg = s->payload + (size_t) s->ncols * cb;
	uint32_t	j;

	for (j = 0; j < s->ncols; j++)
	{
		uint32_t	p = cb == 1 ? pos[j] : rsr_rd16(pos + 2 * j);
		uint32_t	n = 0;

		if (s->kind == RSR_KIND_TERNARY)
			n = cb == 1 ? neg[j] : rsr_rd16(neg + 2 * j);
		if (((p | n) & bad) != 0 || (p & n) != 0)
			return RSR_ECORRUPT;
	}
	return RSR_OK;
}

/* Full validation of segment bytes read back from disk */
RsrStatus
rsr_segment_validate(const uint8_t *seg, size_t size, RsrSegmentInfo *info)
{
	RsrSeg		s;
	RsrStatus	st;
	uint64_t	sum = 0;
	int			i;

	st = rsr_seg_parse(seg, size, &s);
	if (st != RSR_OK)
		return st;
	for (i = 0; i < 8; i++)
		sum |= (uint64_t) seg[24 + i] << (8 * i);
	if (sum != segment_checksum(seg, s.size))
		return RSR_ECORRUPT;
	st = s.layout == RSR_LAYOUT_PERM ? check_perm(&s) :
		s.layout == RSR_LAYOUT_TILE ? rsr_tile_check(&s) : check_bucket(&s);
	if (st != RSR_OK)
		return st;
	if (info != NULL)
	{
		info->kind = s.kind;
		info->layout = s.layout;
		info->k = s.k;
		info->nrows = s.nrows;
		info->dims = s.dims;
		info->col_start = s.col_start;
		info->ncols = s.ncols;
		info->size = s.size;
	}
	return RSR_OK;
}

/*
 * Write row r of a tile segment in place: as its last row (rows past r
 * cleared, the count r + 1) or, with keep, in place of row r < the count,
 * the others kept.  Then a new checksum.
 */
static RsrStatus
tile_write_row(uint8_t *seg, size_t size, uint32_t r, const uint8_t *row,
			   bool keep)
{
	RsrSeg		s;
	RsrStatus	st;
	size_t		plane;
	uint32_t	np;
	uint32_t	nb;
	uint8_t		last;
	uint8_t    *payload;
	uint64_t	sum;
	uint32_t	b;
	uint32_t	p;
	uint32_t	i;

	st = rsr_seg_parse(seg, size, &s);
	if (st != RSR_OK)
		return st;
	if (s.layout != RSR_LAYOUT_TILE || row == NULL || r >= RSR_TILE_ROWS ||
		(keep ? r >= s.nrows : r > s.nrows))
		return RSR_EINVAL;
	plane = ((size_t) s.dims + 7) / 8;
	np = s.kind == RSR_KIND_TERNARY ? 2 : 1;
	nb = (s.ncols + 7) / 8;
	last = s.ncols % 8 ? (uint8_t) (0xFF00 >> (s.ncols % 8)) : 0xFF;
	if (np == 2)
		for (b = 0; b < nb; b++)
			if (row[s.col_start / 8 + b] & row[plane + s.col_start / 8 + b] &
				(b == nb - 1 ? last : 0xFF))
				return RSR_EINVAL;	/* element both +1 and -1 */

	/* byte b of plane p of row i lives at payload[(b * np + p) * 32 + i] */
	payload = seg + RSR_SEG_HEADER;
	for (b = 0; b < nb; b++)
		for (p = 0; p < np; p++)
		{
			uint8_t    *dst = payload + ((size_t) b * np + p) * RSR_TILE_ROWS;

			dst[r] = (uint8_t) (row[p * plane + s.col_start / 8 + b] &
								(b == nb - 1 ? last : 0xFF));
			for (i = r + 1; !keep && i < s.nrows; i++)
				dst[i] = 0;
		}
	if (!keep)
		seg[5] = (uint8_t) (r + 1);
	sum = segment_checksum(seg, s.size);
	for (i = 0; i < 8; i++)
		seg[24 + i] = (uint8_t) (sum >> (8 * i));
	return RSR_OK;
}

/* Write row r of a tile segment in place as its last row (see rsr_core.h) */
RsrStatus
rsr_segment_put_row(uint8_t *seg, size_t size, uint32_t r, const uint8_t *row)
{
	return tile_write_row(seg, size, r, row, false);
}

/* Replace row r of a tile segment in place (see rsr_core.h) */
RsrStatus
rsr_segment_set_row(uint8_t *seg, size_t size, uint32_t r, const uint8_t *row)
{
	return tile_write_row(seg, size, r, row, true);
}

/* Decode row r of a segment back into packed form (its columns only) */
RsrStatus
rsr_segment_get_row(const uint8_t *seg, size_t size, uint32_t r,
					uint8_t *row, size_t row_cap)
{
	RsrSeg		s;
	RsrStatus	st;
	size_t		plane;
	uint32_t	j;

	st = rsr_seg_parse(seg, size, &s);
	if (st != RSR_OK)
		return st;
	if (r >= s.nrows || row == NULL)
		return RSR_EINVAL;
	plane = ((size_t) s.ncols + 7) / 8;
	if (row_cap < rsr_row_bytes(s.kind, s.ncols))
		return RSR_ENOMEM;
	memset(row, 0, rsr_row_bytes(s.kind, s.ncols));
	if (s.layout == RSR_LAYOUT_TILE)
		rsr_tile_get_row(&s, r, row);
	else if (s.layout == RSR_LAYOUT_BUCKET)
	{
		uint32_t	cb = rsr_code_bytes(s.k);
		uint32_t	p;

		for (p = 0; p < (s.kind == RSR_KIND_TERNARY ? 2u : 1u); p++)
		{
			const uint8_t *codes = s.payload + (size_t) p * s.ncols * cb;

			for (j = 0; j < s.ncols; j++)
			{
				uint32_t	code = cb == 1 ? codes[j] : rsr_rd16(codes + 2 * j);

				if ((code >> r) & 1)
					row[p * plane + (j >> 3)] |= (uint8_t) (0x80 >> (j & 7));
			}
		}
	}
	else
	{
		uint32_t	gb = rsr_group_bytes(s.kind);
		const uint8_t *rec = s.payload;
		const uint8_t *perm = s.payload + (size_t) s.ngroups * gb;
		uint32_t	off = 0;
		uint32_t	g;

		for (g = 0; g < s.ngroups; g++, rec += gb)
		{
			uint32_t	len = rsr_rd16(rec);
			uint32_t	pos = (rsr_rd16(rec + 2) >> r) & 1;
			uint32_t	neg = s.kind == RSR_KIND_TERNARY ? (rsr_rd16(rec + 4) >> r) & 1 : 0;

			if (len > s.nperm - off || (pos & neg))
				return RSR_ECORRUPT;
			for (j = off; j < off + len; j++)
			{
				uint32_t	c = rsr_rd16(perm + 2 * j);

				if (c >= s.ncols)
					return RSR_ECORRUPT;
				if (pos)
					row[c >> 3] |= (uint8_t) (0x80 >> (c & 7));
				if (neg)
					row[plane + (c >> 3)] |= (uint8_t) (0x80 >> (c & 7));
			}
			off += len;
		}
	}
	return RSR_OK;
}
