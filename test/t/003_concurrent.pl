# 003_concurrent.pl - concurrent writers and readers: pgbench sessions
# insert, update and delete rows while others run ordered index scans and
# compare them, inside one repeatable-read snapshot, with a sequential scan
# of the same query; then VACUUM runs under more writers, and the indexes
# are checked against the heap.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RsrTest;

my $node = PostgreSQL::Test::Cluster->new('concurrent');
$node->init;
$node->append_conf('postgresql.conf', qq{
jit = off
max_connections = 40
});
$node->start;

create_rsr_extension($node);
$node->safe_psql(
	'postgres', layout_sql(q{
CREATE SEQUENCE ids START 100000;
CREATE TABLE tst (id int, b bit(256), t tvec(300));
CREATE TABLE queries (qi int, q256 real[], q300 real[]);
INSERT INTO queries
SELECT qi,
	   ARRAY(SELECT (sin(qi * 1000 + j) / 2)::real FROM generate_series(1, 256) j),
	   ARRAY(SELECT (cos(qi * 1000 + j) / 2)::real FROM generate_series(1, 300) j)
FROM generate_series(1, 8) qi;
INSERT INTO tst SELECT i, bits(i, 256)::bit(256), tern(i, 300) FROM generate_series(1, 2000) i;
CREATE INDEX tst_b ON tst USING rsr (b bit_ip_ops) WITH (k = 8);
CREATE INDEX tst_t ON tst USING rsr (t tvec_ip_ops) WITH (k = 5);

-- Top n of query qi by the index and by a sequential scan, in one snapshot
-- (the caller runs it in a repeatable-read transaction); an error if they
-- differ
CREATE FUNCTION compare_scans(qi int, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ib int[]; sb int[]; it int[]; st int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_bitmapscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tst ORDER BY b <#> q.q256 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY t <#> q.q300 LIMIT n)
	INTO ib, it FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	SELECT ARRAY(SELECT id FROM tst ORDER BY b <#> q.q256 LIMIT n),
		   ARRAY(SELECT id FROM tst ORDER BY t <#> q.q300 LIMIT n)
	INTO sb, st FROM queries q WHERE q.qi = compare_scans.qi;
	PERFORM set_config('enable_indexscan', 'on', true);
	IF ib IS DISTINCT FROM sb OR it IS DISTINCT FROM st OR cardinality(ib) <> n THEN
		RAISE EXCEPTION 'index and seqscan differ for query %: % / % and % / %', qi, ib, sb, it, st;
	END IF;
	RETURN true;
END
$$;
}));

my %scripts = (
	'insert@6' => q{
SELECT nextval('ids') AS id \gset
INSERT INTO tst VALUES (:id, bits(:id, 256)::bit(256), tern(:id, 300));
},
	'update@2' => q{
\set id random(1, 2000)
UPDATE tst SET b = ~b, t = tern(id + 1000000, 300) WHERE id = :id;
},
	'delete@1' => q{
\set id random(1, 2000)
DELETE FROM tst WHERE id = :id;
},
	'query@3' => q{
\set qi random(1, 8)
\set n random(1, 40)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT compare_scans(:qi, :n);
COMMIT;
});

# Writers and readers together; any mismatch fails a transaction
$node->pgbench(
	'--no-vacuum --client=6 --jobs=2 --transactions=150',
	0,
	[qr{processed: 900/900}],
	[qr{^$}],
	'concurrent inserts, updates, deletes and compared scans',
	\%scripts);

is( $node->safe_psql('postgres',
		"SELECT rsr_index_check('tst_b'), rsr_index_check('tst_t')"),
	't|t', 'indexes consistent after concurrent writes');
$node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM pg_stat_user_indexes
	  WHERE indexrelname IN ('tst_b', 'tst_t') AND idx_scan >= 100}, 't')
  or die 'compared scans did not use the indexes';
pass('compared scans used the indexes');

# VACUUM while writers and readers go on
my %vacuum = (
	'vacuum@1' => q{
VACUUM tst;
},
	'insert2@6' => $scripts{'insert@6'},
	'delete2@2' => $scripts{'delete@1'},
	'query2@3' => $scripts{'query@3'});
$node->pgbench(
	'--no-vacuum --client=5 --jobs=2 --transactions=80',
	0,
	[qr{processed: 400/400}],
	[qr{^$}],
	'vacuum among concurrent writes and compared scans',
	\%vacuum);

$node->safe_psql('postgres', 'VACUUM tst');
is( $node->safe_psql('postgres',
		"SELECT rsr_index_check('tst_b'), rsr_index_check('tst_t')"),
	't|t', 'indexes consistent after vacuum');
is( $node->safe_psql('postgres',
		'SELECT bool_and(compare_scans(qi, 50)) FROM queries'),
	't', 'index = seqscan for every query at the end');

$node->stop;
done_testing();
