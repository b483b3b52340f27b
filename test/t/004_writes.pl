# 004_writes.pl - concurrent inserts and a reclaiming VACUUM: four pgbench
# sessions insert while others delete, run ordered index scans compared
# with a sequential scan inside one repeatable-read snapshot, and VACUUM
# in a loop; then a backend is killed (-9) while VACUUM reclaims blocks,
# and after recovery the indexes are checked and the results compared with
# a sequential scan, on the primary and on a streaming standby.  The
# indexes cover the layouts: buckets (tst_b, tst_t, tst_w), tiles whose
# blocks span two pages (tst_c, 1024 bits: VACUUM compacts them) and tiles
# whose blocks span many (tst_v, 9000 ternary: VACUUM retires the dead ones
# and new blocks take them over).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;
use IPC::Run;

my $primary = PostgreSQL::Test::Cluster->new('writes');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
wal_consistency_checking = 'generic'
jit = off
max_connections = 40
shared_buffers = 64MB
restart_after_crash = on
autovacuum = off
});
$primary->start;
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('writes_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

create_rsr_extension($primary);
$primary->safe_psql(
	'postgres', layout_sql(q{
CREATE SEQUENCE ids START 100000;
CREATE TABLE tst (id int, b bit(256), t tvec(300), w tvec(9000), c bit(1024));
CREATE TABLE queries (qi int, q256 real[], q300 real[], q9000 real[], q1024 real[]);
INSERT INTO queries
SELECT qi,
	   ARRAY(SELECT (sin(qi * 1000 + j) / 2)::real FROM generate_series(1, 256) j),
	   ARRAY(SELECT (cos(qi * 1000 + j) / 2)::real FROM generate_series(1, 300) j),
	   ARRAY(SELECT (sin(qi * 77 + j) / 2)::real FROM generate_series(1, 9000) j),
	   ARRAY(SELECT (cos(qi * 31 + j) / 2)::real FROM generate_series(1, 1024) j)
FROM generate_series(1, 6) qi;
INSERT INTO tst
SELECT i, bits(i, 256)::bit(256), tern(i, 300), tern(i, 9000),
	   bits(i, 1024)::bit(1024)
FROM generate_series(1, 1500) i;
CREATE INDEX tst_b ON tst USING rsr (b bit_ip_ops) WITH (k = 8);
CREATE INDEX tst_t ON tst USING rsr (t tvec_ip_ops) WITH (k = 5);
CREATE INDEX tst_w ON tst USING rsr (w tvec_ip_ops) WITH (k = 12);
CREATE INDEX tst_c ON tst USING rsr (c bit_ip_ops);
CREATE INDEX tst_v ON tst USING rsr (w tvec_ip_ops) WITH (layout = tile);

-- Top n of query qi by each index and by a sequential scan, in one
-- snapshot (the caller runs it in a repeatable-read transaction)
CREATE FUNCTION compare_scans(qi int, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ib int[]; sb int[]; it int[]; st int[]; iw int[]; sw int[]; ic int[]; sc int[];
	cc int[]; cw int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tst ORDER BY b <#> q.q256 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY t <#> q.q300 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY w <#> q.q9000 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY c <#> q.q1024 LIMIT n)
	INTO ib, it, iw, ic FROM queries q WHERE q.qi = compare_scans.qi;
	-- the tile indexes again, from the backend's copy (rsrcache.c)
	PERFORM set_config('rsr_vector.scan_cache_size', '32MB', true);
	SELECT ARRAY(SELECT id FROM tst ORDER BY c <#> q.q1024 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY w <#> q.q9000 LIMIT n)
	INTO cc, cw FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('rsr_vector.scan_cache_size', '0', true);
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tst ORDER BY b <#> q.q256 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY t <#> q.q300 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY w <#> q.q9000 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY c <#> q.q1024 LIMIT n)
	INTO sb, st, sw, sc FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('enable_indexscan', 'on', true);
	IF ib IS DISTINCT FROM sb OR it IS DISTINCT FROM st OR
	   iw IS DISTINCT FROM sw OR ic IS DISTINCT FROM sc OR cardinality(ib) <> n THEN
		RAISE EXCEPTION 'index and seqscan differ for query %: % / %, % / %, % / %, % / %',
			qi, ib, sb, it, st, iw, sw, ic, sc;
	END IF;
	IF cc IS DISTINCT FROM sc OR cw IS DISTINCT FROM sw THEN
		RAISE EXCEPTION 'the copy of the index and seqscan differ for query %: % / %, % / %',
			qi, cc, sc, cw, sw;
	END IF;
	RETURN true;
END
$$;
}));

my $checks = "SELECT rsr_index_check('tst_b'), rsr_index_check('tst_t'), "
  . "rsr_index_check('tst_w'), rsr_index_check('tst_c'), rsr_index_check('tst_v')";
my $top = q{
SELECT qi,
	   ARRAY(SELECT id FROM tst ORDER BY b <#> q256 LIMIT 20),
	   ARRAY(SELECT id FROM tst ORDER BY t <#> q300 LIMIT 20),
	   ARRAY(SELECT id FROM tst ORDER BY w <#> q9000 LIMIT 20),
	   ARRAY(SELECT id FROM tst ORDER BY c <#> q1024 LIMIT 20)
FROM queries ORDER BY qi;
};
my $by_index = "SET enable_seqscan = off; SET enable_bitmapscan = off; $top";
my $by_seqscan = "SET enable_indexscan = off; $top";

# Indexes consistent and exact on the primary, and the standby the same
sub check_exact
{
	my ($name) = @_;

	is($primary->safe_psql('postgres', $checks), 't|t|t|t|t', "$name: rsr_index_check");
	my $result = $primary->safe_psql('postgres', $by_index);
	is($result, $primary->safe_psql('postgres', $by_seqscan), "$name: index = seqscan");
	$primary->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', $by_index), $result, "$name: standby = primary");
	is($standby->safe_psql('postgres', $checks), 't|t|t|t|t',
		"$name: standby rsr_index_check");
	return;
}

# Four inserting sessions, in the background
my $insert = $primary->basedir . '/insert.sql';
append_to_file($insert, q{
SELECT nextval('ids') AS id \gset
INSERT INTO tst VALUES (:id, bits(:id, 256)::bit(256), tern(:id, 300), tern(:id, 9000),
	bits(:id, 1024)::bit(1024));
});
my ($iout, $ierr) = ('', '');
my $inserters = IPC::Run::start(
	[
		'pgbench', '--no-vacuum', '--client=4', '--jobs=2',
		'--transactions=150', '--file=' . $insert,
		'--host=' . $primary->host, '--port=' . $primary->port, 'postgres'
	],
	'>', \$iout, '2>', \$ierr);

# Meanwhile deletes, compared scans and VACUUM in a loop
$primary->pgbench(
	'--no-vacuum --client=4 --jobs=2 --transactions=40',
	0,
	[qr{processed: 160/160}],
	[qr{^$}],
	'deletes, compared scans and vacuum among four inserting sessions',
	{
		'delete@3' => q{
\set id random(1, 1500)
DELETE FROM tst WHERE id = :id OR id = :id + 100000;
},
		'delrange@1' => q{
\set id random(100000, 100600)
DELETE FROM tst WHERE id BETWEEN :id AND :id + 127;
},
		'query@4' => q{
\set qi random(1, 6)
\set n random(1, 40)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT compare_scans(:qi, :n);
COMMIT;
},
		'vacuum@2' => q{
VACUUM tst;
}
	});
$inserters->finish;
like($iout, qr{processed: 600/600}, 'four sessions inserted every row');

$primary->safe_psql('postgres', 'VACUUM tst');
check_exact('after concurrent inserts, deletes, scans and vacuum');

# Reclaiming brought pages back for inserts
$primary->safe_psql('postgres', q{
DELETE FROM tst WHERE id % 3 <> 0;
VACUUM tst;
});
ok( $primary->safe_psql('postgres',
		"SELECT (rsr_index_info('tst_b')->>'free_pages')::int > 0"),
	'vacuum records free pages');
is( $primary->safe_psql('postgres',
		"SELECT (rsr_index_info('tst_c')->>'dead_rows')::int < 200"),
	't', 'vacuum compacts tile blocks that span pages');
check_exact('after deleting two thirds and vacuum');

# Kill -9 the backend of a VACUUM while it reclaims: many blocks to
# reclaim, and a cost delay that makes it take a while
$primary->safe_psql('postgres', q{
INSERT INTO tst
SELECT i, bits(i, 256)::bit(256), tern(i, 300), tern(i, 9000),
	   bits(i, 1024)::bit(1024)
FROM generate_series(200001, 201500) i;
DELETE FROM tst WHERE id % 2 = 0 OR id BETWEEN 200001 AND 200800;
});
my $vacuum = $primary->basedir . '/vacuum.sql';
append_to_file($vacuum, q{
SET vacuum_cost_delay = 20;
SET vacuum_cost_limit = 1;
VACUUM tst;
});
my $vacuumer = IPC::Run::start(
	[
		'psql', '-X', '-f', $vacuum, '--host=' . $primary->host,
		'--port=' . $primary->port, 'postgres'
	],
	'>', \my $vout, '2>', \my $verr);
$primary->poll_query_until('postgres', q{
SELECT count(*) > 0 FROM pg_stat_progress_vacuum
WHERE phase = 'vacuuming indexes'})
  or die 'vacuum did not reach its index phase';
sleep(1);
my $pid = $primary->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_progress_vacuum LIMIT 1});
ok($pid =~ /^\d+$/, 'found the vacuuming backend');
kill 'KILL', $pid;
$vacuumer->finish;
$primary->poll_query_until('postgres', 'SELECT true')
  or die 'server did not come back';
like(slurp_file($primary->logfile), qr/terminated by signal 9/,
	'vacuum backend was killed');
check_exact('after a crash in a reclaiming vacuum');

# The recovered index vacuums, reuses its pages and takes new rows.  Every
# row above id 1000 is deleted first: the blocks of tst_v (on many pages)
# holding only such rows (the build's last 15 at least: no row moves to
# another block) are retired, and new rows take them over or fill the
# slots of dead rows in its other blocks: its free slots (dead rows, 32
# per retired block) go down by most of the rows (the others go to the
# free rows of the slot's open block), and it does not grow
$primary->safe_psql('postgres', 'DELETE FROM tst WHERE id > 1000');
$primary->safe_psql('postgres', 'VACUUM tst');
my $info = q{SELECT (rsr_index_info('tst_v')->>'retired_blocks')::int,
	(rsr_index_info('tst_v')->>'dead_rows')::int, pg_relation_size('tst_v')};
my ($retired, $dead, $size) = split /\|/, $primary->safe_psql('postgres', $info);
cmp_ok($retired, '>=', 15, 'vacuum retires the dead blocks on many pages');
$primary->safe_psql('postgres', q{
INSERT INTO tst
SELECT i, bits(i, 256)::bit(256), tern(i, 300), tern(i, 9000),
	   bits(i, 1024)::bit(1024)
FROM generate_series(300001, 300500) i;
});
my ($retired2, $dead2, $size2) = split /\|/, $primary->safe_psql('postgres', $info);
note("tst_v: $retired retired blocks and $dead dead rows before 500 inserts, "
	  . "$retired2 and $dead2 after");
cmp_ok($dead + 32 * $retired - ($dead2 + 32 * $retired2), '>=', 400,
	'new rows take retired blocks over and fill dead rows');
is($size2, $size, 'the index does not grow while free slots are left');
check_exact('after vacuum and inserts past the crash');

$standby->stop;
$primary->stop;
done_testing();
