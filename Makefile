# recur: build librecur (static + shared + pkg-config), the recur CLI and the tests.
# Every dependency is found with pkg-config.
PKGS      := openblas libutf8proc libcjson libcurl libzip sndfile kissfft-float
CC        ?= cc
OPT       ?= -O2
CFLAGS_W  := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS  := -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L $(shell pkg-config --cflags $(PKGS))
LIBS      := $(shell pkg-config --libs $(PKGS)) -lm -lpthread
# libcsv (the CSV loader, src/data/load_csv.c) ships no .pc file: found by
# compiling its header; without it the build stops and says what to install.
HAVE_CSV  := $(shell printf '\043include <csv.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
ifneq ($(HAVE_CSV),yes)
ifeq ($(filter deps clean,$(MAKECMDGOALS)),)
$(error libcsv not found (no <csv.h>): install libcsv-dev ('make deps'))
endif
endif
LIBS      += -lcsv
BUILD     ?= build
EXTRA     ?=
# -fno-math-errno: no libm call sets errno here, and it lets sqrtf vectorise.
CFLAGS    := $(CFLAGS_W) $(OPT) -g -fPIC -fno-math-errno $(EXTRA)
PREFIX    ?= /usr/local

LIB_SRC   := $(sort $(wildcard src/*/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
SERVE_SRC := $(sort $(wildcard serve/*.c))
TEST_SRC  := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
# examples/*.c: one program each, built by `all` against librecur.a alone.
EX_SRC    := $(sort $(wildcard examples/*.c))
EX_BIN    := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)

# The library exports only what recur.h marks RECUR_API (tests/symbols.sh).
$(LIB_OBJ): CFLAGS += -fvisibility=hidden -DRECUR_BUILD
# The one definition of the version: recur.h's RECUR_VERSION.
VERSION   := $(shell sed -n 's/^\#define RECUR_VERSION "\(.*\)"/\1/p' include/recur.h)

# The optimisers' element-wise loops vectorise only at -O3 with GCC 12.
$(BUILD)/src/optim/%.o: CFLAGS += -O3
# Hand-written kernels: compiled for their instruction set, chosen at run time.
$(BUILD)/%_avx2.o:   CFLAGS += -mavx2 -mfma
$(BUILD)/%_avx512.o: CFLAGS += -mavx512f -mavx512dq -mavx2 -mfma

.PHONY: all test check bench clean install deps demo data-speech
# recur-mpi (cli/mpi/, docs/DISTRIBUTED.md): `recur train` over MPI ranks,
# built only where pkg-config finds Open MPI (ompi-c); librecur and recur
# never link MPI.
HAVE_MPI  := $(shell pkg-config --exists ompi-c && echo yes)
ifeq ($(HAVE_MPI),yes)
MPI_BIN   := $(BUILD)/recur-mpi
$(BUILD)/cli/mpi/%.o: CPPFLAGS += $(shell pkg-config --cflags ompi-c)
$(BUILD)/recur-mpi: $(BUILD)/cli/mpi/recur_mpi.o $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJ)) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS) $(shell pkg-config --libs ompi-c)
else
MPI_BIN   := mpi-skip
.PHONY: mpi-skip
mpi-skip:
	@echo "note: recur-mpi not built: no Open MPI (pkg-config ompi-c; apt-get install libopenmpi-dev openmpi-bin)"
endif

all: $(BUILD)/librecur.a $(BUILD)/librecur.so $(BUILD)/recur.pc $(BUILD)/recur $(EX_BIN) $(MPI_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/librecur.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/librecur.so: $(LIB_OBJ) src/librecur.map
	$(CC) -shared -Wl,-soname,librecur.so.0 -Wl,--version-script=src/librecur.map $(CFLAGS) $(LIB_OBJ) -o $@ $(LIBS)

$(BUILD)/recur.pc: Makefile include/recur.h
	@mkdir -p $(BUILD)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: recur\nDescription: recurrent neural networks in C\nVersion: %s\nLicense: MIT\nRequires.private: %s\nLibs: -L$${libdir} -lrecur\nLibs.private: -lcsv -lm -lpthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' '$(PKGS)' > $@

# recur serve (serve/) is the only user of libmicrohttpd: the binary links
# it, librecur does not.
MHD_CFLAGS = $(shell pkg-config --cflags libmicrohttpd)
MHD_LIBS   = $(shell pkg-config --libs libmicrohttpd)
$(SERVE_OBJ): CPPFLAGS += -Icli $(MHD_CFLAGS)
$(BUILD)/serve/page.o: serve/page.html
$(BUILD)/recur: $(CLI_OBJ) $(SERVE_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(CLI_OBJ) $(SERVE_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS) $(MHD_LIBS)

$(BUILD)/examples/%: examples/%.c include/recur.h $(BUILD)/librecur.a
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS) $< $(BUILD)/librecur.a -o $@ $(LIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(TEST_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS)

# oneDNN (libdnnl-dev) for the bench's side-by-side kernel rows only: Debian
# ships no .pc for it, so the header is looked for; without it bench/dnnl.c
# builds a stub and the rows say why. The library never links it.
DNNL_H    := $(wildcard /usr/include/dnnl.h /usr/include/oneapi/dnnl/dnnl.h)
ifneq ($(DNNL_H),)
$(BUILD)/bench/dnnl.o: CPPFLAGS += -DHAVE_DNNL
BENCH_LIBS := -ldnnl
endif
$(BUILD)/bench/bench: $(BENCH_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(BENCH_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS) $(BENCH_LIBS)

# The names data: RECUR_DATA, else ../shared/data/names when it exists; with
# neither, `recur train` downloads the tutorial's data.zip into its cache.
RECUR_DATA ?= $(if $(wildcard ../shared/data/names/*.txt),$(abspath ../shared/data/names))
export RECUR_DATA
export RECUR_BIN := $(abspath $(BUILD)/recur)
export RECUR_SO  := $(abspath $(BUILD)/librecur.so)

test: $(BUILD)/run_tests $(BUILD)/recur $(BUILD)/librecur.so $(EX_BIN)
	./$(BUILD)/run_tests $(T)

# The Python package (python/recur) under each python3 found, and an offline
# `pip install ./python`: tests/python/run.sh (optional: skips without python3).
.PHONY: test-python
test-python: $(BUILD)/librecur.so
	tests/python/run.sh

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
check:
	$(MAKE) BUILD=build-san OPT=-O1 EXTRA="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LIBS="$(LIBS) -fsanitize=address,undefined" test

# The objects of bench/*.c live in $(BUILD)/bench/, so the program is
# $(BUILD)/bench/bench. Options: make bench BENCH_ARGS="--quick" (see --help).
bench: $(BUILD)/bench/bench $(BUILD)/recur
	$(abspath $(BUILD)/bench/bench) $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-python
	$(MAKE) --no-print-directory bench-serve
	$(MAKE) --no-print-directory bench-mpi

# 2 ranks x 1 thread against 1 process x 2 threads (bench/mpi_bench.sh;
# REPEATS=N); skips without Open MPI.
.PHONY: bench-mpi
bench-mpi: all
	bench/mpi_bench.sh

# The Python row (bench/python_vs_torch.py): a PyTorch-trained LSTM-128
# answered by PyTorch and by recur through `import recur`. Skips without torch.
BENCH_PYTHON ?= /usr/bin/python3
.PHONY: bench-python
bench-python: $(BUILD)/librecur.so
	RECUR_LIBRARY=$(abspath $(BUILD)/librecur.so) $(BENCH_PYTHON) bench/python_vs_torch.py $(if $(findstring --quick,$(BENCH_ARGS)),--quick)

# The server rows alone: recur serve against PyTorch behind FastAPI/uvicorn
# (bench/serve_bench.py; SERVE_BENCH_ARGS="--model M --quick").
.PHONY: bench-serve
bench-serve: $(BUILD)/recur
	/usr/bin/python3 bench/serve_bench.py --recur $(BUILD)/recur $(SERVE_BENCH_ARGS)

# The randomized differential test against PyTorch: tests/parity/random_diff.py
# drives recur_rnn through this program (recur.h only). `make random-diff
# RANDOM_DIFF_ARGS="--count 1000 --seed 5"`; it skips when torch is missing.
PYTHON ?= /usr/bin/python3
RANDOM_DIFF_ARGS ?=
.PHONY: random-diff
$(BUILD)/rnn_driver: tests/parity/rnn_driver.c $(BUILD)/librecur.a
	$(CC) -Iinclude $(CFLAGS) $< $(BUILD)/librecur.a -o $@ $(LIBS)
random-diff: $(BUILD)/rnn_driver
	$(PYTHON) tests/parity/random_diff.py --driver $(BUILD)/rnn_driver $(RANDOM_DIFF_ARGS)

# recur-mpi against one process, repeats, --resume across N, a killed or
# failing rank (tests/mpi_test.sh, about 20 s); skips without mpirun.
.PHONY: mpitest
mpitest: all
	tests/mpi_test.sh

# Acceptance on real and classic data (tools/accept.py, docs/ACCEPTANCE.md):
# recur's CLI beside PyTorch on French accents, co2 forecasting and the adding
# problem. `make accept` is the full run (minutes), `make accept-quick` the CI
# one; ACCEPT_ARGS="--only co2 --threads 2" and so on.
ACCEPT_ARGS ?=
.PHONY: accept accept-quick
accept: $(BUILD)/recur
	$(PYTHON) tools/accept.py --recur $(BUILD)/recur --json $(BUILD)/accept.json $(ACCEPT_ARGS)
accept-quick: $(BUILD)/recur
	$(PYTHON) tools/accept.py --quick --recur $(BUILD)/recur --json $(BUILD)/accept-quick.json $(ACCEPT_ARGS)

# Debian packages the build needs (run as root, or with sudo).
DEBS := build-essential pkg-config libopenblas-dev libutf8proc-dev libcjson-dev libcurl4-openssl-dev libzip-dev libsndfile1-dev libkissfft-dev espeak-ng sox python3-numpy \
        libmicrohttpd-dev
# Optional, for `make bench` only (oneDNN's RNN beside recur's kernel rows).
DEBS += libdnnl-dev
# libcsv: the CSV reader of src/data/load_csv.c (no .pc file; see HAVE_CSV).
DEBS += libcsv-dev
# Optional: recur-mpi (cli/mpi/) and make mpitest; skipped with a note without.
DEBS += libopenmpi-dev openmpi-bin
# As root directly; otherwise through sudo (a fresh root shell often has none).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBS)

# The main job: train the names classifier, then show what it learnt.
demo: $(BUILD)/recur
	./$(BUILD)/recur train $(RECUR_DATA) -o names.safetensors
	./$(BUILD)/recur eval --held-out names.safetensors $(RECUR_DATA)
	./$(BUILD)/recur predict names.safetensors Dovesky Jackson Satoshi

# The synthetic spoken-word corpus of docs/SPEECH.md (espeak-ng, sox, NumPy).
SPEECH_DIR ?= data/speech
data-speech:
	/usr/bin/python3 tools/data/make_speech.py --out $(SPEECH_DIR)

# Connected digit strings with exact frame labels (docs/SPEECH.md).
.PHONY: data-digits
data-digits:
	/usr/bin/python3 tools/data/make_speech_digits.py --out $(dir $(SPEECH_DIR))digits

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/recur.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/librecur.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/librecur.so $(DESTDIR)$(PREFIX)/lib/librecur.so.0
	ln -sf librecur.so.0 $(DESTDIR)$(PREFIX)/lib/librecur.so
	install -m 644 $(BUILD)/recur.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/recur $(DESTDIR)$(PREFIX)/bin/
	$(if $(filter yes,$(HAVE_MPI)),install -m 755 $(BUILD)/recur-mpi $(DESTDIR)$(PREFIX)/bin/)

clean:
	rm -rf build build-san build-fuzz build-tsan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVE_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)

# ------------------------------------------------------------------------ #
# Fuzzing, valgrind, ThreadSanitizer (fuzz/README.md).                      #
# ------------------------------------------------------------------------ #
# `make fuzz`: the libFuzzer harnesses fuzz/fuzz_*.c, linked with the library
# compiled by clang with the same sanitizers into build-fuzz/, each run for
# FUZZ_SECONDS on a copy of its seed corpus fuzz/corpus/<name>/. Fails, with
# the reproducer's path, on any crash, leak, timeout or sanitizer report.
FUZZ_CC        ?= clang
FUZZ_SECONDS   ?= 30
FUZZ_HARNESSES ?= safetensors model dataset cli audio import serve tagged dense lab spotter
FUZZ_BIN       := $(FUZZ_HARNESSES:%=build-fuzz/fuzz_%)
# Warnings stay on, -Werror stays with the main (gcc) build.
SAN_CFLAGS_W   := -std=c11 -Wall -Wextra -Wno-unused-parameter
FUZZ_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_EXTRA     ?=

.PHONY: fuzz fuzz-build valgrind tsan
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_HARNESSES)

# Objects do not depend on flags: a change of FUZZ_CC/FUZZ_EXTRA rebuilds all.
FUZZ_STAMP := $(FUZZ_CC) $(FUZZ_SAN) $(FUZZ_EXTRA)
fuzz-build:
	@mkdir -p build-fuzz; echo '$(FUZZ_STAMP)' | cmp -s - build-fuzz/flags || \
	  { rm -rf build-fuzz/src build-fuzz/librecur.a build-fuzz/fuzz_*; echo '$(FUZZ_STAMP)' > build-fuzz/flags; }
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPT=-O1 CFLAGS_W="$(SAN_CFLAGS_W)" \
	  EXTRA="$(FUZZ_SAN) -fsanitize=fuzzer-no-link $(FUZZ_EXTRA)" $(FUZZ_BIN)

build-fuzz/fuzz_%: fuzz/fuzz_%.c build-fuzz/librecur.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -MMD -MP $< build-fuzz/librecur.a -o $@ $(LIBS)

# The command-line parser's harness links the CLI's objects but its main().
build-fuzz/fuzz_cli: fuzz/fuzz_cli.c $(filter-out build-fuzz/cli/main.o,$(CLI_OBJ)) build-fuzz/librecur.a
	$(CC) $(CPPFLAGS) -Icli $(CFLAGS) -fsanitize=fuzzer -MMD -MP $< $(filter-out build-fuzz/cli/main.o,$(CLI_OBJ)) \
	  build-fuzz/librecur.a -o $@ $(LIBS)

# The server's request parser (serve/parse.c: JSON only, no HTTP library).
build-fuzz/fuzz_serve: fuzz/fuzz_serve.c build-fuzz/serve/parse.o build-fuzz/librecur.a
	$(CC) $(CPPFLAGS) -Iserve $(CFLAGS) -fsanitize=fuzzer -MMD -MP $< build-fuzz/serve/parse.o build-fuzz/librecur.a -o $@ $(LIBS)

# The seed generator (run by hand: fuzz/README.md) links the plain library.
$(BUILD)/fuzz_seeds: fuzz/gen_seeds.c $(BUILD)/librecur.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(BUILD)/librecur.a -o $@ $(LIBS)

# `make valgrind`: the suites that save/load models, train a toy model, run
# runners (classify and step) and read data sets, under memcheck (about 100 s):
# any error or definite/indirect leak fails. (threads. takes 6 minutes under
# valgrind, which runs one thread at a time: `make tsan` covers it.)
VALGRIND_TESTS ?= core. text. safetensors. dataset. optim. model. regress. seqset.
VALGRIND       ?= valgrind --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite,indirect
valgrind: $(BUILD)/run_tests
	@set -e; for t in $(VALGRIND_TESTS); do \
	  echo "== valgrind: run_tests $$t"; \
	  $(VALGRIND) ./$(BUILD)/run_tests $$t; \
	done

# `make tsan`: the tests built with ThreadSanitizer into build-tsan/, then the
# suite where threads share one model and the trainer whose threads split
# batches. OpenBLAS is not instrumented: tests/tsan.supp says what is
# suppressed and why.
TSAN_TESTS ?= threads. model.threads_split
tsan:
	$(MAKE) BUILD=build-tsan CC=$(FUZZ_CC) OPT=-O1 CFLAGS_W="$(SAN_CFLAGS_W)" \
	  EXTRA="-fsanitize=thread -fno-omit-frame-pointer" LIBS="$(LIBS) -fsanitize=thread" build-tsan/run_tests
	@set -e; for t in $(TSAN_TESTS); do \
	  TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) halt_on_error=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	    ./build-tsan/run_tests $$t; \
	done

# `make valgrind-cli`: the tool's commands (train, resume, eval, predict,
# info, sample, error paths) under memcheck on made-up data
# (tests/valgrind_cli.sh, about 40 s): any error or lost byte fails.
# `make killtest`: recur train SIGKILLed at random moments 20 times, each
# time resumed; the files are never damaged and the end is bit-identical to
# an uninterrupted run (tests/kill_test.sh, about 15 s; needs RECUR_DATA).
.PHONY: valgrind-cli killtest
valgrind-cli: $(BUILD)/recur
	tests/valgrind_cli.sh
killtest: $(BUILD)/recur
	tests/kill_test.sh

-include $(wildcard build-fuzz/fuzz_*.d)
