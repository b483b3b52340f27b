# 103_sharding.pl - exact top-n across shards: two shard clusters and a
# coordinator over postgres_fdw.  Each shard runs its own
# ORDER BY v <#> q LIMIT n (pushed down: the server option
# extensions 'rsr_vector' makes <#> shippable), the coordinator orders the
# UNION ALL of the shard answers again.  The result must equal the same
# query on one node holding every row, for tvec and bit(n) columns.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dims = 64;
my $rows = 4000;

# A shard or the coordinator, with the extension
sub new_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION rsr_vector');
	return $node;
}

# SQL for the rows with id % $mod = $rem (all rows when $mod is 1)
sub rows_sql
{
	my ($mod, $rem) = @_;
	return qq{
		INSERT INTO items
		SELECT i,
			   (SELECT array_agg(((hashint4(i * 1000 + j) % 3) + 3) % 3 - 1)
				FROM generate_series(1, $dims) j)::tvec,
			   (SELECT string_agg(CASE WHEN hashint4(i * 7000 + j) % 2 = 0 THEN '1' ELSE '0' END, '')
				FROM generate_series(1, $dims) j)::bit($dims)
		FROM generate_series(1, $rows) i
		WHERE i % $mod = $rem};
}

my $create = "CREATE TABLE items (id int PRIMARY KEY, v tvec($dims), b bit($dims))";

my @shards = (new_node('shard1'), new_node('shard2'));
for my $s (0 .. 1)
{
	$shards[$s]->safe_psql('postgres', $create);
	$shards[$s]->safe_psql('postgres', rows_sql(2, $s));
}

# The coordinator holds every row too, as the single-node reference
my $coord = new_node('coordinator');
$coord->safe_psql('postgres', $create);
$coord->safe_psql('postgres', rows_sql(1, 0));
$coord->safe_psql('postgres', 'CREATE EXTENSION postgres_fdw');
for my $s (0 .. 1)
{
	my $n = $s + 1;
	my $port = $shards[$s]->port;
	my $host = $shards[$s]->host;
	$coord->safe_psql('postgres', qq{
		CREATE SERVER shard$n FOREIGN DATA WRAPPER postgres_fdw
			OPTIONS (host '$host', port '$port', dbname 'postgres',
					 extensions 'rsr_vector', async_capable 'true');
		CREATE USER MAPPING FOR CURRENT_USER SERVER shard$n;
		CREATE FOREIGN TABLE items_s$n (id int, v tvec($dims), b bit($dims))
			SERVER shard$n OPTIONS (table_name 'items');
	});
}

is($coord->safe_psql('postgres',
		'SELECT (SELECT count(*) FROM items_s1) + (SELECT count(*) FROM items_s2)'),
	$rows, 'the shards hold every row once');

# A query vector of reals (seed k), as a literal
sub query
{
	my ($k) = @_;
	return $coord->safe_psql('postgres', qq{
		SELECT array_agg(round(((hashint4($k * 100 + j) % 2000) / 997.0)::numeric, 3)::real ORDER BY j)::text
		FROM generate_series(1, $dims) j});
}

# The recipe: per-shard ORDER BY ... LIMIT, ordered again on the
# coordinator.  OFFSET 0 keeps the UNION ALL a separate subquery, planned as
# an Append (whose foreign scans run asynchronously, all shards at once)
# instead of a Merge Append (which starts the shards one after another).
sub sharded_sql
{
	my ($col, $q, $n) = @_;
	my $key = "$col <#> '$q'::real[]";
	return qq{
		SELECT id, score FROM (
			(SELECT id, $key AS score FROM items_s1 ORDER BY $key, id LIMIT $n)
			UNION ALL
			(SELECT id, $key AS score FROM items_s2 ORDER BY $key, id LIMIT $n)
			OFFSET 0
		) top ORDER BY score, id LIMIT $n};
}

# The index-friendly form: each shard orders by the distance alone (what an
# rsr index provides); rows tied at the last score may be any of them
sub sharded_index_sql
{
	my ($col, $q, $n) = @_;
	my $key = "$col <#> '$q'::real[]";
	return qq{
		SELECT id, score FROM (
			(SELECT id, $key AS score FROM items_s1 ORDER BY $key LIMIT $n)
			UNION ALL
			(SELECT id, $key AS score FROM items_s2 ORDER BY $key LIMIT $n)
			OFFSET 0
		) top ORDER BY score, id LIMIT $n};
}

# Two top-n answers agree: same scores, same rows better than the last score
sub same_topn
{
	my ($x, $y) = @_;
	my @ra = map { [ split /\|/ ] } split /\n/, $x;
	my @rb = map { [ split /\|/ ] } split /\n/, $y;
	return 0 unless @ra == @rb && @ra > 0;
	return 0 if join(',', map { $_->[1] } @ra) ne join(',', map { $_->[1] } @rb);
	my $last = $ra[-1][1];
	my $ids = sub { join(',', sort { $a <=> $b } map { $_->[0] } grep { $_->[1] ne $last } @_) };
	return $ids->(@ra) eq $ids->(@rb);
}

# The same query on one node
sub single_sql
{
	my ($col, $q, $n) = @_;
	my $key = "$col <#> '$q'::real[]";
	return "SELECT id, $key AS score FROM items ORDER BY $key, id LIMIT $n";
}

for my $k (1 .. 3)
{
	my $q = query($k);
	for my $col ('v', 'b')
	{
		for my $n (1, 10, 57)
		{
			my $sharded = $coord->safe_psql('postgres', sharded_sql($col, $q, $n));
			my $single = $coord->safe_psql('postgres', single_sql($col, $q, $n));
			my @lines = split /\n/, $sharded;
			is(scalar(@lines), $n, "query $k, $col, top-$n: $n rows");
			is($sharded, $single, "query $k, $col, top-$n: sharded equals single node");
		}
	}
}

# With rsr indexes on the shards, each shard answers through its index
my $have_index = $coord->safe_psql('postgres', "SELECT count(*) FROM pg_am WHERE amname = 'rsr'") ne '0';
SKIP:
{
	skip 'the rsr index access method is not built yet', 13 unless $have_index;
	for my $s (@shards)
	{
		$s->safe_psql('postgres', qq{
			CREATE INDEX items_v ON items USING rsr (v tvec_ip_ops);
			CREATE INDEX items_b ON items USING rsr (b bit_ip_ops);
			ALTER DATABASE postgres SET enable_seqscan = off;
		});
	}
	my $q = query(1);
	like($shards[0]->safe_psql('postgres',
			"EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '$q'::real[] LIMIT 10"),
		qr/Index Scan using items_v/, 'a shard answers the remote query through its index');
	for my $k (1 .. 3)
	{
		$q = query($k);
		for my $col ('v', 'b')
		{
			for my $n (1, 10)
			{
				ok(same_topn($coord->safe_psql('postgres', sharded_index_sql($col, $q, $n)),
						$coord->safe_psql('postgres', single_sql($col, $q, $n))),
					"query $k, $col, top-$n through the shard indexes: same as single node");
			}
		}
	}
}

# The remote SQL carries ORDER BY and LIMIT, and the shards run concurrently
my $q = query(1);
my $plan = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) ' . sharded_sql('v', $q, 10));
note $plan;
my @remote = ($plan =~ /Remote SQL: (.*)/g);
is(scalar(@remote), 2, 'one remote query per shard');
for my $r (@remote)
{
	like($r, qr/ORDER BY \(v OPERATOR\(public\.<#>\) '\{[^}]*\}'::real\[\]\) ASC NULLS LAST, id ASC NULLS LAST LIMIT 10::bigint$/,
		'remote SQL orders by <#> and limits');
}
like($plan, qr/Async Foreign Scan on public\.items_s1/, 'shard 1 is scanned asynchronously');
like($plan, qr/Async Foreign Scan on public\.items_s2/, 'shard 2 is scanned asynchronously');

# Through a partitioned parent the per-shard LIMIT is not pushed down (PG 15
# plans the LIMIT above the Append); the result is still exact, only slower
$coord->safe_psql('postgres', qq{
	CREATE TABLE items_part (id int, v tvec($dims), b bit($dims)) PARTITION BY HASH (id);
	CREATE FOREIGN TABLE items_p1 PARTITION OF items_part FOR VALUES WITH (MODULUS 2, REMAINDER 0)
		SERVER shard1 OPTIONS (table_name 'items');
	CREATE FOREIGN TABLE items_p2 PARTITION OF items_part FOR VALUES WITH (MODULUS 2, REMAINDER 1)
		SERVER shard2 OPTIONS (table_name 'items');
});
my $part_sql = "SELECT id, v <#> '$q'::real[] AS score FROM items_part ORDER BY 2, id LIMIT 10";
is($coord->safe_psql('postgres', $part_sql),
	$coord->safe_psql('postgres', single_sql('v', $q, 10)),
	'partitioned parent: same top-10');
my $part_plan = $coord->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $part_sql");
note $part_plan;
my @part_remote = ($part_plan =~ /Remote SQL: (.*)/g);
is(scalar(grep { /LIMIT/ } @part_remote), 0, 'partitioned parent: no LIMIT in the remote SQL (PG 15)');

$coord->stop;
$_->stop for @shards;
done_testing();
