# 001_wal.pl - WAL replay of rsr indexes: a streaming standby returns the
# same ordered results as the primary after the build, inserts, deletes,
# VACUUM and updates, and its copy of each index passes rsr_index_check().
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# Plans with disabled scan types look expensive: keep JIT out of the way
# Replay checks every generic record against the primary's page
# (rsrwal.c writes some of them by hand)
$primary->append_conf('postgresql.conf', qq{
jit = off
wal_consistency_checking = 'generic'
});
$primary->start;
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

create_rsr_extension($primary);

# Binary rows from md5 bits, ternary rows from hashes; wide
# ternary rows need several pages per block of rows (column ranges)
$primary->safe_psql(
	'postgres', layout_sql(q{
CREATE TABLE tst (id int, b bit(200), t tvec(100));
CREATE TABLE wide (id int, t tvec(12000));
CREATE TABLE queries (qi int, q200 real[], q100 real[], q12000 real[]);
INSERT INTO queries
SELECT qi,
	   ARRAY(SELECT (sin(qi * 1000 + j) / 2)::real FROM generate_series(1, 200) j),
	   ARRAY(SELECT (cos(qi * 1000 + j) / 2)::real FROM generate_series(1, 100) j),
	   ARRAY(SELECT (sin(qi * 7 + j * 0.37))::real FROM generate_series(1, 12000) j)
FROM generate_series(1, 4) qi;
INSERT INTO tst SELECT i, bits(i, 200)::bit(200), tern(i, 100) FROM generate_series(1, 1000) i;
INSERT INTO wide SELECT i, tern(i, 12000) FROM generate_series(1, 20) i;
CREATE INDEX tst_b ON tst USING rsr (b bit_ip_ops) WITH (k = 8);
CREATE INDEX tst_t ON tst USING rsr (t tvec_ip_ops) WITH (k = 5, layout = perm);
CREATE INDEX wide_t ON wide USING rsr (t tvec_ip_ops) WITH (k = 16);
}));

# Top ids per query, through the indexes (or a sequential scan)
my $top = q{
SELECT qi,
	   ARRAY(SELECT id FROM tst ORDER BY b <#> q200 LIMIT 15),
	   ARRAY(SELECT id FROM tst ORDER BY t <#> q100 LIMIT 15),
	   ARRAY(SELECT id FROM wide ORDER BY t <#> q12000 LIMIT 5)
FROM queries ORDER BY qi;
};
my $by_index = "SET enable_seqscan = off; SET enable_bitmapscan = off; $top";
my $by_seqscan = "SET enable_indexscan = off; SET enable_bitmapscan = off; $top";
my $explain = "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $top";
my $checks =
  "SELECT rsr_index_check('tst_b'), rsr_index_check('tst_t'), rsr_index_check('wide_t')";

like($primary->safe_psql('postgres', $explain),
	qr/Index Scan using wide_t/, 'queries use the indexes');

# Compare the standby with the primary, and the primary with a seqscan
sub check_replay
{
	my ($name) = @_;

	$primary->wait_for_catchup($standby);
	my $primary_result = $primary->safe_psql('postgres', $by_index);
	my $standby_result = $standby->safe_psql('postgres', $by_index);
	my $seqscan_result = $primary->safe_psql('postgres', $by_seqscan);

	is($standby_result, $primary_result, "$name: standby = primary");
	is($primary_result, $seqscan_result, "$name: index = seqscan");
	is($standby->safe_psql('postgres', $checks),
		't|t|t', "$name: standby indexes pass rsr_index_check");
	return;
}

check_replay('build');

$primary->safe_psql('postgres',
	q{INSERT INTO tst SELECT i, bits(i, 200)::bit(200), tern(i, 100) FROM generate_series(1001, 1400) i;
	  INSERT INTO wide SELECT i, tern(i, 12000) FROM generate_series(21, 37) i;});
check_replay('insert');

$primary->safe_psql('postgres',
	q{DELETE FROM tst WHERE id % 4 = 1; DELETE FROM wide WHERE id % 3 = 0; VACUUM tst; VACUUM wide;});
check_replay('delete and vacuum');

$primary->safe_psql('postgres',
	q{UPDATE tst SET b = ~b, t = tern(id + 5000, 100) WHERE id % 7 = 0;
	  INSERT INTO tst SELECT i, bits(i, 200)::bit(200), tern(i, 100) FROM generate_series(2001, 2050) i;
	  INSERT INTO wide SELECT i, tern(i, 12000) FROM generate_series(38, 40) i;});
check_replay('update and insert');

$primary->safe_psql('postgres', q{VACUUM FULL tst; REINDEX INDEX wide_t;});
check_replay('vacuum full and reindex');

done_testing();
