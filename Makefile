# lua-sip: build, test, benchmark and run.
#   make            build build/sip/core.so (the C part of require "sip")
#   make test       every suite (lint, C unit tests plain and under ASan/UBSan, fuzz smoke runs,
#                   busted specs, interop with SIPp/Kamailio); ends with "N passed, N failed"
#   make bench      parser and runtime benchmarks beside the anchors (oSIP2, sofia-sip, Kamailio)
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make lint       luacheck, clang-format and cppcheck (also part of make test)
#   make run        the registrar/proxy on 127.0.0.1:5060 (UDP and TCP)
#   make demo       alice and bob register, message and call each other through it (a ladder)
#   make webphone   the browser softphone (examples/webphone/) on http://127.0.0.1:8081/, for make run
# As root, test/bench/run install missing Debian packages themselves (tools/deps.sh).

LUA        ?= lua5.4
CC         ?= cc
CLANG      ?= clang
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
# -O3: the parser runs 2-4% faster than at -O2 (alternating min-of-batches A/Bs on the bench corpus)
CFLAGS     ?= -O3 -g
WARN       := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CORE_LIBS  := -lev -lssl -lcrypto -lcares
SAN        := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
SMOKE_SECONDS ?= 10

CORE_SRC   := $(sort $(wildcard csrc/sip_*.c))
BIND_SRC   := $(sort $(wildcard csrc/lsip_*.c))
CORE_HDR   := $(wildcard csrc/*.h)
CTEST_SRC  := $(sort $(wildcard spec/c/test_*.c))
FUZZ_SRC   := $(sort $(wildcard spec/fuzz/fuzz_*.c))
CTESTS     := $(patsubst spec/c/%.c,build/ctest/%,$(CTEST_SRC))
CTESTS_SAN := $(patsubst spec/c/%.c,build/ctest-san/%,$(CTEST_SRC))
FUZZERS    := $(patsubst spec/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
TORTURE    := ../shared/conformance/torture
BENCHDIR   := ../shared/bench

BUSTED     := $(LUA) /usr/bin/busted --ignore-lua
LUA_ENV    := LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;" \
              LUA_CPATH="$(CURDIR)/build/?.so;;"

.PHONY: all deps browser-deps test ctest spec lint fuzz-smoke fuzz bench run demo webphone clean docs

all: build/sip/core.so

build/sip/core.so: $(CORE_SRC) $(BIND_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared $(LUA_CFLAGS) -o $@ $(CORE_SRC) $(BIND_SRC) $(CORE_LIBS)

build/libsipcore.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build/obj
	@rm -f $@
	for f in $(CORE_SRC); do $(CC) $(CFLAGS) $(WARN) -fPIC -c $$f -o build/obj/$$(basename $$f .c).o || exit 1; done
	ar rcs $@ $(patsubst csrc/%.c,build/obj/%.o,$(CORE_SRC))

build/ctest/%: spec/c/%.c build/libsipcore.a spec/c/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -Icsrc -o $@ $< build/libsipcore.a $(CORE_LIBS)

# The core once more under ASan/UBSan (for the C unit tests) and for libFuzzer: one library each.
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
build/libsipcore-san.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build/obj-san
	@rm -f $@
	for f in $(CORE_SRC); do $(CC) -O1 -g $(SAN) $(WARN) -c $$f -o build/obj-san/$$(basename $$f .c).o || exit 1; done
	ar rcs $@ $(patsubst csrc/%.c,build/obj-san/%.o,$(CORE_SRC))

build/libsipcore-fuzz.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build/obj-fuzz
	@rm -f $@
	for f in $(CORE_SRC); do $(CLANG) $(FUZZ_FLAGS) -c $$f -o build/obj-fuzz/$$(basename $$f .c).o || exit 1; done
	ar rcs $@ $(patsubst csrc/%.c,build/obj-fuzz/%.o,$(CORE_SRC))

# The core on its general parsers only (-DSIP_SCAN_SCALAR: no fast paths), every global symbol
# renamed gen_*, so that fuzz_fast links it beside the usual build and compares the two.
build/libsipcore-fuzz-gen.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build/obj-fuzz-gen
	@rm -f $@
	for f in $(CORE_SRC); do $(CLANG) $(FUZZ_FLAGS) -DSIP_SCAN_SCALAR -c $$f -o build/obj-fuzz-gen/$$(basename $$f .c).o || exit 1; done
	nm -g --defined-only $(patsubst csrc/%.c,build/obj-fuzz-gen/%.o,$(CORE_SRC)) | \
	  awk 'NF == 3 {print $$3, "gen_" $$3}' | sort -u >build/obj-fuzz-gen/rename.txt
	for o in $(patsubst csrc/%.c,build/obj-fuzz-gen/%.o,$(CORE_SRC)); do \
	  objcopy --redefine-syms=build/obj-fuzz-gen/rename.txt $$o || exit 1; done
	ar rcs $@ $(patsubst csrc/%.c,build/obj-fuzz-gen/%.o,$(CORE_SRC))

build/ctest-san/%: spec/c/%.c build/libsipcore-san.a spec/c/unit.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(SAN) $(WARN) -Icsrc -o $@ $< build/libsipcore-san.a $(CORE_LIBS)

FUZZ_LINK := $(CLANG) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icsrc
build/fuzz/%: spec/fuzz/%.c spec/fuzz/fuzz.h build/libsipcore-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) -o $@ $< build/libsipcore-fuzz.a $(CORE_LIBS)

build/fuzz/fuzz_fast: spec/fuzz/fuzz_fast.c spec/fuzz/fuzz.h build/libsipcore-fuzz.a build/libsipcore-fuzz-gen.a
	@mkdir -p $(dir $@)
	$(FUZZ_LINK) -o $@ $< build/libsipcore-fuzz.a build/libsipcore-fuzz-gen.a $(CORE_LIBS)

build/bench-parse: csrc/bench/bench_parse.c csrc/bench/bench_util.h build/libsipcore.a
	$(CC) -O2 -g $(WARN) -Icsrc -o $@ $< build/libsipcore.a $(CORE_LIBS)

build/bench-stream: csrc/bench/bench_stream.c csrc/bench/bench_util.h build/libsipcore.a
	$(CC) -O2 -g $(WARN) -Icsrc -o $@ $< build/libsipcore.a $(CORE_LIBS)

build/bench-wsload: csrc/bench/bench_wsload.c
	$(CC) -O2 -g $(WARN) -o $@ $<

# our WebSocket frame decoder beside wslay's (Debian libwslay-dev; not linked into the library)
build/compare-ws: csrc/bench/compare_ws.c csrc/bench/bench_util.h build/libsipcore.a
	$(CC) -O2 -g $(WARN) -Icsrc -o $@ $< build/libsipcore.a $(CORE_LIBS) -lwslay

deps:
	@sh tools/deps.sh build test node

# The npm packages of the browser tests, as spec/browser/package-lock.json pins them; npm ci runs
# again only when the lockfile changes (npm writes node_modules/.package-lock.json).
browser-deps: spec/browser/node_modules/.package-lock.json
spec/browser/node_modules/.package-lock.json: spec/browser/package-lock.json
	@sh tools/deps.sh node
	cd spec/browser && npm ci --no-audit --no-fund --loglevel=error

# ---- tests ------------------------------------------------------------------------------------
test: deps browser-deps
	@rm -rf build/tap
	@$(MAKE) --no-print-directory all $(CTESTS) $(CTESTS_SAN) $(FUZZERS)
	@$(MAKE) --no-print-directory -k lint ctest fuzz-smoke spec; sh tools/summary.sh

ctest: $(CTESTS) $(CTESTS_SAN)
	@for t in $(CTESTS); do sh tools/tap.sh c-$$(basename $$t) $$t; done
	@for t in $(CTESTS_SAN); do \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tools/tap.sh san-$$(basename $$t) $$t; done

# The style the tools check (tools/lint.sh): luacheck, clang-format, cppcheck; one test each.
lint:
	@sh tools/tap.sh lint sh tools/lint.sh

# Each fuzz target: its whole seed corpus, then SMOKE_SECONDS of fuzzing. One test each.
fuzz-smoke: $(FUZZERS)
	@for f in $(FUZZERS); do n=$$(basename $$f); \
	  sh tools/tap.sh $$n sh spec/fuzz/run.sh $$f $(SMOKE_SECONDS); done

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do sh spec/fuzz/run.sh $$f $(FUZZ_SECONDS); done

# One busted run per spec file, each bounded in time: a hang fails that file, never the whole run.
SPEC_TIMEOUT ?= 600
spec: all
	@for f in spec/*_spec.lua; do n=$$(basename $$f _spec.lua); \
	  $(LUA_ENV) sh tools/tap.sh spec-$$n timeout -k 5 $(SPEC_TIMEOUT) $(BUSTED) -o TAP $$f; done

# ---- benchmarks -------------------------------------------------------------------------------
bench: build/bench-parse build/bench-stream build/bench-wsload all
	@sh tools/deps.sh build bench
	@sh csrc/bench/run.sh

# ---- the main job -----------------------------------------------------------------------------
run: all
	@sh tools/deps.sh build run
	$(LUA_ENV) $(LUA) examples/proxy.lua --listen udp:127.0.0.1:5060 --listen tcp:127.0.0.1:5060 \
	  --listen ws:127.0.0.1:8080 --realm example.com --users examples/users.txt --log info

# alice and bob register, message and call through the proxy; prints the ladder, exits 0
demo: all
	@sh tools/deps.sh build run
	@$(LUA_ENV) $(LUA) examples/demo.lua

webphone: browser-deps
	node spec/browser/serve.js --root examples/webphone --port 8081

clean:
	rm -rf build

# The API reference (doc/api/) from the doc comments, with the guides of doc/ (config.ld); LDoc
# (Debian lua-ldoc, lua-discount for markdown) warnings, or any other line it prints, fail it.
docs:
	@command -v ldoc >/dev/null || { echo "docs: needs ldoc (apt-get install lua-ldoc lua-discount)"; exit 1; }
	@mkdir -p build; ldoc -q --fatalwarnings . >build/ldoc.log 2>&1; rc=$$?; \
	  ! grep -v '^reading configuration\|^found master module' build/ldoc.log && exit $$rc
