/*-------------------------------------------------------------------------
 *
 * gen_rows.c
 *	  Seeded random embeddings for the SQL benchmark, written to stdout in
 *	  PostgreSQL's binary COPY format: (id int4, v bit(dims)) or
 *	  (id int4, v tvec(dims)).
 *
 * Usage: gen_rows binary|ternary ROWS DIMS [SEED]
 *
 * Binary bits are 1 with probability 1/2; ternary elements are +1 with
 * probability 1/2 and -1 or 0 with 1/4 each (the "-1" plane is drawn, then
 * cleared where "+1" is set).
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/bench/gen_rows.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64* generator */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t	x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Append a big-endian 32-bit integer */
static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	return p + 4;
}

/* Fill n bytes with random bits, clearing the padding bits past dims */
static void
random_plane(unsigned char *p, uint32_t dims, uint64_t *state)
{
	uint32_t	n = (dims + 7) / 8;
	uint32_t	i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char) (next_random(state) >> 32);
	if (dims % 8)
		p[n - 1] &= (unsigned char) (0xFF << (8 - dims % 8));
}

/* Write the COPY stream */
int
main(int argc, char **argv)
{
	static const unsigned char header[] = "PGCOPY\n\377\r\n";
	int			ternary;
	long		rows;
	long		r;
	uint32_t	dims;
	uint32_t	plane;
	uint64_t	state;
	size_t		rowlen;
	unsigned char *buf;

	if (argc < 4 || (strcmp(argv[1], "binary") != 0 && strcmp(argv[1], "ternary") != 0))
	{
		fprintf(stderr, "usage: %s binary|ternary ROWS DIMS [SEED]\n", argv[0]);
		return 2;
	}
	ternary = strcmp(argv[1], "ternary") == 0;
	rows = atol(argv[2]);
	dims = (uint32_t) atol(argv[3]);
	state = argc > 4 ? strtoull(argv[4], NULL, 10) * 2654435761ULL + 1 : 88172645463325252ULL;
	if (rows < 0 || dims < 1 || dims > 65535)
	{
		fprintf(stderr, "bad ROWS or DIMS\n");
		return 2;
	}
	plane = (dims + 7) / 8;

	/* tuple: field count, id, value (length, dims, plane(s)) */
	rowlen = 2 + 8 + 4 + 4 + (ternary ? 2 : 1) * plane;
	buf = malloc(rowlen);
	if (buf == NULL)
		return 1;

	fwrite(header, 1, 11, stdout);
	fwrite("\0\0\0\0\0\0\0\0", 1, 8, stdout);	/* flags, extension length */
	for (r = 1; r <= rows; r++)
	{
		unsigned char *p = buf;

		*p++ = 0;
		*p++ = 2;
		p = put32(p, 4);
		p = put32(p, (uint32_t) r);
		p = put32(p, 4 + (ternary ? 2 : 1) * plane);
		p = put32(p, dims);
		random_plane(p, dims, &state);
		if (ternary)
		{
			uint32_t	i;

			random_plane(p + plane, dims, &state);
			for (i = 0; i < plane; i++)
				p[plane + i] &= (unsigned char) ~p[i];
		}
		if (fwrite(buf, 1, rowlen, stdout) != rowlen)
			return 1;
	}
	fwrite("\377\377", 1, 2, stdout);
	free(buf);
	return 0;
}
