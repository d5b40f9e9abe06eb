# Makefile - builds socle (normal and ASan+UBSan), its tests, and runs the demo.
#
#   make            build/socle
#   make demo       install missing Debian packages, build, run the server with demo data
#   make check      install missing packages, build both flavours, run every test; ends "N passed, N failed"
#   make unit       unit tests (cmocka) of the normal build
#   make asan       build/asan/socle and its unit tests
#   make bench      the benchmarks of bench/ (long; not part of check)

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libpq openssl libargon2 gnutls libxml-2.0 libzip libdeflate
CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla -Wno-format-truncation -Isrc -D_GNU_SOURCE \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CFLAGS  ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/cli/main.c,$(SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

OBJ      := $(LIB_SRC:%.c=build/obj/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)
UNITS      := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
ASAN_UNITS := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=build/asan/fuzz/%)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all demo check unit asan bench deps clean format fuzz
all: build/socle

deps:
	@scripts/deps.sh

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -MMD -MP -c $< -o $@

build/libsocle.a: $(OBJ)
	@rm -f $@; ar rcs $@ $^

build/asan/libsocle.a: $(ASAN_OBJ)
	@mkdir -p $(dir $@); rm -f $@; ar rcs $@ $^

build/socle: build/obj/src/cli/main.o build/libsocle.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/asan/socle: build/asan/obj/src/cli/main.o build/asan/libsocle.a
	$(CC) -g $(SAN) -o $@ $^ $(LIBS)

build/tests/%: tests/unit/%.c build/libsocle.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $< build/libsocle.a $(LIBS) -lcmocka

build/asan/tests/%: tests/unit/%.c build/asan/libsocle.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -o $@ $< build/asan/libsocle.a $(LIBS) -lcmocka

# Fuzz targets: replayed over their corpus by `make check` (gcc, ASan+UBSan, driver.c), and
# fuzzed for real by `make fuzz` (clang's libFuzzer; FUZZ_SECONDS each).
build/asan/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c build/asan/libsocle.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -o $@ $< tests/fuzz/driver.c build/asan/libsocle.a $(LIBS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	clang $(CFLAGS_BASE) -Wno-unknown-warning-option -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRC) $(LIBS)

fuzz:
	@scripts/deps.sh clang
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$${f#build/fuzz/fuzz_}; mkdir -p build/fuzz/corpus-$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

asan: build/asan/socle $(ASAN_UNITS) $(FUZZ_REPLAY)

unit: $(UNITS)
	@tests/run-unit.sh build/tests

demo: deps
	@$(MAKE) --no-print-directory build/socle
	./build/socle demo

check: deps
	@$(MAKE) --no-print-directory build/socle $(UNITS) build/asan/socle $(ASAN_UNITS) $(FUZZ_REPLAY)
	@tests/check.sh

bench: deps build/socle
	bench/run.sh

format:
	clang-format -i $(SRC) $(shell find src tests -name '*.h') $(UNIT_SRC)

clean:
	rm -rf build

# The DMP embeds its data files (src/svc/dmp/data.c).
build/obj/src/svc/dmp/data.o build/asan/obj/src/svc/dmp/data.o: $(wildcard data/dmp/*.csv)

-include $(shell find build -name '*.d' 2>/dev/null)
