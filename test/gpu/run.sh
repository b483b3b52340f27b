#!/usr/bin/env bash
# run.sh - every GPU check in one command, for a machine with an NVIDIA GPU:
# the CUDA build (warnings are errors), test_cuda, bench_cuda on the quick
# shapes (65536 x 1024 and 1M x 1024), and the GPU worker's TAP tests with
# rsr_vector.gpu_worker_engine = cuda.  Prints one summary line last:
#
#   gpu: <model>; build ok; cudacheck N passed, 0 failed; cudabench ok; tap ok
#
# The TAP step needs PostgreSQL's server and development files (pg_config
# on PATH) and Perl's IPC::Run; without them it says "tap skipped" and the
# rest still runs.  Logs go to $OUT (or ./gpu_logs).
# Exits non-zero when any step that ran failed.  Budget: under 8 minutes on
# an H100/H200 class machine with 16 cores.
set -uo pipefail
cd "$(dirname "$0")/../.."
logs=${OUT:-$PWD/gpu_logs}
mkdir -p "$logs"
jobs=$(nproc 2>/dev/null || echo 4)
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
	export PATH="/usr/local/cuda/bin:$PATH"
fi

status=0
summary=()
model=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
summary+=("gpu: ${model:-none found by nvidia-smi}")

step() {
	local name=$1 log=$logs/$1.log start rc
	shift
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	echo "== $name: rc $rc, $(($(date +%s) - start)) s (log $log)"
	tail -n 25 "$log"
	return $rc
}

# 1. The CUDA part and its test programs, -Werror
if step build make -s -j"$jobs" WITH_CUDA=1 WERROR=1 all cuda/rsr_vector_cuda.so \
	test/unit/test_cuda test/bench/bench_cuda; then
	summary+=("build ok")
else
	summary+=("build FAILED")
	echo "${summary[*]}"
	exit 1
fi

# 2. Every kernel against the engine's reference
if step cudacheck ./test/unit/test_cuda; then
	summary+=("cudacheck $(tail -n 1 "$logs/cudacheck.log")")
else
	summary+=("cudacheck FAILED: $(tail -n 1 "$logs/cudacheck.log")")
	status=1
fi

# 3. Timings against cuBLAS on 65536 x 1024 and 1M x 1024 (binary, ternary)
if step cudabench timeout 240 ./test/bench/bench_cuda --quick; then
	summary+=("cudabench ok")
else
	summary+=("cudabench FAILED")
	status=1
fi

# 4. The worker on the CUDA engine: TAP 201 and 202 against a private
# installation that holds rsr_vector_cuda.so
gpu_tap() {
	. test/pgenv.sh
	export WITH_CUDA=1 RSR_GPU_ENGINE=cuda
	make_tmp_install || return 1
	local work
	work=$(mktemp -d /tmp/rsr_vector_gpu.XXXXXX)
	chmod 755 "$work"
	prove_tap "$work" test/t/201_gpu_worker.pl test/t/202_gpu_batching.pl
	local rc=$?
	rm -rf "$work"
	return $rc
}
if command -v pg_config >/dev/null 2>&1 && perl -MIPC::Run -e 1 2>/dev/null; then
	if step tap gpu_tap; then
		summary+=("tap ok")
	else
		summary+=("tap FAILED")
		status=1
	fi
else
	summary+=("tap skipped (no pg_config or Perl IPC::Run here)")
fi

echo "${summary[*]}" | sed 's/ \(build\|cudacheck\|cudabench\|tap\)/; \1/g'
exit $status
