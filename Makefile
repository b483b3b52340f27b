# rsr_vector: exact inner-product search over binary and ternary embeddings
# with RSR (Redundant Segment Reduction) kernels.  PGXS build; a plain
# `make` needs neither nvcc nor a GPU.
EXTENSION    = rsr_vector
EXTVERSION   = 0.1.0
MODULE_big   = rsr_vector

# The engine (pure C11, no PostgreSQL headers)
CORE_OBJS    = src/core/rsr_pack.o src/core/rsr_gemv.o src/core/rsr_simd.o \
               src/core/rsr_topn.o src/core/rsr_choose.o

# PostgreSQL glue: module, type, operators
GLUE_OBJS    = src/rsr_vector.o src/tvec.o src/tvec_ops.o

# Index access method: one phase per file
INDEX_OBJS   = src/rsrutils.o src/rsrbuild.o src/rsrinsert.o src/rsrscan.o \
               src/rsrvacuum.o src/rsrvalidate.o src/rsrcost.o src/rsrcheck.o

# Bulk functions and GPU client/worker
BULK_OBJS    = src/rsrbulk.o

OBJS         = $(CORE_OBJS) $(GLUE_OBJS) $(INDEX_OBJS) $(BULK_OBJS)

DATA         = sql/$(EXTENSION)--$(EXTVERSION).sql

# pg_regress suites, one line per area
TYPE_REGRESS  = tvec_type tvec_ops

INDEX_REGRESS = rsr_index rsr_validate

BULK_REGRESS  = rsr_bulk rsr_weights

REGRESS      = $(TYPE_REGRESS) $(INDEX_REGRESS) $(BULK_REGRESS)
REGRESS_OPTS = --load-extension=$(EXTENSION)
TAP_TESTS    = 1
PROVE_TESTS  = $(wildcard test/t/*.pl)

# Portable by default: AVX2 kernels are compiled per function with
# target attributes and chosen at run time, never -march=native.
PG_CPPFLAGS  = -I$(srcdir)/src -I$(srcdir)/src/core
PG_CFLAGS    = -std=gnu11 -fopenmp
SHLIB_LINK   = -fopenmp -lm
EXTRA_CLEAN  = test/unit/test_core test/unit/test_core_san test/bench/bench_core \
               results regression.diffs regression.out tmp_check tmp_install

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Development and CI: warnings are errors (not in the shipped defaults).
ifeq ($(WERROR),1)
override CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
endif

# ---- engine unit tests, sanitizers, benchmark: no server needed ----
CORE_SRCS   = $(CORE_OBJS:.o=.c)
CORE_HDRS   = $(wildcard src/core/*.h)
CORE_CC    ?= $(CC)
CORE_FLAGS  = -std=c11 -O2 -g -Wall -Wextra -Werror -fopenmp -Isrc/core

test/unit/test_core: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -o $@ $< $(CORE_SRCS) -lm
test/unit/test_core_san: test/unit/test_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -o $@ $< $(CORE_SRCS) -lm
test/bench/bench_core: test/bench/bench_core.c $(CORE_SRCS) $(CORE_HDRS)
	$(CORE_CC) $(CORE_FLAGS) -O3 -o $@ $< $(CORE_SRCS) -lm

unitcheck: test/unit/test_core
	./test/unit/test_core
sanitizecheck: test/unit/test_core_san
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./test/unit/test_core_san --quick
bench: test/bench/bench_core
	./test/bench/bench_core
sqlbench:
	for f in test/bench/sql_*.sh; do bash $$f || exit 1; done

print-regress:
	@echo $(REGRESS)

# ---- the two commands of README.md ----
test:
	bash test/run.sh
demo:
	bash test/demo.sh

FORMAT_FILES = $(wildcard src/*.[ch] src/core/*.[ch] cuda/*.cu cuda/*.cuh cuda/*.h test/unit/*.c test/unit/*.cu test/bench/*.c)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

dist:
	mkdir -p dist
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o dist/$(EXTENSION)-$(EXTVERSION).zip HEAD

.PHONY: print-regress unitcheck sanitizecheck bench sqlbench test demo format format-check dist
