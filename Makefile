# recur: build librecur (static + shared + pkg-config), the recur CLI and the tests.
# Every dependency is found with pkg-config.
PKGS      := openblas libutf8proc libcjson libcurl libzip
CC        ?= cc
OPT       ?= -O2
CFLAGS_W  := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS  := -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L $(shell pkg-config --cflags $(PKGS))
LIBS      := $(shell pkg-config --libs $(PKGS)) -lm -lpthread
BUILD     ?= build
EXTRA     ?=
# -fno-math-errno: no libm call sets errno here, and it lets sqrtf vectorise.
CFLAGS    := $(CFLAGS_W) $(OPT) -g -fPIC -fno-math-errno $(EXTRA)
PREFIX    ?= /usr/local

LIB_SRC   := $(sort $(wildcard src/*/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/%.o)

# The optimisers' element-wise loops vectorise only at -O3 with GCC 12.
$(BUILD)/src/optim/%.o: CFLAGS += -O3
# Hand-written kernels: compiled for their instruction set, chosen at run time.
$(BUILD)/%_avx2.o:   CFLAGS += -mavx2 -mfma
$(BUILD)/%_avx512.o: CFLAGS += -mavx512f -mavx512dq -mavx2 -mfma

.PHONY: all test check bench clean install deps demo
all: $(BUILD)/librecur.a $(BUILD)/librecur.so $(BUILD)/recur.pc $(BUILD)/recur

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/librecur.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/librecur.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,librecur.so.0 $(CFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/recur.pc: Makefile
	@mkdir -p $(BUILD)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: recur\nDescription: recurrent neural networks in C\nVersion: 0.1.0\nRequires.private: %s\nLibs: -L$${libdir} -lrecur\nLibs.private: -lm -lpthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(PKGS)' > $@

$(BUILD)/recur: $(CLI_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(CLI_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(TEST_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS)

$(BUILD)/bench: $(BENCH_OBJ) $(BUILD)/librecur.a
	$(CC) $(CFLAGS) $(BENCH_OBJ) $(BUILD)/librecur.a -o $@ $(LIBS)

# The names data: RECUR_DATA, else ../shared/data/names when it exists; with
# neither, `recur train` downloads the tutorial's data.zip into its cache.
RECUR_DATA ?= $(if $(wildcard ../shared/data/names/*.txt),$(abspath ../shared/data/names))
export RECUR_DATA
export RECUR_BIN := $(abspath $(BUILD)/recur)

test: $(BUILD)/run_tests $(BUILD)/recur
	./$(BUILD)/run_tests $(T)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
check:
	$(MAKE) BUILD=build-san OPT=-O1 EXTRA="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LIBS="$(LIBS) -fsanitize=address,undefined" test

bench: $(BUILD)/bench $(BUILD)/recur
	./$(BUILD)/bench

# Debian packages the build needs (run as root, or with sudo).
DEBS := build-essential pkg-config libopenblas-dev libutf8proc-dev libcjson-dev libcurl4-openssl-dev libzip-dev
deps:
	apt-get update -qq && apt-get install -y -qq $(DEBS)

# The main job: train the names classifier, then show what it learnt.
demo: $(BUILD)/recur
	./$(BUILD)/recur train $(RECUR_DATA) -o names.safetensors
	./$(BUILD)/recur eval names.safetensors $(RECUR_DATA)
	./$(BUILD)/recur predict names.safetensors Dovesky Jackson Satoshi

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/recur.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/librecur.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/librecur.so $(DESTDIR)$(PREFIX)/lib/librecur.so.0
	ln -sf librecur.so.0 $(DESTDIR)$(PREFIX)/lib/librecur.so
	install -m 644 $(BUILD)/recur.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/recur $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
