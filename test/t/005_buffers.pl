# 005_buffers.pl - scans under buffer pressure, on 1 to 3 threads, from
# the pages and from the backend's copy.  The page reader remembers the
# buffer each index block was last found in (rsrpages.c, "Recent buffers")
# and tries it first: with shared_buffers far smaller than the indexes,
# every scan evicts the pages the one before read, so most remembered
# buffers hold other pages by the next scan, while rows are inserted and
# deleted, VACUUM compacts blocks, and three indexes alternate; one (tw_w,
# blocks of 9 pages) has blocks cut by the ends of page batches.  Rounds
# run with rsr_vector.threads 1, 2 and 3 (kernel threads over each batch),
# every other one from the backend's copy of the index
# (rsr_vector.scan_cache_size, rsrcache.c).  Every index scan must equal a
# sequential scan of the same snapshot, and the buffer statistics must
# count the index's reads.  It all runs twice: as an extension loaded by
# each backend (the hints in backend memory on PostgreSQL 15 and 16, in a
# segment of the DSM registry from 17), then preloaded (the hints in the
# main shared memory, where each new connection's first scan, and its
# first after each round's changes, tries the buffers the backends before
# it found, now mostly holding other pages).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;

sub run_rounds
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
	jit = off
	shared_buffers = 2MB
	autovacuum = off
	$conf
	});
	$node->start;

	create_rsr_extension($node);
	$node->safe_psql(
		'postgres', layout_sql(q{
	CREATE SEQUENCE ids START 100000;
	CREATE TABLE tb (id int, b bit(1024), t tvec(1000));
	INSERT INTO tb SELECT i, bits(i, 1024)::bit(1024), tern(i, 1000) FROM generate_series(1, 12000) i;
	CREATE INDEX tb_b ON tb USING rsr (b bit_ip_ops) WITH (k = 16);
	CREATE INDEX tb_t ON tb USING rsr (t tvec_ip_ops) WITH (k = 16);
	CREATE TABLE tw (id int, w tvec(9000));
	INSERT INTO tw SELECT i, tern(i, 9000) FROM generate_series(1, 600) i;
	CREATE INDEX tw_w ON tw USING rsr (w tvec_ip_ops) WITH (layout = tile);
	CREATE TABLE queries AS
	SELECT qi, ARRAY(SELECT (sin(qi * 1000 + j) / 2)::real FROM generate_series(1, 1024) j) qb,
		   ARRAY(SELECT (cos(qi * 1000 + j) / 2)::real FROM generate_series(1, 1000) j) qt,
		   ARRAY(SELECT (sin(qi * 77 + j) / 2)::real FROM generate_series(1, 9000) j) qw
	FROM generate_series(1, 6) qi;

	-- Top n of query qi through both indexes and by sequential scans, in the
	-- caller's snapshot; an error if they differ
	CREATE FUNCTION compare_scans(qi int, n int) RETURNS boolean LANGUAGE plpgsql AS $$
	DECLARE
		ib int[]; sb int[]; it int[]; st int[]; iw int[]; sw int[];
	BEGIN
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_bitmapscan', 'off', true);
		SELECT ARRAY(SELECT id FROM tb ORDER BY b <#> q.qb LIMIT n),
			   ARRAY(SELECT id FROM tb ORDER BY t <#> q.qt LIMIT n),
			   ARRAY(SELECT id FROM tw ORDER BY w <#> q.qw LIMIT n)
		INTO ib, it, iw FROM queries q WHERE q.qi = compare_scans.qi;
		PERFORM set_config('enable_seqscan', 'on', true);
		PERFORM set_config('enable_indexscan', 'off', true);
		SELECT ARRAY(SELECT id FROM tb ORDER BY b <#> q.qb LIMIT n),
			   ARRAY(SELECT id FROM tb ORDER BY t <#> q.qt LIMIT n),
			   ARRAY(SELECT id FROM tw ORDER BY w <#> q.qw LIMIT n)
		INTO sb, st, sw FROM queries q WHERE q.qi = compare_scans.qi;
		PERFORM set_config('enable_indexscan', 'on', true);
		IF ib IS DISTINCT FROM sb OR it IS DISTINCT FROM st OR iw IS DISTINCT FROM sw OR
		   cardinality(ib) <> n THEN
			RAISE EXCEPTION 'index and seqscan differ for query %: % / %, % / % and % / %',
				qi, ib, sb, it, st, iw, sw;
		END IF;
		RETURN true;
	END
	$$;
	}));

	my $pages = $node->safe_psql('postgres',
		"SELECT pg_relation_size('tb_b') / 8192 + pg_relation_size('tb_t') / 8192");
	my $wpages = $node->safe_psql('postgres', "SELECT pg_relation_size('tw_w') / 8192");
	cmp_ok($wpages, '>', 128, "$name: tw_w ($wpages pages) takes more than one page batch");
	cmp_ok($pages, '>', 2 * 256, "$name: the indexes ($pages pages) are over twice shared_buffers");

	# Each round's scans run in one session, whose remembered buffers the
	# scans before evicted; between rounds rows are inserted and deleted, and
	# VACUUM compacts blocks
	for my $round (1 .. 6)
	{
		my $threads = 1 + $round % 3;
		my $cache = $round % 2 ? '0' : '64MB';
		my $sql = "SET rsr_vector.threads = $threads; SET rsr_vector.scan_cache_size = '$cache';\n";
		for my $qi (1 .. 6)
		{
			my $n = 1 + ($qi * 7 + $round * 3) % 40;
			$sql .= "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT compare_scans($qi, $n); COMMIT;\n";
		}
		$node->safe_psql('postgres', $sql);
		$node->safe_psql('postgres', q{
	INSERT INTO tb SELECT i, bits(i, 1024)::bit(1024), tern(i, 1000)
	FROM (SELECT nextval('ids')::int i FROM generate_series(1, 150)) s;
	DELETE FROM tb WHERE id % 7 = } . ($round % 7) . q{ AND id < 100000;
	INSERT INTO tw SELECT i, tern(i, 9000) FROM (SELECT nextval('ids')::int i FROM generate_series(1, 10)) s;
	DELETE FROM tw WHERE id % 11 = } . ($round % 11) . q{;
	});
		$node->safe_psql('postgres', 'VACUUM tb') if $round % 2 == 0;
	}
	pass("$name: index scans equal sequential scans with 1, 2 and 3 threads while the remembered buffers go stale");

	# Reads through remembered buffers are counted like others
	$node->safe_psql('postgres', 'SELECT pg_stat_reset()');
	$node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT id FROM tb ORDER BY b <#> (SELECT qb FROM queries WHERE qi = 1) LIMIT 5) s;
	SELECT count(*) FROM (SELECT id FROM tb ORDER BY b <#> (SELECT qb FROM queries WHERE qi = 2) LIMIT 5) s;
	SELECT count(*) FROM (SELECT id FROM tb ORDER BY b <#> (SELECT qb FROM queries WHERE qi = 3) LIMIT 5) s;
	});
	$node->poll_query_until('postgres',
		"SELECT idx_blks_read + idx_blks_hit >= 3 * (pg_relation_size('tb_b') / 8192 - 1)
		 FROM pg_statio_user_indexes WHERE indexrelname = 'tb_b'")
	  or die 'the index reads were not counted';
	pass("$name: the reads through remembered buffers are counted in pg_statio");

	is($node->safe_psql('postgres',
			"SELECT rsr_index_check('tb_b'), rsr_index_check('tb_t'), rsr_index_check('tw_w')"),
		't|t|t', "$name: rsr_index_check passes");
	$node->stop;
	return;
}

run_rounds('buffers', '');
run_rounds('buffers_preloaded', "shared_preload_libraries = 'rsr_vector'");
done_testing();
