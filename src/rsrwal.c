/*-------------------------------------------------------------------------
 *
 * rsrwal.c
 *	  Generic WAL records of changes confined to a few items: the common
 *	  insert of a row into an open tile block.
 *
 * GenericXLog copies every page it is given, and at the end compares the
 * whole copy with the page byte by byte to find what changed (8 kB a page,
 * one or two pages an insert) and copies it back.  Profiled on 4 clients
 * inserting 1024-bit rows (2-core AMD EPYC), that compare was half of the
 * index's CPU per insert.  An insert into an open tile block changes only
 * the items of the block's entries, so an RsrItemLog copies just those
 * items, lets the caller change the copies, and then, in one critical
 * section, finds the changed bytes within the items, writes the copies
 * back and logs one record of the generic resource manager.
 *
 * The record is the one GenericXLogFinish() writes: each page registered
 * with REGBUF_STANDARD (so a full-page image is taken when the checkpoint
 * rules want one) and, as its data, a delta of fragments, each an offset
 * and a length (two OffsetNumbers) and the bytes, which generic_redo()
 * applies in order before it zeroes the page's hole.  The format is
 * generic_xlog.c's own (it has not changed since it appeared in 9.6); the
 * TAP tests run with wal_consistency_checking = 'generic', so that replay
 * checks every such record against the primary's page.  Nothing outside
 * the items changes: the hole stays as the last GenericXLog record left it
 * (zeroed), line pointers and the header's bounds stay.
 *
 * Copyright (c) 2026, rsr_vector developers
 *
 * IDENTIFICATION
 *	  src/rsrwal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/rmgr.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "rsr_index.h"

/* A fragment's header in a generic record's delta: offset, length */
#define FRAGMENT_HEADER	(2 * sizeof(OffsetNumber))

/*
 * Bytes of unchanged data between two changes below which one fragment
 * covers both (a fragment header costs as much)
 */
#define MERGE_GAP		FRAGMENT_HEADER

/* Copies of every item of the pages (at most the pages' bytes) */
static char *itemCopies = NULL;

/* The deltas, one per page: a fragment per changed byte at worst */
#define DELTA_CAP		(BLCKSZ * (1 + FRAGMENT_HEADER))
static char *deltas = NULL;

/* Start a record of changes to items of up to RSR_ITEM_LOG_PAGES pages */
void
RsrItemLogBegin(RsrItemLog *log, Relation index)
{
	if (itemCopies == NULL)
	{
		itemCopies = MemoryContextAlloc(TopMemoryContext,
										RSR_ITEM_LOG_PAGES * BLCKSZ);
		deltas = MemoryContextAlloc(TopMemoryContext,
									RSR_ITEM_LOG_PAGES * DELTA_CAP);
	}
	log->index = index;
	log->npages = 0;
	log->nitems = 0;
	log->used = 0;
}

/*
 * A copy of the item at `itemid` on page `page` of the record (0.., in the
 * order the pages were added; a new number adds the exclusively locked
 * buffer), which the caller changes instead of the page
 */
char *
RsrItemLogItem(RsrItemLog *log, int page, Buffer buf, ItemId itemid)
{
	Page		p = BufferGetPage(buf);
	RsrLoggedItem *it;
	Size		len = ItemIdGetLength(itemid);

	Assert(page <= log->npages && page < RSR_ITEM_LOG_PAGES);
	if (page == log->npages)
		log->bufs[log->npages++] = buf;
	Assert(log->bufs[page] == buf);
	if (log->nitems == RSR_ITEM_LOG_ITEMS ||
		log->used + len > RSR_ITEM_LOG_PAGES * BLCKSZ)
		elog(ERROR, "too many rsr index items in one record");
	it = &log->items[log->nitems++];
	it->page = page;
	it->offset = ItemIdGetOffset(itemid);
	it->len = len;
	it->copy = itemCopies + log->used;
	log->used += MAXALIGN(len);
	memcpy(it->copy, (char *) p + it->offset, len);
	return it->copy;
}

/*
 * Append to `delta` the fragments where `cur` (the page's bytes from
 * `offset` on) and `next` differ over len bytes; the new delta length
 */
static Size
ItemDelta(char *delta, Size dlen, const char *cur, const char *next,
		  Size len, uint32 offset)
{
	Size		i = 0;

	while (i < len)
	{
		Size		start;
		Size		end;
		OffsetNumber o;
		OffsetNumber l;

		/* equal words, then equal bytes */
		while (i + sizeof(uint64) <= len)
		{
			uint64		a;
			uint64		b;

			memcpy(&a, cur + i, sizeof(a));
			memcpy(&b, next + i, sizeof(b));
			if (a != b)
				break;
			i += sizeof(uint64);
		}
		while (i < len && cur[i] == next[i])
			i++;
		if (i == len)
			break;

		/* a change: extend over changes closer than MERGE_GAP */
		start = i;
		end = ++i;
		while (i < len && i - end <= MERGE_GAP)
		{
			if (cur[i] != next[i])
				end = i + 1;
			i++;
		}
		i = end;
		o = (OffsetNumber) (offset + start);
		l = (OffsetNumber) (end - start);
		memcpy(delta + dlen, &o, sizeof(o));
		memcpy(delta + dlen + sizeof(o), &l, sizeof(l));
		memcpy(delta + dlen + FRAGMENT_HEADER, next + start, l);
		dlen += FRAGMENT_HEADER + l;
	}
	return dlen;
}

/*
 * Write the changed copies back into their pages and log them in one
 * generic record (none for an index that is not WAL-logged); the pages
 * stay locked
 */
void
RsrItemLogFinish(RsrItemLog *log)
{
	Size		dlens[RSR_ITEM_LOG_PAGES] = {0};
	int			i;

	START_CRIT_SECTION();
	for (i = 0; i < log->nitems; i++)
	{
		RsrLoggedItem *it = &log->items[i];
		char	   *page = (char *) BufferGetPage(log->bufs[it->page]);

		dlens[it->page] = ItemDelta(deltas + (Size) it->page * DELTA_CAP,
									dlens[it->page], page + it->offset,
									it->copy, it->len, it->offset);
		memcpy(page + it->offset, it->copy, it->len);
	}
	for (i = 0; i < log->npages; i++)
		MarkBufferDirty(log->bufs[i]);
	if (RelationNeedsWAL(log->index))
	{
		XLogRecPtr	lsn;

		XLogBeginInsert();
		for (i = 0; i < log->npages; i++)
		{
			XLogRegisterBuffer(i, log->bufs[i], REGBUF_STANDARD);
			XLogRegisterBufData(i, deltas + (Size) i * DELTA_CAP, dlens[i]);
		}
		lsn = XLogInsert(RM_GENERIC_ID, 0);
		for (i = 0; i < log->npages; i++)
			PageSetLSN(BufferGetPage(log->bufs[i]), lsn);
	}
	END_CRIT_SECTION();
}
