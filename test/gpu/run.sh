#!/usr/bin/env bash
# run.sh - every GPU check in one command, for a machine with an NVIDIA GPU:
# the CUDA build (warnings are errors), test_cuda, bench_cuda on the quick
# shapes (65536 x 1024 and 1M x 1024), and the GPU worker's TAP tests with
# rsr_vector.gpu_worker_engine = cuda.  Prints one summary line last:
#
#   gpu: <model>; build ok; cudacheck N passed, 0 failed; cudabench ok; tap ok
#
# The TAP step needs PostgreSQL's server and development files and Perl's
# IPC::Run: from PATH, or carried as Debian packages (test/gpu/carry.sh
# downloads them into .gpu/debs; carry ".gpu").  Without them it says "tap
# skipped" and the rest still runs.  RSR_GPU_ENGINE=cpu dry-runs the TAP
# step on a machine without a GPU.  Logs go to $OUT (or ./gpu_logs).
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

# 1. The CUDA part and its test programs, -Werror (the extension itself is
# built by the TAP step, which needs the server headers)
if step build make -s -j"$jobs" WITH_CUDA=1 WERROR=1 cuda/rsr_vector_cuda.so \
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
	export WITH_CUDA=1 RSR_GPU_ENGINE=${RSR_GPU_ENGINE:-cuda}
	id -u postgres >/dev/null 2>&1 || useradd --system --create-home postgres || return 1
	make_tmp_install || return 1
	local work
	work=$(mktemp -d /tmp/rsr_vector_gpu.XXXXXX)
	chmod 755 "$work"
	prove_tap "$work" test/t/201_gpu_worker.pl test/t/202_gpu_batching.pl
	local rc=$?
	rm -rf "$work"
	return $rc
}
# PostgreSQL carried as Debian packages (test/gpu/carry.sh), unpacked aside
if [ -d .gpu/debs ]; then
	rm -rf /tmp/rsr_pgroot
	mkdir -p /tmp/rsr_pgroot
	for f in .gpu/debs/*.deb; do
		if command -v dpkg-deb >/dev/null 2>&1; then
			dpkg-deb -x "$f" /tmp/rsr_pgroot
		else
			ar p "$f" data.tar.xz | tar -xJ -C /tmp/rsr_pgroot
		fi || exit 1
	done
	export PATH="/tmp/rsr_pgroot/usr/lib/postgresql/15/bin:$PATH"
	export LD_LIBRARY_PATH="/tmp/rsr_pgroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export PERL5LIB="/tmp/rsr_pgroot/usr/share/perl5${PERL5LIB:+:$PERL5LIB}"
	chmod -R a+rX /tmp/rsr_pgroot .
fi
if [ -f "$(pg_config --includedir-server 2>/dev/null)/postgres.h" ] && perl -MIPC::Run -e 1 2>/dev/null; then
	if step tap gpu_tap; then
		summary+=("tap ok")
	else
		summary+=("tap FAILED")
		status=1
	fi
else
	summary+=("tap skipped (no PostgreSQL server headers or Perl IPC::Run here)")
fi

echo "${summary[*]}" | sed 's/ \(build\|cudacheck\|cudabench\|tap\)/; \1/g'
exit $status
