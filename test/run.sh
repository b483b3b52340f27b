#!/usr/bin/env bash
# run.sh - `make test`: install what is missing, build, then run the engine
# unit tests (plain and under ASan/UBSan), the pg_regress suite, README.md's
# examples, the Python client example and the TAP
# tests against throwaway clusters this script creates and removes itself.
# The regression suite and the index TAP tests run once per index layout
# (tile, the default, then perm and bucket).
# Exits non-zero on the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/pgenv.sh

# RSR_SERVER_ONLY=1 (test/pgversions.sh, inside its Debian roots): only the
# build and the server suites, against the PostgreSQL of $PG_CONFIG
server_only=${RSR_SERVER_ONLY:-0}
if [ "$server_only" = 1 ]; then
	base_packages libipc-run-perl python3
else
	base_packages libipc-run-perl clang libclang-rt-14-dev python3
fi

passed=0
failed=0
stage() {
	local name=$1
	shift
	if [ "$server_only" = 1 ]; then
		case $name in build | "private installation" | pg_regress | TAP) ;; *) return 0 ;; esac
	fi
	echo "== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $name"
		echo "$passed passed, $failed failed"
		exit 1
	fi
}

stage "build" make -s WERROR=1
stage "engine unit tests" make -s unitcheck
stage "engine unit tests under ASan+UBSan" make -s sanitizecheck
stage "fuzz smoke (libFuzzer, ASan+UBSan)" make -s fuzz-smoke

# The engine must also run on arm64, where only the scalar kernels exist:
# cross-compiled and run under qemu-user (installed when we are root)
arm64() {
	local out last
	need_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross libgomp1-arm64-cross qemu-user ||
		return 1
	out=$(make -s armcheck) || { echo "$out"; return 1; }
	echo "$out" | tail -n 2
	last=$(printf '%s\n' "$out" | tail -n 1)
	printf '%s\n' "$out" | grep -qx "kernels: scalar" &&
		case "$last" in *" passed, 0 failed") ;; *) false ;; esac
}
if [ "$(id -u)" = 0 ] || command -v qemu-aarch64 >/dev/null 2>&1; then
	stage "engine unit tests on arm64 (qemu)" arm64
else
	echo "== qemu-aarch64 not found: arm64 engine tests not run"
fi

# The CUDA part compiles and links whenever nvcc exists (PATH or
# /usr/local/cuda/bin); without a GPU test_cuda must skip cleanly.
cuda() {
	local out last
	need_packages g++ || return 1
	make -s WITH_CUDA=1 WERROR=1 cuda/rsr_vector_cuda.so test/unit/test_cuda test/bench/bench_cuda || return 1
	out=$(./test/unit/test_cuda) || { echo "$out"; return 1; }
	echo "$out" | tail -n 3
	last=$(printf '%s\n' "$out" | tail -n 1)
	case "$last" in
		"skipped: no CUDA device" | *" passed, 0 failed") ;;
		*) echo "test_cuda: unexpected last line: $last"; return 1 ;;
	esac
}
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
	export PATH="/usr/local/cuda/bin:$PATH"
fi
if command -v nvcc >/dev/null 2>&1; then
	stage "CUDA build and GPU test" cuda
else
	echo "== nvcc not found: CUDA part not built"
fi
stage "private installation" make_tmp_install

work=$(mktemp -d /tmp/rsr_vector_test.XXXXXX)
chmod 755 "$work"
cleanup() {
	stop_cluster "$work/regress" "$TMP_BINDIR"
	stop_cluster "$work/examples" "$TMP_BINDIR"
	rm -rf "$work"
}
trap cleanup EXIT

regress() {
	local pgxs tests
	pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")/..
	rm -rf "$work/regress"		# a fresh cluster per pass
	start_cluster "$work/regress" "$TMP_BINDIR" || return 1
	if [ $# -gt 0 ]; then tests="$*"; else tests=$(make -s print-regress); fi
	rm -rf results regression.diffs regression.out
	if ! "$pgxs/test/regress/pg_regress" --inputdir=. --bindir="$TMP_BINDIR" \
		--host="$PGHOST" --port="$PGPORT" --user=postgres \
		--dbname=contrib_regression --load-extension=rsr_vector $tests; then
		[ -f regression.diffs ] && head -c 20000 regression.diffs
		return 1
	fi
	stop_cluster "$work/regress" "$TMP_BINDIR"
}
stage "pg_regress" regress

# The same suite on the older layouts: rsr_vector.default_layout (which
# indexes without a layout option obey) through PGOPTIONS, which pg_regress's
# psql passes on.  rsr_writes is left out on perm: its size bounds are the
# fixed-size formats' (perm segments vary with the rows, so a reclaimed
# block's space does not always fit a new one); writes on every layout are
# checked by the TAP tests 003 and 004 below.
regress_layout() {
	local layout=$1 tests t keep=()
	tests=$(make -s print-regress)
	for t in $tests; do
		[ "$layout" = perm ] && [ "$t" = rsr_writes ] && continue
		keep+=("$t")
	done
	PGOPTIONS="-c rsr_vector.default_layout=$layout" regress "${keep[@]}"
}
stage "pg_regress (layout perm)" regress_layout perm
stage "pg_regress (layout bucket)" regress_layout bucket

# README.md's examples, in document order in a fresh database (every ```sql
# block with ON_ERROR_STOP, every error example compared), then the Python
# client example against the same cluster
examples_db() {
	need_packages python3 python3-psycopg2 || return 1
	start_cluster "$work/examples" "$TMP_BINDIR" || return 1
	"$TMP_BINDIR/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres "$1"
}
readme_examples() {
	examples_db readme || return 1
	"$TMP_BINDIR/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U postgres -d readme \
		-c "CREATE EXTENSION rsr_vector" || return 1
	/usr/bin/python3 test/readme_examples.py --log "$work/readme_examples.log" README.md \
		"$TMP_BINDIR/psql" -h "$PGHOST" -p "$PGPORT" -U postgres -d readme
}
stage "README examples" readme_examples

python_client() {
	local out
	"$TMP_BINDIR/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres client &&
		"$TMP_BINDIR/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U postgres -d client \
			-c "CREATE EXTENSION rsr_vector" || return 1
	out=$(/usr/bin/python3 examples/client.py "host=$PGHOST port=$PGPORT user=postgres dbname=client") ||
		{ echo "$out"; return 1; }
	echo "$out"
	printf '%s\n' "$out" | grep -qx "index scan == seq scan == Python: True" &&
		printf '%s\n' "$out" | grep -qx "rsr_topk of 4 queries == ORDER BY ... LIMIT 10 of each: True" &&
		stop_cluster "$work/examples" "$TMP_BINDIR"
}
stage "Python client example (examples/client.py)" python_client

tap() {
	shopt -s nullglob
	local tests=(test/t/*.pl)
	[ ${#tests[@]} -eq 0 ] && { echo "no TAP tests"; return 0; }
	prove_tap "$work/tap" "${tests[@]}"
}
stage "TAP" tap

# The index tests (WAL and standby, crash, concurrency, writes, scans under
# buffer pressure, the GPU worker's CPU engine) on the older layouts:
# RSR_TEST_LAYOUT (RsrTest.pm)
tap_layout() {
	local layout=$1
	RSR_TEST_LAYOUT=$layout prove_tap "$work/tap_$layout" test/t/001_wal.pl \
		test/t/002_crash.pl test/t/003_concurrent.pl test/t/004_writes.pl test/t/005_buffers.pl \
		test/t/201_gpu_worker.pl test/t/202_gpu_batching.pl
}
stage "TAP (layout perm)" tap_layout perm
stage "TAP (layout bucket)" tap_layout bucket

# PostgreSQL 17 and 18 (Debian 13 and unstable roots, built on demand in
# build/chroot): the build and the server suites above, once per version
if [ "$server_only" = 1 ]; then
	:
elif [ "$(id -u)" = 0 ]; then
	stage "PostgreSQL 17 and 18 (Debian roots)" bash test/pgversions.sh
else
	echo "== not root: PostgreSQL 17 and 18 not tested (test/pgversions.sh needs root)"
fi

echo "$passed passed, $failed failed"
