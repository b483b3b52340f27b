# 201_gpu_worker.pl - the GPU worker answers index scans and rsr_topk
# exactly as the backend's own CPU path does, sees index changes, and a
# worker that stops, exits or is killed never hangs a backend nor changes
# an answer.
#
# The worker runs its requests on the CPU engine
# (rsr_vector.gpu_worker_engine = cpu) unless RSR_GPU_ENGINE=cuda is set
# (a machine with a GPU and rsr_vector_cuda.so installed).
#
# What a kill -9 of the worker really does: the postmaster treats the
# SIGKILL of any process attached to shared memory as a crash, terminates
# every backend and reinitializes shared memory (crash recovery); the
# worker starts again with it.  A worker that exits by itself (SIGTERM,
# exit status 1) is restarted alone after bgw_restart_time (1 s) and the
# backends keep their sessions.  Both are tested below, as is a worker
# that hangs (SIGSTOP): backends time out after rsr_vector.gpu_timeout.
#
# rsr_topk goes to the worker too: its answers must equal the cpu path's
# exactly (rows, TIDs, scores, order) for both index kinds, n from 1 to more
# than the table, more queries than one request carries, near ties below
# the kernel's resolution (the worker is asked again for more candidates),
# deleted but not vacuumed rows and inserted rows; a hung or absent worker
# is an error with device = gpu and the cpu answer with auto.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use RsrTest;

my $dims   = 96;
my $rows   = 3000;
my $engine = $ENV{RSR_GPU_ENGINE} // 'cpu';
my $seed   = 20261124;
srand($seed);
note "seed $seed, worker engine $engine";

my $node = gpu_worker_node('gpu', $engine, 'restart_after_crash = on');
$node->safe_psql('postgres', 'CREATE EXTENSION rsr_vector');

# The worker's state as a hash of rsr_gpu_status() fields
sub status { return gpu_status($node); }

# Wait until a worker (newer than generation $after) serves requests
sub wait_ready
{
	my ($after) = @_;
	$after //= 0;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT (rsr_gpu_status()->>'ready')::bool AND "
			  . "(rsr_gpu_status()->>'generation')::int > $after"),
		"gpu worker ready (generation > $after)");
}

wait_ready();
like(status()->{device}, $engine eq 'cpu' ? qr/cpu engine/ : qr/cuda/,
	"worker runs the $engine engine");

$node->safe_psql(
	'postgres', qq{
CREATE TABLE items (id int PRIMARY KEY, v tvec($dims), b bit($dims));
INSERT INTO items
SELECT i,
	   (SELECT array_agg(((hashint4(i * 1000 + j) % 3) + 3) % 3 - 1)
		FROM generate_series(1, $dims) j)::tvec,
	   (SELECT string_agg(CASE WHEN hashint4(i * 7000 + j) % 2 = 0 THEN '1' ELSE '0' END, '')
		FROM generate_series(1, $dims) j)::bit($dims)
FROM generate_series(1, $rows) i;
CREATE INDEX items_v ON items USING rsr (v tvec_ip_ops);
CREATE INDEX items_b ON items USING rsr (b bit_ip_ops);
});

# A random query as a real[] literal
sub query
{
	return "'{" . join(',', map { sprintf('%.3f', rand(2) - 1) } 1 .. $dims) . "}'::real[]";
}
my @queries = map { query() } 1 .. 3;

# Ordered scores of an index scan on one device, then its ids and scores
# ordered by score and id: rows of equal score (exact ties) may come in any
# order (the cpu path returns them in index order, the gpu path through the
# executor's reorder queue)
sub ordered
{
	my ($device, $col, $q, $limit, $where, $extra) = @_;
	$where //= 'true';
	$extra //= '';
	return $node->safe_psql(
		'postgres', qq{
SET enable_seqscan = off;
SET rsr_vector.device = $device;
$extra
SELECT string_agg(s::text, ',' ORDER BY rn) || ' | ' ||
	   string_agg(id || ':' || s, ',' ORDER BY s, id) FROM (
  SELECT id, $col <#> $q AS s, row_number() OVER () AS rn FROM (
	SELECT id, $col FROM items WHERE $where ORDER BY $col <#> $q LIMIT $limit) t) u;
});
}

# The same query on both devices gives the same rows, scores and order
sub same_on_both
{
	my ($label, @args) = @_;
	my $cpu = ordered('cpu', @args);
	my $gpu = ordered('gpu', @args);
	isnt($cpu, '', "$label: cpu path returns rows");
	is($gpu, $cpu, "$label: gpu worker equals the cpu path");
	return $cpu;
}

like(
	$node->safe_psql(
		'postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) "
		  . "SELECT id FROM items ORDER BY v <#> $queries[0] LIMIT 10"),
	qr/Index Scan using items_v/,
	'the query uses the rsr index');

my $before = status();
for my $i (0 .. $#queries)
{
	same_on_both("tvec q$i top 10", 'v', $queries[$i], 10);
	same_on_both("bit q$i top 10", 'b', $queries[$i], 10);
}
same_on_both('tvec top 700 (several batches)', 'v', $queries[0], 700);
same_on_both('bit filter id % 13 = 0 (rows deep in the order)',
	'b', $queries[1], 40, 'id % 13 = 0');
my $huge = "'{" . join(',', map { sprintf('%.3e', (rand(2) - 1) * 3e38) } 1 .. $dims) . "}'::real[]";
same_on_both('tvec huge query (scaled against float32 overflow)', 'v', $huge, 10);
my $after = status();
cmp_ok($after->{requests}, '>=', $before->{requests} + 9,
	'the worker answered the gpu requests');
is($after->{loads} - $before->{loads}, 2, 'each index was streamed to the worker once');

# Concurrent scans on the worker: 8 clients, every answer checked
my $expect_md5 = $node->safe_psql('postgres',
	"SET enable_seqscan = off; SET rsr_vector.device = cpu; "
	  . "SELECT md5(string_agg(id::text, ',')) FROM "
	  . "(SELECT id FROM items ORDER BY v <#> $queries[1] LIMIT 20) t");
$node->pgbench(
	'--no-vacuum --client=8 --transactions=25',
	0,
	[qr{processed: 200/200}],
	[qr{^$}],
	'concurrent scans on the gpu worker all give the cpu answer',
	{
		'201_gpu_concurrent' => qq{
SET enable_seqscan = off;
SET rsr_vector.device = gpu;
SELECT 1 / (md5(string_agg(id::text, ',')) = '$expect_md5')::int
FROM (SELECT id FROM items ORDER BY v <#> $queries[1] LIMIT 20) t;
}
	});

# Index changes are seen: insert, delete + VACUUM, REINDEX
my $loads = status()->{loads};
$node->safe_psql(
	'postgres', qq{
INSERT INTO items
SELECT $rows + i, ternary_quantize(q, 0.3), binary_quantize(q)
FROM (SELECT $queries[0] AS q) s, generate_series(1, 5) i;
});
my $top = same_on_both('tvec after insert', 'v', $queries[0], 10);
like($top, qr/\| 300[1-5]:/, 'the inserted rows come first');
same_on_both('bit after insert', 'b', $queries[0], 10);
cmp_ok(status()->{loads}, '>', $loads, 'the insert made the worker reload');

$loads = status()->{loads};
$node->safe_psql('postgres', "DELETE FROM items WHERE id > $rows OR id % 5 = 0");
$node->safe_psql('postgres', 'VACUUM items');
$top = same_on_both('tvec after delete + vacuum', 'v', $queries[0], 50);
unlike($top, qr/(\| |,)(300[1-5]|\d*[05]):/, 'deleted rows are gone');
same_on_both('bit after delete + vacuum', 'b', $queries[2], 50);
cmp_ok(status()->{loads}, '>', $loads, 'vacuum made the worker reload');

$loads = status()->{loads};
$node->safe_psql('postgres', 'REINDEX TABLE items');
same_on_both('tvec after reindex', 'v', $queries[1], 30);
same_on_both('bit after reindex', 'b', $queries[1], 30);
cmp_ok(status()->{loads}, '>=', $loads + 2, 'reindex made the worker reload');
cmp_ok(status()->{entries}, '<=', 2, 'old index copies were dropped');

# rsr_topk on the worker (device = gpu) gives exactly the cpu path's rows,
# TIDs, scores and order.  Each answer is "count query:tid:id:score,...".
# (or "count md5" of that with $md5).
sub topk_sql
{
	my ($index, $qs, $n, $md5) = @_;
	my $agg = q{coalesce(string_agg(r.query || ':' || r.tid || ':' ||
	coalesce(i.id::text, 'invisible') || ':' || r.score, ',' ORDER BY r.ord), '')};
	$agg = "md5($agg)" if $md5;
	return qq{
SELECT count(*) || ' ' || $agg
FROM rsr_topk('$index', $qs, $n) WITH ORDINALITY r(query, tid, score, ord)
LEFT JOIN items i ON i.ctid = r.tid;
};
}

sub topk
{
	my ($device, $index, $qs, $n, $extra, $md5) = @_;
	$extra //= '';
	return $node->safe_psql('postgres',
		"SET rsr_vector.device = $device;\n$extra\n" . topk_sql($index, $qs, $n, $md5));
}

# The worker's answer counter reaches $n (it is bumped after the answer)
sub requests_reach
{
	my ($n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT (rsr_gpu_status()->>'requests')::bigint >= $n");
}

# rsr_topk on both devices: equal, the worker asked only with gpu
sub same_topk
{
	my ($label, $index, $qs, $n, $expect_count) = @_;
	my $start = status()->{requests};
	my $cpu = topk('cpu', $index, $qs, $n);
	is(status()->{requests}, $start, "$label: device = cpu never asks the worker");
	my $gpu = topk('gpu', $index, $qs, $n);
	ok(requests_reach($start + 1), "$label: device = gpu asks the worker");
	like($cpu, qr/^$expect_count /, "$label: $expect_count rows") if defined $expect_count;
	is($gpu, $cpu, "$label: rsr_topk on the worker equals the cpu path");
	return $gpu;
}

# The exact top n of one query by a sequential scan: score, then TID
sub seqscan_topk
{
	my ($col, $q, $n) = @_;
	return $node->safe_psql(
		'postgres', qq{
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT count(*) || ' ' || string_agg('1:' || ctid || ':' || id || ':' || s, ',' ORDER BY s DESC, ctid)
FROM (SELECT ctid, id, -($col <#> $q) AS s FROM items ORDER BY $col <#> $q, ctid LIMIT $n) t;
});
}

# 100 queries (two batches of the worker protocol's 64), one of them huge
my @many = (map { query() } 1 .. 99);
splice(@many, 50, 0, $huge);
my $many = 'ARRAY[' . join(',', @many) . ']';
my $few = 'ARRAY[' . join(',', @many[0 .. 4]) . ']';
my $visible = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
my $start = status()->{requests};
same_topk('topk tvec 100 queries n = 1', 'items_v', $many, 1, 100);
ok(requests_reach($start + 2), 'topk: 100 queries took at least two requests');
same_topk('topk bit 100 queries n = 1', 'items_b', $many, 1, 100);
same_topk('topk tvec 100 queries n = 10', 'items_v', $many, 10, 1000);
same_topk('topk bit 100 queries n = 10', 'items_b', $many, 10, 1000);
same_topk('topk tvec n larger than the table', 'items_v', $few, $visible + 100, 5 * $visible);
same_topk('topk bit n larger than the table', 'items_b', $few, $visible + 100, 5 * $visible);

# n = 40000 asks for m = 80000 candidates per query: an answer of at most
# 64 MiB carries 52 queries, so 70 queries take 52 + 12 + 6 = 3 requests
my $seventy = 'ARRAY[' . join(',', @many[0 .. 69]) . ']';
$start = status()->{requests};
my $big = topk('gpu', 'items_v', $seventy, 40000, '', 1);
ok(requests_reach($start + 3), 'topk n = 40000: three requests');
is(status()->{requests}, $start + 3, 'topk n = 40000: no more than three');
is($big, topk('cpu', 'items_v', $seventy, 40000, '', 1),
	'topk n = 40000: rsr_topk on the worker equals the cpu path');
like($big, qr/^@{[70 * $visible]} /, 'topk n = 40000: every row of every query');

# Near ties: 150 copies of one vector that differ only in the last element,
# whose query weight (1e-7) is below the float32 kernel's resolution: the
# kernel's order among them is noise, the exact score decides, then the TID.
# 150 rows within the error bound of the 10th make the worker's first 64
# candidates too few: it is asked again.
my @tv = map { int(rand(3)) - 1 } 1 .. $dims - 1;
my @bv = map { int(rand(2)) } 1 .. $dims - 1;
$node->safe_psql(
	'postgres', qq{
INSERT INTO items
SELECT 20000 + i, ('{@{[join(',', @tv)]},' || ((i % 3) - 1) || '}')::int[]::tvec,
	('@{[join('', @bv)]}' || (i % 2))::bit($dims)
FROM generate_series(1, 150) i;
});
my $tq = "'{" . join(',', (map { sprintf('%.4f', $_ * (0.5 + rand(0.01))) } @tv), '1e-7') . "}'::real[]";
my $bq = "'{" . join(',', (map { sprintf('%.4f', ($_ ? 1 : -1) * (0.5 + rand(0.01))) } @bv), '1e-7') . "}'::real[]";

# rsr_topk of the near-tie query alone and with the others; the sequential scan agrees
sub near_ties
{
	my ($label) = @_;
	for my $n (1, 10, 100)
	{
		my $v = same_topk("$label tvec n = $n", 'items_v', "ARRAY[$tq]", $n);
		is($v, seqscan_topk('v', $tq, $n), "$label tvec n = $n: the exact order (sequential scan)");
		my $b = same_topk("$label bit n = $n", 'items_b', "ARRAY[$bq]", $n);
		is($b, seqscan_topk('b', $bq, $n), "$label bit n = $n: the exact order (sequential scan)");
	}
	same_topk("$label tvec among 100 queries", 'items_v', "ARRAY[$tq, " . join(',', @many[0 .. 98]) . ']', 20);
	same_topk("$label bit among 100 queries", 'items_b', "ARRAY[" . join(',', @many[0 .. 98]) . ", $bq]", 20);
}
$start = status()->{requests};
topk('gpu', 'items_v', "ARRAY[$tq]", 10);
ok(requests_reach($start + 2), 'near ties: the worker is asked again with more candidates');
near_ties('near ties');

# Deleted rows, not vacuumed, are still in the worker's copy: candidates
# that the heap check drops
my $loads_before = status()->{loads};
$node->safe_psql('postgres',
	'DELETE FROM items WHERE (id > 20000 AND id % 2 = 0) OR id % 7 = 0');
near_ties('after delete');
same_topk('topk tvec after delete', 'items_v', $many, 10, 1000);
same_topk('topk bit after delete', 'items_b', $many, 10, 1000);
is(status()->{loads}, $loads_before, 'the delete did not make the worker reload');

# Inserted rows: the worker reloads and sees them
$node->safe_psql(
	'postgres', qq{
INSERT INTO items
SELECT 20200 + i, ('{@{[join(',', @tv)]},' || (i % 2) || '}')::int[]::tvec,
	('@{[join('', @bv)]}' || (i % 2))::bit($dims)
FROM generate_series(1, 40) i;
});
near_ties('after insert');
like(topk('gpu', 'items_v', "ARRAY[$tq]", 100), qr/:202\d\d:/,
	'after insert: inserted rows are in the top 100');
cmp_ok(status()->{loads}, '>', $loads_before, 'the insert made the worker reload');

# A snapshot older than the index: rows inserted after it are in the version
# the worker is asked for, and the heap check drops them
my $rr = $node->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT count(*) FROM items');
$node->safe_psql(
	'postgres', qq{
INSERT INTO items
SELECT 20300 + i, ('{@{[join(',', @tv)]},1}')::int[]::tvec, ('@{[join('', @bv)]}1')::bit($dims)
FROM generate_series(1, 30) i;
});
$loads_before = status()->{loads};
$rr->query_safe('SET rsr_vector.device = cpu');
my $rr_cpu = $rr->query_safe(topk_sql('items_v', "ARRAY[$tq]", 100));
$rr->query_safe('SET rsr_vector.device = gpu');
my $rr_gpu = $rr->query_safe(topk_sql('items_v', "ARRAY[$tq]", 100));
$rr->query_safe('COMMIT');
$rr->quit;
cmp_ok(status()->{loads}, '>', $loads_before, 'old snapshot: the worker loaded the newer index');
is($rr_gpu, $rr_cpu, 'old snapshot: rsr_topk on the worker equals the cpu path');
unlike($rr_gpu, qr/:203\d\d:/, 'old snapshot: rows inserted after it are not returned');
like(topk('gpu', 'items_v', "ARRAY[$tq]", 100), qr/:203\d\d:/,
	'a new snapshot sees them');

# A hung worker: gpu times out with a clean error, auto falls back
my $expect = ordered('cpu', 'v', $queries[2], 20);
my $pid = status()->{pid};
kill 'STOP', $pid;
my ($ret, $out, $err) = $node->psql(
	'postgres', qq{
SET enable_seqscan = off; SET rsr_vector.device = gpu; SET rsr_vector.gpu_timeout = 300;
SELECT id FROM items ORDER BY v <#> $queries[2] LIMIT 20;
});
isnt($ret, 0, 'gpu: a hung worker is an error');
like($err, qr/gpu worker cannot score this index scan.*\n.*gpu_timeout/s,
	'gpu: the error says the worker timed out');
is(ordered('auto', 'v', $queries[2], 20, undef, 'SET rsr_vector.gpu_timeout = 300;'),
	$expect, 'auto: a hung worker falls back to the cpu');
($ret, $out, $err) = $node->psql(
	'postgres', qq{
SET rsr_vector.device = gpu; SET rsr_vector.gpu_timeout = 300;
SELECT count(*) FROM rsr_topk('items_b', $many, 10);
});
isnt($ret, 0, 'gpu: rsr_topk on a hung worker is an error');
like($err, qr/gpu worker cannot score rsr_topk queries.*\n.*gpu_timeout/s,
	'gpu: the rsr_topk error says the worker timed out');
for my $index ('items_v', 'items_b')
{
	is(topk('auto', $index, $many, 10, 'SET rsr_vector.gpu_timeout = 300;'),
		topk('cpu', $index, $many, 10),
		"auto: rsr_topk on $index with a hung worker falls back to the cpu");
}

# Waiting for the worker, a backend still answers query cancel
($ret, $out, $err) = $node->psql(
	'postgres', qq{
SET enable_seqscan = off; SET rsr_vector.device = gpu; SET rsr_vector.gpu_timeout = 600000;
SET statement_timeout = 300;
SELECT id FROM items ORDER BY v <#> $queries[2] LIMIT 20;
});
like($err, qr/canceling statement due to statement timeout/,
	'a backend waiting for a hung worker can be canceled');

# A worker that hangs in the middle of a scan: the scan goes on on the CPU
kill 'CONT', $pid;
my $requests = status()->{requests};
my $session = $node->background_psql('postgres');
$session->query_safe(
	"SET enable_seqscan = off; SET rsr_vector.gpu_timeout = 300; BEGIN; "
	  . "DECLARE c CURSOR FOR SELECT id FROM items ORDER BY b <#> $queries[0]");
my $first = $session->query_safe('FETCH 30 FROM c');
kill 'STOP', $pid;
my $rest = $session->query_safe('FETCH 300 FROM c');
kill 'CONT', $pid;
$session->query_safe('COMMIT');
$session->quit;
my $all = $node->safe_psql(
	'postgres', "SET enable_seqscan = off; SET rsr_vector.device = cpu; "
	  . "SELECT id FROM items ORDER BY b <#> $queries[0] LIMIT 330");
is("$first\n$rest", $all, 'auto: a scan continued on the cpu returns every row once, in order');
is(status()->{requests}, $requests + 1,
	'the worker answered the first batch only; the cpu did the rest');

# A worker that exits is restarted alone; sessions survive
my $gen = status()->{generation};
$session = $node->background_psql('postgres');
$session->query_safe('SELECT 1');
kill 'TERM', $pid;
wait_ready($gen);
is($session->query_safe('SELECT 2'), '2', 'sessions survive a worker exit');
$session->quit;
same_on_both('tvec after a worker restart', 'v', $queries[1], 25);

# kill -9 of the worker during a query load: crash restart of everything
$gen = status()->{generation};
$pid = status()->{pid};
my $load = $node->background_psql('postgres', on_error_stop => 0);
$load->query_until(qr/started/, qq{
\\echo started
SET enable_seqscan = off;
DO \$\$ BEGIN FOR i IN 1 .. 100000 LOOP
  PERFORM id FROM items ORDER BY v <#> $queries[0] LIMIT 10;
END LOOP; END \$\$;
});
$requests = status()->{requests};
usleep(300_000);				# let the loop run some scans
cmp_ok(status()->{requests}, '>', $requests, 'the load runs on the worker');
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
ok($node->wait_for_log(qr/terminating any other active server processes/, $log_offset),
	'the postmaster restarts everything after a kill -9 of the worker');
eval { $load->quit };			# its backend was terminated: psql is gone
$node->poll_query_until('postgres', 'SELECT 1', '1');
is(ordered('auto', 'v', $queries[0], 15), ordered('cpu', 'v', $queries[0], 15),
	'auto: right answers right after the crash restart');
wait_ready(0);
isnt(status()->{pid}, $pid, 'a new worker runs');
same_on_both('tvec after the crash restart', 'v', $queries[0], 15);
same_on_both('bit after the crash restart', 'b', $queries[2], 15);

# Without a worker: gpu is an error, auto uses the cpu
$node->append_conf('postgresql.conf', 'rsr_vector.gpu_worker = off');
$node->restart;
is(status()->{running}, 'false', 'no worker when rsr_vector.gpu_worker = off');
($ret, $out, $err) = $node->psql('postgres',
	"SET rsr_vector.device = gpu; SET enable_seqscan = off; "
	  . "SELECT id FROM items ORDER BY v <#> $queries[0] LIMIT 1");
like($err, qr/gpu worker cannot score this index scan/, 'gpu without a worker is an error');
is(ordered('auto', 'v', $queries[0], 15), ordered('cpu', 'v', $queries[0], 15),
	'auto without a worker uses the cpu');
($ret, $out, $err) = $node->psql('postgres',
	"SET rsr_vector.device = gpu; SELECT count(*) FROM rsr_topk('items_v', $few, 10)");
like($err, qr/gpu worker cannot score rsr_topk queries/, 'gpu: rsr_topk without a worker is an error');
is(topk('auto', 'items_v', $many, 10), topk('cpu', 'items_v', $many, 10),
	'auto: rsr_topk without a worker uses the cpu');

# The cuda engine without rsr_vector_cuda.so: the worker says why and serves
# nothing; auto uses the cpu, gpu is an error
my $libdir = $node->safe_psql('postgres', "SELECT setting FROM pg_config() WHERE name = 'PKGLIBDIR'");
SKIP:
{
	skip 'rsr_vector_cuda.so is installed', 5 if -e "$libdir/rsr_vector_cuda.so";
	$node->append_conf('postgresql.conf',
		"rsr_vector.gpu_worker = on\nrsr_vector.gpu_worker_engine = cuda");
	$log_offset = -s $node->logfile;
	$node->restart;
	ok( $node->wait_for_log(
			qr/rsr_vector gpu worker serves nothing: could not load .*rsr_vector_cuda/,
			$log_offset),
		'cuda engine without the library: the worker logs why');
	my $st = status();
	is($st->{ready}, 'false', 'the worker serves nothing');
	is($st->{device}, 'rsr_vector_cuda library not found', 'the status says why');
	($ret, $out, $err) = $node->psql('postgres',
		"SET rsr_vector.device = gpu; SET enable_seqscan = off; "
		  . "SELECT id FROM items ORDER BY v <#> $queries[0] LIMIT 1");
	like($err, qr/DETAIL:  The GPU worker serves no device: rsr_vector_cuda library not found/,
		'gpu: the error gives the reason');
	is(ordered('auto', 'v', $queries[0], 15), ordered('cpu', 'v', $queries[0], 15),
		'auto: the cpu answers');
}

$node->stop;
done_testing();
