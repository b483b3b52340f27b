# RsrTest.pm - what the TAP tests share: the extension, the SQL functions
# that make deterministic test rows, the layout under test and the GPU
# worker's state.
#
# bits(seed, n) gives n bits drawn from md5, tern(seed, n) n ternary values
# drawn from hashint8: the same seed always gives the same row, so a test
# can rebuild any expected value in SQL.
package RsrTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(create_rsr_extension gpu_worker_node gpu_status layout_sql);

# The layout under test (test/run.sh runs the index tests once per layout):
# RSR_TEST_LAYOUT tile (the default), perm or bucket.  Every psql and
# pgbench of the test gets it as rsr_vector.default_layout, which indexes
# without a layout option obey.
our $layout = $ENV{RSR_TEST_LAYOUT} || 'tile';
die "RSR_TEST_LAYOUT must be tile, perm or bucket"
  unless $layout =~ /^(tile|perm|bucket)$/;
$ENV{PGOPTIONS} = join(' ', grep { defined && $_ ne '' } $ENV{PGOPTIONS},
	"-c rsr_vector.default_layout=$layout");

# SQL for the layout under test: `WITH (k = n)` (a block height for perm
# and bucket) is dropped for tile, whose blocks are always 32 rows
sub layout_sql
{
	my ($sql) = @_;
	$sql =~ s/ WITH \(k = \d+\)//g if $layout eq 'tile';
	return $sql;
}

# Create the extension and the row functions in database $db (postgres)
sub create_rsr_extension
{
	my ($node, $db) = @_;
	$node->safe_psql(
		$db // 'postgres', q{
CREATE EXTENSION rsr_vector;
CREATE FUNCTION bits(seed int, n int) RETURNS varbit LANGUAGE sql IMMUTABLE AS $$
	SELECT string_agg(('x' || md5(seed || ':' || j))::bit(128)::text, '')::varbit
	FROM generate_series(0, (n - 1) / 128) j
$$;
CREATE FUNCTION tern(seed int, n int) RETURNS tvec LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg((hashint8(seed::bigint * 65537 + j) & 1073741823) % 3 - 1)::tvec
	FROM generate_series(1, n) j
$$;
});
	return;
}

# A started server with the GPU worker on engine $engine (cpu or cuda) and
# the postgresql.conf lines $conf
sub gpu_worker_node
{
	my ($name, $engine, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'rsr_vector'
rsr_vector.gpu_worker = on
rsr_vector.gpu_worker_engine = $engine
$conf
});
	$node->start;
	return $node;
}

# The GPU worker's state: rsr_gpu_status() as a hash of its fields
sub gpu_status
{
	my ($node) = @_;
	my %s;
	my $out = $node->safe_psql('postgres',
		"SELECT key || '=' || value FROM jsonb_each_text(rsr_gpu_status())");
	for my $line (split /\n/, $out)
	{
		my ($k, $v) = split /=/, $line, 2;
		$s{$k} = $v;
	}
	return \%s;
}

1;
