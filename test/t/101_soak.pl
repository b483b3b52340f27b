# 101_soak.pl - concurrent writers, index readers and VACUUM on one rsr
# index, bounded in time.
#
# 8 pgbench clients insert, update and delete rows (some NULL), 4 clients
# query through the index (enable_seqscan = off) and, in the same
# REPEATABLE READ snapshot, compare each answer with a sequential scan, and
# one client runs VACUUM in a loop; autovacuum runs too.  Afterwards
# rsr_index_check() passes, every query answers like a sequential scan, and
# the server log holds no error other than the expected ones.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dims = 64;
my $seconds = $ENV{RSR_SOAK_SECONDS} || 60;

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', qq{
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 50
autovacuum_vacuum_scale_factor = 0.05
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION rsr_vector');
if ($node->safe_psql('postgres', "SELECT count(*) FROM pg_am WHERE amname = 'rsr'") eq '0')
{
	$node->stop;
	plan skip_all => 'the rsr index access method is not built yet';
}

# Row r's vector, and query k's vector, as SQL expressions
sub row_sql
{
	my ($r) = @_;
	return "(SELECT array_agg(((hashint4($r * 100 + j) % 3) + 3) % 3 - 1) FROM generate_series(1, $dims) j)::tvec";
}

sub query_sql
{
	my ($k) = @_;
	return "(SELECT array_agg(round(((hashint4($k * 100 + j) % 1000) / 331.0)::numeric, 3)::real ORDER BY j) FROM generate_series(1, $dims) j)";
}

$node->safe_psql('postgres', qq{
	CREATE TABLE items (id serial PRIMARY KEY, v tvec($dims));
	INSERT INTO items (v) SELECT ${\ row_sql('i') } FROM generate_series(1, 3000) i;
	INSERT INTO items (v) SELECT NULL FROM generate_series(1, 100);
	CREATE INDEX items_v ON items USING rsr (v tvec_ip_ops) WITH (k = 8);

	-- Top-n through the index and by a sequential scan in the caller's
	-- snapshot: the same scores, and the same rows except among ties at
	-- the last score
	CREATE FUNCTION soak_check(q real[], n int) RETURNS void
	LANGUAGE plpgsql AS \$\$
	DECLARE
		ix_ids int[];
		ix_scores float8[];
		seq_ids int[];
		seq_scores float8[];
		last float8;
	BEGIN
		PERFORM set_config('enable_seqscan', 'off', true);
		PERFORM set_config('enable_indexscan', 'on', true);
		SELECT array_agg(id), array_agg(s) INTO ix_ids, ix_scores
		FROM (SELECT id, v <#> q AS s FROM items ORDER BY v <#> q LIMIT n) t;
		PERFORM set_config('enable_seqscan', 'on', true);
		PERFORM set_config('enable_indexscan', 'off', true);
		SELECT array_agg(id), array_agg(s) INTO seq_ids, seq_scores
		FROM (SELECT id, v <#> q AS s FROM items ORDER BY v <#> q LIMIT n) t;
		PERFORM set_config('enable_indexscan', 'on', true);
		IF ix_scores IS DISTINCT FROM seq_scores THEN
			RAISE EXCEPTION 'soak mismatch: index scores % sequential scores %', ix_scores, seq_scores;
		END IF;
		last := seq_scores[array_length(seq_scores, 1)];
		IF (SELECT array_agg(i ORDER BY i) FROM unnest(ix_ids, ix_scores) u(i, s) WHERE s < last) IS DISTINCT FROM
		   (SELECT array_agg(i ORDER BY i) FROM unnest(seq_ids, seq_scores) u(i, s) WHERE s < last) THEN
			RAISE EXCEPTION 'soak mismatch: index rows % sequential rows %', ix_ids, seq_ids;
		END IF;
	END
	\$\$;
});

like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> ${\ query_sql(1) } LIMIT 10"),
	qr/Index Scan using items_v/, 'readers go through the index');

my $writer = q{
\set r random(1, 10000000)
\set id random(1, 6000)
\set op random(1, 10)
INSERT INTO items (v) SELECT CASE WHEN :op = 1 THEN NULL ELSE } . row_sql(':r') . q{ END;
UPDATE items SET v = } . row_sql(':r + 1') . q{ WHERE id = :id;
DELETE FROM items WHERE id = :id + 7;
};
my $reader = q{
\set k random(1, 10000000)
\set n random(1, 40)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT soak_check(} . query_sql(':k') . q{, :n);
COMMIT;
};
my $vacuum = q{
VACUUM items;
\sleep 500 ms
};

# Background pgbench runs: readers and VACUUM
my @bg;
for my $b ([ 'reader', $reader, 4 ], [ 'vacuum', $vacuum, 1 ])
{
	my ($name, $script, $clients) = @$b;
	my $file = $node->basedir . "/soak_$name.sql";
	open(my $fh, '>', $file) or die "open $file: $!";
	print $fh $script;
	close($fh);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', $clients, '-j', $clients,
		  '-T', $seconds, '-f', $file, 'postgres' ],
		'>', \$out, '2>', \$err);
	push @bg, [ $name, $h, \$out, \$err ];
}

# Writers in the foreground, for the same time
$node->pgbench("-n -c 8 -j 8 -T $seconds", 0,
	[ qr{processed: [1-9]} ], [ qr{^$} ], 'writers: 8 clients insert, update, delete',
	{ 'soak_writer' => $writer });

for my $b (@bg)
{
	my ($name, $h, $out, $err) = @$b;
	$h->finish;
	is($h->result(0), 0, "$name: pgbench exits cleanly");
	like($$out, qr{processed: [1-9]}, "$name: transactions ran");
	is($$err, '', "$name: no errors (readers: every answer equals a sequential scan)");
	note "$name: " . join(' ', grep { /processed|tps/ } split /\n/, $$out);
}

# Quiet now: the index checks clean and answers like a sequential scan
$node->safe_psql('postgres', 'VACUUM items');
is($node->safe_psql('postgres', "SELECT rsr_index_check('items_v')"), 't', 'rsr_index_check passes');
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
note "rows after the soak: $rows";
my $bad = 0;
for my $k (1 .. 50)
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT soak_check(${\ query_sql($k) }, " . ($k % 3 == 0 ? 1000 : 10) . "); COMMIT;");
	$bad++ if $ret != 0;
	diag $err if $ret != 0;
}
is($bad, 0, '50 queries through the index equal sequential scans');

# The log: no error but the expected ones, no crash.  Read before the
# shutdown, whose "terminating autovacuum process" FATAL is expected.
my $log = slurp_file($node->logfile);
$node->stop;
my @errors = grep { !/canceling autovacuum task/ }
  grep { /(ERROR|FATAL|PANIC):/ } split /\n/, $log;
is(join("\n", @errors), '', 'no unexpected errors in the server log');
unlike($log, qr/terminated by signal/, 'no backend crashed');

done_testing();
