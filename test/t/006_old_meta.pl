# 006_old_meta.pl - an index whose metapage predates openCounted (the
# per-slot counts that let inserts in place share the metapage; the format
# version stayed 2, rsrinsert.c "Counting").  Such a metapage ends before
# the field (pd_lower) and holds zeros there, which means "every row of
# the open blocks is counted".  The test makes one by rewriting the
# metapage of a fresh index on disk, then inserts from four sessions,
# deletes and vacuums, and checks the counts, the index against a
# sequential scan and rsr_index_check, on the primary and on a streaming
# standby (GenericXLog logs only the bytes below pd_lower and above
# pd_upper: the first count written must extend pd_lower, or the standby
# would miss it).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;

# Layout of the metapage (src/rsr_index.h): page header 24 bytes, then
# RsrMetaPageData, whose last fields are openCounted[4] (uint32) and
# nretired (uint64), added after the format's version 2 was out
my $new_lower = 24 + 3144 + 16 + 8;
my $old_lower = 24 + 3144;

my $primary = PostgreSQL::Test::Cluster->new('old_meta');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
jit = off
autovacuum = off
max_connections = 20
});
$primary->start;

create_rsr_extension($primary);
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION pageinspect;
CREATE SEQUENCE ids START 100000;
CREATE TABLE tc (id int, c bit(1024));
INSERT INTO tc SELECT i, bits(i, 1024)::bit(1024) FROM generate_series(1, 1000) i;
CREATE INDEX tc_c ON tc USING rsr (c bit_ip_ops) WITH (layout = tile);
CREATE TABLE queries AS
SELECT qi, ARRAY(SELECT (cos(qi * 31 + j) / 2)::real FROM generate_series(1, 1024) j) q
FROM generate_series(1, 6) qi;

-- Top n of query qi by the index and by a sequential scan, in one
-- snapshot; an error if they differ
CREATE FUNCTION compare_scans(qi int, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	i int[]; s int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tc ORDER BY c <#> q.q LIMIT n) INTO i
	FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tc ORDER BY c <#> q.q LIMIT n) INTO s
	FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('enable_indexscan', 'on', true);
	IF i IS DISTINCT FROM s OR cardinality(i) <> n THEN
		RAISE EXCEPTION 'index and seqscan differ for query %: % / %', qi, i, s;
	END IF;
	RETURN true;
END
$$;
});

is($primary->safe_psql('postgres',
		"SELECT lower FROM page_header(get_raw_page('tc_c', 0))"),
	$new_lower, 'a new metapage ends after its last field');

# Rewrite the metapage as an index made before openCounted left it
my $path = $primary->data_dir . '/'
  . $primary->safe_psql('postgres', "SELECT pg_relation_filepath('tc_c')");
my $checksums = $primary->safe_psql('postgres', 'SHOW data_checksums');
$primary->stop;

# A page rewritten here would fail its checksum (initdb enables them from
# PostgreSQL 18): turn them off first
system_or_bail('pg_checksums', '--disable', '-D', $primary->data_dir)
  if $checksums eq 'on';
open(my $fh, '+<:raw', $path) or die "open $path: $!";
my $page;
sysread($fh, $page, 8192) == 8192 or die "read $path: $!";
substr($page, 12, 2) = pack('v', $old_lower);
substr($page, $old_lower, 24) = "\0" x 24;
sysseek($fh, 0, 0);
syswrite($fh, $page) == 8192 or die "write $path: $!";
close($fh);
$primary->start;
is($primary->safe_psql('postgres',
		"SELECT lower FROM page_header(get_raw_page('tc_c', 0))"),
	$old_lower, 'the metapage now ends before openCounted');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('old_meta_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# Four sessions insert (the first insert of each slot starts its counts)
$primary->pgbench(
	'--no-vacuum --client=4 --jobs=2 --transactions=150',
	0, [qr{processed: 600/600}], [qr{^$}], 'four sessions insert',
	{
		'insert' => q{
SELECT nextval('ids') AS id \gset
INSERT INTO tc VALUES (:id, bits(:id, 1024)::bit(1024));
}
	});

# The index's live rows, the table's rows and rsr_index_check: the first
# two must be equal (a failure shows both)
my $counts = "SELECT (rsr_index_info('tc_c')->>'live_rows')::bigint, count(*), "
  . "rsr_index_check('tc_c') FROM tc";
sub counts_ok
{
	my ($node, $name) = @_;
	my $got = $node->safe_psql('postgres', $counts);
	my ($live, $rows) = split(/\|/, $got);
	is($got, "$rows|$rows|t", $name);
	return;
}
counts_ok($primary, 'counts and check after the inserts');
ok($primary->safe_psql('postgres',
		"SELECT lower FROM page_header(get_raw_page('tc_c', 0))") >= $new_lower,
	'the first count extended pd_lower over openCounted');

$primary->safe_psql('postgres', q{
DELETE FROM tc WHERE id % 3 = 0;
VACUUM tc;
INSERT INTO tc SELECT i, bits(i, 1024)::bit(1024)
FROM (SELECT nextval('ids')::int i FROM generate_series(1, 300)) s;
});
counts_ok($primary, 'counts and check after delete, VACUUM and insert');

my $compare = join('',
	map { "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT compare_scans($_, " . (5 * $_) . "); COMMIT;\n" }
	  (1 .. 6));
$primary->safe_psql('postgres', $compare);
pass('index scans equal sequential scans on the primary');

$primary->wait_for_catchup($standby);
counts_ok($standby, 'the standby counts the same rows');
is($standby->safe_psql('postgres', "SELECT rsr_index_info('tc_c')->>'rows'"),
	$primary->safe_psql('postgres', "SELECT rsr_index_info('tc_c')->>'rows'"),
	'the standby and the primary hold the same rows');
$standby->safe_psql('postgres', $compare);
pass('index scans equal sequential scans on the standby');

$standby->stop;
$primary->stop;
done_testing();
