/*-------------------------------------------------------------------------
 *
 * rsr_topn.c
 *	  Top-n selection over kernel scores: a bounded min-heap of row
 *	  indexes in caller memory, O(count log n); best first, ties broken by
 *	  the lower index, NaN never selected.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/core/rsr_topn.c
 *
 *-------------------------------------------------------------------------
 */
#include "rsr_internal.h"

/* True when entry a ranks below entry b (lower score, or equal and later) */
static inline int
worse(const float *s, size_t stride, uint32_t a, uint32_t b)
{
	float		sa = s[(size_t) a * stride];
	float		sb = s[(size_t) b * stride];

	return sa < sb || (sa == sb && a > b);
}

/* Restore the heap (worst entry at the root) below position i */
static void
sift_down(uint32_t *heap, size_t len, size_t i, const float *s,
		  size_t stride)
{
	for (;;)
	{
		size_t		l = 2 * i + 1;
		size_t		m = i;
		uint32_t	tmp;

		if (l < len && worse(s, stride, heap[l], heap[m]))
			m = l;
		if (l + 1 < len && worse(s, stride, heap[l + 1], heap[m]))
			m = l + 1;
		if (m == i)
			return;
		tmp = heap[i];
		heap[i] = heap[m];
		heap[m] = tmp;
		i = m;
	}
}

/* Top-n of s[i * stride] for i < count into idx, best first */
static size_t
topn_strided(const float *s, size_t stride, size_t count, size_t n,
			 uint32_t *idx, uint32_t *heap)
{
	size_t		len = 0;
	size_t		i;

	if (n == 0)
		return 0;
	for (i = 0; i < count; i++)
	{
		float		v = s[i * stride];

		if (v != v)
			continue;			/* NaN */
		if (len < n)
		{
			size_t		j = len++;

			/* sift up */
			heap[j] = (uint32_t) i;
			while (j > 0 && worse(s, stride, heap[j], heap[(j - 1) / 2]))
			{
				uint32_t	tmp = heap[j];

				heap[j] = heap[(j - 1) / 2];
				heap[(j - 1) / 2] = tmp;
				j = (j - 1) / 2;
			}
		}
		else if (worse(s, stride, heap[0], (uint32_t) i))
		{
			heap[0] = (uint32_t) i;
			sift_down(heap, len, 0, s, stride);
		}
	}
	/* pop the worst into the last free slot: idx ends up best first */
	for (i = len; i > 0; i--)
	{
		idx[i - 1] = heap[0];
		heap[0] = heap[i - 1];
		sift_down(heap, i - 1, 0, s, stride);
	}
	return len;
}

/* Bytes of work memory rsr_topn() needs */
size_t
rsr_topn_work_size(size_t n)
{
	return (n > 0 ? n : 1) * sizeof(uint32_t);
}

/* Indexes of the n largest scores, best first */
size_t
rsr_topn(const float *scores, size_t count, size_t n, uint32_t *idx,
		 void *work)
{
	if (scores == NULL || idx == NULL || work == NULL)
		return 0;
	return topn_strided(scores, 1, count, n, idx, (uint32_t *) work);
}

/* Batched top-n over Y[row][batch] */
void
rsr_topn_batch(const float *Y, size_t count, uint32_t batch, size_t n,
			   uint32_t *idx, size_t *counts, void *work)
{
	uint32_t	b;

	if (Y == NULL || idx == NULL || counts == NULL || work == NULL)
		return;
	for (b = 0; b < batch; b++)
		counts[b] = topn_strided(Y + b, batch, count, n, idx + (size_t) b * n,
								 (uint32_t *) work);
}
