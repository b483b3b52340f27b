/*-------------------------------------------------------------------------
 *
 * safetensors.c
 *	  SQL functions that read HuggingFace safetensors files on the server
 *	  into rows: rsr_safetensors_tensors(), rsr_safetensors_ternary() and
 *	  rsr_safetensors_binary().
 *
 * Memory is bounded independently of the file size: the header (at most
 * RSR_ST_MAX_HEADER bytes) and one data buffer of ST_BUFFER bytes (or one
 * row, if larger) are held; tensor data is read sequentially with pread
 * and never mapped whole.  Results go to a tuplestore (materialize mode),
 * which spills to disk past work_mem.  The header parser and the row
 * conversions live in src/core/rsr_safetensors.c.
 *
 * Reading files on the server is allowed to superusers and to roles with
 * the privileges of pg_read_server_files, as pg_read_binary_file() on an
 * absolute path; everyone else gets 42501.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/safetensors.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/varbit.h"

#include "rsr_vector.h"
#include "tvec.h"

PG_FUNCTION_INFO_V1(rsr_safetensors_tensors);
PG_FUNCTION_INFO_V1(rsr_safetensors_ternary);
PG_FUNCTION_INFO_V1(rsr_safetensors_binary);

#define ST_BUFFER (1024 * 1024)	/* bytes of tensor data read at once */

/* An open safetensors file and its header */
typedef struct StFile
{
	const char *path;			/* as given, for messages */
	int			fd;				/* from OpenTransientFile */
	uint64		file_size;		/* bytes, at open */
	char	   *json;			/* the header, json_len bytes */
	size_t		json_len;
	uint64		data_start;		/* file offset of the data: 8 + json_len */
	uint64		data_size;		/* bytes after the header */
} StFile;

/* Sequential reader of whole units (rows) of [pos, end) of the data */
typedef struct StReader
{
	StFile	   *f;
	uint64		pos;			/* data offset of the next byte to read */
	uint64		end;			/* data offset past the last byte */
	size_t		unit;			/* bytes per unit */
	uint8	   *buf;			/* cap bytes, a multiple of unit */
	size_t		cap;
	size_t		len;			/* bytes in buf */
	size_t		next;			/* offset in buf of the next unit */
} StReader;

/* Superusers and members of pg_read_server_files only */
static void
StCheckPrivilege(void)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read safetensors files"),
				 errdetail("Only roles with privileges of the \"%s\" role may read files on the server.",
						   "pg_read_server_files")));
}

/* Report a parser error of the file (entry numbers count from 1) */
static void
StReport(StFile *f, const RsrStParse *res, const RsrStTensor *t)
{
	unsigned	entry = res->index + 1;

	switch (res->error)
	{
		case RSR_ST_OK:
			break;
		case RSR_ST_SHORT_FILE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("The file has %llu bytes, fewer than the 8 bytes of the header length.",
							   (unsigned long long) f->file_size)));
			break;
		case RSR_ST_HEADER_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("safetensors header of file \"%s\" is too large", f->path),
					 errdetail("The header length is %llu bytes; the limit is %d bytes.",
							   (unsigned long long) f->json_len, RSR_ST_MAX_HEADER)));
			break;
		case RSR_ST_HEADER_PAST_END:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("The header length %llu is past the end of the file (%llu bytes).",
							   (unsigned long long) f->json_len,
							   (unsigned long long) f->file_size)));
			break;
		case RSR_ST_SYNTAX:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("The JSON header is malformed at byte %zu.", res->off)));
			break;
		case RSR_ST_TOO_DEEP:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("The JSON header nests values more than %d levels deep at byte %zu.",
							   RSR_ST_MAX_DEPTH, res->off)));
			break;
		case RSR_ST_MISSING_FIELD:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header lacks \"dtype\", \"shape\" or \"data_offsets\".",
							   entry)));
			break;
		case RSR_ST_BAD_DTYPE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has an unknown dtype.", entry)));
			break;
		case RSR_ST_TOO_MANY_DIMS:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has more than %d dimensions.",
							   entry, RSR_ST_MAX_NDIM)));
			break;
		case RSR_ST_OVERFLOW:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has a number, element count or byte count of 2^63 or more.",
							   entry)));
			break;
		case RSR_ST_BAD_OFFSETS:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has data offsets [%llu, %llu) outside the %llu data bytes of the file.",
							   entry, (unsigned long long) t->begin,
							   (unsigned long long) t->end,
							   (unsigned long long) f->data_size)));
			break;
		case RSR_ST_SIZE_MISMATCH:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has %llu data bytes, but its dtype and shape need %llu bits.",
							   entry, (unsigned long long) (t->end - t->begin),
							   (unsigned long long) (t->numel * rsr_st_dtype_bits(t->dtype)))));
			break;
		case RSR_ST_OVERLAP:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensors %u and %u of the header share data bytes.",
							   res->index + 1, res->other + 1)));
			break;
		case RSR_ST_BAD_STRING:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("Tensor %u of the header has a name with a bad escape, invalid UTF-8 or a NUL character.", entry)));
			break;
	}
	elog(ERROR, "unknown safetensors parser error %d", (int) res->error);
}

/* Read exactly n bytes at file offset off; a short file is an error */
static void
StRead(StFile *f, uint64 off, void *buf, size_t n)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		got = pg_pread(f->fd, (char *) buf + done, n - done,
								   (off_t) (off + done));

		if (got < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", f->path)));
		}
		if (got == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid safetensors file \"%s\"", f->path),
					 errdetail("The file ends at byte %llu, before the data it declares; it may have been truncated while being read.",
							   (unsigned long long) (off + done))));
		done += (size_t) got;
	}
}

/* Open the file named by the text argument and read and check its header length */
static void
StOpen(StFile *f, text *path_text)
{
	struct stat st;
	uint8		prefix[8];
	uint64		header_len = 0;
	RsrStParse	res;

	StCheckPrivilege();
	memset(f, 0, sizeof(*f));
	f->path = text_to_cstring(path_text);
	f->fd = OpenTransientFile(f->path, O_RDONLY | PG_BINARY);
	if (f->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", f->path)));
	if (fstat(f->fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", f->path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", f->path)));
	f->file_size = (uint64) st.st_size;

	StRead(f, 0, prefix, Min(f->file_size, sizeof(prefix)));
	if (rsr_st_header_len(prefix, Min(f->file_size, sizeof(prefix)),
						  f->file_size, &header_len, &res) != RSR_OK)
	{
		f->json_len = header_len;
		StReport(f, &res, NULL);
	}
	f->json_len = (size_t) header_len;
	f->json = palloc(f->json_len + 1);
	StRead(f, 8, f->json, f->json_len);
	f->data_start = 8 + header_len;
	f->data_size = f->file_size - f->data_start;
}

/* Close the file (errors close it at transaction abort) */
static void
StClose(StFile *f)
{
	CloseTransientFile(f->fd);
	f->fd = -1;
}

/*
 * The decoded name of tensor t as UTF-8, NUL-terminated; *len is its
 * length.  A name that is not valid JSON text or UTF-8 is a file error.
 */
static char *
StName(StFile *f, const RsrStTensor *t, uint32 index, size_t *len)
{
	char	   *name = palloc(t->name_len + 1);

	if (rsr_st_decode_string(f->json + t->name_off, t->name_len, name,
							 t->name_len, len) != RSR_OK)
	{
		RsrStParse	res = {RSR_ST_BAD_STRING, t->name_off, index, 0};

		StReport(f, &res, t);
	}
	name[*len] = '\0';
	return name;
}

/*
 * Check the whole header: every entry, every name, no two tensors sharing
 * data.  With a target (UTF-8), fill *found_t with the tensor of that
 * name and return true if there is one; a name present twice is an error.
 */
static bool
StScan(StFile *f, const char *target, size_t target_len, RsrStTensor *found_t)
{
	RsrStCursor cur = {0};
	RsrStTensor t;
	RsrStParse	res;
	RsrStSpan  *spans;
	size_t		nspans = 0;
	size_t		cap = 64;
	bool		found = false;
	int			more;

	spans = palloc(cap * sizeof(RsrStSpan));
	for (;;)
	{
		size_t		len;
		char	   *name;

		CHECK_FOR_INTERRUPTS();
		if (rsr_st_next(f->json, f->json_len, f->data_size, &cur, &t, &more,
						&res) != RSR_OK)
			StReport(f, &res, &t);
		if (!more)
			break;
		name = StName(f, &t, cur.count - 1, &len);
		if (target != NULL && len == target_len && memcmp(name, target, len) == 0)
		{
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("invalid safetensors file \"%s\"", f->path),
						 errdetail("Tensor \"%s\" appears more than once in the header.",
								   pg_any_to_server(name, len, PG_UTF8))));
			found = true;
			*found_t = t;
		}
		pfree(name);
		if (nspans == cap)
		{
			cap *= 2;
			spans = repalloc_huge(spans, cap * sizeof(RsrStSpan));
		}
		spans[nspans].begin = t.begin;
		spans[nspans].end = t.end;
		spans[nspans].index = cur.count - 1;
		nspans++;
	}
	if (rsr_st_check_overlap(spans, nspans, &res) != RSR_OK)
		StReport(f, &res, NULL);
	pfree(spans);
	return found;
}

/* The tensor named by a text argument; not found is an error */
static void
StFind(StFile *f, text *name_text, RsrStTensor *t)
{
	char	   *name = text_to_cstring(name_text);
	char	   *utf8 = pg_server_to_any(name, strlen(name), PG_UTF8);

	if (!StScan(f, utf8, strlen(utf8), t))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tensor \"%s\" not found in safetensors file \"%s\"",
						name, f->path)));
}

/* Check that t is a matrix the row functions take; *rows and *cols are its shape */
static void
StCheckMatrix(StFile *f, text *name_text, const RsrStTensor *t,
			  uint32 *rows, uint32 *cols)
{
	char	   *name = text_to_cstring(name_text);

	if (t->ndim != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("tensor \"%s\" must be 2-D", name),
				 errdetail_plural("It has %u dimension.", "It has %u dimensions.",
								  t->ndim, t->ndim)));
	if (t->shape[1] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("tensor \"%s\" must have at least 1 column", name)));
	if (t->shape[1] > TVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tensor \"%s\" has too many columns", name),
				 errdetail("It has %llu columns; rows can have at most %d elements.",
						   (unsigned long long) t->shape[1], TVEC_MAX_DIM)));
	if (t->shape[0] > PG_INT32_MAX / (t->dtype == RSR_ST_U8 ? 4 : 1))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tensor \"%s\" has too many rows", name),
				 errdetail("It has %llu rows; row_id is an integer.",
						   (unsigned long long) t->shape[0])));
	*rows = (uint32) t->shape[0];
	*cols = (uint32) t->shape[1];
}

/* Error for a dtype the function does not read */
static void
StBadDtype(text *name_text, const RsrStTensor *t, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("tensor \"%s\" has dtype %s", text_to_cstring(name_text),
					rsr_st_dtype_name(t->dtype)),
			 errhint("%s", what)));
}

/* Start reading [begin, end) of the data in units of unit bytes */
static void
StReaderInit(StReader *r, StFile *f, uint64 begin, uint64 end, size_t unit)
{
	r->f = f;
	r->pos = begin;
	r->end = end;
	r->unit = unit;
	r->cap = Max(unit, ST_BUFFER / unit * unit);
	r->buf = palloc(r->cap);
	r->len = 0;
	r->next = 0;
}

/* The next unit of the range (the caller counts units) */
static const uint8 *
StReaderNext(StReader *r)
{
	const uint8 *p;

	if (r->next == r->len)
	{
		size_t		n = (size_t) Min((uint64) r->cap, r->end - r->pos);

		Assert(n >= r->unit);
		StRead(r->f, r->f->data_start + r->pos, r->buf, n);
		r->pos += n;
		r->len = n;
		r->next = 0;
	}
	p = r->buf + r->next;
	r->next += r->unit;
	return p;
}

/* Re-read [begin, end) from the start */
static void
StReaderRewind(StReader *r, uint64 begin)
{
	r->pos = begin;
	r->len = 0;
	r->next = 0;
}

/* Convert one row to floats; NaN and infinity are errors, as in the quantizers */
static void
StRowFloats(const RsrStTensor *t, text *name_text, const uint8 *src,
			uint32 row, uint32 cols, float *x)
{
	if (rsr_st_to_float(t->dtype, src, cols, x) != RSR_OK)
		elog(ERROR, "safetensors row of dtype %s read as floats",
			 rsr_st_dtype_name(t->dtype));
	for (uint32 j = 0; j < cols; j++)
		if (unlikely(isnan(x[j]) || isinf(x[j])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s value in tensor \"%s\"",
							isnan(x[j]) ? "NaN" : "infinite",
							text_to_cstring(name_text)),
					 errdetail("Row %u, column %u.", row, j)));
}

/*
 * rsr_safetensors_tensors(path text)
 *		RETURNS TABLE(name text, dtype text, shape bigint[])
 *
 * The tensors of the file in header order; "__metadata__" is skipped.  The
 * whole header is checked first, so a bad file returns no rows.
 */
Datum
rsr_safetensors_tensors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StFile		f;
	RsrStCursor cur = {0};
	RsrStTensor t;
	RsrStParse	res;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	int			more;

	InitMaterializedSRF(fcinfo, 0);
	StOpen(&f, PG_GETARG_TEXT_PP(0));
	StClose(&f);
	(void) StScan(&f, NULL, 0, NULL);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "safetensors row",
								   ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		Datum	   *dims;
		size_t		len;
		char	   *name;

		CHECK_FOR_INTERRUPTS();
		if (rsr_st_next(f.json, f.json_len, f.data_size, &cur, &t, &more,
						&res) != RSR_OK)
			StReport(&f, &res, &t);
		if (!more)
			break;
		oldcxt = MemoryContextSwitchTo(rowcxt);
		name = StName(&f, &t, cur.count - 1, &len);
		values[0] = PointerGetDatum(cstring_to_text(pg_any_to_server(name, len, PG_UTF8)));
		values[1] = PointerGetDatum(cstring_to_text(rsr_st_dtype_name(t.dtype)));
		dims = palloc(sizeof(Datum) * Max(t.ndim, 1));
		for (uint32 d = 0; d < t.ndim; d++)
			dims[d] = Int64GetDatum((int64) t.shape[d]);
		values[2] = PointerGetDatum(construct_array(dims, (int) t.ndim, INT8OID,
													sizeof(int64), FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	return (Datum) 0;
}

/*
 * The scale of a BitNet-packed tensor from its companion tensor: one
 * F32/F16/BF16 element w, finite and nonzero.  transformers' BitLinear
 * divides its output by weight_scale (y = (W_packed x) / weight_scale), so
 * the reported scale, which multiplies, is 1 / w.
 */
static double
StBitnetScale(StFile *f, text *scale_name, text *tensor_name)
{
	RsrStTensor t;
	uint8		bytes[4];
	float		w;
	char	   *name = text_to_cstring(scale_name);

	StFind(f, scale_name, &t);
	if (t.numel != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale tensor \"%s\" must have exactly one element", name),
				 errdetail("It has %llu elements.", (unsigned long long) t.numel)));
	if (t.dtype != RSR_ST_F32 && t.dtype != RSR_ST_F16 && t.dtype != RSR_ST_BF16)
		StBadDtype(scale_name, &t, "A scale tensor must be F32, F16 or BF16.");
	StRead(f, f->data_start + t.begin, bytes, (size_t) (t.end - t.begin));
	(void) rsr_st_to_float(t.dtype, bytes, 1, &w);
	if (isnan(w) || isinf(w) || w == 0.0f)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("scale tensor \"%s\" must be a finite nonzero number", name),
				 errdetail("It is %g.", (double) w)));
	return 1.0 / (double) w;
}

/* Put one (row_id, value, scale) row; scale is omitted when values has 2 */
static void
StPutRow(ReturnSetInfo *rsinfo, int nvalues, int32 row_id, Datum value,
		 float4 scale)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = Int32GetDatum(row_id);
	values[1] = value;
	values[2] = Float4GetDatum(scale);
	Assert(nvalues == rsinfo->setDesc->natts);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * rsr_safetensors_ternary(path text, tensor text [, scale_tensor text])
 *		RETURNS TABLE(row_id int, w tvec, scale real)
 *
 * One row per output row of a 2-D tensor, row_id from 0, in row_id order.
 *
 * F32, F16 and BF16: BitNet b1.58 absmean over the whole tensor, exactly as
 * ternary_quantize() does it for one array: scale = mean |W| summed in
 * double in row-major order, element = rint(clip(W / scale, -1, 1)) in
 * double (ties to even), all zeros for an all-zero tensor.  This takes two
 * passes over the data: the first sums |W| (and rejects NaN and infinity),
 * the second quantizes.  The scale, rounded to real, is on every row.
 *
 * U8: packed by transformers' BitNet pack_weights(): shape (out / 4, in),
 * four 2-bit values per byte stored as value + 1.  Output row r is field
 * r / P (bits 2 (r / P) .. 2 (r / P) + 1) of packed row r % P, P = out / 4,
 * minus 1; a field holding 3 is an error.  The data is read once per field
 * (four sequential passes) so that rows come in row_id order.  The scale is
 * 1 without a scale tensor, else 1 / w for its one element w (BitLinear
 * divides by weight_scale); y = scale * (W x) for every dtype.
 */
Datum
rsr_safetensors_ternary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *name_text = PG_GETARG_TEXT_PP(1);
	StFile		f;
	RsrStTensor t;
	StReader	r;
	uint32		rows;
	uint32		cols;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	InitMaterializedSRF(fcinfo, 0);
	StOpen(&f, PG_GETARG_TEXT_PP(0));
	StFind(&f, name_text, &t);
	StCheckMatrix(&f, name_text, &t, &rows, &cols);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "safetensors row",
								   ALLOCSET_DEFAULT_SIZES);

	if (t.dtype == RSR_ST_U8)
	{
		double		scale = 1.0;

		if (PG_NARGS() > 2)
			scale = StBitnetScale(&f, PG_GETARG_TEXT_PP(2), name_text);
		StReaderInit(&r, &f, t.begin, t.end, cols);
		for (uint32 field = 0; field < 4; field++)
		{
			StReaderRewind(&r, t.begin);
			for (uint32 p = 0; p < rows; p++)
			{
				const uint8 *packed = StReaderNext(&r);
				Tvec	   *w;
				uint32		bad = 0;

				CHECK_FOR_INTERRUPTS();
				oldcxt = MemoryContextSwitchTo(rowcxt);
				w = InitTvec((int) cols);
				if (rsr_st_bitnet_row(packed, cols, field, w->data, &bad) != RSR_OK)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_EXCEPTION),
							 errmsg("invalid BitNet-packed value in tensor \"%s\"",
									text_to_cstring(name_text)),
							 errdetail("Packed row %u, column %u holds the 2-bit value 3 in bits %u..%u; only 0, 1 and 2 (-1, 0, 1) are valid.",
									   p, bad, 2 * field, 2 * field + 1)));
				StPutRow(rsinfo, 3, (int32) (field * rows + p), PointerGetDatum(w),
						 (float4) scale);
				MemoryContextSwitchTo(oldcxt);
				MemoryContextReset(rowcxt);
			}
		}
	}
	else if (t.dtype == RSR_ST_F32 || t.dtype == RSR_ST_F16 || t.dtype == RSR_ST_BF16)
	{
		size_t		unit = (size_t) cols * (rsr_st_dtype_bits(t.dtype) / 8);
		float	   *x = palloc(sizeof(float) * cols);
		double		sum = 0.0;
		double		scale = 0.0;

		if (PG_NARGS() > 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a scale tensor applies only to BitNet-packed U8 tensors"),
					 errdetail("Tensor \"%s\" has dtype %s; its scale is its mean absolute value.",
							   text_to_cstring(name_text), rsr_st_dtype_name(t.dtype))));
		StReaderInit(&r, &f, t.begin, t.end, unit);

		/* first pass: mean |W| over the whole tensor, in row-major order */
		for (uint32 i = 0; i < rows; i++)
		{
			CHECK_FOR_INTERRUPTS();
			StRowFloats(&t, name_text, StReaderNext(&r), i, cols, x);
			for (uint32 j = 0; j < cols; j++)
				sum += fabs((double) x[j]);
		}
		if (rows > 0)
			scale = sum / (double) t.numel;

		/* second pass: the rows */
		StReaderRewind(&r, t.begin);
		for (uint32 i = 0; i < rows; i++)
		{
			Tvec	   *w;

			CHECK_FOR_INTERRUPTS();
			StRowFloats(&t, name_text, StReaderNext(&r), i, cols, x);
			oldcxt = MemoryContextSwitchTo(rowcxt);
			w = InitTvec((int) cols);
			rsr_st_ternary_row(x, cols, scale, w->data);
			StPutRow(rsinfo, 3, (int32) i, PointerGetDatum(w), (float4) scale);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(rowcxt);
		}
	}
	else
		StBadDtype(name_text, &t,
				   "rsr_safetensors_ternary reads F32, F16 and BF16 tensors and BitNet-packed U8 tensors.");

	StClose(&f);
	MemoryContextDelete(rowcxt);
	return (Datum) 0;
}

/*
 * rsr_safetensors_binary(path text, tensor text) RETURNS TABLE(row_id int, b bit)
 *
 * One bit string per row of a 2-D F32, F16 or BF16 tensor, in row_id
 * order: bit j is set when W[i][j] > 0, as binary_quantize() does.
 */
Datum
rsr_safetensors_binary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *name_text = PG_GETARG_TEXT_PP(1);
	StFile		f;
	RsrStTensor t;
	StReader	r;
	uint32		rows;
	uint32		cols;
	float	   *x;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	InitMaterializedSRF(fcinfo, 0);
	StOpen(&f, PG_GETARG_TEXT_PP(0));
	StFind(&f, name_text, &t);
	StCheckMatrix(&f, name_text, &t, &rows, &cols);
	if (t.dtype != RSR_ST_F32 && t.dtype != RSR_ST_F16 && t.dtype != RSR_ST_BF16)
		StBadDtype(name_text, &t, "rsr_safetensors_binary reads F32, F16 and BF16 tensors.");

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "safetensors row",
								   ALLOCSET_DEFAULT_SIZES);
	x = palloc(sizeof(float) * cols);
	StReaderInit(&r, &f, t.begin, t.end, (size_t) cols * (rsr_st_dtype_bits(t.dtype) / 8));
	for (uint32 i = 0; i < rows; i++)
	{
		int			size = VARBITTOTALLEN(cols);
		VarBit	   *b;

		CHECK_FOR_INTERRUPTS();
		StRowFloats(&t, name_text, StReaderNext(&r), i, cols, x);
		oldcxt = MemoryContextSwitchTo(rowcxt);
		b = (VarBit *) palloc0(size);
		SET_VARSIZE(b, size);
		VARBITLEN(b) = (int) cols;
		rsr_st_binary_row(x, cols, VARBITS(b));
		StPutRow(rsinfo, 2, (int32) i, PointerGetDatum(b), 0);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}
	StClose(&f);
	MemoryContextDelete(rowcxt);
	return (Datum) 0;
}
