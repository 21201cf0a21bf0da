# Everyday commands. `./run tests` (and so CI) drives these; `luarocks make` uses the rockspec instead.
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -pedantic -fPIC -fvisibility=hidden
SRC = $(wildcard src/*.c)
HDR = $(wildcard src/*.h)
# The module pins itself in memory at run time (src/curl_memory.c), whatever
# builds it: LuaRocks' builtin type passes no linker flags such as -z nodelete.
LIBS = $(shell pkg-config --libs libcurl) -lcrypto -lm -pthread -ldl

# Runtimes: build/<name>/onlyoffice/core.so against each one's headers.
RUNTIMES ?= 5.4 jit
pc_5.1 = lua5.1
pc_5.2 = lua5.2
pc_5.3 = lua5.3
pc_5.4 = lua5.4
pc_jit = luajit
BUILD ?= build
MODULES = $(foreach r,$(RUNTIMES),$(BUILD)/$(r)/onlyoffice/core.so)

all: $(MODULES)

$(BUILD)/%/onlyoffice/core.so: $(SRC) $(HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(shell pkg-config --cflags $(pc_$*)) -shared -o $@ $(SRC) $(LDFLAGS) $(LIBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build for Lua 5.4 (./run tests loads it
# into an uninstrumented lua5.4 with LD_PRELOAD).
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan:
	$(MAKE) -B BUILD=build/asan RUNTIMES=5.4 CFLAGS="-O1 -g $(SANITIZE)" LDFLAGS="$(SANITIZE)"

# gcov build for Lua 5.4: ./run tests runs the specs on it once and sums up the
# counts with gcovr. gcc, as gcov reads only gcc's notes; a new build drops the
# counts of the last one, which no longer match its code.
coverage:
	$(MAKE) -B BUILD=build/coverage RUNTIMES=5.4 CC=gcc CFLAGS="--coverage -O0 -g" LDFLAGS=--coverage
	rm -f build/coverage/5.4/onlyoffice/*.gcda

.PHONY: coverage

# libFuzzer target over answers and user input (fuzz/answers.c, fuzz/answers.lua).
build/fuzz-answers: fuzz/answers.c $(SRC) $(HDR)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags lua5.4) -o $@ \
		fuzz/answers.c $(SRC) $(shell pkg-config --libs lua5.4) $(LIBS)

FUZZ_SECONDS ?= 60
fuzz: build/fuzz-answers
	@mkdir -p build/fuzz-work
	./build/fuzz-answers -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 build/fuzz-work fuzz/corpus

# The API reference: types/ (LuaCATS) rewritten as LDoc input, then LDoc's
# HTML in $(DOCS). --testing fixes the date, which sed then drops, so the same sources give the
# same pages (./run tests checks docs/ is up to date). LDoc runs on Lua 5.1,
# the one Debian's lua-markdown is installed for.
TYPES = types/onlyoffice.lua types/onlyoffice/webhook.lua types/onlyoffice/ngx.lua types/onlyoffice/emulator.lua
DOCS ?= docs
docs:
	rm -rf build/ldoc-input $(DOCS)
	mkdir -p build/ldoc-input
	lua5.4 tools/ldoc_types.lua build/ldoc-input $(TYPES)
	lua5.1 /usr/bin/ldoc --testing -q -d $(DOCS) .
	sed -i -e "/Last updated /d" -e "s/LDoc TESTING/LDoc/" $(DOCS)/*.html $(DOCS)/modules/*.html

test:
	./run tests

demo:
	./run demo

lint:
	luacheck lua spec examples emulator bench fuzz tools bin/onlyoffice

clean:
	rm -rf build

.PHONY: all asan fuzz docs test demo lint clean
