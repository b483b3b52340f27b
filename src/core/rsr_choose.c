/*-------------------------------------------------------------------------
 *
 * rsr_choose.c
 *	  Choice of block height k and segment layout for a shape, from the
 *	  measurements of `make bench`.
 *
 * The table below is the "best:" lines of the benchmark on the project's
 * machine type (2-core AMD EPYC, AVX2), regenerated with
 *
 *	  make bench    (or ./test/bench/bench_core --rounds 7)
 *
 * and read as: for each (type, dimension) the k of layout (b) whose
 * single-query kernel ("bucket k=") and batched kernel ("batch16 k=") ran
 * fastest.  Layout (a) (the papers' permutation layout) never won: it
 * reads 4-8 bits of metadata per weight and runs at 0.2-0.5x of the
 * bit-packed kernel, so it is only chosen when asked for.
 *
 * Layout (b) with k = 16 stores exactly the packed bits (16-bit codes) and
 * serves both kernels: the single-query kernel applies one FMA per code
 * byte, the batched kernel aggregates the two 8-row halves of each block
 * from one load of the query values.  Small dimensions favour k = 8 when
 * batched, because the fold over 2 x 256 buckets per block then weighs as
 * much as the aggregation itself.
 * The tile layout (c) wins wherever the work is a top-n or a score per
 * row, which is all the index and the bulk functions do: compare the
 * "tile-top10" and "tile16-top10" lines of the benchmark with layout (b)
 * plus a top-10 selection ("rsr-b+top10" on 1M x 1024; see
 * docs/tile-kernel.md for the figures, the dispatch level and the CPU).
 * Tiles store exactly the packed bits (32 rows per block), like k = 16,
 * so rsr_choose() answers the tile for every shape; layouts (a) and (b)
 * remain for the float kernels (rsr_gemv, rsr_gemm: rsr_choose_bucket_k())
 * and when asked for.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_choose.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

/* One measured row: up to max_dims, the best k single and batched */
typedef struct ChoiceRow
{
	RsrKind		kind;
	uint32_t	max_dims;		/* row applies to dims <= max_dims */
	uint32_t	k_single;		/* best k, one query */
	uint32_t	k_batched;		/* best k, B = 16 */
} ChoiceRow;

/*
 * Measured shapes: 100000x384, 262144x768, 65536x1024, 2560x2560,
 * 4096x14336; binary and ternary (uniform and 40% zero).  Rows for
 * dims <= 256 extrapolate the fold-cost argument above.
 */
static const ChoiceRow choice_table[] = {
	{RSR_KIND_BINARY, 256, 16, 8},
	{RSR_KIND_BINARY, RSR_MAX_DIMS, 16, 16},
	{RSR_KIND_TERNARY, 256, 16, 8},
	{RSR_KIND_TERNARY, RSR_MAX_DIMS, 16, 16},
};

/* Pick k and the layout of stored rows for (kind, dims, rows, batch) */
void
rsr_choose(RsrKind kind, uint32_t dims, uint64_t rows, uint32_t batch,
		   uint32_t *k, RsrLayout *layout)
{
	/*
	 * The row count does not change the choice: the kernels' cost per row
	 * was flat from 2560 to 262144 rows, and an index keeps its k as it
	 * grows from the rows it was built with.
	 */
	(void) rows;
	(void) kind;
	(void) dims;
	(void) batch;
	*layout = RSR_LAYOUT_TILE;
	*k = RSR_TILE_ROWS;
}

/* The layout (b) block height the float kernels run fastest with */
uint32_t
rsr_choose_bucket_k(RsrKind kind, uint32_t dims, uint32_t batch)
{
	size_t		i;

	for (i = 0; i < sizeof(choice_table) / sizeof(choice_table[0]); i++)
		if (choice_table[i].kind == kind && dims <= choice_table[i].max_dims)
			return batch > 1 ? choice_table[i].k_batched : choice_table[i].k_single;
	return 16;
}
