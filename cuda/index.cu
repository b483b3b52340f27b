/*-------------------------------------------------------------------------
 *
 * index.cu
 *	  Device probe, error reporting, and the device-resident index: upload
 *	  of validated segments (codes packed contiguously, per-block output
 *	  offsets), the live-row mask of the top-n, query staging and release.
 *
 * Upload happens once per index; queries then read only the packed codes
 * and the query vectors.  Each code plane is copied unchanged (one byte per
 * column when k <= 8, u16 little-endian otherwise, as in the segment) to an
 * offset aligned to RSR_CUDA_CODE_ALIGN bytes.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  cuda/index.cu
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "common.cuh"

/* Detail of the last failure of this thread */
static thread_local char last_error[512];

/* Record a failed CUDA call; map it to a status */
RsrCudaStatus
rsr_cuda_fail(cudaError_t err, const char *expr, const char *file, int line)
{
	snprintf(last_error, sizeof(last_error), "%s failed at %s:%d: %s",
			 expr, file, line, cudaGetErrorString(err));
	(void) cudaGetLastError();	/* clear a non-sticky error */
	switch (err)
	{
		case cudaErrorMemoryAllocation:
			return RSR_CUDA_ENOMEM;
		case cudaErrorNoDevice:
		case cudaErrorInvalidDevice:
		case cudaErrorInsufficientDriver:
			return RSR_CUDA_ENODEV;
		default:
			return RSR_CUDA_ECUDA;
	}
}

/* Detail of the calling thread's last failure */
const char *
rsr_cuda_last_error(void)
{
	return last_error;
}

/* Text of a status code */
const char *
rsr_cuda_status_string(RsrCudaStatus status)
{
	switch (status)
	{
		case RSR_CUDA_OK:
			return "success";
		case RSR_CUDA_EINVAL:
			return "invalid argument or unsupported shape";
		case RSR_CUDA_ECORRUPT:
			return "corrupt segment";
		case RSR_CUDA_ENODEV:
			return "no CUDA device";
		case RSR_CUDA_ENOMEM:
			return "out of memory";
		case RSR_CUDA_ECUDA:
			return "CUDA runtime error";
	}
	return "unknown status";
}

/*
 * Number of usable devices.  Any failure to enumerate (no driver, no
 * device, driver too old for the runtime) means none can be used: the
 * count is zero, and rsr_cuda_last_error() says why, for the log.
 */
RsrCudaStatus
rsr_cuda_device_count(int *count)
{
	cudaError_t err;

	if (count == NULL)
		return RSR_CUDA_EINVAL;
	*count = 0;
	err = cudaGetDeviceCount(count);
	if (err != cudaSuccess)
	{
		(void) rsr_cuda_fail(err, "cudaGetDeviceCount(count)", __FILE__, __LINE__);
		*count = 0;
	}
	return RSR_CUDA_OK;
}

/* Properties of one device */
RsrCudaStatus
rsr_cuda_probe(int device, RsrCudaDeviceInfo *info)
{
	cudaDeviceProp prop;
	int			ndev;
	int			clock_khz;
	int			bus_bits;
	RsrCudaStatus st;

	if (info == NULL)
		return RSR_CUDA_EINVAL;
	st = rsr_cuda_device_count(&ndev);
	if (st != RSR_CUDA_OK)
		return st;
	if (device < 0 || device >= ndev)
		return RSR_CUDA_ENODEV;
	RSR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
	RSR_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device));
	RSR_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", prop.name);
	info->major = prop.major;
	info->minor = prop.minor;
	info->total_mem = prop.totalGlobalMem;
	info->sm_count = prop.multiProcessorCount;
	/* double data rate: two transfers per memory clock */
	info->mem_bandwidth = 2.0 * (double) clock_khz * 1000.0 * (double) bus_bits / 8.0;
	return RSR_CUDA_OK;
}

/* Release an index and everything it holds */
void
rsr_cuda_index_free(RsrCudaIndex *index)
{
	if (index == NULL)
		return;
	/* errors are ignored: nothing useful can be done about them here */
	if (index->on_device && cudaSetDevice(index->device) == cudaSuccess)
	{
		(void) cudaFree(index->d_codes);
		(void) cudaFree(index->d_segs);
		(void) cudaFree(index->d_groups);
		(void) cudaFree(index->d_qraw);
		(void) cudaFree(index->d_qt);
		(void) cudaFree(index->d_y);
		(void) cudaFree(index->d_live);
		(void) cudaFree(index->d_keys[0]);
		(void) cudaFree(index->d_keys[1]);
		(void) cudaGetLastError();
	}
	free(index->h_keys);
	free(index);
}

/* Bytes of codes one product reads */
size_t
rsr_cuda_index_code_bytes(const RsrCudaIndex *index)
{
	return index != NULL ? index->code_bytes : 0;
}

/* Round up to a multiple of RSR_CUDA_CODE_ALIGN */
static inline uint64_t
code_align(uint64_t n)
{
	return (n + RSR_CUDA_CODE_ALIGN - 1) / RSR_CUDA_CODE_ALIGN * RSR_CUDA_CODE_ALIGN;
}

/* Staging of an upload on the host */
typedef struct HostIndex
{
	RsrCudaSeg *segs;			/* nsegs descriptors */
	RsrCudaGroup *groups;		/* ngroups descriptors */
	uint8_t    *codes;			/* code_bytes of packed planes */
	uint32_t   *sizes;			/* validated size of each segment */
} HostIndex;

/*
 * Check the segments and build the descriptors and the packed codes on the
 * host; fills index's shape fields.  Touches no device, so bad input is
 * reported the same with or without a GPU.
 */
static RsrCudaStatus
build_host(RsrCudaIndex *index, const RsrSegmentRef *segs, size_t nsegs,
		   HostIndex *h)
{
	RsrSegmentInfo first;
	uint64_t	total = 0;
	uint64_t	nout = 0;
	uint64_t	covered = 0;
	uint32_t	ngroups = 0;
	size_t		i;
	uint32_t	cb;
	uint32_t	nplanes;

	if (nsegs == 0 || nsegs > UINT32_MAX)
		return RSR_CUDA_EINVAL;
	memset(&first, 0, sizeof(first));
	h->segs = (RsrCudaSeg *) malloc(nsegs * sizeof(RsrCudaSeg));
	h->groups = (RsrCudaGroup *) malloc(nsegs * sizeof(RsrCudaGroup));
	h->sizes = (uint32_t *) malloc(nsegs * sizeof(uint32_t));
	if (h->segs == NULL || h->groups == NULL || h->sizes == NULL)
		return RSR_CUDA_ENOMEM;

	/* pass 1: validate, check uniformity, lay out codes, form groups */
	for (i = 0; i < nsegs; i++)
	{
		RsrSegmentInfo info;
		RsrCudaSeg *s = &h->segs[i];

		if (segs[i].data == NULL)
			return RSR_CUDA_EINVAL;
		if (rsr_segment_validate(segs[i].data, segs[i].size, &info) != RSR_OK)
			return RSR_CUDA_ECORRUPT;
		if (i == 0)
			first = info;
		if (info.layout != RSR_LAYOUT_BUCKET || info.kind != first.kind ||
			info.k != first.k || info.dims != first.dims)
			return RSR_CUDA_EINVAL;
		if (i == 0 || segs[i].out != segs[i - 1].out)
		{
			RsrCudaGroup *g = &h->groups[ngroups++];

			g->first = (uint32_t) i;
			g->count = 0;
			g->out = segs[i].out;
			g->nrows = info.nrows;
			if ((uint64_t) g->out + g->nrows > UINT32_MAX)
				return RSR_CUDA_EINVAL;
			nout = std::max(nout, (uint64_t) g->out + g->nrows);
			covered += g->nrows;
		}
		else if (info.nrows != h->groups[ngroups - 1].nrows)
			return RSR_CUDA_EINVAL; /* column ranges of one block */
		h->groups[ngroups - 1].count++;
		h->sizes[i] = info.size;
		cb = info.k <= 8 ? 1 : 2;
		s->off = total;
		s->plane = (uint32_t) code_align((uint64_t) info.ncols * cb);
		s->col_start = info.col_start;
		s->ncols = info.ncols;
		total += (uint64_t) s->plane * (info.kind == RSR_KIND_TERNARY ? 2 : 1);
	}

	/* blocks must not share output rows (each group writes its own) */
	{
		RsrCudaGroup *sorted = (RsrCudaGroup *) malloc(ngroups * sizeof(RsrCudaGroup));

		if (sorted == NULL)
			return RSR_CUDA_ENOMEM;
		memcpy(sorted, h->groups, ngroups * sizeof(RsrCudaGroup));
		std::sort(sorted, sorted + ngroups,
				  [](const RsrCudaGroup &a, const RsrCudaGroup &b) { return a.out < b.out; });
		for (i = 1; i < ngroups; i++)
			if ((uint64_t) sorted[i - 1].out + sorted[i - 1].nrows > sorted[i].out)
				break;
		free(sorted);
		if (i < ngroups)
			return RSR_CUDA_EINVAL;
	}

	index->kind = first.kind;
	index->k = first.k;
	index->dims = first.dims;
	index->nout = (uint32_t) nout;
	index->ngroups = ngroups;
	index->covered = covered == nout;
	index->code_bytes = total;

	/* pass 2: pack the code planes */
	h->codes = (uint8_t *) calloc(total, 1);
	if (h->codes == NULL)
		return RSR_CUDA_ENOMEM;
	cb = first.k <= 8 ? 1 : 2;
	nplanes = first.kind == RSR_KIND_TERNARY ? 2 : 1;
	for (i = 0; i < nsegs; i++)
	{
		const RsrCudaSeg *s = &h->segs[i];
		size_t		plane = (size_t) s->ncols * cb;

		/* the code planes end the segment (rsr_internal.h); info.size is checked */
		const uint8_t *payload = segs[i].data + h->sizes[i] - nplanes * plane;
		uint32_t	p;

		for (p = 0; p < nplanes; p++)
			memcpy(h->codes + s->off + (size_t) p * s->plane, payload + p * plane, plane);
	}
	return RSR_CUDA_OK;
}

/* Allocate the index's device memory and copy the staged host data */
static RsrCudaStatus
copy_to_device(RsrCudaIndex *index, const HostIndex *h, size_t nsegs,
			   cudaStream_t stream)
{
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	index->on_device = 1;
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_codes, index->code_bytes));
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_segs, nsegs * sizeof(RsrCudaSeg)));
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_groups, index->ngroups * sizeof(RsrCudaGroup)));
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_qraw, (size_t) index->dims * RSR_MAX_BATCH * sizeof(float)));
	RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_qt, (size_t) index->dims * RSR_MAX_BATCH * sizeof(float)));
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_codes, h->codes, index->code_bytes,
								   cudaMemcpyHostToDevice, stream));
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_segs, h->segs, nsegs * sizeof(RsrCudaSeg),
								   cudaMemcpyHostToDevice, stream));
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_groups, h->groups, index->ngroups * sizeof(RsrCudaGroup),
								   cudaMemcpyHostToDevice, stream));
	/* the host buffers must outlive the copies */
	RSR_CUDA_CHECK(cudaStreamSynchronize(stream));
	return RSR_CUDA_OK;
}

/*
 * Upload validated segments into a device-resident index.  The segments
 * are checked before any device is touched: bad input gives EINVAL or
 * ECORRUPT even where there is no GPU, and ENODEV comes after.
 */
RsrCudaStatus
rsr_cuda_index_upload(int device, const RsrSegmentRef *segs, size_t nsegs,
					  void *stream, RsrCudaIndex **index, uint32_t *nout)
{
	RsrCudaIndex *idx;
	HostIndex	h = {NULL, NULL, NULL, NULL};
	int			ndev = 0;
	RsrCudaStatus st;

	if (index == NULL || segs == NULL || device < 0)
		return RSR_CUDA_EINVAL;
	*index = NULL;
	idx = (RsrCudaIndex *) calloc(1, sizeof(RsrCudaIndex));
	if (idx == NULL)
		return RSR_CUDA_ENOMEM;
	idx->device = device;
	st = build_host(idx, segs, nsegs, &h);
	if (st == RSR_CUDA_OK)
		st = rsr_cuda_device_count(&ndev);
	if (st == RSR_CUDA_OK && device >= ndev)
		st = RSR_CUDA_ENODEV;
	if (st == RSR_CUDA_OK)
		st = copy_to_device(idx, &h, nsegs, (cudaStream_t) stream);
	free(h.segs);
	free(h.groups);
	free(h.codes);
	free(h.sizes);
	if (st != RSR_CUDA_OK)
	{
		rsr_cuda_index_free(idx);
		return st;
	}
	*index = idx;
	if (nout != NULL)
		*nout = idx->nout;
	return RSR_CUDA_OK;
}

/*
 * Set the rows the top-n functions may return: live[row] != 0 for each of
 * the index's nout rows (count must be nout), or live == NULL for all of
 * them.  Products are not affected.  If the device copy fails, the top-n
 * functions refuse to run (EINVAL) until a call succeeds: never a result
 * that silently includes excluded rows.
 */
RsrCudaStatus
rsr_cuda_index_set_live(RsrCudaIndex *index, const uint8_t *live,
						size_t count, void *stream)
{
	cudaStream_t st = (cudaStream_t) stream;

	if (index == NULL || (live != NULL && count != index->nout))
		return RSR_CUDA_EINVAL;
	if (live == NULL)
	{
		index->use_live = 0;
		return RSR_CUDA_OK;
	}
	index->use_live = -1;		/* d_live is being replaced */
	RSR_CUDA_CHECK(cudaSetDevice(index->device));
	if (index->d_live == NULL)
		RSR_CUDA_CHECK(cudaMalloc((void **) &index->d_live, count));
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_live, live, count, cudaMemcpyHostToDevice, st));
	/* the caller may reuse live once this returns */
	RSR_CUDA_CHECK(cudaStreamSynchronize(st));
	index->use_live = 1;
	return RSR_CUDA_OK;
}

/* qt[j * batch + b] = Q[b * dims + j] */
static __global__ void
transpose_kernel(const float *__restrict__ Q, uint32_t batch, uint32_t dims,
				 float *__restrict__ qt)
{
	__shared__ float tile[32][33];
	uint32_t	j0 = blockIdx.x * 32;
	uint32_t	b0 = blockIdx.y * 32;
	uint32_t	tx = threadIdx.x;

	// read rows of Q (coalesced over j), write rows of qt (coalesced over b)
	for (uint32_t ty = threadIdx.y; ty < 32; ty += blockDim.y)
	{
		uint32_t	b = b0 + ty;
		uint32_t	j = j0 + tx;

		if (b < batch && j < dims)
			tile[ty][tx] = Q[(size_t) b * dims + j];
	}
	__syncthreads();
	for (uint32_t ty = threadIdx.y; ty < 32; ty += blockDim.y)
	{
		uint32_t	j = j0 + ty;
		uint32_t	b = b0 + tx;

		if (b < batch && j < dims)
			qt[(size_t) j * batch + b] = tile[tx][ty];
	}
}

/* Copy host queries to the device and transpose them into d_qt */
RsrCudaStatus
rsr_cuda_stage_queries(RsrCudaIndex *index, const float *Q, uint32_t batch,
					   cudaStream_t stream)
{
	dim3		grid((index->dims + 31) / 32, (batch + 31) / 32);
	dim3		block(32, 8);

	if (batch == 1)
	{
		RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_qt, Q, (size_t) index->dims * sizeof(float),
									   cudaMemcpyHostToDevice, stream));
		return RSR_CUDA_OK;
	}
	RSR_CUDA_CHECK(cudaMemcpyAsync(index->d_qraw, Q, (size_t) index->dims * batch * sizeof(float),
								   cudaMemcpyHostToDevice, stream));
	transpose_kernel<<<grid, block, 0, stream>>>(index->d_qraw, batch, index->dims, index->d_qt);
	RSR_CUDA_CHECK_LAUNCH();
	return RSR_CUDA_OK;
}
