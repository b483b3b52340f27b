/*-------------------------------------------------------------------------
 *
 * make_seeds.c
 *	  Write the segment seed corpus: one valid segment per kind, layout
 *	  and a few shapes, built by rsr_segment_build() (the raw-bytes mode
 *	  of segment_fuzzer needs correct checksums to get past them), plus
 *	  build-mode inputs.  `make fuzz-seeds` runs it; its output is kept
 *	  in test/fuzz/corpus/segment/.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  test/fuzz/make_seeds.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsr_core.h"

/* Write a mode byte and then bytes[0..len) to dir/name */
static int
write_seed(const char *dir, const char *name, uint8_t mode,
		   const uint8_t *bytes, size_t len)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 ||
		fwrite(bytes, 1, len, f) != len || fclose(f) != 0)
	{
		perror(path);
		return 1;
	}
	return 0;
}

/* Build and write segments of several shapes */
int
main(int argc, char **argv)
{
	static const uint32_t ks[] = {1, 4, 8, 9, 16};
	static const uint32_t ncols_list[] = {1, 13, 64};
	uint8_t		rowbuf[RSR_MAX_K][2 * 16];
	const uint8_t *rows[RSR_MAX_K];
	uint8_t		seg[4096];
	uint8_t		params[8 + RSR_MAX_K * 2];
	int			rc = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (int kind = RSR_KIND_BINARY; kind <= RSR_KIND_TERNARY; kind++)
		for (int layout = RSR_LAYOUT_PERM; layout <= RSR_LAYOUT_BUCKET; layout++)
			for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++)
				for (size_t ci = 0; ci < sizeof(ncols_list) / sizeof(ncols_list[0]); ci++)
				{
					uint32_t	k = ks[ki];
					uint32_t	ncols = ncols_list[ci];
					uint32_t	dims = ncols + 7;
					uint32_t	plane = (dims + 7) / 8;
					size_t		size;
					char		name[64];

					/* pseudo-random disjoint planes, padding zero */
					for (uint32_t r = 0; r < k; r++)
					{
						for (uint32_t j = 0; j < plane; j++)
						{
							uint32_t	h = (r * 131 + j * 7 + k) * 2654435761u;

							rowbuf[r][j] = (uint8_t) (h >> 24);
							rowbuf[r][plane + j] = kind == RSR_KIND_TERNARY ?
								(uint8_t) ((h >> 16) & ~(h >> 24)) : 0;
						}
						if (dims % 8)
						{
							rowbuf[r][plane - 1] &= (uint8_t) (0xFF << (8 - dims % 8));
							rowbuf[r][2 * plane - 1] &= (uint8_t) (0xFF << (8 - dims % 8));
						}
						rows[r] = rowbuf[r];
					}
					if (rsr_segment_build((RsrKind) kind, (RsrLayout) layout, k, rows,
										  k > 1 ? k - 1 : 1, dims, 3, ncols, seg,
										  sizeof(seg), &size) != RSR_OK)
					{
						fprintf(stderr, "build failed\n");
						return 1;
					}
					snprintf(name, sizeof(name), "seg-%s-%s-k%u-c%u",
							 kind == RSR_KIND_TERNARY ? "ternary" : "binary",
							 layout == RSR_LAYOUT_PERM ? "perm" : "bucket", k, ncols);
					rc |= write_seed(argv[1], name, 0, seg, size);

					/* the same shape as a build-mode input */
					memset(params, 0, sizeof(params));
					params[0] = (uint8_t) (kind == RSR_KIND_TERNARY);
					params[1] = (uint8_t) (layout == RSR_LAYOUT_BUCKET);
					params[2] = (uint8_t) (k - 1);
					params[3] = (uint8_t) (k - 1);
					params[4] = (uint8_t) (ncols - 1);
					params[6] = 3;
					params[7] = 4;
					for (size_t j = 8; j < sizeof(params); j++)
						params[j] = (uint8_t) (j * 37);
					snprintf(name, sizeof(name), "build-%s-%s-k%u-c%u",
							 kind == RSR_KIND_TERNARY ? "ternary" : "binary",
							 layout == RSR_LAYOUT_PERM ? "perm" : "bucket", k, ncols);
					rc |= write_seed(argv[1], name, 1, params, sizeof(params));
				}
	return rc;
}
