# 002_crash.pl - crash recovery of rsr indexes: kill -9 a backend while
# several sessions insert (and one builds an index), let the postmaster
# restart and replay WAL, then check every index against its heap and the
# ordered results against a sequential scan, and keep inserting.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
wal_consistency_checking = 'generic'
jit = off
restart_after_crash = on
checkpoint_timeout = 1h
});
$node->start;

create_rsr_extension($node);
$node->safe_psql(
	'postgres', layout_sql(q{
CREATE SEQUENCE ids;
CREATE TABLE tst (id int, b bit(256), t tvec(9000));
CREATE TABLE queries (qi int, q256 real[], q9000 real[]);
INSERT INTO queries
SELECT qi,
	   ARRAY(SELECT (sin(qi * 1000 + j) / 2)::real FROM generate_series(1, 256) j),
	   ARRAY(SELECT (cos(qi * 1000 + j) / 2)::real FROM generate_series(1, 9000) j)
FROM generate_series(1, 3) qi;
INSERT INTO tst SELECT i, bits(i, 256)::bit(256), tern(i, 9000) FROM generate_series(1, 300) i;
SELECT setval('ids', 300);
CREATE INDEX tst_b ON tst USING rsr (b bit_ip_ops) WITH (k = 4);
CREATE INDEX tst_t ON tst USING rsr (t tvec_ip_ops) WITH (k = 12);
CHECKPOINT;
}));

# Inserting sessions: one row per transaction, so the tails are rebuilt
# and new blocks started again and again while the backend dies
my $script = $node->basedir . '/insert.sql';
append_to_file($script, q{
SELECT nextval('ids') AS id \gset
INSERT INTO tst VALUES (:id, bits(:id, 256)::bit(256), tern(:id, 9000));
});

# A session building an index when the crash comes
my $build = $node->basedir . '/build.sql';
append_to_file($build, layout_sql(q{
SELECT pg_sleep(0.5);
CREATE INDEX tst_b_build ON tst USING rsr (b bit_ip_ops) WITH (k = 2);
}));

my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '--no-vacuum', '--client=4', '--jobs=2', '--time=30',
		'--file=' . $script, '--host=' . $node->host,
		'--port=' . $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err);
my $builder = IPC::Run::start(
	[
		'psql', '-X', '-f', $build, '--host=' . $node->host,
		'--port=' . $node->port, 'postgres'
	],
	'>', \my $bout, '2>', \my $berr);

# Wait until rows are flowing, then kill one inserting backend
$node->poll_query_until('postgres', "SELECT count(*) > 400 FROM tst")
  or die "inserts did not start";
my $pid = $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity
WHERE query LIKE 'INSERT INTO tst%' AND pid <> pg_backend_pid() LIMIT 1});
ok($pid =~ /^\d+$/, 'found an inserting backend');
kill 'KILL', $pid;

# The postmaster restarts everyone; pgbench and the build fail
$pgbench->finish;
$builder->finish;
$node->poll_query_until('postgres', 'SELECT true')
  or die "server did not come back";
like(slurp_file($node->logfile),
	qr/terminated by signal 9/, 'backend was killed');

# The build was either rolled back or committed whole
my $built = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_class WHERE relname = 'tst_b_build'});
if ($built eq '1')
{
	is($node->safe_psql('postgres', "SELECT rsr_index_check('tst_b_build')"),
		't', 'index built before the crash is consistent');
}
else
{
	is($built, '0', 'interrupted build left no index');
}

my $checks = "SELECT rsr_index_check('tst_b'), rsr_index_check('tst_t')";
my $top = q{
SELECT qi,
	   ARRAY(SELECT id FROM tst ORDER BY b <#> q256 LIMIT 20),
	   ARRAY(SELECT id FROM tst ORDER BY t <#> q9000 LIMIT 20)
FROM queries ORDER BY qi;
};

# After recovery: indexes consistent, results exact
sub check_exact
{
	my ($name) = @_;

	is($node->safe_psql('postgres', $checks), 't|t', "$name: rsr_index_check");
	is( $node->safe_psql(
			'postgres',
			"SET enable_seqscan = off; SET enable_bitmapscan = off; $top"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; $top"),
		"$name: index = seqscan");
	return;
}
check_exact('after crash recovery');

# The recovered tails take new rows
$node->safe_psql('postgres', q{
INSERT INTO tst SELECT i, bits(i, 256)::bit(256), tern(i, 9000)
FROM generate_series(100001, 100023) i;
DELETE FROM tst WHERE id % 5 = 0;
VACUUM tst;
});
check_exact('after more inserts and vacuum');

# A second crash, this time of the whole server (immediate stop)
$node->stop('immediate');
$node->start;
check_exact('after immediate restart');

$node->stop;
done_testing();
