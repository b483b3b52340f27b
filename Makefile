# rsr_vector: exact inner-product search over binary and ternary embeddings
# with RSR (Redundant Segment Reduction) kernels.  PGXS build; a plain
# `make` needs neither nvcc nor a GPU.
EXTENSION    = rsr_vector
EXTVERSION   = 0.1.0
MODULE_big   = rsr_vector

# The engine (pure C11, no PostgreSQL headers)
CORE_OBJS    = src/core/rsr_pack.o src/core/rsr_gemv.o src/core/rsr_simd.o \
               src/core/rsr_topn.o src/core/rsr_choose.o src/core/rsr_tvec_parse.o \
               src/core/rsr_tile.o src/core/rsr_tile_search.o src/core/rsr_tile_simd.o \
               src/core/rsr_tile_exact.o src/core/rsr_safetensors.o

# PostgreSQL glue: module, type, operators
GLUE_OBJS    = src/rsr_vector.o src/tvec.o src/tvec_ops.o src/rsrquery.o

# Index access method: one phase per file
INDEX_OBJS   = src/rsrutils.o src/rsrwal.o src/rsrbuild.o src/rsrinsert.o src/rsrscan.o \
               src/rsrvacuum.o src/rsrvalidate.o src/rsrcost.o src/rsrcheck.o \
               src/rsrpages.o src/rsrcache.o

# Bulk functions and GPU client/worker
BULK_OBJS    = src/rsrbulk.o

# Model weights from safetensors files
WEIGHTS_OBJS = src/safetensors.o

OBJS         = $(CORE_OBJS) $(GLUE_OBJS) $(INDEX_OBJS) $(BULK_OBJS) $(WEIGHTS_OBJS)
GPU_OBJS     = src/gpu_client.o src/gpu_worker.o src/gpu_copies.o src/gpu_score.o
OBJS        += $(GPU_OBJS)

DATA         = sql/$(EXTENSION)--$(EXTVERSION).sql

# pg_regress suites, one line per area
TYPE_REGRESS  = tvec_type tvec_ops

INDEX_REGRESS = rsr_index rsr_validate rsr_scan_exact

BULK_REGRESS  = rsr_bulk rsr_weights rsr_exact_scores

# Model weights from safetensors files (test/safetensors_gen.py writes them)
WEIGHTS_REGRESS = rsr_safetensors

LIMITS_REGRESS = rsr_limits rsr_errors

PRIV_REGRESS = rsr_privileges

WRITES_REGRESS = rsr_writes

REGRESS      = $(TYPE_REGRESS) $(INDEX_REGRESS) $(BULK_REGRESS) $(WEIGHTS_REGRESS) $(LIMITS_REGRESS) \
               $(PRIV_REGRESS) $(WRITES_REGRESS)
REGRESS_OPTS = --load-extension=$(EXTENSION)
TAP_TESTS    = 1
PROVE_TESTS  = $(wildcard test/t/*.pl)
PROVE_FLAGS += -I test/t

# Portable by default: AVX2 kernels are compiled per function with
# target attributes and chosen at run time, never -march=native.
PG_CPPFLAGS  = -I$(srcdir)/src -I$(srcdir)/src/core
PG_CFLAGS    = -std=gnu11 -fopenmp
SHLIB_LINK   = -fopenmp -lm
EXTRA_CLEAN  = test/unit/test_core test/unit/test_core_san test/unit/test_core_arm64 \
               test/unit/test_tile test/unit/test_tile_san test/unit/test_tile_arm64 test/bench/bench_core test/bench/gen_rows \
               results regression.diffs regression.out tmp_check tmp_install

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# No PostgreSQL here (a bare GPU machine): only the engine and CUDA targets
# (unitcheck, bench, cudacheck, cudabench) can be built.
$(info pg_config not found: building the engine and CUDA targets only)
endif

# PGXS tracks no header dependencies: rebuild every object when a header
# changes (an on-disk struct compiled two ways corrupts the index).
$(OBJS): $(wildcard src/*.h src/core/*.h)

# Development and CI: warnings are errors (not in the shipped defaults).
ifeq ($(WERROR),1)
override CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
endif

# ---- engine unit tests, sanitizers, benchmark: no server needed ----
CORE_SRCS   = $(CORE_OBJS:.o=.c)
CORE_HDRS   = $(wildcard src/core/*.h) test/test_util.h
CORE_CC    ?= $(CC)
CORE_FLAGS  = -std=c11 -O2 -g -Wall -Wextra -Werror -fopenmp -Isrc/core -Itest

test/unit/test_core: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm
test/unit/test_core_san: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $< $(CORE_SRCS) -lm
test/unit/test_tile: test/unit/test_tile.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm
test/unit/test_tile_san: test/unit/test_tile.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $< $(CORE_SRCS) -lm
test/bench/bench_core: test/bench/bench_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -O3 -o $@ $< $(CORE_SRCS) -lm

unitcheck: test/unit/test_core test/unit/test_tile
	./test/unit/test_core
	./test/unit/test_tile
sanitizecheck: test/unit/test_core_san test/unit/test_tile_san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./test/unit/test_core_san --quick
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./test/unit/test_tile_san --quick

# The engine on arm64 (scalar kernels): cross-compiled, run under qemu-user
ARM_CC      ?= aarch64-linux-gnu-gcc
ARM_SYSROOT ?= /usr/aarch64-linux-gnu
test/unit/test_core_arm64: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(ARM_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm
test/unit/test_tile_arm64: test/unit/test_tile.c $(CORE_SRCS) $(CORE_HDRS)
	$(ARM_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm
armcheck: test/unit/test_core_arm64 test/unit/test_tile_arm64
	qemu-aarch64 -L $(ARM_SYSROOT) ./test/unit/test_core_arm64 --quick
	qemu-aarch64 -L $(ARM_SYSROOT) ./test/unit/test_tile_arm64 --quick
bench: test/bench/bench_core
	./test/bench/bench_core
# SQL benchmarks (throwaway clusters, 1M rows; not in `make test`): the
# index against sequential scans, then every test/bench/sql_*.sh: bulk
# scoring against index scans, latency against row count (sql_scaling.sh
# rewrites docs/img/sql_latency.svg)
sqlbench:
	bash test/bench/sqlbench.sh
	for f in test/bench/sql_*.sh; do bash $$f || exit 1; done

print-regress:
	@echo $(REGRESS)

# ---- fuzzing: libFuzzer targets under ASan+UBSan, no server needed ----
# `make fuzz` runs each target FUZZ_SECONDS; `make fuzz-smoke` (in `make
# test`) runs the regression inputs and 20 s of each.
FUZZ_TARGETS = tvec_text tvec_binary segment safetensors
FUZZ_BINS    = $(FUZZ_TARGETS:%=test/fuzz/%_fuzzer)
FUZZ_SECONDS ?= 60
FUZZ_CC     ?= clang
FUZZ_FLAGS   = -std=c11 -g -O1 -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unused-parameter \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Isrc/core

$(FUZZ_BINS): test/fuzz/%_fuzzer: test/fuzz/%_fuzzer.c $(CORE_SRCS) $(CORE_HDRS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(CORE_SRCS) -lm
test/fuzz/make_seeds: test/fuzz/make_seeds.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm

fuzz: $(FUZZ_BINS)
	bash test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-smoke: $(FUZZ_BINS)
	bash test/fuzz/run.sh 20 $(FUZZ_TARGETS)
fuzz-seeds: test/fuzz/make_seeds
	mkdir -p test/fuzz/corpus/segment
	./test/fuzz/make_seeds test/fuzz/corpus/segment
	python3 test/safetensors_gen.py --seeds test/fuzz/corpus/safetensors
fuzz-clean:
	rm -f $(FUZZ_BINS) test/fuzz/make_seeds

.PHONY: fuzz fuzz-smoke fuzz-seeds fuzz-clean

# ---- optional CUDA part: only with `make WITH_CUDA=1`; nothing else needs nvcc ----
# rsr_vector_cuda.so carries the kernels, the C API of cuda/rsr_cuda.h and a
# private (hidden) copy of the segment validation; rsr_vector.so never links
# libcudart.  Device code for sm_80 (A100) and sm_90 (H100), plus PTX.
CUDA_SRCS    = cuda/index.cu cuda/gemv.cu cuda/topn.cu
CUDA_HDRS    = cuda/rsr_cuda.h cuda/common.cuh
EXTRA_CLEAN += cuda/rsr_vector_cuda.so cuda/rsr_pack_pic.o cuda/rsr_tile_pic.o test/unit/test_cuda test/bench/bench_cuda

ifeq ($(WITH_CUDA),1)
NVCC        ?= nvcc
CUDA_HOME   := $(patsubst %/bin/nvcc,%,$(realpath $(shell command -v $(NVCC))))
CUDA_ARCH   ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
               -gencode arch=compute_90,code=compute_90
ifeq ($(CUDA_HOME),)
$(error WITH_CUDA=1 needs nvcc: put it on PATH or set NVCC)
endif
NVCC_FLAGS  ?= -O3 -std=c++17 -lineinfo -Xcompiler -Wall,-Wextra,-fPIC
ifeq ($(WERROR),1)
override NVCC_FLAGS += -Werror all-warnings
endif
NVCC_ALL     = $(NVCC_FLAGS) $(CUDA_ARCH) -Isrc/core -Icuda -Itest -cudart shared \
               -Xlinker -rpath,$(CUDA_HOME)/lib64

all: cuda/rsr_vector_cuda.so

cuda/rsr_pack_pic.o: src/core/rsr_pack.c $(CORE_HDRS)
	$(CORE_CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -Isrc/core -c -o $@ $<
cuda/rsr_tile_pic.o: src/core/rsr_tile.c $(CORE_HDRS)
	$(CORE_CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -Isrc/core -c -o $@ $<
cuda/rsr_vector_cuda.so: $(CUDA_SRCS) $(CUDA_HDRS) cuda/rsr_pack_pic.o cuda/rsr_tile_pic.o
	$(NVCC) $(NVCC_ALL) -shared -Xlinker --no-undefined -o $@ $(CUDA_SRCS) cuda/rsr_pack_pic.o cuda/rsr_tile_pic.o -lm
test/unit/test_cuda: test/unit/test_cuda.cu cuda/rsr_vector_cuda.so $(CORE_SRCS) $(CORE_HDRS)
	$(NVCC) $(NVCC_ALL) -Xcompiler -fopenmp -o $@ $< $(CORE_SRCS) cuda/rsr_vector_cuda.so \
		-Xlinker -rpath,'$$ORIGIN/../../cuda' -lgomp
test/bench/bench_cuda: test/bench/bench_cuda.cu cuda/rsr_vector_cuda.so $(CORE_SRCS) $(CORE_HDRS)
	$(NVCC) $(NVCC_ALL) -Xcompiler -fopenmp -o $@ $< $(CORE_SRCS) cuda/rsr_vector_cuda.so \
		-Xlinker -rpath,'$$ORIGIN/../../cuda' -lcublas -lgomp

cudacheck: test/unit/test_cuda
	./test/unit/test_cuda
cudabench: test/bench/bench_cuda
	./test/bench/bench_cuda

install: install-cuda
install-cuda: cuda/rsr_vector_cuda.so
	$(INSTALL_SHLIB) $< '$(DESTDIR)$(pkglibdir)/'
endif


# `make uninstall` (PGXS) also removes the CUDA library `make WITH_CUDA=1
# install` put beside the module, if any
uninstall: uninstall-cuda
uninstall-cuda:
	rm -f '$(DESTDIR)$(pkglibdir)/rsr_vector_cuda.so'

# ---- the two commands of README.md ----
test:
	bash test/run.sh
demo:
	bash test/demo.sh

FORMAT_FILES = $(wildcard src/*.[ch] src/core/*.[ch] cuda/*.cu cuda/*.cuh cuda/*.h test/unit/*.c test/unit/*.cu test/bench/*.c test/bench/*.cu)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

dist:
	mkdir -p dist
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o dist/$(EXTENSION)-$(EXTVERSION).zip HEAD

.PHONY: print-regress unitcheck sanitizecheck armcheck bench sqlbench test demo format format-check dist \
        cudacheck cudabench install-cuda uninstall-cuda
