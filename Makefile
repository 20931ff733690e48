# denet — build, test and check. All output goes under $(BUILD).
#
#   make            the denet binary (build/denet)
#   make deps       install every Debian package of every target (tools/deps.sh)
#   make demo       install what building needs, build, monitor a built-in demo workload
#   make test       install what the tests need, build, C unit tests + busted
#                   specs; ends "N passed, N failed, N skipped"
#   make asan       the whole suite under AddressSanitizer + UBSan
#   make valgrind   the C unit tests and end-to-end runs under valgrind
#   make format-check   clang-format on engine/ and bpf/, then lua-check
#   make lua-check  luacheck (.luacheckrc) and the indentation (tools/lua-indent.lua) of the Lua files
#   make bench      benchmarks side by side with the floor and peers (bench-smoke: seconds)
#   make fuzz       libFuzzer harnesses (fuzz-smoke: a few seconds each)
#   make help       this list

# `make` with no goal builds the binary, whatever the included files define first.
.DEFAULT_GOAL := all

BUILD ?= build
CC ?= cc
DEV ?= 0
SAN ?=

# pkg-config is asked when the Makefile is read. On a machine without the
# packages the answer is empty, so `demo` and `test` install first and then
# build in a new make that reads the flags afresh (see below); `all` alone
# stops at once with the command to run (check-build-deps).
# Lua's include path is kept apart: only the bindings are compiled with it.
PKGS := lua5.4 libdw libelf
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags libdw libelf 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla
ifeq ($(DEV),1)
WARN += -Werror
endif
OPT ?= -O2 -g
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm $(LDLIBS)
ifneq ($(SAN),)
CFLAGS_ALL += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif

# The eBPF off-CPU program: vmlinux.h, the BPF objects and their light skeletons.
include bpf.mk
CFLAGS_ALL += -I$(BUILD)/gen
LDLIBS_ALL += $(BPF_LIBS)

# Benchmarks (bench/) and fuzz harnesses (tests/fuzz/) have targets of their own.
include bench/bench.mk
include tests/fuzz/fuzz.mk

# The layers, one folder each (docs/architecture.md). A layer sees its own
# headers and those of the layers below it, never above: the include path
# is the rule, so an engine file that includes Lua does not compile.
#   core      /proc, the tree, cgroup, launcher, loop, metrics, JSON
#   profiler  the eBPF off-CPU profiler, ELF/maps, symbolizer   (core)
#   run       the monitor, records, rules                       (core, profiler)
#   bindings  the Lua API (the only layer with Lua's headers)   (all engine layers)
#   cli       main, options, human output                       (engine + lua_api.h)
INC_CORE := -Iengine/core
INC_PROFILER := $(INC_CORE) -Iengine/profiler -I$(BUILD)/gen
INC_RUN := $(INC_PROFILER) -Iengine/run
INC_BINDINGS := $(INC_RUN) -Iengine/bindings $(LUA_CFLAGS)
INC_CLI := $(INC_RUN) -Iengine/cli -Iengine/bindings
$(BUILD)/engine/core/%.o: LAYER_INC = $(INC_CORE)
$(BUILD)/engine/profiler/%.o: LAYER_INC = $(INC_PROFILER)
$(BUILD)/engine/run/%.o: LAYER_INC = $(INC_RUN)
$(BUILD)/engine/bindings/%.o: LAYER_INC = $(INC_BINDINGS)
$(BUILD)/engine/cli/%.o: LAYER_INC = $(INC_CLI)
# Tests, benchmarks and fuzz harnesses see every engine layer but Lua's.
INC_ENGINE := $(INC_CLI)

# Engine objects (no Lua headers) go into libdenet.a; the bindings and the
# CLI are linked on top.
ENGINE_SRCS := $(wildcard engine/core/*.c engine/profiler/*.c engine/run/*.c) \
	engine/cli/cli.c engine/cli/human.c
LUABIND_SRCS := $(wildcard engine/bindings/*.c)
ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(BUILD)/%.o)
LUABIND_OBJS := $(LUABIND_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/engine/cli/main.o
LUA_MODULES := $(sort $(wildcard lua/denet/*.lua))
EMBED_C := $(BUILD)/gen/lua_embedded.c
EMBED_O := $(BUILD)/gen/lua_embedded.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/helpers/%)
# LD_PRELOAD libraries of the specs (fault injection)
HELPER_BINS += $(patsubst tests/helpers/preload/%.c,$(BUILD)/helpers/%.so,$(wildcard tests/helpers/preload/*.c))
# the stand-in NVML of the GPU tests (no GPU here), under the real soname
NVML_STANDIN := $(BUILD)/helpers/nvml/libnvidia-ml.so.1
HELPER_BINS += $(NVML_STANDIN)

.PHONY: all deps deps-build deps-test deps-bench demo demo-run test test-run unit spec asan valgrind \
	valgrind-run format \
	format-check lua-check help clean core check-build-deps

all: $(BUILD)/denet $(BUILD)/lua/denet/core.so

# Every package of every target (tests, valgrind, fuzzing, benchmarks).
deps:
	@tools/deps.sh all

# What building and the demo need; what `make test` needs; what `make bench` needs.
deps-build:
	@tools/deps.sh build
deps-test:
	@tools/deps.sh test
deps-bench:
	@tools/deps.sh bench

# Order-only prerequisite of every compile: a clear line instead of
# "lauxlib.h: No such file or directory" when the packages are missing.
check-build-deps:
	@tools/deps.sh --check build

# -MMD -MP: each object depends on the headers it really includes.
$(BUILD)/engine/%.o: engine/%.c | check-build-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LAYER_INC) -MMD -MP -c -o $@ $<

$(EMBED_C): tools/embed.lua $(LUA_MODULES)
	@mkdir -p $(dir $@)
	lua5.4 tools/embed.lua $(LUA_MODULES) > $@.tmp && mv $@.tmp $@

$(EMBED_O): $(EMBED_C)
	$(CC) $(CFLAGS_ALL) -Iengine/bindings -c -o $@ $<

# The skeleton is generated, so the first build must make it before the
# compiler can list it as a dependency.
$(BUILD)/engine/profiler/offcpu.o: $(BPF_SKEL)
$(BUILD)/engine/profiler/tasksampler.o: $(TASKS_SKEL)

# The syscall names of the build's target, from the kernel's own table
# (<asm/unistd.h>, read by the same compiler and flags); its .d lists the
# headers the preprocessor read, so a new linux-libc-dev regenerates it.
SYSCALL_NAMES := $(BUILD)/gen/syscall_names.h
$(SYSCALL_NAMES): tools/gen-syscall-names.sh | check-build-deps
	@mkdir -p $(dir $@)
	tools/gen-syscall-names.sh $@ $(CC) $(CFLAGS_ALL)
$(BUILD)/engine/profiler/syscall_table.o: $(SYSCALL_NAMES)
$(BUILD)/tests/test_syscall_table: $(SYSCALL_NAMES)

$(BUILD)/libdenet.a: $(ENGINE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/denet: $(MAIN_OBJ) $(LUABIND_OBJS) $(EMBED_O) $(BUILD)/libdenet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The same objects as a Lua C module, for busted specs: require "denet.core".
$(BUILD)/lua/denet/core.so: $(LUABIND_OBJS) $(EMBED_O) $(BUILD)/libdenet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(filter-out -llua5.4,$(LDLIBS_ALL))

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdenet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(INC_ENGINE) -MMD -MP $(LDFLAGS) -o $@ $< $(BUILD)/libdenet.a $(LDLIBS_ALL)

$(BUILD)/helpers/%.so: tests/helpers/preload/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl

$(NVML_STANDIN): tests/helpers/nvml/nvml_standin.c engine/core/nvml_api.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Iengine/core -fPIC -shared \
		-Wl,-soname,libnvidia-ml.so.1 -o $@ $<

# test_gpu opens the stand-in
$(BUILD)/tests/test_gpu: | $(NVML_STANDIN)

$(BUILD)/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -fno-omit-frame-pointer -o $@ $< -lpthread

core: $(BUILD)/lua/denet/core.so

# deps first, then a new make: its pkg-config flags are read after the
# install (this make read them before, possibly from a bare machine).
test: deps-test
	@$(MAKE) --no-print-directory test-run

test-run: all $(UNIT_BINS) $(HELPER_BINS)
	@BUILD=$(BUILD) tests/run.sh

unit: $(UNIT_BINS)
	@BUILD=$(BUILD) ONLY=unit tests/run.sh

spec: all $(HELPER_BINS)
	@BUILD=$(BUILD) ONLY=spec tests/run.sh

demo: deps-build
	@$(MAKE) --no-print-directory demo-run

demo-run: all
	@tools/demo.sh $(BUILD)/denet

# The whole suite with ASan+UBSan. The specs' in-process denet.core must
# run inside a sanitized process, so busted itself runs under the sanitized
# denet binary as its Lua interpreter (denet SCRIPT.lua).
asan:
	$(MAKE) BUILD=build/asan SAN=address,undefined OPT="-O1 -g" SPEC_INTERP=denet test

# memcheck on every C unit test and on representative runs of the binary
# (tests/spec/valgrind_spec.lua): timing-bound specs are left out, since
# valgrind slows denet down 20-50x.
valgrind: deps
	@$(MAKE) --no-print-directory valgrind-run

valgrind-run: all $(UNIT_BINS) $(HELPER_BINS)
	@BUILD=$(BUILD) VALGRIND=1 SPEC=tests/spec/valgrind_spec.lua tests/run.sh

FORMAT_FILES = $(wildcard engine/*/*.c engine/*/*.h bpf/*.c bpf/*.h)
LUA_FILES = $(wildcard lua/denet/*.lua scripts/*.lua tools/*.lua bench/*.lua tests/spec/*.lua)
format:
	clang-format -i $(FORMAT_FILES)
	lua5.4 tools/lua-indent.lua $(LUA_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: clean"
	@$(MAKE) --no-print-directory lua-check

lua-check:
	@luacheck -q --no-color $(LUA_FILES) && lua5.4 tools/lua-indent.lua --check $(LUA_FILES) && echo "lua-check: clean"

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

clean:
	rm -rf $(BUILD)

# The header dependencies -MMD wrote on the last build.
-include $(shell find $(BUILD)/engine $(BUILD)/tests -name '*.d' 2>/dev/null)
-include $(SYSCALL_NAMES:.h=.h.d)
