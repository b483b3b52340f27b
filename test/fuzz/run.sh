#!/usr/bin/env bash
# run.sh - run each libFuzzer target for a bounded time: first on the
# regression inputs of test/fuzz/regress/<target>/ (each once), then
# fuzzing from the seeds of test/fuzz/corpus/<target>/ plus those for
# SECONDS seconds.  New inputs go to a scratch directory, never into the
# repository; a crash leaves its input in $FUZZ_ARTIFACTS (default: the
# scratch directory, printed) and fails the run.
#
# Usage: test/fuzz/run.sh SECONDS TARGET...
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.."

seconds=$1
shift
scratch=${FUZZ_ARTIFACTS:-$(mktemp -d /tmp/rsr_fuzz.XXXXXX)}
mkdir -p "$scratch"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "$@"; do
	bin=test/fuzz/${t}_fuzzer
	regress=(test/fuzz/regress/"$t"/*)
	if [ ${#regress[@]} -gt 0 ]; then
		echo "-- $t: ${#regress[@]} regression inputs"
		"$bin" -artifact_prefix="$scratch/$t-" "${regress[@]}" 2>&1 | tail -n 3
	fi
	mkdir -p "$scratch/$t"
	echo "-- $t: fuzzing for $seconds s"
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$scratch/$t-" \
		"$scratch/$t" test/fuzz/corpus/"$t" ${regress[@]:+test/fuzz/regress/"$t"} \
		>"$scratch/$t.log" 2>&1; then
		tail -n 60 "$scratch/$t.log"
		echo "FAILED: $t (inputs in $scratch)"
		exit 1
	fi
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$scratch/$t.log" | tr '\n' ' '
	echo
done
[ -z "${FUZZ_ARTIFACTS:-}" ] && rm -rf "$scratch"
exit 0
