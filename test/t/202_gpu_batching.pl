# 202_gpu_batching.pl - the GPU worker batches concurrent requests: many
# clients searching the same indexes at once are scored together, and each
# still gets exactly the answer it gets alone, while index versions change
# under the load and other clients are cancelled in the middle of requests.
#
# The worker runs its requests on the CPU engine
# (rsr_vector.gpu_worker_engine = cpu) unless RSR_GPU_ENGINE=cuda is set.
#
# Every answer (ids and exact scores in order) is recorded by the client
# that got it and compared with the answer of the backend's own CPU path:
# index scans (one query per request, top 10 or top 100) and rsr_topk of
# four queries (one request of several), scored in the same groups.
# The answers stay the same while the load runs because the rows inserted
# then score 0 against every query (zero vectors), far below any top 100:
# the queries are biased upwards (binary) and ternary rows score 0 on
# average, so the top 100 of a query lies several standard deviations
# above 0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use RsrTest;

my $dims     = 128;
my $rows     = 8000;
my $nqueries = 40;
my $clients  = 12;
my $txns     = 30;
my $engine   = $ENV{RSR_GPU_ENGINE} // 'cpu';
my $seed     = 20261124;
srand($seed);
note "seed $seed, worker engine $engine";

my $node = gpu_worker_node('batching', $engine, 'max_connections = 50');
create_rsr_extension($node);

# The worker's state as a hash of rsr_gpu_status() fields
sub status { return gpu_status($node); }

ok( $node->poll_query_until('postgres',
		"SELECT (rsr_gpu_status()->>'ready')::bool"),
	'gpu worker ready');

# Rows from RsrTest's deterministic functions; queries biased upwards
$node->safe_psql(
	'postgres', qq{
CREATE TABLE items (id int PRIMARY KEY, v tvec($dims), b bit($dims));
INSERT INTO items
SELECT i, tern(i, $dims), substring(bits(i, $dims) FROM 1 FOR $dims)::bit($dims)
FROM generate_series(1, $rows) i;
CREATE INDEX items_v ON items USING rsr (v tvec_ip_ops);
CREATE INDEX items_b ON items USING rsr (b bit_ip_ops);
CREATE TABLE queries (qid int PRIMARY KEY, q real[]);
CREATE TABLE expected (qid int, col text, lim int, ids text,
					   PRIMARY KEY (qid, col, lim));
CREATE TABLE answers (qid int, col text, lim int, ids text);

-- ids and scores of the top `lim` rows of column `col` for query `qid`, in order
CREATE FUNCTION topk(col text, qid int, lim int) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
	qv real[];
	r text;
BEGIN
	SELECT q INTO qv FROM queries WHERE queries.qid = topk.qid;
	EXECUTE format('SELECT string_agg(id || '':'' || s, '','' ORDER BY rn) FROM ('
				   'SELECT id, s, row_number() OVER () AS rn FROM ('
				   'SELECT id, %1\$I <#> \$1 AS s FROM items ORDER BY %1\$I <#> \$1 LIMIT %2\$s) t) u',
				   col, lim)
		INTO r USING qv;
	RETURN r;
END \$\$;

-- rsr_topk of queries qid .. qid + 3 at once (one request of several
-- queries): query, id and score of the top 10 rows of each, in order
CREATE FUNCTION multi(idx text, qid int) RETURNS text
LANGUAGE sql AS \$\$
	SELECT string_agg(r.query || ':' || i.id || ':' || r.score, ','
					  ORDER BY r.query, r.score DESC, i.id)
	FROM rsr_topk(idx::regclass,
				  (SELECT array_agg(q ORDER BY qid) FROM queries
				   WHERE queries.qid BETWEEN multi.qid AND multi.qid + 3), 10) r
	JOIN items i ON i.ctid = r.tid
\$\$;
});
my @values;
for my $qid (1 .. $nqueries)
{
	push @values,
	  "($qid, '{"
	  . join(',', map { sprintf('%.3f', rand(1.5) - 0.5) } 1 .. $dims) . "}')";
}
$node->safe_psql('postgres', 'INSERT INTO queries VALUES ' . join(',', @values));

like(
	$node->safe_psql(
		'postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) "
		  . "SELECT id FROM items ORDER BY b <#> (SELECT q FROM queries WHERE qid = 1) LIMIT 10"),
	qr/Index Scan using items_b/,
	'a query taken from the queries table uses the rsr index');

# The answers of the backend's own CPU path: top 10 (one request) and top
# 100 (two requests of growing n on the worker), and rsr_topk of four
# queries (a request of several queries, scored with the others)
$node->safe_psql(
	'postgres', qq{
SET enable_seqscan = off;
SET rsr_vector.device = cpu;
INSERT INTO expected
SELECT qid, col, lim, topk(col, qid, lim)
FROM queries, (VALUES ('v'), ('b')) c(col), (VALUES (10), (100)) l(lim);
INSERT INTO expected
SELECT qid, 'topk_' || col, 10, multi('items_' || col, qid)
FROM queries, (VALUES ('v'), ('b')) c(col) WHERE qid <= $nqueries - 3;
});
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM expected WHERE ids LIKE '%,%'"),
	$nqueries * 4 + ($nqueries - 3) * 2,
	'the cpu path answers every query');

# Index scans with the queries of the table, on the worker
my $script = "$PostgreSQL::Test::Utils::tmp_check/202_scans.sql";
PostgreSQL::Test::Utils::append_to_file(
	$script, qq{
\\set qid random(1, $nqueries)
\\set deep random(0, 4)
\\set lim CASE WHEN :deep = 0 THEN 100 ELSE 10 END
SET enable_seqscan = off;
SET rsr_vector.device = gpu;
INSERT INTO answers VALUES (:qid, 'v', :lim, topk('v', :qid, :lim));
INSERT INTO answers VALUES (:qid, 'b', :lim, topk('b', :qid, :lim));
\\set mq random(1, $nqueries - 3)
\\set mb random(0, 1)
INSERT INTO answers SELECT :mq, 'topk_' || col, 10, multi('items_' || col, :mq)
FROM (SELECT CASE WHEN :mb = 0 THEN 'v' ELSE 'b' END AS col) c;
});

# Clients whose statements are cancelled after 2, 5, 10 or 20 ms: some
# before they reach the worker, some while it reads, scores or answers
# their request, some not at all.  Their settings come with the connection,
# so that only the scans can be cancelled.
my $cancel_sql = "$PostgreSQL::Test::Utils::tmp_check/202_cancel.sql";
my $cancel_text = '';
for my $i (1 .. 150)
{
	my $qid = 1 + int(rand($nqueries));
	my $col = $i % 2 ? 'v' : 'b';
	$cancel_text .= "SELECT topk('$col', $qid, 10) IS NOT NULL;\n";
}
PostgreSQL::Test::Utils::append_to_file($cancel_sql, $cancel_text);
my @timeouts = (2, 5, 10, 20);

my $before = status();
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[
		'pgbench', '--no-vacuum', "--client=$clients", '--jobs=2',
		"--transactions=$txns", '-f', $script,
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$bench_out, '2>', \$bench_err);
my @cancellers;
for my $timeout (@timeouts)
{
	my %c = (out => '', err => '');
	local $ENV{PGOPTIONS} = "-c enable_seqscan=off -c rsr_vector.device=gpu "
	  . "-c statement_timeout=$timeout";
	$c{h} = IPC::Run::start(
		[
			'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0', '-f', $cancel_sql,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$c{out}, '2>', \$c{err});
	push @cancellers, \%c;
}

# New index versions in the middle of the load: the next requests find no
# copy and stream the pages
my $loads_before = status()->{loads};
for my $i (1 .. 4)
{
	usleep(400_000);
	$node->safe_psql('postgres',
		"INSERT INTO items VALUES ($rows + $i, array_fill(0, ARRAY[$dims])::tvec, "
		  . "repeat('0', $dims)::bit($dims))");
}

$bench->finish;
is($?, 0, 'pgbench ran without an error');
like($bench_out, qr{processed: @{[$clients * $txns]}/@{[$clients * $txns]}},
	'every transaction of the load was processed');
my ($cancelled, $completed) = (0, 0);
for my $c (@cancellers)
{
	$c->{h}->finish;
	$cancelled += () = $c->{err} =~ /canceling statement due to statement timeout/g;
	$completed += () = $c->{out} =~ /^t$/mg;
	unlike($c->{err}, qr/ERROR:  (?!canceling statement due to statement timeout)/,
		'cancelled clients see no error but their own timeout');
}
note "cancelled $cancelled, completed $completed";
cmp_ok($cancelled, '>', 0, 'statements were cancelled');
is($cancelled + $completed, 150 * @timeouts, 'the other statements completed');
my $after = status();

# Every answer is the cpu path's
is( $node->safe_psql('postgres', 'SELECT count(*) FROM answers WHERE ids IS NOT NULL'),
	3 * $clients * $txns,
	'every client recorded its answers');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM answers a LEFT JOIN expected e USING (qid, col, lim)
WHERE a.ids IS DISTINCT FROM e.ids}),
	0,
	'every answer under the concurrent load equals the cpu answer');
cmp_ok(
	$node->safe_psql('postgres', "SELECT count(DISTINCT (qid, col, lim)) FROM answers"),
	'>', $nqueries, 'the load used many different queries');

# Batching happened and the reloads were served in the middle of it
my $requests = $after->{requests} - $before->{requests};
my $batches  = $after->{batches} - $before->{batches};
note "requests $requests, batches $batches, loads "
  . ($after->{loads} - $loads_before);
cmp_ok($requests, '>=', 3 * $clients * $txns, 'the worker answered the load');
cmp_ok($batches, '<', $requests, 'requests were batched (fewer products than requests)');
cmp_ok($batches, '>', 0, 'products were counted');
cmp_ok($after->{loads} - $loads_before, '>=', 2,
	'index versions new during the load were streamed to the worker');
is($after->{queued}, 0, 'no request is left in the queue');

# After the load: the new rows are seen, the worker still answers alone
is( $node->safe_psql(
		'postgres', qq{SET enable_seqscan = off; SET rsr_vector.device = gpu;
SELECT count(*) FROM items WHERE v <#> (SELECT q FROM queries WHERE qid = 1) = 0 AND id > $rows}),
	4, 'the rows inserted during the load are there');
for my $col ('v', 'b')
{
	is( $node->safe_psql(
			'postgres', qq{SET enable_seqscan = off; SET rsr_vector.device = gpu;
SELECT topk('$col', 7, 100)}),
		$node->safe_psql(
			'postgres', qq{SET enable_seqscan = off; SET rsr_vector.device = cpu;
SELECT topk('$col', 7, 100)}),
		"$col: a lone request after the load equals the cpu answer");
}

# A backend that stops while it owes the worker its index pages holds the
# worker for rsr_vector.gpu_timeout (the worker's: 2 s here) at most; the
# next client is served, and the stopped one goes on on the CPU (auto)
$node->safe_psql('postgres',
	"ALTER SYSTEM SET rsr_vector.gpu_timeout = '2s'; SELECT pg_reload_conf()");
usleep(500_000);				# the worker reloads its configuration
my $worker = status()->{pid};
my $stalled = $node->background_psql('postgres');
$stalled->query_safe(
	"SET enable_seqscan = off; SET rsr_vector.gpu_timeout = '60s'");
my $stalled_pid = $stalled->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres',
	"INSERT INTO items VALUES ($rows + 5, array_fill(0, ARRAY[$dims])::tvec, "
	  . "repeat('0', $dims)::bit($dims))");
kill 'STOP', $worker;			# so that the request waits, queued
$stalled->query_until(qr/started/, "\\echo started\nSELECT topk('v', 3, 10);\n");
ok( $node->poll_query_until('postgres',
		"SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $stalled_pid"),
	'a backend waits for the stopped worker');
kill 'STOP', $stalled_pid;
kill 'CONT', $worker;			# it asks the stopped backend for the pages
my $start = time;
is( $node->safe_psql(
		'postgres', q{SET enable_seqscan = off; SET rsr_vector.device = gpu;
SET rsr_vector.gpu_timeout = '20s'; SELECT topk('b', 3, 10)}),
	$node->safe_psql('postgres',
		"SELECT ids FROM expected WHERE (qid, col, lim) = (3, 'b', 10)"),
	'a client behind a stopped backend is answered');
cmp_ok(time - $start, '<', 15, "within the worker's gpu_timeout, not its own");
kill 'CONT', $stalled_pid;
is( $stalled->query_until(qr/done/, "\\echo done\n"),
	$node->safe_psql('postgres',
		"SELECT ids FROM expected WHERE (qid, col, lim) = (3, 'v', 10)")
	  . "\ndone\n",
	'the stopped backend, resumed, gets its answer on the cpu');
$stalled->quit;
is(status()->{pid}, $worker, 'the worker never stopped serving');
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET rsr_vector.gpu_timeout; SELECT pg_reload_conf()");

$node->stop;
done_testing();
