# 102_corruption.pl - damaged index bytes on disk give clean errors, never a
# crash, and REINDEX repairs them.
#
# With the server stopped, bytes of the index file (found with
# pg_relation_filepath) are overwritten: a segment header, a segment
# payload, and the metapage magic, one at a time.  After each: the scan and
# rsr_index_check() fail with a clear error (for payload bytes the scan
# may instead still return the exact answer; an older on-disk version gets a
# REINDEX hint), the server keeps running, and REINDEX
# gives back an index that checks clean and answers like a sequential scan.
# Page checksums are off (PostgreSQL 18's initdb turns them on: not here),
# so the bytes reach the index code.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dims = 96;
my $blcksz = 8192;

my $node = PostgreSQL::Test::Cluster->new('corruption');
$node->init(extra => $node->pg_version >= 18 ? ['--no-data-checksums'] : []);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION rsr_vector');
if ($node->safe_psql('postgres', "SELECT count(*) FROM pg_am WHERE amname = 'rsr'") eq '0')
{
	$node->stop;
	plan skip_all => 'the rsr index access method is not built yet';
}
$node->safe_psql('postgres', qq{
	CREATE TABLE items (id int PRIMARY KEY, v tvec($dims));
	INSERT INTO items
	SELECT i, (SELECT array_agg(((hashint4(i * 1000 + j) % 3) + 3) % 3 - 1)
			   FROM generate_series(1, $dims) j)::tvec
	FROM generate_series(1, 3000) i;
	CREATE INDEX items_v ON items USING rsr (v tvec_ip_ops) WITH (k = 8);
});

my $q = $node->safe_psql('postgres', qq{
	SELECT array_agg(round(((hashint4(j) % 1000) / 331.0)::numeric, 3)::real ORDER BY j)::text
	FROM generate_series(1, $dims) j});
# ORDER BY the distance alone (what the index provides); the query's reals
# make ties unlikely, and the test checks there is none at the LIMIT
my $key = "v <#> '$q'::real[]";
my $topn = "SELECT id, $key AS score FROM items ORDER BY $key LIMIT 10";
my $expected = $node->safe_psql('postgres', "SET enable_indexscan = off; $topn");
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM items WHERE $key = (SELECT $key FROM items ORDER BY $key OFFSET 9 LIMIT 1)}),
	'1', 'no tie at the 10th row');

# The scan through the index, as psql's (exit code, stdout, stderr)
sub index_scan
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET enable_seqscan = off; $topn");
	return ($ret, $out, $err);
}

like($node->safe_psql('postgres', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $topn"),
	qr/Index Scan using items_v/, 'the query uses the index');
is((index_scan())[1], $expected, 'index scan equals sequential scan');
is($node->safe_psql('postgres', "SELECT rsr_index_check('items_v')"), 't', 'index checks clean');

# The index's file: REINDEX gives it a new one
sub index_file
{
	return $node->data_dir . '/' .
	  $node->safe_psql('postgres', "SELECT pg_relation_filepath('items_v')");
}

my $file = index_file();
$node->stop;
my $k = unpack('V', read_bytes($file, 24 + 20, 4));
is($k, 8, 'metapage: k at its documented place');
$node->start;

# Read len bytes of the file at off
sub read_bytes
{
	my ($path, $off, $len) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	sysseek($fh, $off, 0) or die "seek: $!";
	my $got = sysread($fh, my $buf, $len);
	die "short read" unless defined $got && $got == $len;
	close($fh);
	return $buf;
}

# Overwrite bytes of the file at off
sub write_bytes
{
	my ($path, $off, $bytes) = @_;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	sysseek($fh, $off, 0) or die "seek: $!";
	syswrite($fh, $bytes) == length($bytes) or die "write: $!";
	close($fh);
}

# File offset of the segment of the first entry of data block 1 (server
# stopped): the line pointer gives the item, the entry header (8 bytes + k
# TIDs) precedes the segment
sub first_segment_offset
{
	my $lp = unpack('V', read_bytes($file, $blcksz + 24, 4));
	my $lp_off = $lp & 0x7fff;
	my $seg = $blcksz + $lp_off + 8 + 6 * $k;
	is(unpack('C', read_bytes($file, $seg, 1)), 0x52, 'found the segment magic byte');
	return $seg;
}

# Damage the index (server stopped), restart, expect errors, then REINDEX
sub damage_and_repair
{
	my (%a) = @_;
	$file = index_file();
	$node->stop;
	write_bytes($file, $a{offset}->(), $a{bytes});
	$node->start;

	my ($ret, $out, $err) = index_scan();
	if ($a{scan_error})
	{
		isnt($ret, 0, "$a{name}: the scan fails");
		like($err, $a{scan_error}, "$a{name}: with a clean error");
	}
	else
	{
		# the scan checks segment headers only (see the report in the
		# payload case below): it must fail cleanly or still be exact
		ok($ret != 0 ? $err =~ $a{scan_error_if_any} : $out eq $expected,
			"$a{name}: the scan fails cleanly or answers exactly");
	}
	($ret, $out, $err) = $node->psql('postgres', "SELECT rsr_index_check('items_v')");
	isnt($ret, 0, "$a{name}: rsr_index_check fails");
	like($err, $a{check_error}, "$a{name}: rsr_index_check says why");
	if ($a{vacuum_error})
	{
		($ret, $out, $err) = $node->psql('postgres', 'VACUUM items');
		isnt($ret, 0, "$a{name}: VACUUM fails");
		like($err, $a{vacuum_error}, "$a{name}: VACUUM says why, as the others");
	}

	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$a{name}: the server is still up");
	$node->safe_psql('postgres', 'REINDEX INDEX items_v');
	is($node->safe_psql('postgres', "SELECT rsr_index_check('items_v')"), 't',
		"$a{name}: REINDEX repairs the index");
	is((index_scan())[1], $expected, "$a{name}: the repaired index answers exactly");
}

damage_and_repair(
	name => 'segment header',
	offset => sub { first_segment_offset() + 4 },
	bytes => "\xff" x 8,
	scan_error => qr/ERROR:  (corrupted rsr segment found in rsr index scan|rsr index "items_v" is inconsistent)/,
	check_error => qr/ERROR:  rsr index "items_v" is inconsistent/);

# Payload bytes pass the header checks the kernels make; rsr_index_check
# verifies the checksum.  The scan does not (it would hash every segment of
# every scan), so it must either fail cleanly or still be exact.
damage_and_repair(
	name => 'segment payload',
	offset => sub { first_segment_offset() + 32 },
	bytes => "\xa5" x 16,
	scan_error_if_any => qr/ERROR:  (corrupted rsr segment found in rsr index scan|rsr index "items_v" is inconsistent)/,
	check_error => qr/ERROR:  rsr index "items_v" is inconsistent/);

# File offset of the first entry of data block 1 (server stopped)
sub first_entry_offset
{
	my $lp = unpack('V', read_bytes($file, $blcksz + 24, 4));
	return $blcksz + ($lp & 0x7fff);
}

# An entry header naming a column range the index does not have: every
# reader of the pages (scan, VACUUM, rsr_index_check) reports it the same way
damage_and_repair(
	name => 'entry header',
	offset => sub { first_entry_offset() },
	bytes => "\xff\xff",
	scan_error => qr/ERROR:  rsr index "items_v" is inconsistent: bad entry header/,
	check_error => qr/ERROR:  rsr index "items_v" is inconsistent: bad entry header/,
	vacuum_error => qr/ERROR:  rsr index "items_v" is inconsistent: bad entry header/);

# An index of an older on-disk format (version 1: 16-bit dead masks, no
# tiles) is refused with a REINDEX hint, and REINDEX rebuilds it
damage_and_repair(
	name => 'older on-disk version',
	offset => sub { 24 + 4 },
	bytes => pack('V', 1),
	scan_error => qr/ERROR:  rsr index "items_v" has on-disk version 1, expected 2.*HINT:  Please REINDEX it\./s,
	check_error => qr/ERROR:  rsr index "items_v" has on-disk version 1, expected 2.*HINT:  Please REINDEX it\./s);

damage_and_repair(
	name => 'metapage magic',
	offset => sub { 24 },
	bytes => "\0\0\0\0",
	scan_error => qr/ERROR:  index "items_v" is not an rsr index/,
	check_error => qr/ERROR:  index "items_v" is not an rsr index/);

# Nothing crashed: no backend died from a signal
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated|server process .* exited with exit code [^0]/,
	'no backend crashed');

$node->stop;
done_testing();
